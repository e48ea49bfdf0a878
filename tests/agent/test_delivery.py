"""The delivery engine against a recording fake backend: cursors, retries, refusals, order.

The fake stands in for a tracker only here, where the engine itself is under test; every
tracker is tested for real in ``tests/backends`` and end to end in ``tests/agent``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tracelet.agent import delivery
from tracelet.agent.agent import Agent
from tracelet.agent.delivery import (
    BACKOFF_MAX,
    BACKOFF_START,
    MAX_POINTS_PER_CALL,
    BackendWorker,
    DeliveryState,
    pending_events,
)
from tracelet.agent.priority import AgentPriority
from tracelet.backends import Backend, RefusedError
from tracelet.events import Point
from tracelet.journal import JournalWriter, encode_record
from tracelet.rundir import RunSpec, create_run_dir, read_spec


class Tracker:
    """What the fake backends of one test received, and the failures they are told to raise.

    ``failures[method]`` is a list of exceptions raised by the next calls of ``method``
    (one per call, in order); ``calls`` records every successful call.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failures: dict[str, list[BaseException]] = {}
        self.opened = 0

    def record(self, backend: str, method: str, *args: Any) -> None:
        pending = self.failures.get(method) or self.failures.get(f"{backend}.{method}")
        if pending:
            raise pending.pop(0)
        self.calls.append((method, args[0] if len(args) == 1 else args))

    def points(self) -> list[tuple[str, float, int]]:
        return [(p.key, p.value, p.step) for m, ps in self.calls if m == "log_metrics" for p in ps]


def _backend_class(tracker: Tracker, name: str) -> type[Backend]:
    class FakeBackend(Backend):
        def open(self) -> None:
            tracker.record(name, "open", dict(self.state))
            tracker.opened += 1
            self.state.setdefault("tracker_run", f"{name}-run")

        def log_metrics(self, points: Sequence[Point]) -> None:
            tracker.record(name, "log_metrics", list(points))

        def log_params(self, params: Mapping[str, Any]) -> None:
            tracker.record(name, "log_params", dict(params))

        def set_tags(self, tags: Mapping[str, str]) -> None:
            tracker.record(name, "set_tags", dict(tags))

        def log_artifact(self, artifact_name: str, path: str) -> None:
            tracker.record(name, "log_artifact", artifact_name, path)

        def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
            tracker.record(name, "log_image", key, step, wall_time, png_path)

        def log_histogram(
            self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
        ) -> None:
            tracker.record(name, "log_histogram", key, step, wall_time, dict(histogram))

        def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
            tracker.record(name, "log_text", key, step, wall_time, text)

        def close(self, status: str) -> None:
            tracker.record(name, "close", status)

        def describe(self) -> str:
            return f"{name} at {self.state['tracker_run']}"

    FakeBackend.name = name
    return FakeBackend


class RecordingEvent(threading.Event):
    """The worker's stop event: records how long the worker asked to wait, and returns at
    once; ``on_wait`` (given the event) lets a test act at that moment."""

    def __init__(self, on_wait: Callable[[RecordingEvent], None] | None = None) -> None:
        super().__init__()
        self.waits: list[float | None] = []
        self.on_wait = on_wait

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if self.on_wait is not None:
            self.on_wait(self)
        return self.is_set()

    def backoffs(self) -> list[float | None]:
        return [w for w in self.waits if w != delivery.POLL_SECONDS]


@pytest.fixture
def tracker(monkeypatch: pytest.MonkeyPatch) -> Tracker:
    tracker = Tracker()
    monkeypatch.setattr(delivery, "load_backend", lambda name: _backend_class(tracker, name))
    return tracker


def _run_dir(tmp_path: Path, *batches: list, backends: Sequence[str] = ("fake",)) -> Path:
    spec = RunSpec.new("exp", "proj", list(backends), {})
    run_dir = create_run_dir(spec, root=tmp_path)
    writer = JournalWriter(run_dir / "journal.tlj", spec.run_id)
    for batch in batches:
        writer.append(batch)
    writer.close()
    return run_dir


def _append(run_dir: Path, *batches: list) -> None:
    writer = JournalWriter(run_dir / "journal.tlj", "unused")
    for batch in batches:
        writer.append(batch)
    writer.close()


