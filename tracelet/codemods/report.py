"""What ``tracelet migrate`` did, per file and line (the model is ``tf_upgrade_v2``'s report).

Every call site a codemod looked at becomes one :class:`Entry`:

``rewritten``  the call site was (or, without ``--write``, would be) rewritten
``left``       no faithful rewrite: left as it was, marked ``# TODO(tracelet): <reason>``
``held``       could be rewritten, but the file keeps its tracker calls because of a
               ``left`` call site in it (a half-migrated file would break at run time)
``kept``       needs no run (``wandb.login``, ``mlflow.set_tracking_uri``): left unchanged
``warning``    the rewrite dropped or changed something worth knowing (``entity=``, ...)
``error``      the file could not be read or parsed; it was skipped

Line numbers refer to the file as it was before the migration.
``MigrationReport.to_json()`` is what ``--report x.json`` writes; ``to_text()`` is the
``--report x.txt`` form and :meth:`MigrationReport.summary` the lines printed at the end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

REWRITTEN = "rewritten"
LEFT = "left"
HELD = "held"
KEPT = "kept"
WARNING = "warning"
ERROR = "error"


@dataclass
class Entry:
    """One call site (or one file-level problem) in the report."""

    line: int
    column: int
    action: str
    rule: str | None
    name: str | None
    safety: str | None
    reason: str = ""
    old: str = ""
    new: str | None = None

    def short(self) -> str:
        """``12 WB002 rewritten`` plus the reason: the form used by the test fixtures."""
        head = f"{self.line} {self.rule or '-'} {self.action}"
        return f"{head}: {self.reason}" if self.reason else head


@dataclass
class FileReport:
    """One file: its entries and whether its bytes change."""

    path: str
    entries: list[Entry] = field(default_factory=list)
    changed: bool = False
    held: bool = False
    error: str | None = None
    refused: str | None = None
    written: bool = False
    named: bool = False  # given on the command line, not found in a folder
    # what the program-level decision needs (see tracelet.codemods.program)
    starts_run: bool = False
    uses_run: bool = False
    blocking_lines: list[int] = field(default_factory=list)
    held_by: list[str] = field(default_factory=list)  # other modules that hold this one
    program_calls: list[tuple[str, int | str, str]] = field(default_factory=list)
    module_aliases: list[tuple[int, str, str]] = field(default_factory=list)
    moves_globals: bool = False  # the tracker's process-wide settings went to tracelet
    keeps_calls: bool = False  # the migrated module still calls the tracker

    @property
    def error_line(self) -> int:
        """The line an ``error`` refers to (1 when it concerns the whole file)."""
        return next((e.line for e in self.entries if e.action == ERROR), 1)

    def count(self, *actions: str) -> int:
        return sum(entry.action in actions for entry in self.entries)


@dataclass
class MigrationReport:
    """The whole run: options, per-file reports and totals."""

    source: str
    targets: list[str]
    mode: str
    files: list[FileReport] = field(default_factory=list)
    scanned: int = 0
    candidates: int = 0
    seconds: float = 0.0

    @property
    def changed_files(self) -> list[FileReport]:
        return [f for f in self.files if f.changed and not f.refused]

    def totals(self) -> dict[str, int]:
        files = self.files
        return {
            "files_scanned": self.scanned,
            "files_mentioning_tracker": self.candidates,
            "files_changed": len(self.changed_files),
            "files_written": sum(f.written for f in files),
            "files_held": sum(f.held for f in files),
            "files_refused": sum(f.refused is not None for f in files),
            "files_with_errors": sum(f.error is not None for f in files),
            "sites_rewritten": sum(f.count(REWRITTEN) for f in files),
            "sites_left": sum(f.count(LEFT) for f in files),
            "sites_held": sum(f.count(HELD) for f in files),
            "sites_kept": sum(f.count(KEPT) for f in files),
            "warnings": sum(f.count(WARNING) for f in files),
        }

    def to_json(self) -> str:
        payload = {
            "tool": "tracelet migrate",
            "from": self.source,
            "to": self.targets,
            "mode": self.mode,
            "seconds": round(self.seconds, 3),
            "totals": self.totals(),
            "files": [
                {
                    "path": f.path,
                    "changed": f.changed,
                    "written": f.written,
                    "held": f.held,
                    "held_by": f.held_by,
                    "error": f.error,
                    "refused": f.refused,
                    "entries": [asdict(entry) for entry in f.entries],
                }
                for f in self.files
                if f.entries or f.changed or f.error or f.refused
            ],
        }
        return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"

    def to_text(self) -> str:
        totals = self.totals()
        out = [
            "tracelet migrate report",
            "-" * 23,
            f"from {self.source} to {', '.join(self.targets) or 'the trackers of its loggers'} "
            f"({self.mode})",
            f"{_count(totals['files_changed'], 'file')} changed, "
            f"{_count(totals['sites_rewritten'], 'call site')} rewritten, "
            f"{totals['sites_left'] + totals['sites_held']} left "
            f"({totals['sites_left']} need attention, {totals['sites_held']} held back)",
            "=" * 80,
        ]
        for f in self.files:
            if not (f.entries or f.error or f.refused):
                continue
            out.append(f"Processing file {f.path!r}")
            if f.refused:
                out.append(f"  refused: {f.refused}")
            out.append("-" * 80)
            for entry in f.entries:
                rule = f"{entry.rule} {entry.name}" if entry.rule else "file"
                out.append(
                    f"{entry.line}:{entry.column}: {entry.action.upper()}: [{rule}] "
                    f"{entry.reason}".rstrip()
                )
                if entry.old:
                    out.append(_snippet("Old", entry.old))
                if entry.new is not None and entry.action == REWRITTEN:
                    out.append(_snippet("New", entry.new or "(removed)"))
            out.append("")
        return "\n".join(out) + "\n"

    def summary(self) -> list[str]:
        """The closing lines printed to the terminal (never silent)."""
        totals = self.totals()
        verb = "changed" if self.mode == "write" else "would change"
        lines = []
        if totals["files_mentioning_tracker"] == 0:
            lines.append(
                f"No file mentions {self.source} "
                f"({_count(totals['files_scanned'], 'Python file')} scanned)."
            )
            return lines
        left = totals["sites_left"] + totals["sites_held"]
        refused = [f for f in self.files if f.refused]
        not_rewritten = sum(f.count(REWRITTEN) for f in refused)
        lines.append(
            f"{_count(totals['files_changed'], 'file')} {verb}, "
            f"{_count(totals['sites_rewritten'] - not_rewritten, 'call site')} rewritten, "
            f"{_count(left, 'call site')} left"
            + (" (see report)" if left else "")
            + f"; {_count(totals['files_scanned'], 'file')} scanned, "
            f"{totals['files_mentioning_tracker']} mention {self.source}."
        )
        if refused:
            lines.append(
                f"{_count(len(refused), 'file')} not written "
                f"({_count(not_rewritten, 'call site')} it would rewrite):"
            )
            for f in refused:
                lines.append(
                    f"  {f.path}: would rewrite {_count(f.count(REWRITTEN), 'call site')}; "
                    f"{f.refused}"
                )
        for f in self.files:
            for entry in f.entries:
                if entry.action == LEFT:
                    lines.append(f"  {f.path}:{entry.line} {entry.rule} left: {entry.reason}")
        for f in self.files:
            reason = next((e.reason for e in f.entries if e.action == HELD), None)
            if f.held_by and reason:
                lines.append(f"  {f.path}: {reason}")
        lines.extend(self._warning_lines())
        if totals["sites_held"]:
            lines.append(
                f"  {_count(totals['sites_held'], 'call site')} in "
                f"{_count(totals['files_held'], 'file')} held back until the call sites above "
                "are resolved."
            )
        for f in self.files:
            if f.error:
                lines.append(f"  {f.path}:{f.error_line}: skipped: {f.error}")
        return lines

    def _warning_lines(self) -> list[str]:
        """Every warning, grouped by what it says, each with its file and line."""
        groups: dict[str, list[str]] = {}
        for f in self.files:
            for entry in f.entries:
                if entry.action == WARNING:
                    where = f"{f.path}:{entry.line}" + (f" {entry.rule}" if entry.rule else "")
                    groups.setdefault(entry.reason, []).append(where)
        if not groups:
            return []
        count = sum(map(len, groups.values()))
        lines = [f"{_count(count, 'warning')}:"]
        for reason, places in groups.items():
            if len(places) == 1:
                lines.append(f"  {places[0]}: {reason}")
                continue
            lines.append(f"  {reason} ({len(places)}):")
            lines.extend(f"    {place}" for place in places)
        return lines

    def write(self, path: str | Path) -> None:
        """Write the report: JSON for ``*.json``, the text form for anything else."""
        path = Path(path)
        text = self.to_json() if path.suffix.lower() == ".json" else self.to_text()
        path.write_text(text, encoding="utf-8")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _snippet(label: str, code: str) -> str:
    lines = code.splitlines() or [""]
    pad = " " * (len(label) + 6)
    return f"    {label}: " + lines[0] + "".join(f"\n{pad}{line}" for line in lines[1:])
