"""Capture of ``torch.utils.tensorboard.SummaryWriter`` and ``tensorboardX.SummaryWriter``.

Each patched method first runs the original, so the writer keeps writing its own event
files unchanged and bad input raises exactly the error plain TensorBoard raises; then
the call becomes a tracelet event:

=================  ===================================================================
``add_scalar``     a metric ``tag`` (the hot path: a float conversion and a queue append)
``add_scalars``    one metric per entry, named ``main_tag/tag``
``add_histogram``  a histogram with TensorBoard's own buckets
``add_image(s)``   a PNG encoded by TensorBoard's own summary code; ``add_figure`` goes
                   through ``add_image`` in both libraries, so it is captured there
``add_text``       a text record
``add_hparams``    the ``hparam_dict`` as params; its metrics arrive through the
                   ``add_scalar`` calls TensorBoard makes for them (step 0 unless given)
=================  ===================================================================

``global_step=None`` is step 0, as in the event file.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tracelet import router as _router
from tracelet.capture.patching import patch_method, when_imported
from tracelet.events import HISTOGRAM, IMAGE, METRIC, PARAMS, TEXT
from tracelet.tables import flatten_params
from tracelet.values import json_safe, to_float_as_tensorboard, to_step_as_tensorboard

WRITER_MODULES = {
    "torch.utils.tensorboard.writer": "torch.utils.tensorboard.summary",
    "tensorboardX.writer": "tensorboardX.summary",
}


def install() -> None:
    for writer_module, summary_module in WRITER_MODULES.items():
        when_imported(
            writer_module,
            functools.partial(_patch_writer_module, summary_module_name=summary_module),
        )


def _patch_writer_module(module: ModuleType, summary_module_name: str) -> None:
    cls = module.SummaryWriter
    patch_method(cls, "add_scalar", _wrap_add_scalar)
    patch_method(cls, "add_scalars", _wrap_add_scalars)
    patch_method(cls, "add_text", _wrap_add_text)
    patch_method(cls, "add_hparams", _wrap_add_hparams)
    summary = functools.partial(_summary_module, summary_module_name)
    patch_method(cls, "add_histogram", functools.partial(_wrap_add_histogram, summary=summary))
    patch_method(cls, "add_image", functools.partial(_wrap_add_image, summary=summary))
    patch_method(cls, "add_images", functools.partial(_wrap_add_image, summary=summary))


def _summary_module(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(name)


def _wrap_add_scalar(original: Callable) -> Callable:
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, *args, **kwargs):
        result = original(self, tag, scalar_value, global_step, walltime, *args, **kwargs)
        emit = _router.current_emit
        if emit is not None:
            emit(
                (
                    METRIC,
                    tag,
                    scalar_value
                    if type(scalar_value) is float
                    else to_float_as_tensorboard(scalar_value),
                    to_step_as_tensorboard(global_step),
                    time.time() if walltime is None else float(walltime),
                )
            )
        return result

    return functools.wraps(original)(add_scalar)


def _wrap_add_scalars(original: Callable) -> Callable:
    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        result = original(self, main_tag, tag_scalar_dict, global_step, walltime)
        emit_many = _router.current_emit_many
        if emit_many is not None:
            step = to_step_as_tensorboard(global_step)
            wall_time = time.time() if walltime is None else float(walltime)
            emit_many(
                [
                    (METRIC, f"{main_tag}/{tag}", to_float_as_tensorboard(value), step, wall_time)
                    for tag, value in tag_scalar_dict.items()
                ]
            )
        return result

    return functools.wraps(original)(add_scalars)


def _wrap_add_text(original: Callable) -> Callable:
    def add_text(self, tag, text_string, global_step=None, walltime=None, *args, **kwargs):
        result = original(self, tag, text_string, global_step, walltime, *args, **kwargs)
        emit = _router.current_emit
        if emit is not None:
            wall_time = time.time() if walltime is None else float(walltime)
            emit((TEXT, tag, to_step_as_tensorboard(global_step), wall_time, str(text_string)))
        return result

    return functools.wraps(original)(add_text)


def _wrap_add_hparams(original: Callable) -> Callable:
    def add_hparams(self, hparam_dict, metric_dict, *args, **kwargs):
        result = original(self, hparam_dict, metric_dict, *args, **kwargs)
        emit = _router.current_emit
        if emit is not None and hparam_dict:
            emit((PARAMS, {k: json_safe(v) for k, v in flatten_params(hparam_dict).items()}))
        return result

    return functools.wraps(original)(add_hparams)


def _wrap_add_histogram(original: Callable, summary: Callable[[], ModuleType]) -> Callable:
    def add_histogram(
        self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None
    ):
        result = original(self, tag, values, global_step, bins, walltime, max_bins)
        emit = _router.current_emit
        if emit is not None:
            if isinstance(bins, str) and bins == "tensorflow":
                bins = self.default_bins
            proto = summary().histogram(tag, values, bins, max_bins=max_bins).value[0].histo
            histogram = {
                "min": proto.min,
                "max": proto.max,
                "num": proto.num,
                "sum": proto.sum,
                "sum_squares": proto.sum_squares,
                "bucket_limits": list(proto.bucket_limit),
                "bucket_counts": list(proto.bucket),
            }
            wall_time = time.time() if walltime is None else float(walltime)
            emit((HISTOGRAM, tag, to_step_as_tensorboard(global_step), wall_time, histogram))
        return result

    return functools.wraps(original)(add_histogram)


def _wrap_add_image(original: Callable, summary: Callable[[], ModuleType]) -> Callable:
    default_format = _default_arg(original, "dataformats")

    def add_image(
        self, tag, img_tensor, global_step=None, walltime=None, dataformats=default_format
    ):
        result = original(self, tag, img_tensor, global_step, walltime, dataformats)
        emit = _router.current_emit
        if emit is not None:
            image = summary().image(tag, img_tensor, dataformats=dataformats).value[0].image
            wall_time = time.time() if walltime is None else float(walltime)
            emit(
                (
                    IMAGE,
                    tag,
                    to_step_as_tensorboard(global_step),
                    wall_time,
                    image.encoded_image_string,
                )
            )
        return result

    return functools.wraps(original)(add_image)


def _default_arg(function: Callable, name: str) -> Any:
    import inspect

    return inspect.signature(function).parameters[name].default