def _worker(
    run_dir: Path,
    name: str = "fake",
    writer_alive: Callable[[], bool] = lambda: False,
    notes: list[str] | None = None,
    on_wait: Callable[[RecordingEvent], None] | None = None,
) -> BackendWorker:
    notify = (notes if notes is not None else []).append
    worker = BackendWorker(run_dir, read_spec(run_dir), name, notify, writer_alive)
    worker._stop = RecordingEvent(on_wait)
    return worker


def _metrics(key: str, steps: range) -> list[list]:
    return [["m", key, float(step), step, 100.0 + step] for step in steps]


END = ["e", "FINISHED", None]


def test_every_event_kind_reaches_the_backend_in_journal_order(tmp_path, tracker):
    run_dir = _run_dir(
        tmp_path,
        [["p", {"lr": 0.1}], *_metrics("loss", range(2)), ["t", {"phase": "a"}]],
        [["a", "model", "/abs/model.pt"], ["i", "img", 3, 5.0, "media/img/3.png"]],
        [["h", "w", 4, 6.0, {"bucket_limits": [1.0], "bucket_counts": [2.0]}]],
        [["x", "notes", 5, 7.0, "hello"], *_metrics("loss", range(2, 3))],
        [END],
    )
    state = _worker(run_dir).run()
    assert tracker.calls == [
        ("open", {}),
        ("log_params", {"lr": 0.1}),
        ("log_metrics", [Point("loss", 0.0, 0, 100.0), Point("loss", 1.0, 1, 101.0)]),
        ("set_tags", {"phase": "a"}),
        ("log_artifact", ("model", "/abs/model.pt")),
        ("log_image", ("img", 3, 5.0, str(run_dir / "media/img/3.png"))),
        ("log_histogram", ("w", 4, 6.0, {"bucket_limits": [1.0], "bucket_counts": [2.0]})),
        ("log_text", ("notes", 5, 7.0, "hello")),
        ("log_metrics", [Point("loss", 2.0, 2, 102.0)]),
        ("close", "FINISHED"),
    ]
    assert (state.done, state.status, state.errors, state.refused) == (True, "FINISHED", [], {})
    assert state.delivered == {
        "params": 1,
        "metrics": 3,
        "tags": 1,
        "artifacts": 1,
        "images": 1,
        "histograms": 1,
        "texts": 1,
    }
    assert state.offset == (run_dir / "journal.tlj").stat().st_size
    assert state.location == "fake at fake-run"
    assert DeliveryState.load(run_dir, "fake") == state


def test_points_go_in_calls_of_at_most_the_batch_limit(tmp_path, tracker):
    total = 2 * MAX_POINTS_PER_CALL + 7
    run_dir = _run_dir(tmp_path, _metrics("loss", range(total)), [END])
    _worker(run_dir).run()
    sizes = [len(args) for method, args in tracker.calls if method == "log_metrics"]
    assert sizes == [MAX_POINTS_PER_CALL, MAX_POINTS_PER_CALL, 7]
    assert [step for _, _, step in tracker.points()] == list(range(total))


def test_a_restarted_delivery_continues_from_the_cursor_and_repeats_nothing(tmp_path, tracker):
    run_dir = _run_dir(
        tmp_path,
        _metrics("loss", range(3)),
        [*_metrics("loss", range(3, 5)), ["p", {"lr": 1}], *_metrics("x", range(1))],
    )
    tracker.failures["log_params"] = [OSError("down")]

    def stop_at_first_backoff(event: RecordingEvent) -> None:
        event.set()

    state = _worker(run_dir, on_wait=stop_at_first_backoff).run()
    assert not state.done
    assert (state.index, state.delivered) == (2, {"metrics": 5})  # mid-record: 2 events in
    assert state.tracker == {"tracker_run": "fake-run"}

    _append(run_dir, [END])
    _worker(run_dir).run()
    assert tracker.calls[-4:] == [
        ("open", {"tracker_run": "fake-run"}),
        ("log_params", {"lr": 1}),
        ("log_metrics", [Point("x", 0.0, 0, 100.0)]),
        ("close", "FINISHED"),
    ]
    assert [step for key, _, step in tracker.points() if key == "loss"] == list(range(5))
    assert DeliveryState.load(run_dir, "fake").delivered == {"metrics": 6, "params": 1}


