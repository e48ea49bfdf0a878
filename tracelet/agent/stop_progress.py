"""What ``stop_logging`` shows while it waits for the agent to deliver.

Nothing for a stop that is over within a second. After that, on a terminal, one rich
status line with the points each tracker has received, updated as they arrive;
otherwise (a log file, CI) one plain line every few seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from tracelet.agent.delivery import DeliveryState

QUIET_SECONDS = 1.0
LINE_EVERY_SECONDS = 5.0


class StopProgress:
    """Shows delivery progress per tracker until :meth:`close`."""

    def __init__(self, points_logged: int, deadline: float, stream: IO[str] | None = None):
        self.points_logged = points_logged
        self.deadline = deadline
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.time()
        self._last_line = 0.0
        self._status: Any = None
        self._terminal = _is_terminal(self.stream)

    def show(self, states: Sequence[DeliveryState]) -> None:
        now = time.time()
        if now - self.started < QUIET_SECONDS:
            return
        text = self.describe(states, now)
        if self._terminal:
            if self._status is None:
                from rich.console import Console

                self._status = Console(file=self.stream).status(text)
                self._status.start()
            else:
                self._status.update(text)
        elif now - self._last_line >= LINE_EVERY_SECONDS:
            self._last_line = now
            print(f"tracelet: {text}", file=self.stream, flush=True)

    def describe(self, states: Sequence[DeliveryState], now: float) -> str:
        parts = [f"{s.backend} {_backend_progress(s, self.points_logged)}" for s in states]
        left = max(0, round(self.deadline - now))
        return f"delivering, {left} s left at most: " + "; ".join(parts)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def _backend_progress(state: DeliveryState, points_logged: int) -> str:
    points = state.delivered.get("metrics", 0)
    if state.done:
        return f"{points:,} points, done"
    if state.unavailable:
        return "stopped (see above)"
    if not state.location:
        return "no answer yet" + (f" ({state.errors[-1][:80]})" if state.errors else "")
    return f"{points:,} of {points_logged:,} points"


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
