"""Capture of PyTorch Lightning's ``self.log`` / ``self.log_dict`` and ``save_hyperparameters``.

Works for both packages, ``lightning.pytorch`` and ``pytorch_lightning`` (2.x), patched
when they are imported (tracelet never imports them itself).

Where the capture sits
    Lightning collects what ``self.log`` receives, reduces it, and once per logging step
    hands the finished dict to its loggers through the trainer's logger connector
    (``_LoggerConnector.log_metrics``). tracelet records that dict, so a run holds exactly
    what Lightning's own loggers (``MLFlowLogger``, ``WandbLogger``, ``TensorBoardLogger``)
    would have received:

    * the keys Lightning gives them: ``train/loss``, or ``train/loss_step`` and
      ``train/loss_epoch`` with ``on_step=True, on_epoch=True``, ``/dataloader_idx_N``
      suffixes, and the ``epoch`` key Lightning adds to training-time dicts;
    * the step Lightning gives them: the count of optimizer steps taken
      (``fit_loop.epoch_loop._batches_that_stepped``, the trainer's global step with one
      optimizer), or the ``step`` key a user logged;
    * at the rate Lightning gives them: every ``Trainer(log_every_n_steps=...)`` steps
      (Lightning's default is 50) during training, once per epoch for epoch values;
    * one dict at a time, its ``epoch`` first: the W&B backend starts a row at a key
      repeated within a step, so the epoch-end dict that shares its step with the last
      training-step dict is its own row, as ``WandbLogger`` logs it.

    The connector runs whether the Trainer has loggers or not, so ``logger=False``, the
    default ``TensorBoardLogger`` and a tracker logger of the user's own all give the same
    points, each once.

No double counting
    The default ``TensorBoardLogger`` writes these same metrics (and a placeholder
    ``hp_metric``) through ``SummaryWriter.add_scalar``, which tracelet also captures.
    While Lightning hands metrics or hyperparameters to its loggers, the writer of each
    ``TensorBoardLogger`` is given back its own unpatched ``add_scalar``/``add_scalars``
    (on that writer instance only, for the length of the call). Everything else written
    through that writer (``self.logger.experiment.add_image(...)``, ``LearningRateMonitor``
    calling the logger directly) is a SummaryWriter call and is captured as one.
    Direct calls on other logger objects (``self.logger.log_metrics`` on an
    ``MLFlowLogger``) belong to that logger and are not captured.

Values
    Lightning keeps logged values as tensors. A value on the CPU is read with ``.item()``
    (no device sync). A value on an accelerator is read after Lightning has converted it
    for its loggers (then it has already synced); with ``logger=False`` Lightning never
    syncs, so tracelet hands the tensor to the flusher thread, which reads it off the
    training thread. Lightning never changes these tensors in place (it clones before
    every reduction), so a later read sees the logged value.

Hyperparameters
    What ``save_hyperparameters()`` recorded (the module's, merged with the datamodule's
    as Lightning merges them) becomes the run's params when ``Trainer.fit`` starts,
    nested dicts flattened with ``/``.

Autologging
    While [`tracelet.autolog`][tracelet.autolog] is on, neither the metrics nor the
    hyperparameters Lightning hands its loggers are recorded (the TensorBoardLogger's
    writer is still given back its own methods): as under ``mlflow.pytorch.autolog``, they
    are the loggers' own, and the run holds what :mod:`tracelet.autologging` records.

Distributed
    Under ``torch.distributed`` only the ranks that log (see :mod:`tracelet.distributed`)
    have the patches; each records its own process's values, as Lightning's loggers
    would on that rank (use ``self.log(..., sync_dist=True)`` for values reduced over
    ranks).
"""

from __future__ import annotations

import contextlib
import functools
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tracelet import autologging
from tracelet import router as _router
from tracelet.capture.patching import is_patched, patch_method, when_imported
from tracelet.events import METRIC, PARAMS
from tracelet.tables import flatten_params
from tracelet.values import json_safe, to_float

#: The module of each package where the Trainer, its logger connector and the
#: hyperparameter hand-off to loggers meet.
TRAINER_MODULES = ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer")

#: The SummaryWriter methods a TensorBoardLogger writes Lightning's metrics through.
_LOGGER_WRITES = ("add_scalar", "add_scalars")


def install() -> None:
    """Patch Lightning now, or when it is imported."""
    for name in TRAINER_MODULES:
        when_imported(name, _patch_trainer_module)


