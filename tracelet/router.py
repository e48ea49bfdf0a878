"""The training side of the runtime: an in-memory queue and a flusher thread.

The hot path (an intercepted ``add_scalar``) calls :data:`current_emit`, which is the
bound ``append`` of a ``collections.deque``: no lock, no I/O, no tracker. A flusher
thread wakes every ``flush_interval`` seconds, drains the queue and appends the batch to
the run's journal; the delivery agent (another process) takes it from there.

When the journal cannot be written (disk full), the events stay queued in memory, in
order, and are written when space comes back; past :data:`MAX_HELD_EVENTS` the oldest
are dropped. What never reached the journal is counted in :attr:`Router.lost`, with the
reason, and ``stop_logging`` reports it.

After ``os.fork()`` the child process gets no flusher thread and a disabled hot path:
only the process that called ``start_logging`` writes the journal (DataLoader workers
and other forked children log nothing and never block on a lock held by a thread that
does not exist in the child).
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracelet.console import ConsoleCapture
from tracelet.events import END, IMAGE, MEDIA, METRIC, ROW
from tracelet.journal import JournalWriter
from tracelet.media import Media, prepare
from tracelet.rundir import JOURNAL_FILE, MEDIA_DIR
from tracelet.values import to_float

#: The function the capture layer calls with each event, or None when not logging.
current_emit: Callable[[tuple], None] | None = None
#: The same for the events of one logged dict (Lightning's ``log_metrics``,
#: ``add_scalars``): the bound ``extend`` of the same deque adds them all at once, so the
#: flusher never writes part of them to one journal record and the rest to the next
#: (W&B would get two rows for one dict).
current_emit_many: Callable[[list], None] | None = None

MAX_EVENTS_PER_RECORD = 10_000
MAX_HELD_EVENTS = 2_000_000  # queued while the journal cannot be written (~200 MB)


class Router:
    """Owns the queue, the flusher thread and the journal writer of one run."""

    def __init__(self, run_dir: Path, run_id: str, flush_interval: float = 0.2):
        self.run_dir = Path(run_dir)
        self.flush_interval = flush_interval
        self._queue: collections.deque = collections.deque()
        self.emit: Callable[[tuple], None] = self._queue.append
        self.emit_many: Callable[[list], None] = self._queue.extend
        self._journal = JournalWriter(self.run_dir / JOURNAL_FILE, run_id)
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._media_count = 0
        self.dropped = 0
        self.points_written = 0
        self.lost = 0  # events that never reached the journal
        self.journal_error: str | None = None  # why, while the journal cannot be written
        self.last_journal_error: str | None = None
        self.end_written = False
        self._warned: set[str] = set()
        #: drained by the flusher with the queue (tracelet.console), when console is tracked
        self.console: ConsoleCapture | None = None
        _routers.add(self)
        self._thread = threading.Thread(target=self._loop, name="tracelet-flusher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if not self._closed:
                try:
                    self.flush()
                    if self.console is not None:
                        self.console.drain()
                except OSError:  # disk full, say: the batch is back in the queue
                    with self._write_lock:
                        self._hold_at_most(MAX_HELD_EVENTS)

    def flush(self) -> int:
        """Move everything queued so far into the journal; returns the event count."""
        with self._write_lock:
            if self._journal is None:
                return 0
            written = 0
            popleft = self._queue.popleft
            while self._queue:
                batch = []
                append = batch.append
                try:
                    while len(batch) < MAX_EVENTS_PER_RECORD:
                        append(popleft())
                    while _same_step(batch[-1], self._queue[0]):  # a step stays whole
                        append(popleft())
                except IndexError:
                    pass
                prepared = [p for p in map(self._prepare_or_drop, batch) if p is not None]
                try:
                    self._journal.append(prepared)
                except OSError as exc:
                    self._queue.extendleft(reversed(prepared))
                    self._journal_failed(exc)
                    raise
                if self.journal_error is not None:
                    self.journal_error = None
                    self._warned.discard("journal")
                    print("tracelet: the journal is writable again", file=sys.stderr)
                self.points_written += sum(map(_point_count, prepared))
                written += len(batch)
            return written

    def _journal_failed(self, exc: OSError) -> None:
        self.journal_error = self.last_journal_error = f"{exc.strerror or exc} ({exc.filename})"
        self._warn_once(
            "journal",
            f"cannot write the journal: {self.journal_error}; events are held in memory "
            "until it can be written",
        )

    def _hold_at_most(self, limit: int) -> None:
        """Drop the oldest queued events beyond ``limit`` (all of them with 0)."""
        popleft = self._queue.popleft
        while len(self._queue) > limit:
            try:
                popleft()
            except IndexError:
                break
            self.lost += 1

    def _prepare_or_drop(self, event: tuple) -> Any:
        try:
            return self._prepare(event)
        except Exception as exc:  # one bad event never stops the flusher
            self.dropped += 1
            self._warn_once(repr(event[:2]), f"event {event[:2]!r} dropped: {exc}")
            return None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print(f"tracelet: {message}", file=sys.stderr)

    def _prepare(self, event: tuple) -> Any:
        """Events are JSON-ready except image bytes and media values, which become files
        in media/ (:mod:`tracelet.media`), and metric values the hot path left as tensors
        (read here, off the training thread)."""
        kind = event[0]
        if kind == METRIC:
            if type(event[2]) is float:
                return event
            return (kind, event[1], to_float(event[2]), event[3], event[4])
        if kind == IMAGE and isinstance(event[4], bytes | bytearray):
            rel = f"{MEDIA_DIR}/{self._media_stem()}.png"
            (self.run_dir / rel).write_bytes(event[4])
            return (*event[:4], rel)
        if kind == ROW and any(isinstance(v, Media) for v in event[3].values()):
            values = {
                key: prepare(value, self.run_dir, self._media_stem())
                if isinstance(value, Media)
                else value
                for key, value in event[3].items()
            }
            return (kind, event[1], event[2], values, *event[4:])
        if kind == MEDIA:
            return (*event[:4], prepare(event[4], self.run_dir, self._media_stem()))
        return event

    def _media_stem(self) -> str:
        self._media_count += 1
        return f"{self._media_count:06d}"

    def close(self, status: str, deadline: float | None) -> None:
        """Flush what is queued, append the end marker and stop the flusher.

        Never raises for a journal that cannot be written: what is still queued is
        counted as lost, and a run that lost events ends FAILED instead of FINISHED
        (the tracker holds an incomplete record). The end marker may use the space the
        writer keeps free; :attr:`end_written` says whether it made it.
        """
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.flush()
        if self.console is not None:
            self.console.uninstall()
            with contextlib.suppress(OSError):  # before the end marker: read whole at the end
                self.console.drain()
        with self._write_lock:
            self._hold_at_most(0)
            if self.lost and status == "FINISHED":
                status = "FAILED"
            try:
                self._journal.append([(END, status, deadline)], keep_free=0)
                self.end_written = True
            except OSError as exc:
                self._journal_failed(exc)
            self._journal.close()
            self._journal = None

    def after_fork_in_child(self) -> None:
        if self.console is not None:  # a child's prints are not the run's console
            self.console.uninstall()
        self._closed = True
        self._journal = None
        self._queue = collections.deque()
        self.emit = self.emit_many = discard


def _same_step(event: tuple, following: tuple) -> bool:
    """Two metric points of one step (a record ends between steps, not inside one)."""
    return event[0] == following[0] == METRIC and event[3] == following[3]


def _point_count(event: tuple) -> int:
    """Scalar points in a prepared event (what the stop progress counts)."""
    if event[0] == METRIC:
        return 1
    if event[0] == ROW:
        return sum(1 for value in event[3].values() if not isinstance(value, dict))
    return 0


def discard(event: tuple) -> None:
    """The hot path of a process that does not log (a forked child, a non-zero rank)."""
    return None


def activate(router: Router | None) -> None:
    """Point the hot path at ``router`` (or turn it off with None)."""
    global current_emit, current_emit_many
    current_emit = router.emit if router is not None else None
    current_emit_many = router.emit_many if router is not None else None


# A fork in the middle of a journal write would copy a held lock or a half-flushed file
# buffer into the child; holding every router's write lock across fork() rules that out.
_routers: weakref.WeakSet[Router] = weakref.WeakSet()


def _before_fork() -> None:
    for router in list(_routers):
        router._write_lock.acquire()


def _after_fork_in_parent() -> None:
    for router in list(_routers):
        router._write_lock.release()


def _after_fork_in_child() -> None:
    global current_emit, current_emit_many
    current_emit = current_emit_many = None
    for router in list(_routers):
        router._write_lock.release()
        router.after_fork_in_child()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
