"""The training-side router on its own: a bad event never stops the flusher."""

from __future__ import annotations

from pathlib import Path

from tracelet.journal import iter_events
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