def _patch_trainer_module(module: types.ModuleType) -> None:
    tensorboard_logger = module.TensorBoardLogger
    patch_method(
        module._LoggerConnector,
        "log_metrics",
        functools.partial(_wrap_log_metrics, tensorboard_logger=tensorboard_logger),
    )
    # The Trainer calls the module-level function it imported by name, so that name is patched.
    patch_method(
        module,
        "_log_hyperparams",
        functools.partial(_wrap_log_hyperparams, tensorboard_logger=tensorboard_logger),
    )


def _wrap_log_metrics(original: Callable, tensorboard_logger: type) -> Callable:
    def log_metrics(self, metrics, step=None):
        emit = _router.current_emit
        if emit is None or not metrics:
            return original(self, metrics, step)
        trainer = self.trainer
        with tensorboard_muted(trainer.loggers, tensorboard_logger):
            result = original(self, metrics, step)
        emit_many = _router.current_emit_many
        if emit_many is not None and not autologging.enabled():
            # (autologging keeps the loggers' points theirs, as MLflow's does)
            _emit_metrics(emit_many, trainer, metrics, step, synced=bool(trainer.loggers))
        return result

    return functools.wraps(original)(log_metrics)


def _wrap_log_hyperparams(original: Callable, tensorboard_logger: type) -> Callable:
    def _log_hyperparams(trainer):
        emit = _router.current_emit
        hparams = _hyperparameters(trainer) if emit is not None else None
        if hparams is None:
            return original(trainer)
        with tensorboard_muted(trainer.loggers, tensorboard_logger):
            result = original(trainer)
        params = {k: json_safe(v) for k, v in flatten_params(hparams).items()}
        if params and not autologging.enabled():
            emit((PARAMS, params))
        return result

    return functools.wraps(original)(_log_hyperparams)


def _emit_metrics(
    emit_many: Callable[[list], None],
    trainer: Any,
    metrics: Mapping[str, Any],
    step: int | None,
    synced: bool,
) -> None:
    # The step and the added ``epoch`` follow _LoggerConnector.log_metrics exactly.
    values = dict(metrics)
    if step is None:
        step_value = values.pop("step", None)
        if step_value is not None:
            step = int(to_float(step_value))
        else:
            values.setdefault("epoch", trainer.current_epoch)
            step = trainer.fit_loop.epoch_loop._batches_that_stepped
    wall_time = time.time()
    if "epoch" in values:  # first: W&B starts a row at a repeated key (one dict, one row)
        values = {"epoch": values.pop("epoch"), **values}
    emit_many(
        [(METRIC, key, _value(value, synced), step, wall_time) for key, value in values.items()]
    )


def _value(value: Any, synced: bool) -> Any:
    """A float, or an accelerator tensor left for the flusher thread to read."""
    if type(value) is float:
        return value
    device = getattr(value, "device", None)
    if device is not None and device.type != "cpu" and not synced:
        return value.detach()
    return to_float(value)


def _hyperparameters(trainer: Any) -> dict[str, Any] | None:
    """The hparams Lightning gives its loggers at fit start (None: it gives none)."""
    module = trainer.lightning_module
    datamodule = trainer.datamodule
    log_module = getattr(module, "_log_hyperparams", False)
    log_datamodule = datamodule is not None and getattr(datamodule, "_log_hyperparams", False)
    if not (log_module or log_datamodule):
        return None
    hparams: dict[str, Any] = {}
    if log_module:
        hparams.update(module.hparams_initial)
    if log_datamodule:
        hparams.update(datamodule.hparams_initial)
    hparams.pop("_class_path", None)
    return hparams


@contextlib.contextmanager
def tensorboard_muted(loggers: Iterable[Any], tensorboard_logger: type) -> Iterator[None]:
    """Let each TensorBoardLogger's writer bypass tracelet's SummaryWriter capture."""
    writers = [logger.experiment for logger in loggers if isinstance(logger, tensorboard_logger)]
    muted = [(writer, _mute(writer)) for writer in writers]
    try:
        yield
    finally:
        for writer, names in muted:
            for name in names:
                del writer.__dict__[name]


def _mute(writer: Any) -> list[str]:
    """Shadow the patched methods on this instance with the originals; returns their names."""
    names = []
    for name in _LOGGER_WRITES:
        owner = next((c for c in type(writer).__mro__ if name in vars(c)), None)
        if owner is None or not is_patched(owner, name) or name in vars(writer):
            continue
        original = vars(owner)[name].__wrapped__
        writer.__dict__[name] = types.MethodType(original, writer)
        names.append(name)
    return names
