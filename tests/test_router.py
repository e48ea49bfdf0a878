"""The training-side router on its own: a bad event never stops the flusher, and a
logged dict is never cut between two journal records."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from tracelet import router as router_module
from tracelet.events import METRIC
from tracelet.journal import iter_events, iter_records
from tracelet.router import Router


class Unreadable:
    """A value whose conversion fails only when the flusher reads it."""

    def item(self):
        raise RuntimeError("device lost")


def test_a_bad_event_is_dropped_and_the_rest_is_written(tmp_path: Path, capsys):
    router = Router(tmp_path, "run", flush_interval=60)
    router.emit(("m", "ok", 1.0, 0, 0.0))
    router.emit(("m", "bad", Unreadable(), 1, 0.0))
    router.emit(("m", "ok", 2.0, 2, 0.0))
    router.close("FINISHED", None)
    events = list(iter_events(tmp_path / "journal.tlj"))
    assert events == [["m", "ok", 1.0, 0, 0.0], ["m", "ok", 2.0, 2, 0.0], ["e", "FINISHED", None]]
    assert router.dropped == 1
    assert "event ('m', 'bad') dropped: expected a scalar" in capsys.readouterr().err


def _steps_cut_between_records(path: Path) -> list[int]:
    """Steps whose points are in more than one journal record."""
    seen: dict[int, set[int]] = {}
    for number, (_, payload) in enumerate(iter_records(path)):
        for event in payload if isinstance(payload, list) else ():
            if event[0] == METRIC:
                seen.setdefault(event[3], set()).add(number)
    return sorted(step for step, records in seen.items() if len(records) > 1)


def test_a_logged_dict_is_never_cut_between_journal_records(tmp_path: Path):
    router = Router(tmp_path, "run", flush_interval=60)
    done = threading.Event()

    def flush_all_the_time():
        while not done.is_set():
            router.flush()

    flusher = threading.Thread(target=flush_all_the_time)
    flusher.start()
    sys.setswitchinterval(1e-6)  # the flusher runs between any two bytecodes it can
    deadline = time.monotonic() + 120
    try:
        step, written = 0, {0}  # router.points_written after each record so far
        # until the flusher has written two records while dicts came in (the close
        # writes a third), however loaded the machine
        while step < 3000 or len(written) < 3:
            assert time.monotonic() < deadline, "the flusher never ran"
            router.emit_many([(METRIC, f"k{i}", float(i), step, 0.0) for i in range(5)])
            written.add(router.points_written)
            step += 1
    finally:
        sys.setswitchinterval(0.005)
        done.set()
        flusher.join()
    router.close("FINISHED", None)
    records = list(iter_records(tmp_path / "journal.tlj"))
    assert len(records) >= 5  # header, three or more records of points, end: it did cut
    assert _steps_cut_between_records(tmp_path / "journal.tlj") == []


def test_a_full_record_ends_at_a_step_boundary(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(router_module, "MAX_EVENTS_PER_RECORD", 7)
    router = Router(tmp_path, "run", flush_interval=60)
    for step in range(10):
        router.emit_many([(METRIC, f"k{i}", 1.0, step, 0.0) for i in range(3)])
    router.close("FINISHED", None)
    records = [p for _, p in iter_records(tmp_path / "journal.tlj") if isinstance(p, list)]
    assert [len(r) for r in records][:3] == [9, 9, 9]  # 7, then the rest of the step
    assert _steps_cut_between_records(tmp_path / "journal.tlj") == []
