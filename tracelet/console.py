"""Console capture: what the training process prints, for the trackers' console views.

While a run with ``track_console`` is active, ``sys.stdout`` and ``sys.stderr`` are
wrapped: each ``write`` goes to the real stream first, then the text is appended to an
in-memory queue (a ``deque.append``: no lock, no system call beyond the one the real
stream makes). The run's flusher thread drains the queue into ``console.jsonl`` in the
run folder, one JSON array ``[wall_time, stream, text]`` per line, and the delivery
agent hands the whole log to each tracker when the run ends (W&B: the run's Logs tab,
ClearML: the task's console, MLflow: a ``console.log`` artifact).

Output written to the file descriptors directly (C extensions, subprocesses) does not
pass through ``sys.stdout`` and is not captured, as with W&B's ``console="wrap"``.
"""

from __future__ import annotations

import collections
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

STREAMS = ("stdout", "stderr")


class _Tee:
    """A text stream that also queues what is written to it."""

    def __init__(self, stream: TextIO, name: str, queue: collections.deque):
        self._tracelet_stream = stream
        self._tracelet_name = name
        self._tracelet_queue = queue

    def write(self, text: str) -> int:
        written = self._tracelet_stream.write(text)
        if text:
            self._tracelet_queue.append((time.time(), self._tracelet_name, text))
        return written

    def __getattr__(self, name: str) -> Any:  # flush, fileno, encoding, isatty, buffer...
        return getattr(self._tracelet_stream, name)


class ConsoleCapture:
    """Wraps ``sys.stdout`` / ``sys.stderr`` until :meth:`uninstall`; :meth:`drain`
    (called by the flusher) appends what was written since to ``path``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._queue: collections.deque = collections.deque()
        self._tees: dict[str, _Tee] = {}

    def install(self) -> None:
        for name in STREAMS:
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _Tee):
                self._tees[name] = _Tee(stream, name, self._queue)
                setattr(sys, name, self._tees[name])

    def uninstall(self) -> None:
        """Put the real streams back (unless someone replaced ours since)."""
        for name, tee in self._tees.items():
            if getattr(sys, name) is tee:
                setattr(sys, name, tee._tracelet_stream)
        self._tees.clear()

    def drain(self) -> None:
        if not self._queue:
            return
        lines = []
        popleft = self._queue.popleft
        while self._queue:
            lines.append(json.dumps(popleft(), ensure_ascii=False) + "\n")
        with open(self.path, "a", encoding="utf-8") as file:
            file.writelines(lines)


def read_console(path: Path) -> Iterator[tuple[float, str, str]]:
    """The ``(wall_time, stream, text)`` chunks of a run's ``console.jsonl``, in order
    (nothing when the run printed nothing); a torn last line is skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            wall_time, stream, chunk = json.loads(line)
        except ValueError:
            continue
        yield float(wall_time), str(stream), str(chunk)


def console_text(path: Path) -> str:
    """What the terminal showed: both streams, interleaved as written."""
    return "".join(chunk for _, _, chunk in read_console(path))
