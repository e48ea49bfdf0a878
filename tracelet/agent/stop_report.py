"""What ``stop_logging`` returns: per backend, what arrived and what did not."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelet.agent.delivery import DeliveryState, pending_events


@dataclass
class BackendReport:
    """How delivery to one backend ended; ``tracker`` holds the tracker's own ids
    (MLflow ``run_id``, W&B run id, ClearML task id)."""

    backend: str
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    status: str | None = None
    location: str = ""
    tracker: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None  # why delivery to this tracker stopped for good

    @property
    def complete(self) -> bool:
        return self.pending == 0 and self.status is not None


@dataclass
class StopReport:
    """What ``stop_logging`` returns: per backend, what arrived and what did not."""

    run_dir: Path | None
    backends: list[BackendReport]
    journal_lost: int = 0  # events that never reached the journal (disk full)
    journal_error: str | None = None  # why the journal could not be written

    @property
    def complete(self) -> bool:
        return self.journal_error is None and all(b.complete for b in self.backends)

    def summary(self) -> str:
        lines = []
        if self.journal_error is not None:
            lines.append(
                f"journal: {self.journal_lost} events lost (never written, so no tracker "
                f"has them): {self.journal_error}"
            )
        for b in self.backends:
            points = b.delivered.get("metrics", 0)
            state = "complete" if b.complete else f"{b.pending} events NOT delivered"
            where = f" -> {b.location}" if b.location else ""
            lines.append(f"{b.backend}: {points} points, {state}{where}")
            if b.refused:
                lines.append(f"  refused by the tracker: {b.refused} ({'; '.join(b.errors[-2:])})")
            elif b.unavailable:
                lines.append(f"  not delivered: {b.unavailable}")
            elif not b.complete and b.errors:
                lines.append(f"  last error: {b.errors[-1]}")
        if not all(b.complete for b in self.backends):
            lines.append(
                f"Undelivered events are kept in {self.run_dir}; deliver them with: "
                f"tracelet sync {self.run_dir}"
            )
        return "\n".join(lines)


def collect_report(run_dir: Path, backends: list[str]) -> StopReport:
    """Read each backend's delivery state into a :class:`StopReport`."""
    reports = []
    for name in backends:
        state = DeliveryState.load(run_dir, name)
        reports.append(
            BackendReport(
                backend=name,
                delivered=dict(state.delivered),
                pending=pending_events(run_dir, state),
                refused=dict(state.refused),
                errors=list(state.errors),
                status=state.status,
                location=state.location,
                tracker=dict(state.tracker),
                unavailable=state.unavailable,
            )
        )
    return StopReport(run_dir, reports)
