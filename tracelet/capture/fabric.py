"""Capture of Lightning Fabric's ``fabric.log`` / ``fabric.log_dict``.

Works for both packages, ``lightning.fabric`` and ``lightning_fabric``, patched when
they are imported (tracelet never imports them itself).

Where the capture sits
    ``fabric.log(name, value, step)`` is ``fabric.log_dict({name: value}, step)``, and
    ``log_dict`` converts the tensors to Python scalars and hands the dict to each of
    Fabric's loggers. tracelet records that dict, whether Fabric has loggers or not, so
    ``Fabric(loggers=[])`` in a tracelet run stores what a ``WandbLogger`` or
    ``MLFlowLogger`` given to ``Fabric(loggers=...)`` would have stored:

    * one row per call (a ``ROW`` event marked :data:`~tracelet.events.OWN_STEP`):
      W&B stores it as ``WandbLogger.log_metrics`` does, one ``wandb.log`` row at the
      next ``_step`` with the call's step in a column of its own (``tracelet/step``
      where ``WandbLogger`` writes ``trainer/global_step``); MLflow and the others get
      the values as points at that step, as ``MLFlowLogger`` logs them;
    * the values as Fabric gives them (an ``int`` stays an ``int``, as W&B stores it);
      a value that is not a number is not recorded;
    * a call without a step is stored at step 0 (``MLFlowLogger``'s ``step or 0``);
      ``WandbLogger`` logs such a call at W&B's own counter, which tracelet does not
      reproduce, so the codemod migrates only calls that pass a step.

    The tensors are read once, by Fabric's own conversion (which Fabric makes with no
    logger too), before the call, so the hot path stays a queue append.

No double counting
    A ``TensorBoardLogger`` kept on Fabric writes these metrics through its
    ``SummaryWriter``, which tracelet also captures; while Fabric hands them to its
    loggers, that writer gets its own unpatched ``add_scalar`` back, as under a Trainer
    (:mod:`tracelet.capture.lightning`).

Distributed
    Only the ranks that log (see :mod:`tracelet.distributed`) have the patch, as Fabric's
    loggers log on rank 0 only.
"""

from __future__ import annotations

import functools
import time
import types
from collections.abc import Callable, Mapping
from typing import Any

from tracelet import router as _router
from tracelet.capture.lightning import tensorboard_muted
from tracelet.capture.patching import patch_method, when_imported
from tracelet.events import OWN_STEP, ROW
from tracelet.values import to_scalar

#: The module of each package that defines ``Fabric``.
FABRIC_MODULES = ("lightning.fabric.fabric", "lightning_fabric.fabric")


def install() -> None:
    """Patch Fabric now, or when it is imported."""
    for name in FABRIC_MODULES:
        when_imported(name, _patch_fabric_module)


def _patch_fabric_module(module: types.ModuleType) -> None:
    package = module.__name__.rpartition(".")[0]
    loggers = __import__(f"{package}.loggers", fromlist=["TensorBoardLogger"])
    patch_method(
        module.Fabric,
        "log_dict",
        functools.partial(
            _wrap_log_dict,
            tensorboard_logger=loggers.TensorBoardLogger,
            to_scalars=module.convert_tensors_to_scalars,
        ),
    )


def _wrap_log_dict(original: Callable, tensorboard_logger: type, to_scalars: Callable) -> Callable:
    def log_dict(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        emit = _router.current_emit
        if emit is None or not metrics:
            return original(self, metrics, step)
        metrics = to_scalars(metrics)  # once: Fabric's own conversion then finds no tensor
        with tensorboard_muted(self.loggers, tensorboard_logger):
            result = original(self, metrics, step)
        values = _scalars(metrics)
        emit((ROW, 0 if step is None else int(step), time.time(), values, [], None, OWN_STEP))
        return result

    return functools.wraps(original)(log_dict)


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The number values (a value of another type, which Fabric passes on as it is, is
    not recorded: tracelet's rows hold numbers)."""
    values = {}
    for key, value in metrics.items():
        try:
            values[str(key)] = to_scalar(value)
        except TypeError:
            continue
    return values
