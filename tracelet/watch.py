"""``experiment.watch``: histograms of a torch model's gradients and parameters.

The same hooks, names and histograms as ``wandb.watch`` (wandb's
``integration/torch/wandb_torch.py``):

* gradients: a hook on every parameter that requires grad; every ``log_freq``-th gradient
  of that parameter is logged as ``gradients/<prefix><name>``;
* parameters: a forward hook on the model; every ``log_freq``-th forward pass logs each
  parameter as ``parameters/<prefix><name>``;
* ``<prefix>`` is empty for the first model watched in a run and ``graph_<n>`` for the
  n-th after it (counting from 0), as W&B names them;
* a histogram has 64 equal buckets between the finite minimum and maximum (NaN and ±inf
  left out; one bucket when all values are equal), counted with ``torch.histc`` on the
  tensor's own device, so only the 64 counts and four numbers leave the GPU.

The hook does no tracker work: it hands a histogram event (kind ``h``) to the run's
queue, and the delivery agent sends it to every tracker. Its step is
[`tracelet.log`][tracelet.log]'s current step (the row ``wandb.watch`` adds its
histograms to); a run that never calls ``tracelet.log`` uses the hook's own count (the
forward pass, or the backward pass of that parameter, counted from 1). Once the run
has called ``tracelet.log``, the event is marked as part of the pending row
(:data:`~tracelet.events.JOINS_ROW`): W&B adds it to the next committed row, as
``wandb.watch``'s ``commit=False`` log does, and the other trackers store it at its step.

torch is imported only when ``watch`` is called.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from tracelet.events import HISTOGRAM, JOINS_ROW

NUM_BINS = 64
LOG_CHOICES = ("gradients", "parameters", "all", None)

Emit = Callable[[tuple], None]
StepOf = Callable[[int], int]


class Watcher:
    """The hooks of one run's ``watch`` calls."""

    def __init__(self, emit: Emit, step_of: StepOf, joins_rows: Callable[[], bool]):
        self._emit = emit
        self._step_of = step_of
        self._joins_rows = joins_rows
        self._handles: dict[int, list[Any]] = {}
        self._watched = 0

    def watch(self, models: Any, log: str | None = "gradients", log_freq: int = 1000) -> None:
        import torch

        if log not in LOG_CHOICES:
            raise ValueError("log must be one of 'gradients', 'parameters', 'all', or None")
        models = tuple(models) if isinstance(models, list | tuple) else (models,)
        for model in models:
            if not isinstance(model, torch.nn.Module):
                raise TypeError(
                    f"Expected a pytorch model (torch.nn.Module). Received {type(model)}"
                )
        for model in models:
            prefix = f"graph_{self._watched}" if self._watched else ""
            self._watched += 1
            handles = self._handles.setdefault(id(model), [])
            if log in ("parameters", "all"):
                handles.append(self._hook_parameters(model, prefix, log_freq))
            if log in ("gradients", "all"):
                handles.extend(self._hook_gradients(model, prefix, log_freq))

    def unwatch(self, models: Any = None) -> None:
        if models is None:
            targets = list(self._handles)
        else:
            models = models if isinstance(models, list | tuple) else (models,)
            targets = [id(m) for m in models]
        for target in targets:
            for handle in self._handles.pop(target, []):
                handle.remove()

    def _hook_parameters(self, model: Any, prefix: str, log_freq: int) -> Any:
        counter = _Every(log_freq)

        def after_forward(module: Any, inputs: Any, output: Any) -> None:
            if counter.due():
                step = self._step_of(counter.calls)
                for name, parameter in module.named_parameters():
                    self._log(f"parameters/{prefix}{name}", parameter, step)

        return model.register_forward_hook(after_forward)

    def _hook_gradients(self, model: Any, prefix: str, log_freq: int) -> list[Any]:
        handles = []
        for name, parameter in model.named_parameters():
            if parameter.requires_grad:
                handles.append(
                    parameter.register_hook(
                        self._gradient_hook(f"gradients/{prefix}{name}", log_freq)
                    )
                )
        return handles

    def _gradient_hook(self, key: str, log_freq: int) -> Callable[[Any], None]:
        counter = _Every(log_freq)

        def on_gradient(grad: Any) -> None:
            if counter.due():
                self._log(key, grad, self._step_of(counter.calls))

        return on_gradient

    def _log(self, key: str, tensor: Any, step: int) -> None:
        histogram = tensor_histogram(tensor)
        if histogram is not None:
            event = (HISTOGRAM, key, step, time.time(), histogram)
            self._emit((*event, JOINS_ROW) if self._joins_rows() else event)


class _Every:
    """True on every ``n``-th call, as wandb's ``log_track_update``."""

    def __init__(self, n: int):
        self.n = n
        self.calls = 0
        self._count = 0

    def due(self) -> bool:
        self.calls += 1
        self._count += 1
        if self._count < self.n:
            return False
        self._count = 0
        return True


def _stats(flat: Any) -> list[float] | None:
    """min, max, sum and sum of squares of a 1-D float tensor, in one device sync."""
    import torch

    if flat.numel() == 0:
        return None
    low, high = torch.aminmax(flat)
    return torch.stack([low, high, flat.sum(), torch.dot(flat, flat)]).tolist()


def tensor_histogram(tensor: Any) -> dict[str, Any] | None:
    """A 64-bucket histogram of a tensor's finite values (None when it has none), with
    the buckets ``wandb.watch`` computes."""
    import torch

    flat = tensor.detach()
    if flat.is_sparse:
        raise TypeError("watch: sparse gradients are not supported")
    flat = flat.reshape(-1)
    if flat.dtype not in (torch.float32, torch.float64):
        flat = flat.float()
    stats = _stats(flat)
    if stats is not None and not (math.isfinite(stats[0]) and math.isfinite(stats[1])):
        # min and max are finite exactly when every value is (a NaN propagates to both)
        flat = flat[torch.isfinite(flat)]
        stats = _stats(flat)
    if stats is None:
        return None
    low, high, total, squares = stats
    if low == high:
        counts, edges = [float(flat.numel())], [low, high]
    else:
        counts = flat.histc(bins=NUM_BINS, min=low, max=high).tolist()
        edges = torch.linspace(low, high, steps=NUM_BINS + 1).tolist()
    return {
        "min": edges[0],
        "max": edges[-1],
        "num": int(flat.numel()),
        "sum": total,
        "sum_squares": squares,
        "bucket_limits": edges[1:],
        "bucket_counts": counts,
    }
