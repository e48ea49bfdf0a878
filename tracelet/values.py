"""Turning what users log into the plain Python values events carry.

Documented conversions (also in ``docs/runtime.md``):

* a scalar value becomes a float64: ``float``/``int`` as is, ``bool`` as 1.0/0.0, numpy
  scalars of every dtype and one-element arrays through ``.item()`` (a float32 or
  float16 is widened exactly, so ``np.float32(0.1)`` is ``0.10000000149011612``), torch
  tensors with one element (CPU or GPU, with or without grad) through ``.item()``.
  NaN and ±inf are kept; what each tracker stores for them is in its backend docs.
* a step becomes an int; ``None`` is step 0, which is what TensorBoard records. Through
  a SummaryWriter a fractional step (``epoch + i / n``) is cut with ``int()``, as the
  event file records it (1.5 -> 1, -0.5 -> 0); the direct API refuses it.
* anything else is refused with ``TypeError``: a string, ``None`` or a list is not a
  scalar. Through a SummaryWriter the writer decides first, and tracelet records what it
  recorded: torch's writer raises for ``None``, a list or ``"abc"``, but accepts a numeric
  string such as ``"0.5"`` (recorded as 0.5).
"""

from __future__ import annotations

import math
from typing import Any

_NUMBER_TYPES = (float, int)


def to_float(value: Any) -> float:
    """The float64 value tracelet records for a scalar, or ``TypeError``."""
    if type(value) is float:
        return value
    return float(to_scalar(value))


def to_scalar(value: Any) -> float | int | bool:
    """The value ``tracelet.log`` records for a scalar: a Python ``float``, ``int`` or
    ``bool`` as given (W&B stores ``1``, ``1.0`` and ``true`` differently), numpy
    scalars and one-element tensors through ``.item()``; ``TypeError`` otherwise."""
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        return value
    item = getattr(value, "item", None)
    if item is not None and callable(item):
        try:
            scalar = item()
        except (ValueError, RuntimeError) as exc:
            raise TypeError(f"expected a scalar, got {_describe(value)}") from exc
        if isinstance(scalar, _NUMBER_TYPES):
            return scalar
    elif isinstance(value, _NUMBER_TYPES):
        return float(value)
    raise TypeError(
        f"expected a number (int, float, bool, numpy scalar or tensor), got {_describe(value)}"
    )


def to_float_as_tensorboard(value: Any) -> float:
    """The value a SummaryWriter recorded for ``value``: it has already accepted it, and
    accepts a little more than :func:`to_float` (torch: numeric strings, tensorboardX:
    one-element lists)."""
    try:
        return to_float(value)
    except TypeError:
        try:
            return float(value)
        except (TypeError, ValueError):
            import numpy

            return float(numpy.asarray(value, dtype=float).reshape(-1)[0])


def to_step(step: Any) -> int:
    """The int step tracelet records; ``None`` is 0, as in TensorBoard."""
    if step is None:
        return 0
    if type(step) is int:
        return step
    item = getattr(step, "item", None)
    scalar = item() if callable(item) else step
    if isinstance(scalar, float):
        if not scalar.is_integer():
            raise TypeError(f"a step must be a whole number, got {scalar!r}")
        return int(scalar)
    if isinstance(scalar, int):
        return int(scalar)
    raise TypeError(f"a step must be an int, got {_describe(step)}")


def to_step_as_tensorboard(step: Any) -> int:
    """The step a SummaryWriter recorded: its event writer stores ``int(step)``."""
    if step is None:
        return 0
    if type(step) is int:
        return step
    return int(step)


def json_safe(value: Any) -> Any:
    """A JSON-encodable form of a parameter or tag value (numpy/tensors unwrapped)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    item = getattr(value, "item", None)
    size = getattr(value, "size", None)
    if callable(item) and (size in (None, 1) or (callable(size) and _numel(value) == 1)):
        try:
            return json_safe(item())
        except (ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return json_safe(tolist())
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def _numel(value: Any) -> int:
    try:
        return int(value.numel())
    except (AttributeError, TypeError):
        return -1


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"