def test_transient_errors_are_retried_with_doubling_backoff_and_nothing_is_lost(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("loss", range(3)), [["p", {"a": 1}]], [END])
    tracker.failures["log_metrics"] = [ConnectionError("server down")] * 8
    notes: list[str] = []
    worker = _worker(run_dir, notes=notes)
    state = worker.run()
    assert worker._stop.backoffs() == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, BACKOFF_MAX, BACKOFF_MAX]
    assert tracker.points() == [("loss", 0.0, 0), ("loss", 1.0, 1), ("loss", 2.0, 2)]
    assert state.done and state.delivered == {"metrics": 3, "params": 1}
    assert state.errors == ["ConnectionError: server down"]
    assert len(notes) == 2  # the failure is reported once, and the recovery once
    assert notes[0].startswith("fake: cannot deliver (ConnectionError: server down); retrying")
    assert str(run_dir / "journal.tlj") in notes[0]
    assert notes[1] == "fake: delivery resumed"


def test_backoff_starts_again_once_a_pass_succeeded(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(1)))
    tracker.failures["log_metrics"] = [OSError("x")] * 2

    def append_at_first_poll(event: RecordingEvent) -> None:
        if event.waits == [BACKOFF_START, 2 * BACKOFF_START, delivery.POLL_SECONDS]:
            tracker.failures["log_params"] = [OSError("y")] * 2
            _append(run_dir, [["p", {"b": 2}]], [END])

    worker = _worker(run_dir, writer_alive=lambda: True, on_wait=append_at_first_poll)
    assert worker.run().status == "FINISHED"
    assert worker._stop.waits == [0.5, 1.0, delivery.POLL_SECONDS, 0.5, 1.0]


def test_a_tracker_that_cannot_be_opened_is_retried_and_reported_once(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(2)), [END])
    tracker.failures["open"] = [RuntimeError("no such host")] * 3
    notes: list[str] = []
    state = _worker(run_dir, notes=notes).run()
    assert tracker.opened == 1 and state.done
    assert notes[0].startswith("fake: cannot open the run (RuntimeError: no such host)")
    assert len(notes) == 2


def test_refused_data_is_counted_and_skipped_and_delivery_goes_on(tmp_path, tracker):
    run_dir = _run_dir(
        tmp_path,
        [["t", {"bad key": "v"}], *_metrics("loss", range(4)), ["p", {"ok": 1}]],
        [["z", "unknown kind"]],
        [END],
    )
    tracker.failures["set_tags"] = [RefusedError("invalid tag key")]
    tracker.failures["log_metrics"] = [RefusedError("2 points too large", count=2)]
    state = _worker(run_dir).run()
    assert [m for m, _ in tracker.calls] == ["open", "log_params", "close"]
    assert state.done
    assert state.refused == {"tags": 1, "metrics": 2, "unknown": 1}
    assert state.delivered == {"metrics": 2, "params": 1}
    assert state.errors == [
        "refused 1 tags: invalid tag key",
        "refused 2 metrics: 2 points too large",
        "refused 1 unknown: unknown event kind 'z'",
    ]


def test_a_refusal_never_counts_more_than_the_call_held(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("loss", range(3)), [END])
    tracker.failures["log_metrics"] = [RefusedError("all of them and more", count=10)]
    state = _worker(run_dir).run()
    assert state.refused == {"metrics": 3}
    assert "metrics" not in state.delivered


def test_a_corrupt_journal_record_is_refused_and_reported(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(1)))
    bad = bytearray(encode_record(_metrics("b", range(1))))
    bad[15] ^= 1
    with open(run_dir / "journal.tlj", "ab") as handle:
        handle.write(bytes(bad))
    _append(run_dir, _metrics("c", range(1)), [END])
    notes: list[str] = []
    state = _worker(run_dir, notes=notes).run()
    assert [key for key, _, _ in tracker.points()] == ["a", "c"]
    assert state.refused == {"journal records": 1}
    assert "fake: skipped 1 corrupt journal record(s)" in notes


