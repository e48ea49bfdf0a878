"""``tracelet.autolog()``: a Lightning fit reaches every tracker as MLflow's autologging
records it, and Lightning's own logger hand-off stays out of the run.

The tiny model of ``test_lightning`` trains 2 epochs with the default TensorBoardLogger;
every store is read back with tracelet's reader for that tracker. What MLflow itself
stores for the same calls is pinned by tests/codemods/test_lightning_autolog_e2e.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tracelet
from tests.agent.test_multi_backend import read_store
from tests.capture.test_lightning import EPOCHS, loader, tiny_model
from tracelet.backends.tensorboard import read_run as read_tensorboard

pytestmark = pytest.mark.usefixtures("mlflow_db")

TRACKERS = ["mlflow", "wandb", "clearml"]
# trainer.callback_metrics at each epoch end: self.log's names, no Lightning "epoch" key
EPOCH_KEYS = {"train/loss", "train/mae", "train/mae_step", "train/mae_epoch", "val/loss"}
PARAMS = {
    "epochs": "2", "optimizer_name": "SGD", "lr": "0.05", "momentum": "0.9", "dampening": "0",
    "weight_decay": "0", "nesterov": "False", "maximize": "False", "foreach": "None",
    "differentiable": "False", "fused": "None",
}  # fmt: skip


@pytest.fixture
def autologging():
    tracelet.autolog()
    yield
    tracelet.autolog(disable=True)


@pytest.mark.slow
@pytest.mark.usefixtures("autologging")
def test_autologged_fit_reaches_every_tracker(isolated: Path) -> None:
    import lightning.pytorch as pl

    torch.manual_seed(0)
    model = tiny_model(pl)(optim={"name": "sgd", "momentum": 0.9})
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        log_every_n_steps=1,
        limit_val_batches=2,
        enable_progress_bar=False,
        default_root_dir=isolated,
    )
    with tracelet.start_logging(exp_name="autolog", project="proj", backend=TRACKERS):
        trainer.fit(model, loader(1), loader(2))
        epoch_ends = {k: float(v) for k, v in trainer.callback_metrics.items()}

    # Lightning's own logger has its points, at global steps ...
    theirs = read_tensorboard(trainer.logger.log_dir).metrics
    assert {"train/loss", "epoch", "hp_metric"} <= set(theirs.key)
    for name in TRACKERS:
        tables = read_store(name, isolated)
        metrics = tables.metrics
        # ... the run has the epoch-end callback_metrics at step = epoch, and the
        # SummaryWriter call of the module's own (captured, as without autologging)
        assert set(metrics.key) == EPOCH_KEYS | {"direct/lr"}, name
        for key in EPOCH_KEYS:
            rows = metrics[metrics.key == key]
            assert rows.step.tolist() == [0, 1], (name, key)
            assert rows.value.tolist()[-1] == pytest.approx(epoch_ends[key], rel=1e-6), key
        params = dict(zip(tables.params.key, tables.params.value, strict=True))
        assert params == PARAMS, name  # no save_hyperparameters values
        model_file = "models:/model/MLmodel" if name == "mlflow" else "model.pt"
        assert {"model_summary.txt", model_file} <= set(tables.artifacts["name"]), name
