"""``tracelet.log``: a dict logger with exactly the step semantics of ``wandb.log``.

It exists so that ``tracelet migrate --from wandb`` can rewrite ``wandb.log(d)`` calls
whose step is implicit (almost all of them) without guessing a step:

* ``log(d)`` merges ``d`` into the pending row and commits it at the current step; the
  step then counts up by one.
* ``log(d, commit=False)`` only merges ``d`` into the pending row.
* ``log(d, step=s)`` with ``s`` above the current step commits the pending row (if any)
  and opens row ``s``; with ``s`` equal to it, merges. The row stays open until a higher
  step, ``commit=True``, a call without ``step`` or the end of the run.
* a ``step`` below the current one is dropped, as W&B drops it; tracelet warns (once per
  run) and counts the dropped calls instead of staying silent.
* nested dicts are flattened with ``.`` (W&B's own key form: ``{"a": {"b": 1}}`` is
  ``a.b``); values must be scalars (numbers, bools, numpy scalars, one-element
  tensors). A value that is not (a ``wandb.Image``, a string) is not logged: tracelet
  warns once per key and counts it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from tracelet.events import METRIC
from tracelet.values import to_float, to_step


class WandbStyleLog:
    """Holds W&B's step counter and pending row for one run."""

    def __init__(self, emit: Callable[[tuple], None]):
        self._emit = emit
        self.step = 0
        self._pending: dict[str, float] = {}
        self.dropped_calls = 0
        self.skipped_values = 0
        self._warned_keys: set[str] = set()
        self._warned_drop = False

    def log(self, data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        if step is not None:
            step = to_step(step)
            if step < self.step:
                self._drop(step)
                return
            if step > self.step:
                self._commit()
                self.step = step
        self._merge(data)
        if commit or (commit is None and step is None):
            self._commit()

    def finish(self) -> None:
        """Commit the open row, as ``wandb.finish()`` does."""
        self._commit()

    def _merge(self, data: Mapping[str, Any], prefix: str = "") -> None:
        for key, value in data.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                self._merge(value, f"{name}.")
                continue
            try:
                self._pending[name] = to_float(value)
            except TypeError:
                self.skipped_values += 1
                if name not in self._warned_keys:
                    self._warned_keys.add(name)
                    warnings.warn(
                        f"tracelet.log: {name!r} is a {type(value).__name__}, not a scalar; "
                        "it is not logged (use a SummaryWriter add_image/add_histogram/"
                        "add_text call for media)",
                        stacklevel=4,
                    )

    def _commit(self) -> None:
        if not self._pending:
            return
        wall_time = time.time()
        step = self.step
        for key, value in self._pending.items():
            self._emit((METRIC, key, value, step, wall_time))
        self._pending = {}
        self.step = step + 1

    def _drop(self, step: int) -> None:
        self.dropped_calls += 1
        if not self._warned_drop:
            self._warned_drop = True
            warnings.warn(
                f"tracelet.log: step {step} is lower than the current step {self.step}; the "
                "call is dropped, as wandb.log drops it (counted in the stop report)",
                stacklevel=4,
            )
