"""``tracelet.autolog()``: what ``mlflow.pytorch.autolog()`` stores for a Lightning fit.

Once called, every ``Trainer.fit`` of ``lightning.pytorch`` and ``pytorch_lightning`` (and
of their subclasses, such as lightning-flash's ``flash.Trainer``) run while a tracelet run
is active records, as MLflow's Lightning autologging does (measured with MLflow 3.17):

* params, when training starts: ``epochs`` (``max_epochs``), ``optimizer_name`` and the
  first optimizer's ``defaults`` (``lr``, ``betas``, ...), each as MLflow's string
  (``str(value)``: ``"(0.9, 0.999)"``, ``"None"``); with ``pytorch_lightning``'s
  ``EarlyStopping`` among the callbacks, its ``monitor``, ``mode``, ``patience``,
  ``min_delta`` and ``stopped_epoch`` when ``fit`` starts (MLflow looks for that class
  only, also for a ``lightning.pytorch`` Trainer);
* the tag ``Mode``: ``training`` when training starts, ``testing`` when a later
  ``trainer.test`` ends;
* metrics: ``trainer.callback_metrics`` (the names ``self.log`` gives, ``loss_step`` and
  ``loss_epoch`` included) as floats at the end of every ``log_every_n_epoch``-th
  training epoch, step = the epoch (from 0); at the end of ``trainer.test``, its
  ``callback_metrics`` at step 0; after an early stop, ``stopped_epoch``,
  ``restored_epoch``, ``best_score`` and ``wait_count`` at step 0;
* artifacts: ``model_summary.txt`` (Lightning's ``ModelSummary(model, max_depth=-1)``);
  with ``checkpoint``, at each epoch end where ``checkpoint_monitor`` is among the
  metrics (and improved, with ``checkpoint_save_best_only``),
  ``checkpoints/latest_checkpoint.pth`` and ``checkpoints/latest_checkpoint_metrics.json``
  (else ``checkpoints/epoch_<n>/checkpoint.pth`` and ``checkpoint_metrics.json``) and the
  tag ``mlflow.latest_checkpoint_artifact``; after an early stop, the best checkpoint
  under ``restored_model_checkpoint/``;
* with ``log_models``, the trained ``trainer.model`` as the run's model ``model``
  ([`Experiment.log_model`][tracelet.Experiment.log_model]): on MLflow a logged model
  with the signature inferred from the first training batch that ``forward`` received as
  one tensor, none of the run's params, and every metric above (the test's too) also as
  a metric of that model, as MLflow links them.

What Lightning's own loggers receive (``self.log`` handed to the default
``TensorBoardLogger`` / ``CSVLogger``, ``save_hyperparameters``) stays theirs while
autologging is on, as under MLflow's autologging: tracelet does not capture it (see
:mod:`tracelet.capture.lightning`), so the run holds only what MLflow's would.

Other trackers receive the same params, tags, metrics (at the same steps) and artifacts
through tracelet's vocabulary: W&B as config, tags ``key:value``, history rows and run
artifacts, ClearML as hyperparameters, user properties, scalars and artifacts; the model
as [`Experiment.log_model`][tracelet.Experiment.log_model] gives it to each; links of
metrics to a model exist on MLflow only.

Values are read as MLflow reads them (``float`` of each tensor) on the training thread and
go through the run's queue; the files (summary, checkpoints, model) are written in the
training process, as MLflow writes them there, and handed to the run as artifacts.
Without an active tracelet run, ``fit`` runs unchanged (MLflow would start a run by
itself: start one with ``tracelet.start_logging`` first). ``import tracelet`` imports no
Lightning; this call imports the Lightning packages that are installed.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracelet.events import MODEL_METRICS
from tracelet.experiment import get_active_experiment

#: The packages whose ``Trainer.fit`` is patched (each when installed).
PACKAGES = ("lightning.pytorch", "pytorch_lightning")
#: What MLflow records of an ``EarlyStopping`` callback as params.
EARLY_STOP_PARAMS = ("monitor", "mode", "patience", "min_delta", "stopped_epoch")
#: The run tag naming the latest checkpoint, as MLflow names it.
CHECKPOINT_TAG = "mlflow.latest_checkpoint_artifact"

_IN_FIT = "_tracelet_autolog_in_fit"


@dataclass(frozen=True)
class AutologSettings:
    """What [`autolog`][tracelet.autolog] was given (``mlflow.pytorch.autolog``'s names)."""

    log_every_n_epoch: int = 1
    log_models: bool = True
    log_model_signatures: bool = True
    checkpoint: bool = True
    checkpoint_monitor: str = "val_loss"
    checkpoint_mode: str = "min"
    checkpoint_save_best_only: bool = True
    checkpoint_save_weights_only: bool = False


_settings: AutologSettings | None = None
_patched: dict[type, Any] = {}  # Trainer class -> its package


def autolog(
    *,
    log_every_n_epoch: int = 1,
    log_models: bool = True,
    disable: bool = False,
    log_model_signatures: bool = True,
    checkpoint: bool = True,
    checkpoint_monitor: str = "val_loss",
    checkpoint_mode: str = "min",
    checkpoint_save_best_only: bool = True,
    checkpoint_save_weights_only: bool = False,
) -> None:
    """Record every Lightning ``Trainer.fit`` (and a later ``trainer.test``) of the active
    run as ``mlflow.pytorch.autolog()`` records it in an MLflow run (what is stored, on
    every tracker: the Lightning page of these docs, "Autologging").

    The arguments are ``mlflow.pytorch.autolog``'s, with its defaults; ``disable=True``
    turns autologging off again (Lightning's logging is then captured as usual).

    Raises:
        ValueError: ``checkpoint_mode`` is neither ``"min"`` nor ``"max"``, or
            ``log_every_n_epoch`` is below 1.

    Example:
        ```python
        import tracelet

        tracelet.autolog()
        with tracelet.start_logging(exp_name="finetune", backend="mlflow"):
            trainer.fit(model, datamodule=datamodule)
            trainer.test()
        ```
    """
    global _settings
    if disable:
        _settings = None
        return
    if checkpoint and checkpoint_save_best_only and checkpoint_mode not in ("min", "max"):
        raise ValueError(f"checkpoint_mode must be 'min' or 'max', got {checkpoint_mode!r}")
    if log_every_n_epoch < 1:
        raise ValueError(f"log_every_n_epoch must be >= 1, got {log_every_n_epoch}")
    _settings = AutologSettings(
        log_every_n_epoch, log_models, log_model_signatures, checkpoint,
        checkpoint_monitor, checkpoint_mode, checkpoint_save_best_only,
        checkpoint_save_weights_only,
    )  # fmt: skip
    for name in PACKAGES:
        try:
            package = importlib.import_module(name)
        except ImportError:
            continue
        _patch_fit(package)


def enabled() -> bool:
    """Whether autologging is on (Lightning's logger hand-off is then not captured)."""
    return _settings is not None


def _patch_fit(package: Any) -> None:
    trainer_class = package.Trainer
    if trainer_class in _patched:
        return
    original = trainer_class.fit

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        experiment = get_active_experiment()
        idle = experiment is None or experiment.run_dir is None  # none, or a rank that logs nothing
        if _settings is None or idle or getattr(self, _IN_FIT, False):
            return original(self, *args, **kwargs)
        setattr(self, _IN_FIT, True)
        try:
            return _autologged_fit(
                experiment, _settings, self, lambda: original(self, *args, **kwargs)
            )
        finally:
            setattr(self, _IN_FIT, False)

    trainer_class.fit = functools.wraps(original)(fit)
    _patched[trainer_class] = package


def _autologged_fit(
    experiment: Any, settings: AutologSettings, trainer: Any, run_fit: Callable[[], Any]
) -> Any:
    package = _package_of(trainer)
    early_stops = _early_stopping(trainer)
    for callback in early_stops:
        params = {p: getattr(callback, p) for p in EARLY_STOP_PARAMS if hasattr(callback, p)}
        experiment.log_params({k: str(v) for k, v in params.items()})
    early_stop = early_stops[-1] if early_stops else None  # MLflow keeps the last one
    hooks = next((c for c in trainer.callbacks if isinstance(c, _MetricsHooks)), None)
    if hooks is None:
        hooks = _subclass(package.Callback, _MetricsHooks)(experiment, settings)
        trainer.callbacks.append(hooks)
    elif hooks.experiment is not experiment:  # the Trainer is fitted again in a new run
        hooks.experiment, hooks.model_path = experiment, None
    if settings.checkpoint and not any(isinstance(c, _CheckpointHooks) for c in trainer.callbacks):
        trainer.callbacks.append(
            _subclass(package.Callback, _CheckpointHooks)(experiment, settings)
        )
    try:
        result = run_fit()
    finally:
        hooks.restore_forward()
    fit_points = list(hooks.points)
    if early_stop is not None and early_stop.stopped_epoch != 0:
        metrics = {
            "stopped_epoch": early_stop.stopped_epoch,
            "restored_epoch": early_stop.stopped_epoch - max(1, early_stop.patience),
        }
        if hasattr(early_stop, "best_score"):
            metrics["best_score"] = float(early_stop.best_score)
        if hasattr(early_stop, "wait_count"):
            metrics["wait_count"] = early_stop.wait_count
        experiment.log_metrics(metrics, step=0)
        fit_points += [[key, 0] for key in metrics]
    summary_module = importlib.import_module(f"{package.__name__}.utilities.model_summary")
    summary = str(summary_module.ModelSummary(trainer.model, max_depth=-1))
    with tempfile.TemporaryDirectory() as folder:  # a file, as MLflow logs it
        path = os.path.join(folder, "model_summary.txt")
        with open(path, "w") as file:
            file.write(summary)
        experiment.log_artifact(path)
    if settings.log_models:
        signature = hooks.signature() if "mlflow" in experiment.backends else None
        path = experiment._log_model(trainer.model, "model", signature=signature, autolog=True)
        if hooks.model_path is None:
            hooks.model_path = path
        hooks.link(fit_points)
        best = trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path
        if early_stop is not None and best:
            name = f"restored_model_checkpoint/{os.path.basename(best)}"
            experiment.log_artifact(best, name=name)
    hooks.points.clear()
    return result


class _MetricsHooks:
    """MLflow's ``__MlflowPLCallback``: params, the Mode tag and the epoch and test metrics."""

    def __init__(self, experiment: Any, settings: AutologSettings):
        self.experiment = experiment
        self.settings = settings
        self.points: list[list[Any]] = []  # [key, step] of the metrics this fit logged
        self.model_path: str | None = None  # the model its metrics belong to
        self._module: Any = None
        self._forward: Any = None
        self._example: tuple[Any, Any] | None = None
        self._first_batch_seen = False
        self._own_forward = False

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.experiment.set_tags({"Mode": "training"})
        params: dict[str, Any] = {"epochs": trainer.max_epochs}
        if trainer.optimizers:
            optimizer = trainer.optimizers[0]
            params["optimizer_name"] = getattr(
                optimizer, "_optimizer", optimizer
            ).__class__.__name__
            params.update(getattr(optimizer, "defaults", {}))
        self.experiment.log_params({k: str(v) for k, v in params.items()})
        if self.settings.log_models and self.settings.log_model_signatures:
            self._catch_first_batch(trainer.strategy.lightning_module)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        epoch = pl_module.current_epoch
        if (epoch + 1) % self.settings.log_every_n_epoch == 0:
            self._log(trainer.callback_metrics, epoch)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self.experiment.set_tags({"Mode": "testing"})
        logged = len(self.points)
        self._log(trainer.callback_metrics, 0)
        if self.model_path is not None:  # MLflow links them to the fit's model too
            self.link(self.points[logged:])
            del self.points[logged:]

    def _log(self, callback_metrics: Any, step: int) -> None:
        metrics = {key: float(value) for key, value in callback_metrics.items()}
        self.experiment.log_metrics(metrics, step=step)
        self.points += [[key, step] for key in metrics]

    def link(self, points: list[list[Any]]) -> None:
        if self.model_path is not None and points:
            self.experiment._emit((MODEL_METRICS, self.model_path, points))

    def _catch_first_batch(self, module: Any) -> None:
        """Keep the first single-tensor input of ``forward`` and its output, for the
        signature; MLflow patches the module's ``forward`` the same way."""
        import torch

        forward = module.forward

        def first_batch(*inputs: Any, **kwargs: Any) -> Any:
            result = forward(*inputs, **kwargs)
            if not self._first_batch_seen:
                self._first_batch_seen = True
                tensors = len(inputs) == 1 and isinstance(inputs[0], torch.Tensor)
                if tensors and isinstance(result, torch.Tensor):
                    self._example = (inputs[0].detach(), result.detach())
            return result

        self._module, self._forward = module, forward
        self._own_forward = "forward" in vars(module)
        module.forward = first_batch

    def restore_forward(self) -> None:
        """Put ``forward`` back as it was (the pickled model must not hold the patch)."""
        if self._module is None:
            return
        if self._own_forward:
            self._module.forward = self._forward
        else:
            del self._module.forward
        self._module = None

    def signature(self) -> Any:
        if self._example is None:
            return None
        from mlflow.models import infer_signature

        inputs, outputs = self._example
        try:
            return infer_signature(inputs.cpu().numpy(), outputs.cpu().numpy())
        except Exception as exc:  # as MLflow: log the model without a signature
            warnings.warn(f"tracelet.autolog: no model signature ({exc!r})", stacklevel=2)
            return None


class _CheckpointHooks:
    """MLflow's ``MlflowModelCheckpointCallback`` (``save_freq="epoch"``)."""

    def __init__(self, experiment: Any, settings: AutologSettings):
        self.experiment = experiment
        self.settings = settings
        self._best: float | None = None

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        settings = self.settings
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        if settings.checkpoint_save_best_only:
            value = metrics.get(settings.checkpoint_monitor)
            if value is None or not self._better(value):
                return
            self._best = value
            folder, prefix = "checkpoints", "latest_"
        else:
            folder, prefix = f"checkpoints/epoch_{trainer.current_epoch}", ""
        weights = ".weights" if settings.checkpoint_save_weights_only else ""
        name = f"{folder}/{prefix}checkpoint{weights}.pth"
        self.experiment.set_tags({CHECKPOINT_TAG: name})
        record = {**metrics, "epoch": trainer.current_epoch, "global_step": trainer.global_step}
        self.experiment.log_artifact(record, name=f"{folder}/{prefix}checkpoint_metrics.json")
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(
            settings.checkpoint_save_weights_only
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, os.path.basename(name))
            trainer.strategy.save_checkpoint(checkpoint, path)
            self.experiment.log_artifact(path, name=name)

    def _better(self, value: float) -> bool:
        if self._best is None:
            return True
        return value < self._best if self.settings.checkpoint_mode == "min" else value > self._best


def _subclass(callback: type, hooks: type) -> type:
    """``hooks`` as a Callback of the Trainer's own package (made once per package)."""
    cached = _CALLBACKS.get((callback, hooks))
    if cached is None:
        cached = _CALLBACKS[(callback, hooks)] = type(
            f"Tracelet{hooks.__name__}", (hooks, callback), {}
        )
    return cached


_CALLBACKS: dict[tuple[type, type], type] = {}


def _package_of(trainer: Any) -> Any:
    """The Lightning package whose Trainer ``trainer`` is."""
    return next(p for cls, p in _patched.items() if isinstance(trainer, cls))


def _early_stopping(trainer: Any) -> list[Any]:
    """The callbacks MLflow records as early stopping: ``pytorch_lightning``'s class only."""
    module = sys.modules.get("pytorch_lightning.callbacks.early_stopping")
    if module is None:
        return []
    return [c for c in trainer.callbacks if isinstance(c, module.EarlyStopping)]