def test_a_journal_without_end_marker_is_closed_killed_once_the_writer_is_gone(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(2)))
    alive = [True, True, False]
    state = _worker(run_dir, writer_alive=lambda: alive.pop(0) if alive else False).run()
    assert tracker.calls[-1] == ("close", "KILLED")
    assert (state.done, state.status) == (True, "KILLED")
    assert tracker.points() == [("a", 0.0, 0), ("a", 1.0, 1)]


def test_a_live_writer_is_waited_for(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(1)))

    def append_at_third_poll(event: RecordingEvent) -> None:
        if len(event.waits) == 3:
            _append(run_dir, _metrics("b", range(1)), [END])

    worker = _worker(run_dir, writer_alive=lambda: True, on_wait=append_at_third_poll)
    state = worker.run()
    assert worker._stop.waits == [delivery.POLL_SECONDS] * 3
    assert tracker.points() == [("a", 0.0, 0), ("b", 0.0, 0)]
    assert state.status == "FINISHED"


def test_past_its_deadline_a_worker_stops_and_keeps_its_cursor(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(3)), [END])
    worker = _worker(run_dir)
    worker.deadline = time.time() - 1
    state = worker.run()
    assert tracker.calls == [] and not state.done
    assert state.offset == 0
    assert pending_events(run_dir, state) == 3


def test_pending_events_counts_what_the_cursor_has_not_passed(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(4)), [["p", {"x": 1}]], [END])
    assert pending_events(run_dir, DeliveryState(backend="fake")) == 5
    first_record_end = len(encode_record({"tracelet_journal": 1, "run_id": "x" * 32}))
    state = DeliveryState(backend="fake", offset=first_record_end, index=3)
    assert pending_events(run_dir, state) == 2
    assert pending_events(run_dir, DeliveryState(backend="fake", done=True)) == 0
    assert pending_events(tmp_path / "nowhere", DeliveryState(backend="fake")) == 0


def test_a_failing_tracker_does_not_hold_back_another(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(3)), [END], backends=("good", "down"))
    tracker.failures["down.open"] = [OSError("unreachable")] * 10_000
    agent = Agent(run_dir, read_spec(run_dir), lambda _: None, lambda: False, time.time() + 2)
    good, down = agent.run()
    assert (good.done, good.status, good.delivered) == (True, "FINISHED", {"metrics": 3})
    assert not down.done and down.errors == ["OSError: unreachable"]
    assert pending_events(run_dir, down) == 3


def test_the_agent_leaves_its_low_priority_once_every_tracker_run_is_open(tmp_path, tracker):
    run_dir = _run_dir(tmp_path, _metrics("a", range(3)))  # no end marker: training goes on
    seen: list[tuple[bool, int]] = []

    class RecordingPriority(AgentPriority):
        def watch(self, started_up: bool) -> None:  # records; this process keeps its own
            seen.append((started_up, tracker.opened))
            if started_up:
                agent.stop()

    spec = read_spec(run_dir)
    agent = Agent(run_dir, spec, lambda _: None, lambda: True, priority=RecordingPriority())
    agent.run()
    assert seen[0] == (False, 0)  # before the worker opened its tracker
    assert seen[-1] == (True, 1)


def test_a_tracker_call_ends_between_steps_not_inside_one():
    from tracelet.agent.delivery import MAX_POINTS_PER_CALL, _metric_run_end

    three_per_step = [["m", f"k{i % 3}", 1.0, i // 3, 0.0] for i in range(3 * 700)]
    ends, start = [], 0
    while start < len(three_per_step):
        start = _metric_run_end(three_per_step, start)
        ends.append(start)
    assert ends[0] == MAX_POINTS_PER_CALL - MAX_POINTS_PER_CALL % 3  # 999: step 333 whole
    assert all(end % 3 == 0 for end in ends)
    one_big_step = [["m", f"k{i}", 1.0, 0, 0.0] for i in range(MAX_POINTS_PER_CALL + 5)]
    assert _metric_run_end(one_big_step, 0) == MAX_POINTS_PER_CALL  # cut only when it must
