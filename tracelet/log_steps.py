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
  tensors), kept as ``int``, ``float`` or ``bool`` as ``wandb.log`` keeps them (other
  trackers receive them as floats), or media: ``tracelet.Image``, ``tracelet.Histogram``,
  ``tracelet.Table`` (see :mod:`tracelet.media`), in the same row, or a list (or tuple)
  of media of one kind under one key, as ``wandb.log`` takes a list of ``wandb.Image``
  (a list mixing kinds, or media and other values, raises ``TypeError`` naming the key).
  Any other value (a ``wandb.Image``, a string, a list of numbers) is not logged:
  tracelet warns once per key and counts it.

Example:
    ```python
    import tracelet

    tracelet.start_logging(exp_name="baseline", backend="mlflow")
    tracelet.log({"loss": 0.9})                      # step 0
    tracelet.log({"loss": 0.7, "lr": 0.1})           # step 1
    tracelet.log({"acc": 0.5}, commit=False)         # pending
    tracelet.log({"loss": 0.6})                      # step 2: acc and loss
    tracelet.log({"val": {"loss": 0.65}}, step=10)   # val.loss at step 10
    tracelet.log({"loss": 0.1}, step=4)              # dropped (4 < 10), with a warning
    tracelet.stop_logging()                          # commits the open row
    ```
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from tracelet.events import ROW
from tracelet.media import Media, is_media_list, media_list
from tracelet.values import to_scalar, to_step


class WandbStyleLog:
    """Holds W&B's step counter and pending row for one run.

    Each run has one ([`Experiment.log`][tracelet.Experiment.log] and
    [`tracelet.log`][tracelet.log] go through it); it passes each committed row to
    ``emit`` as one row event, ``("r", step, wall_time, {key: value})``, so that W&B
    receives the row ``wandb.log`` would have written. A fifth and a sixth item, when
    present, list the media keys of the call that moved the step (``log(d, step=s)``
    above the current step) and the step before it: W&B names their files after that
    step (its own counter at the call, the step of a row still open or the one after a
    committed row).

    Attributes:
        step: the step the pending row will be committed at.
        dropped_calls: calls dropped because their ``step`` was below ``step``.
        skipped_values: values not logged because they were not scalars.

    Example:
        ```python
        events = []
        steps = WandbStyleLog(events.append)
        steps.log({"loss": 0.5})
        steps.log({"loss": 0.4}, step=3)
        steps.finish()
        [(step, row) for _, step, _, row in events]
        # [(0, {"loss": 0.5}), (3, {"loss": 0.4})]
        ```
    """

    def __init__(self, emit: Callable[[tuple], None]):
        self._emit = emit
        self.step = 0
        self._pending: dict[str, Any] = {}
        self._early: set[str] = set()  # media of the call that moved the step
        self._named_at = 0  # the step before that call, which W&B names their files after
        self.dropped_calls = 0
        self.skipped_values = 0
        self._warned_keys: set[str] = set()
        self._warned_drop = False

    def log(self, data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
        """Merge ``data`` into the pending row and commit it as ``wandb.log`` would.

        Raises:
            TypeError: ``data`` is not a mapping, or a list in it mixes media kinds (or
                media and other values).

        Example:
            ```python
            steps.log({"acc": 0.8}, commit=False)  # pending
            steps.log({"loss": 0.3})               # commits acc and loss at one step
            ```
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        if step is not None:
            step = to_step(step)
            if step < self.step:
                self._drop(step)
                return
        values = self._values(data)  # raises before the row changes
        jumped = step is not None and step > self.step
        if jumped:
            named_at = self.step  # W&B's counter at this call: an open row's step, or the next
            self._commit()
            self._named_at, self.step = named_at, step
        for name, value in values.items():
            self._early.discard(name)
            self._pending[name] = value
            if jumped and isinstance(value, Media):  # W&B names its file after the step before
                self._early.add(name)
        if commit or (commit is None and step is None):
            self._commit()

    def finish(self) -> None:
        """Commit the open row, as ``wandb.finish()`` does.

        Example:
            ```python
            steps.log({"loss": 0.2}, step=9)  # row 9 stays open
            steps.finish()                    # and is committed now
            ```
        """
        self._commit()

    def _values(self, data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """The loggable values of ``data`` by flattened name; media are the snapshots
        their constructors took (the flusher and the agent encode them, off this thread)."""
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                values.update(self._values(value, f"{name}."))
            elif isinstance(value, Media):
                values[name] = value
            elif is_media_list(value):
                values[name] = media_list(name, value)
            else:
                try:
                    values[name] = to_scalar(value)
                except TypeError:
                    self._skip(name, value)
        return values

    def _skip(self, name: str, value: Any) -> None:
        self.skipped_values += 1
        if name not in self._warned_keys:
            self._warned_keys.add(name)
            warnings.warn(
                f"tracelet.log: {name!r} is a {type(value).__name__}, not a scalar; "
                "it is not logged (media go in tracelet.Image / tracelet.Histogram "
                "/ tracelet.Table)",
                stacklevel=5,
            )

    def _commit(self) -> None:
        if not self._pending:
            return
        row = (ROW, self.step, time.time(), self._pending)
        self._emit((*row, sorted(self._early), self._named_at) if self._early else row)
        self._pending = {}
        self._early = set()
        self.step += 1

    def _drop(self, step: int) -> None:
        self.dropped_calls += 1
        if not self._warned_drop:
            self._warned_drop = True
            warnings.warn(
                f"tracelet.log: step {step} is lower than the current step {self.step}; the "
                "call is dropped, as wandb.log drops it (counted in the stop report)",
                stacklevel=4,
            )
