"""Lightning's ``self.log`` / ``self.log_dict`` / ``save_hyperparameters`` reach every tracker once.

A tiny model on random tensors trains 16 steps (2 epochs of 8 batches) on the CPU; the
stores are read back and compared with the losses the model itself saw, and with what
Lightning's own loggers recorded where the Trainer has one.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

import tracelet
from tests.agent.test_multi_backend import read_store
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.tensorboard import read_run as read_tensorboard

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)

TRACKERS = ["mlflow", "wandb", "clearml"]
EPOCHS, BATCHES, BATCH_SIZE = 2, 8, 4
STEPS = EPOCHS * BATCHES
EPOCH_END_STEPS = [BATCHES - 1, STEPS - 1]
PARAMS = {"lr": "0.05", "optim/name": "sgd", "optim/momentum": "0.9"}


def tiny_model(pl):
    """A LightningModule class of package ``pl`` that remembers what it logged."""

    class TinyModel(pl.LightningModule):
        def __init__(self, lr: float = 0.05, optim: dict | None = None):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)
            self.seen: dict[str, list[float]] = {"loss": [], "mae": [], "val": []}

        def training_step(self, batch, batch_idx):
            x, y = batch
            error = self.layer(x) - y
            loss, mae = (error**2).mean(), error.abs().mean()
            self.log("train/loss", loss)
            self.log_dict({"train/mae": mae}, on_step=True, on_epoch=True)
            self.seen["loss"].append(loss.item())
            self.seen["mae"].append(mae.item())
            if isinstance(self.logger, pl.loggers.TensorBoardLogger):
                self.logger.experiment.add_scalar("direct/lr", 0.05, self.global_step)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            loss = ((self.layer(x) - y) ** 2).mean()
            self.log("val/loss", loss)
            if not self.trainer.sanity_checking:
                self.seen["val"].append(loss.item())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)

    return TinyModel


def loader(seed: int) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(seed)
    count = BATCHES * BATCH_SIZE
    data = torch.utils.data.TensorDataset(
        torch.randn(count, 4, generator=generator), torch.randn(count, 1, generator=generator)
    )
    return torch.utils.data.DataLoader(data, batch_size=BATCH_SIZE)


def fit(package: str, root: Path, logger):
    pl = importlib.import_module(package)
    torch.manual_seed(0)
    model = tiny_model(pl)(optim={"name": "sgd", "momentum": 0.9})
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        logger=logger(pl, root) if callable(logger) else logger,
        log_every_n_steps=1,
        limit_val_batches=2,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=root,
    )
    trainer.fit(model, loader(1), loader(2))
    return model, trainer


def own_mlflow_logger(pl, root: Path):
    return pl.loggers.MLFlowLogger(experiment_name="own", tracking_uri=f"sqlite:///{root}/own.db")


def triples(metrics, key: str) -> list[tuple[int, float]]:
    rows = metrics[metrics.key == key]
    return list(zip(rows.step.tolist(), rows.value.tolist(), strict=True))


def assert_logged_once(tables, model, name: str) -> None:
    metrics = tables.metrics
    expected_keys = {"train/loss", "train/mae_step", "train/mae_epoch", "val/loss", "epoch"}
    assert set(metrics.key) - {"direct/lr"} == expected_keys, name
    assert triples(metrics, "train/loss") == list(enumerate(model.seen["loss"])), name
    assert triples(metrics, "train/mae_step") == list(enumerate(model.seen["mae"])), name
    for key, seen, per_epoch in (
        ("train/mae_epoch", model.seen["mae"], BATCHES),
        ("val/loss", model.seen["val"], 2),
    ):
        points = triples(metrics, key)
        assert [step for step, _ in points] == EPOCH_END_STEPS, (name, key)
        means = [sum(seen[i : i + per_epoch]) / per_epoch for i in range(0, len(seen), per_epoch)]
        assert [value for _, value in points] == pytest.approx(means, rel=1e-6), (name, key)
    # Lightning adds ``epoch`` to every training-time dict; MLflow keeps one copy of a
    # point repeated with the same value in the same millisecond, so compare distinct points.
    assert set(triples(metrics, "epoch")) == {(s, float(s // BATCHES)) for s in range(STEPS)}
    assert dict(zip(tables.params.key, tables.params.value, strict=True)) == PARAMS, name


@pytest.mark.parametrize(
    "logger",
    [
        pytest.param(True, id="default-tensorboard-logger"),
        # slow: the same capture point as the default logger's case
        pytest.param(False, id="logger-false", marks=pytest.mark.slow),
        pytest.param(own_mlflow_logger, id="own-mlflow-logger", marks=pytest.mark.slow),
    ],
)
@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_self_log_reaches_every_tracker_exactly_once(isolated: Path, logger):
    tracelet.start_logging(exp_name="lightning", project="proj", backend=TRACKERS)
    model, trainer = fit("lightning.pytorch", isolated, logger)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    for name in TRACKERS:
        assert_logged_once(read_store(name, isolated), model, name)
    if logger is True:
        # Lightning's own TensorBoard logger recorded the same points (and its hp_metric).
        ours = read_mlflow("sqlite:///mlflow.db").metrics
        theirs = read_tensorboard(trainer.logger.log_dir).metrics
        assert set(theirs.key) == set(ours.key) | {"hp_metric"}
        for key in set(ours.key) - {"epoch", "direct/lr"}:  # (TensorBoard keeps float32)
            assert triples(ours, key) == triples(theirs, key), key
        assert triples(ours, "direct/lr") == [(step, 0.05) for step in range(STEPS)]
    else:
        assert "direct/lr" not in set(read_mlflow("sqlite:///mlflow.db").metrics.key)
    if logger is own_mlflow_logger:
        own = read_mlflow(f"sqlite:///{isolated}/own.db")
        ours = read_mlflow("sqlite:///mlflow.db", "lightning")
        assert set(own.metrics.key) == set(ours.metrics.key)
        for key in set(ours.metrics.key) - {"epoch"}:
            assert triples(ours.metrics, key) == triples(own.metrics, key), key
        assert own.params.equals(ours.params)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_pytorch_lightning_package_is_captured_and_unpatched_at_stop(isolated: Path):
    from pytorch_lightning.trainer import trainer as trainer_module

    def patch_points():
        return trainer_module._LoggerConnector.log_metrics, trainer_module._log_hyperparams

    originals = patch_points()
    with tracelet.start_logging(exp_name="pl", project="proj", backend="mlflow"):
        patched = patch_points()
        model, _ = fit("pytorch_lightning", isolated, True)
    assert_logged_once(read_mlflow("sqlite:///mlflow.db"), model, "mlflow")
    assert all(p is not o for p, o in zip(patched, originals, strict=True))
    assert all(p is o for p, o in zip(patch_points(), originals, strict=True))


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_logged_step_key_sets_the_step_as_for_lightning_loggers(isolated: Path):
    import lightning.pytorch as pl

    class StepModel(tiny_model(pl)):
        def training_step(self, batch, batch_idx):
            loss = super().training_step(batch, batch_idx)
            self.log("step", float(100 + batch_idx), on_step=True, on_epoch=False)
            return loss

    torch.manual_seed(0)
    with tracelet.start_logging(exp_name="step", project="proj", backend="mlflow"):
        pl.Trainer(
            max_steps=3,
            logger=False,
            log_every_n_steps=1,
            limit_val_batches=0,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            default_root_dir=isolated,
        ).fit(StepModel(), loader(1))
    metrics = read_mlflow("sqlite:///mlflow.db").metrics
    for key in ("train/loss", "train/mae_step"):
        assert metrics[metrics.key == key].step.tolist() == [100, 101, 102]
    assert "step" not in set(metrics.key)
