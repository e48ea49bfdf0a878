"""The delivery engine: reads the journal and hands events to each backend.

One :class:`BackendWorker` per backend, each with its own cursor into the journal, so
a slow or failing tracker never holds back the others. The same engine runs inside the
live delivery agent (a separate process, see :mod:`tracelet.agent`) and inside
``tracelet sync``, which delivers what a crashed or offline run left behind.

Cursor and tracker state live in ``delivery/<backend>.json`` in the run folder; the
cursor is ``(offset, index)``: the byte offset of the first journal record not fully
delivered and how many of its events were. It is saved after every tracker call that
succeeded, so a restarted delivery neither skips nor repeats a point (as long as the
tracker call itself is all-or-nothing).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tracelet import journal
from tracelet.backends import Backend, BackendUnavailable, RefusedError, RunInfo, load_backend
from tracelet.backends.base import row_points
from tracelet.console import read_console
from tracelet.events import (
    ARTIFACT,
    DEFINE_METRIC,
    END,
    FILE,
    HISTOGRAM,
    IMAGE,
    JOINS_ROW,
    MEDIA,
    METRIC,
    MODEL,
    MODEL_METRICS,
    OWN_STEP,
    PARAMS,
    ROW,
    SUMMARY,
    TAGS,
    TEXT,
    Point,
    SystemSample,
)
from tracelet.media import kind_counts, with_absolute_paths
from tracelet.rundir import (
    CONSOLE_FILE,
    JOURNAL_FILE,
    RunSpec,
    delivery_file,
    read_json,
    write_json,
)
from tracelet.summaries import MetricSummaries

log = logging.getLogger("tracelet.agent.delivery")

MAX_POINTS_PER_CALL = 1000
POLL_SECONDS = 0.05
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


@dataclass
class DeliveryState:
    """What one backend has received; persisted as ``delivery/<backend>.json``."""

    backend: str
    offset: int = 0
    index: int = 0
    tracker: dict[str, Any] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: bool = False
    status: str | None = None
    location: str = ""  # set once the tracker run is open: the tracker has answered
    tracker_run_id: str = ""  # the tracker's own id of the run, once it is open
    url: str = ""  # the run's web page, or where a local store keeps it
    unavailable: str | None = None  # an error that cannot heal; delivery stopped
    #: ``define_metric`` aggregates so far, for trackers that do not compute them
    summaries: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path, backend: str) -> DeliveryState:
        data = read_json(delivery_file(run_dir, backend))
        return cls(**data) if data else cls(backend=backend)

    def save(self, run_dir: Path) -> None:
        """Persist; a failed write (disk full) keeps the previous file, and the state in
        memory is saved by the next call."""
        try:
            write_json(delivery_file(run_dir, self.backend), asdict(self))
        except OSError as exc:
            log.warning("cannot save the delivery state of %s: %s", self.backend, exc)

    def count(self, table: dict[str, int], kind: str, n: int = 1) -> None:
        table[kind] = table.get(kind, 0) + n


Notify = Callable[[str], None]


class BackendWorker:
    """Delivers the journal of one run to one backend."""

    def __init__(
        self,
        run_dir: Path,
        spec: RunSpec,
        name: str,
        notify: Notify,
        writer_alive: Callable[[], bool],
    ):
        self.run_dir = Path(run_dir)
        self.spec = spec
        self.name = name
        self.notify = notify
        self.writer_alive = writer_alive
        self.state = DeliveryState.load(self.run_dir, name)
        self.summaries = MetricSummaries.from_state(self.state.summaries)
        self.backend = None
        self.deadline: float | None = None
        self._reported: set[str] = set()
        self._failing = False
        self._stop = threading.Event()
        #: filled by the agent's system-metrics sampler when this backend records them
        self.system_samples: collections.deque[SystemSample] = collections.deque(maxlen=10_000)

    # -- main loop -------------------------------------------------------------------
    def run(self) -> DeliveryState:
        """Deliver until the run's end marker is delivered, the writer is gone and the
        journal is drained, or ``self.deadline`` (wall time; the agent may set it while
        this runs) passes."""
        backoff = BACKOFF_START
        self.state.unavailable = None  # a later sync tries again: the user may have fixed it
        while not self.state.done and not self._stop.is_set():
            if self._past_deadline():
                break
            try:
                self._ensure_open()
                progressed = self._deliver_available()
                self._deliver_system()
                if self._failing:
                    self._failing = False
                    self.notify(f"{self.name}: delivery resumed")
                backoff = BACKOFF_START
                if self.state.done:
                    break
                if not progressed:
                    if not self.writer_alive() and not self._more_to_read():
                        self._finish("KILLED")
                        break
                    self._stop.wait(POLL_SECONDS)
            except BackendUnavailable as exc:
                self._give_up(exc)
                break
            except Exception as exc:
                self._on_error(exc)
                self._stop.wait(min(backoff, self._time_left()))
                backoff = min(backoff * 2, BACKOFF_MAX)
        self.state.save(self.run_dir)
        return self.state

    def stop(self) -> None:
        self._stop.set()

    # -- helpers ---------------------------------------------------------------------
    def _time_left(self) -> float:
        return BACKOFF_MAX if self.deadline is None else max(0.0, self.deadline - time.time())

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def _ensure_open(self) -> None:
        if self.backend is not None:
            return
        backend_cls = load_backend(self.name)
        run = RunInfo(
            run_id=self.spec.run_id,
            exp_name=self.spec.exp_name,
            project=self.spec.project,
            run_dir=str(self.run_dir),
            created=self.spec.created,
            options=self.spec.backend_options.get(self.name, {}),
            **self._tracking(),
        )
        backend = backend_cls(run, run.options, self.state.tracker)
        backend.open()
        self._replay_delivered(backend)
        self.backend = backend
        self.state.location = backend.describe()
        self.state.tracker_run_id, self.state.url = backend.run_ref()
        self.state.save(self.run_dir)

    @property
    def started_up(self) -> bool:
        """Its tracker run is open, or it no longer tries (done, or the tracker cannot
        be used): no start-up work is left."""
        return self.backend is not None or self.state.done or bool(self.state.unavailable)

    def _tracking(self) -> dict[str, Any]:
        tracking = self.spec.tracking.get(self.name, {})
        return {
            "source": self.spec.source,
            "track_system": bool(tracking.get("system")),
            "track_git": bool(tracking.get("git")),
            "track_console": bool(tracking.get("console")),
            "system_interval": self.spec.system_interval,
            "pid": self.spec.pid,
        }

    def wants_system_samples(self) -> bool:
        """True when the agent's sampler should feed :attr:`system_samples`."""
        backend_cls = load_backend(self.name)
        return self._tracking()["track_system"] and not backend_cls.samples_system_itself

    def _deliver_system(self) -> None:
        samples = self.system_samples
        while samples:
            self._call("system", 1, self.backend.log_system_metrics, samples[0])
            samples.popleft()

    def _replay_delivered(self, backend) -> None:
        """Show the backend, call by call, the points delivered before the cursor."""
        uses_history = type(backend).replay is not Backend.replay
        if not uses_history or not (self.state.offset or self.state.index):
            return
        for end_offset, payload in journal.iter_records(self.run_dir / JOURNAL_FILE):
            at_cursor = end_offset > self.state.offset
            if isinstance(payload, list):
                events = payload[: self.state.index] if at_cursor else payload
                i = 0
                while i < len(events):
                    j = _metric_run_end(events, i)
                    if j > i:
                        backend.replay([Point(*e[1:5]) for e in events[i:j]])
                    elif events[i][0] == ROW and (points := row_points(*events[i][1:4])):
                        backend.replay(points)
                    i = max(j, i + 1)
            if at_cursor:
                return

    def _more_to_read(self) -> bool:
        """Complete records beyond the cursor (a torn last write never completes)."""
        path = self.run_dir / JOURNAL_FILE
        if not path.exists() or path.stat().st_size <= self.state.offset:
            return False
        return journal.find_end(path, self.state.offset)[0] > self.state.offset

    def _deliver_available(self) -> bool:
        progressed = False
        stats = journal.ReadStats()
        for end_offset, payload in journal.iter_records(
            self.run_dir / JOURNAL_FILE, self.state.offset, stats
        ):
            if isinstance(payload, list):
                self._deliver_record(payload)
            self.state.offset, self.state.index = end_offset, 0
            self.state.save(self.run_dir)
            progressed = True
            if self.state.done or self._past_deadline():
                break
        if stats.corrupt_records:
            self._refuse("journal records", stats.corrupt_records, "checksum mismatch")
            self.notify(f"{self.name}: skipped {stats.corrupt_records} corrupt journal record(s)")
        return progressed

    def _deliver_record(self, events: list) -> None:
        i, n = self.state.index, len(events)
        while i < n:
            if self._past_deadline():
                raise TimeoutError("stop deadline reached")
            j = _metric_run_end(events, i)
            if j > i:
                points = [Point(*e[1:5]) for e in events[i:j]]
                self._call("metrics", j - i, self.backend.log_metrics, points)
                if self.summaries.definitions and not self.backend.computes_metric_summaries:
                    self.summaries.add_points(points)
                    self.state.summaries = self.summaries.state()
                i = j
            else:
                self._deliver_one(events[i])
                i += 1
            self.state.index = i
            self.state.save(self.run_dir)

    def _deliver_one(self, event: list) -> None:
        kind, backend = event[0], self.backend
        if kind == PARAMS:
            section = event[2] if len(event) > 2 else None
            typed = event[3] if len(event) > 3 else None
            if (section or typed) and backend.keeps_param_sections:
                self._call("params", len(event[1]), backend.log_params, event[1], section, typed)
            else:
                params = {f"{section}/{k}": v for k, v in event[1].items()} if section else event[1]
                self._call("params", len(params), backend.log_params, params)
        elif kind == SUMMARY:
            self._call("summary", len(event[1]) + len(event[2]), backend.set_summary, *event[1:3])
        elif kind == DEFINE_METRIC:
            self.summaries.define(event[1], event[3])
            self.state.summaries = self.summaries.state()
            self._call("definitions", 1, backend.define_metric, *event[1:4])
        elif kind == TAGS:
            self._call("tags", len(event[1]), backend.set_tags, event[1])
        elif kind == ARTIFACT:
            self._call("artifacts", 1, backend.log_artifact, *event[1:4])
        elif kind == MODEL:
            self._call("models", 1, backend.log_model, *event[1:4])
        elif kind == MODEL_METRICS:
            self._call("model metrics", len(event[2]), backend.link_model_metrics, *event[1:3])
        elif kind == FILE:
            self._call("files", 1, backend.save_file, *event[1:4])
        elif kind == IMAGE:
            path = str(self.run_dir / event[4])
            self._call("images", 1, backend.log_image, event[1], event[2], event[3], path)
        elif kind == HISTOGRAM:
            joins_row = len(event) > 5 and event[5] == JOINS_ROW
            log = backend.log_row_histogram if joins_row else backend.log_histogram
            self._call("histograms", 1, log, *event[1:5])
        elif kind == TEXT:
            self._call("texts", 1, backend.log_text, *event[1:5])
        elif kind == ROW:
            self._deliver_row(*event[1:])
        elif kind == MEDIA:
            media = with_absolute_paths(event[4], self.run_dir)
            self._call(f"{media['_type']}s", 1, backend.log_media, *event[1:4], media)
        elif kind == END:
            self._finish(event[1])
        else:
            self._refuse("unknown", 1, f"unknown event kind {kind!r}")

    def _deliver_row(
        self,
        step: int,
        wall_time: float,
        values: dict[str, Any],
        early: list[str] = (),
        named_at: int | None = None,
        own_step: str | None = None,
    ) -> None:
        """A ``tracelet.log`` row (or a row at the program's own step, ``own_step``
        :data:`~tracelet.events.OWN_STEP`); its scalars count as metrics, its media by kind."""
        values = {key: with_absolute_paths(value, self.run_dir) for key, value in values.items()}
        counts: dict[str, int] = {}
        for value in values.values():
            held = kind_counts(value) if isinstance(value, dict) else {"metric": 1}
            for kind, count in held.items():
                counts[f"{kind}s"] = counts.get(f"{kind}s", 0) + count
        if self.summaries.definitions and not self.backend.computes_metric_summaries:
            self.summaries.add_points(row_points(step, wall_time, values))
            self.state.summaries = self.summaries.state()
        try:
            self.backend.log_row(
                step, wall_time, values, early, named_at, own_step=own_step == OWN_STEP
            )
        except RefusedError as exc:
            refused = sum(counts.values()) if exc.count is None else exc.count
            self._refuse("row values", refused, str(exc))
            for kind in sorted(counts, key=lambda k: k != "metrics"):
                taken = min(refused, counts[kind])
                counts[kind] -= taken
                refused -= taken
        for kind, count in counts.items():
            if count:
                self.state.count(self.state.delivered, kind, count)

    def _call(self, kind: str, count: int, method: Callable, *args: Any) -> None:
        try:
            method(*args)
        except RefusedError as exc:
            refused = count if exc.count is None else min(exc.count, count)
            self._refuse(kind, refused, str(exc))
            count -= refused
        if count:
            self.state.count(self.state.delivered, kind, count)

    def _refuse(self, kind: str, count: int, message: str) -> None:
        self.state.count(self.state.refused, kind, count)
        self._remember(f"refused {count} {kind}: {message}")

    def _finish(self, status: str) -> None:
        self._deliver_system()
        aggregates = self.summaries.values()
        if aggregates and not self.backend.computes_metric_summaries:
            self._call("summary", len(aggregates), self.backend.set_summary, aggregates, [])
        self._deliver_console()
        self.backend.close(status)
        self.state.done, self.state.status = True, status
        self.state.save(self.run_dir)

    def _deliver_console(self) -> None:
        """The run's console log, whole, once (also when a sync finishes the run)."""
        if not self.backend.run.track_console or self.state.tracker.get("console_delivered"):
            return
        chunks = list(read_console(self.run_dir / CONSOLE_FILE))
        if chunks:
            self.backend.log_console(chunks)
        self.state.tracker["console_delivered"] = True

    def _on_error(self, exc: BaseException) -> None:
        self._failing = True
        message = f"{type(exc).__name__}: {exc}".strip()
        log.debug("%s delivery failed:\n%s", self.name, traceback.format_exc())
        self._remember(message)
        what = "cannot open the run" if self.backend is None else "cannot deliver"
        self.state.save(self.run_dir)
        signature = f"{type(exc).__name__}:{message[:80]}"
        if signature not in self._reported:
            self._reported.add(signature)
            self.notify(
                f"{self.name}: {what} ({_shorten(message)}); retrying with backoff. "
                f"Events stay in {self.run_dir / JOURNAL_FILE}."
            )

    def _give_up(self, exc: BackendUnavailable) -> None:
        self.notify(
            f"{self.name}: {exc}. Delivery to {self.name} stopped; after the fix, deliver "
            f"with: tracelet sync {self.run_dir}"
        )
        self.state.unavailable = str(exc)
        self._remember(str(exc))
        self.state.save(self.run_dir)

    def _remember(self, message: str) -> None:
        if message not in self.state.errors:
            self.state.errors = [*self.state.errors[-9:], message]


def _metric_run_end(events: list, start: int) -> int:
    """The end of the tracker call that delivers the points from ``start`` on (``start``
    itself when that event is not a point). Live delivery, retries and replay all cut
    the journal into the same calls."""
    end = start
    while end < len(events) and end - start < MAX_POINTS_PER_CALL and events[end][0] == METRIC:
        end += 1
    if end < len(events) and events[end][0] == METRIC:  # cut at the limit: not inside a step
        boundary = end
        while boundary > start and events[boundary - 1][3] == events[end][3]:
            boundary -= 1
        if boundary > start:  # else one step has more points than a call takes
            end = boundary
    return end


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pending_events(run_dir: Path, state: DeliveryState) -> int:
    """Events in the journal that this backend has not received (end marker excluded)."""
    path = Path(run_dir) / JOURNAL_FILE
    if state.done or not path.exists():
        return 0
    pending = 0
    first = True
    for _, payload in journal.iter_records(path, state.offset):
        if not isinstance(payload, list):
            continue
        events = payload[state.index :] if first else payload
        first = False
        pending += sum(1 for event in events if event[0] != END)
    return pending
