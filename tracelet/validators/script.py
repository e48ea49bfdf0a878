"""Script mode: run a script and its migrated copy side by side, and diff what they logged.

``tracelet validate train.py --from TRACKER [--to TRACKER] [--root .] [-- --epochs 3]``

1. **Copy.** The script (with ``--root``, the whole folder it belongs to, which must
   hold it) is copied twice into a work folder (default: a new temporary folder):
   ``original/`` and ``migrated/``. Version-control folders, virtualenvs, caches and
   tracker output (``.tracelet/`` and each tracker's ``SandboxLayout.outputs``) are
   not copied. The user's files are never modified.
2. **Migrate.** Every Python file of ``migrated/`` that mentions the tracker goes
   through the ``tracelet migrate --from <tracker>`` codemods, with ``--to`` as the
   target backend (default: the same tracker). When a call site is left or held back,
   the copy would still call the tracker there: nothing is run, and the error (exit 2)
   names every such site as ``file:line`` (the console lists each with its reason). If
   nothing was rewritten there is nothing to validate: that is an error too.
3. **Run.** Each copy runs with the same interpreter and the script's own arguments
   (everything after ``--``), in its own :class:`~tracelet.validators.sandbox.Sandbox`
   (``original-store/``, ``migrated-store/``: every tracker offline, ``HOME``,
   ``TMPDIR`` and caches inside), both at once, each with a timeout
   (default 900 s). The working directory is the copy's root (the script's folder
   without ``--root``). ``PYTHONPATH`` starts with the copy's root (and its ``src/``),
   so the copy's own package shadows an installed one; without ``--root`` the
   original script's folder comes last, so sibling imports resolve (those modules
   are not migrated: use ``--root`` for that).
4. **Read and diff.** The migrated run is read from where its tracelet run delivered to
   ``--to``. The original run is read from the first of these that holds one run: the
   same place in the original copy, when the migrated store is inside the copy (a script
   that logs into its own folder); the sandbox store of ``--from``; a store the script
   wrote into its own folder (the tracker's ``SandboxLayout.local_stores``).
   Then :func:`~tracelet.validators.compare.compare_runs` with ``store_rows``: besides
   the metric, param, tag and artifact tables, every column of the rows a store keeps
   itself (a run history: its row counter, step-metric columns, media; only clocks are
   left out) is compared row by row, so a bookkeeping column the metric table does not show
   still makes the runs DIFFERENT. The verdict is EQUAL only when every difference is
   absorbed by a lossy encoding a store declares (``Comparison.adjustments``).

``--from lightning`` validates a script whose Lightning ``Trainer`` logs through a
tracker's Lightning logger: the original run is read from the store of the tracker
whose logger the migration replaced (``--to`` picks one when the script has both), the
migrated run from the same tracker unless ``--to`` names another.

A run that crashes or times out is an error (exit 2) whose one line names the script
side, its last error line and where its output is. The work folder is kept, and its
location printed, whenever the runs are not equal or something failed; it is removed
after an equal verdict unless ``--workdir`` was given.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelet.backends.registry import TRACKERS, with_option
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs
from tracelet.validators.sandbox import Outcome, Sandbox

if TYPE_CHECKING:
    from rich.console import Console

    from tracelet.codemods.report import MigrationReport
    from tracelet.tables import RunTables
    from tracelet.validators.result import Comparison

DEFAULT_TIMEOUT = 900.0
LIGHTNING = "lightning"
SIDES = ("original", "migrated")
MIGRATION_REPORT = "migration-report.txt"


class ScriptError(RuntimeError):
    """A side could not run or be read; the message says where its output is."""


class HeldBackError(ScriptError):
    """The migration left call sites (or held files back): validating would run the
    tracker's own calls on both sides, so nothing is run."""


@dataclass
class ScriptOutcome:
    """Both runs of a script-mode validation, read back and compared."""

    script: Path
    source: str
    target: str
    workdir: Path
    keep_workdir: bool
    comparison: Comparison
    original: RunTables
    migrated: RunTables
    outcomes: dict[str, Outcome]
    migration: MigrationReport

    def to_json(self) -> dict[str, Any]:
        """Extra keys for the JSON report (added to the comparison's)."""
        return {
            "mode": "script",
            "script": str(self.script),
            "from": self.source,
            "to": self.target,
            "workdir": str(self.workdir),
            "runs": {
                side: {
                    "store": tables.source,
                    "stdout": str(self.outcomes[side].stdout),
                    "stderr": str(self.outcomes[side].stderr),
                    "seconds": round(self.outcomes[side].seconds, 3),
                }
                for side, tables in zip(SIDES, (self.original, self.migrated), strict=True)
            },
            "migration": {
                "report": str(self.workdir / MIGRATION_REPORT),
                "totals": self.migration.totals(),
            },
        }

    def finish(self, exit_code: int, console: Console) -> None:
        """Keep the work folder (and say where) unless the runs were equal."""
        if exit_code == 0 and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            return
        console.print(f"runs and stores kept in {self.workdir}", markup=False, highlight=False)
        for side in SIDES:
            outcome = self.outcomes[side]
            console.print(
                f"  {side}: output {outcome.stdout.parent}/", markup=False, highlight=False
            )


def validate_script(
    script: Path,
    *,
    source: str,
    target: str | None = None,
    root: Path | None = None,
    script_args: list[str] | tuple[str, ...] = (),
    timeout: float = DEFAULT_TIMEOUT,
    workdir: Path | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
    console: Console | None = None,
) -> ScriptOutcome:
    """Run ``script`` and its migrated copy in sandboxes and compare what they logged.

    Raises :class:`FileNotFoundError`, :class:`ValueError` (bad arguments, a script that
    is not valid Python, an unreadable store) or :class:`ScriptError` (a side crashed or timed out).
    """
    from tracelet.backends import ensure_installed, normalize_backends
    from tracelet.codemods.runner import parse

    if not Path(script).is_file():
        raise FileNotFoundError(f"{Path(script).resolve()}: no such script")
    parse(Path(script).read_bytes(), str(script))  # NotPythonError names the line
    script = Path(script).resolve()
    from tracelet.codemods import SOURCES

    if source not in SOURCES:
        raise ValueError(f"--from {source!r}: script mode supports {', '.join(SOURCES)}")
    if target is not None or source != LIGHTNING:
        targets = normalize_backends(target or source)
        if len(targets) != 1:
            raise ValueError(f"--to takes one tracker in script mode, got {', '.join(targets)}")
        (target,) = targets
    for name in dict.fromkeys(n for n in (source, target) if n not in (None, LIGHTNING)):
        ensure_installed(name)
    root = Path(root).resolve() if root else None
    if root is not None and not script.is_relative_to(root):
        raise ValueError(f"--root {root} does not hold {script}")
    keep = workdir is not None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="tracelet-validate-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    copies = {side: _copy(script, root, workdir / side) for side in SIDES}
    migration = _migrate(copies["migrated"][0], source, target)
    migration.write(workdir / MIGRATION_REPORT)
    if console is not None:
        for line in migration.summary():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    _stop_if_held(migration, copies["migrated"][0], workdir / MIGRATION_REPORT, console)
    tracker = _logger_tracker(migration, target) if source == LIGHTNING else source
    if not migration.changed_files or tracker is None:
        raise ValueError(
            f"tracelet migrate --from {source} rewrote nothing in {script.name}: "
            f"is --from {source} the tracker it calls? (report: {workdir / MIGRATION_REPORT})"
        )
    target = target or tracker
    ensure_installed(tracker)
    boxes = {side: Sandbox.create(workdir / f"{side}-store") for side in SIDES}
    children = {
        side: boxes[side].start(
            [sys.executable, str(copies[side][1]), *script_args],
            cwd=copies[side][0],
            timeout=timeout,
            env=boxes[side].environ(PYTHONPATH=_pythonpath(copies[side][0], script, root)),
        )
        for side in SIDES
    }
    outcomes = {side: child.wait() for side, child in children.items()}
    for side in SIDES:
        _check(side, outcomes[side], timeout)
    migrated_location = _read_location(
        "migrated copy", target, lambda: _delivered(boxes["migrated"], target), outcomes["migrated"]
    )
    candidates = _original_locations(tracker, target, migrated_location, copies, boxes["original"])
    original = _read_first("original", tracker, candidates, outcomes["original"])
    migrated = _read("migrated copy", target, migrated_location, outcomes["migrated"])
    return ScriptOutcome(
        script=script,
        source=source,
        target=target,
        workdir=workdir,
        keep_workdir=keep,
        # the columns a writer added are compared between stores of one tracker only
        comparison=compare_runs(
            original,
            migrated,
            rtol=rtol,
            atol=atol,
            store_rows=True,
            skip=() if tracker == target else ("columns",),
        ),
        original=original,
        migrated=migrated,
        outcomes=outcomes,
        migration=migration,
    )


def _copy(script: Path, root: Path | None, dest: Path) -> tuple[Path, Path]:
    """Copy the script (or its root folder) to ``dest``; returns (copy root, copied script)."""
    if dest.exists():
        shutil.rmtree(dest)
    if root is None:
        dest.mkdir(parents=True)
        shutil.copy2(script, dest / script.name)
        return dest, dest / script.name
    shutil.copytree(root, dest, ignore=_ignore, symlinks=True)
    return dest, dest / script.relative_to(root)


def _ignore(folder: str, names: list[str]) -> set[str]:
    from tracelet.codemods.discovery import SKIP_DIRS

    outputs = {".tracelet"}.union(*(t.module.SANDBOX.outputs for t in with_option("SANDBOX")))
    ignored = set()
    for name in names:
        path = Path(folder, name)
        if path.is_dir():
            output = name in outputs and not (path / "__init__.py").exists()
            if name in SKIP_DIRS or output or (path / "pyvenv.cfg").exists():
                ignored.add(name)
        elif name in outputs:
            ignored.add(name)
    return ignored


def _migrate(copy_root: Path, source: str, target: str | None) -> MigrationReport:
    """Run the codemods over the copy and write the changed files (the copy is ours)."""
    from tracelet.codemods import default_targets
    from tracelet.codemods.runner import Options, migrate, write

    targets = [target] if target else default_targets(source)
    outcome = migrate([copy_root], Options(source, targets), mode="write", jobs=1)
    write(outcome, force=True)
    return outcome.report


def _stop_if_held(
    migration: MigrationReport, copy_root: Path, report_path: Path, console: Console | None
) -> None:
    """Refuse to run a half-migrated program: the copy would still call the tracker at the
    sites the codemods left, so the two runs would not show what the migration does."""
    from tracelet.codemods import report

    sites = [
        (f"{Path(f.path).relative_to(copy_root).as_posix()}:{entry.line}", entry)
        for f in migration.files
        for entry in f.entries
        if entry.action in (report.LEFT, report.HELD)
    ]
    if not sites:
        return
    left = [(where, entry) for where, entry in sites if entry.action == report.LEFT]
    if console is not None:
        for where, entry in sites:
            console.print(
                f"  {where}: {entry.action} {entry.rule or '-'} {entry.reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    what = f"{len(left)} left at" if left else "held at"
    places = ", ".join(where for where, _ in left or sites)
    raise HeldBackError(
        f"the migration kept {len(sites)} tracker call site(s), so nothing was run: "
        f"{what} {places} (resolve them and validate again; report: {report_path})"
    )


def _pythonpath(copy_root: Path, script: Path, root: Path | None) -> str:
    import tracelet

    entries = [str(copy_root)]
    if (copy_root / "src").is_dir():
        entries.append(str(copy_root / "src"))
    entries += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    entries.append(str(Path(tracelet.__file__).resolve().parents[1]))
    if root is None:
        entries.append(str(script.parent))
    return os.pathsep.join(dict.fromkeys(entries))


def _check(side: str, outcome: Outcome, timeout: float) -> None:
    if outcome.ok:
        return
    what = "the original script" if side == "original" else "the migrated copy"
    if outcome.timed_out:
        why = f"timed out after {timeout:g} s"
    else:
        why = f"failed (exit code {outcome.returncode})"
    last = outcome.last_error_line()
    raise ScriptError(
        f"{what} {why}{': ' + last if last else ''}; its output is in {outcome.stderr.parent}"
    )


def _logger_tracker(migration: MigrationReport, target: str | None) -> str | None:
    """The tracker whose Lightning logger the migration replaced (``target`` picks one when
    the script has several), or None when it replaced none."""
    from tracelet.codemods.lightning import LOGGER_RULE_TRACKERS

    found = list(
        dict.fromkeys(
            LOGGER_RULE_TRACKERS[entry.rule]
            for file in migration.files
            for entry in file.entries
            if entry.action == "rewritten" and entry.rule in LOGGER_RULE_TRACKERS
        )
    )
    if len(found) <= 1:
        return found[0] if found else None
    if target in found:
        return target
    raise ValueError(
        f"the script's Trainers log through the loggers of {' and '.join(found)}: "
        "choose the one to compare with --to"
    )


def _delivered(box: Sandbox, tracker: str) -> str:
    """Where the child's tracelet run delivered to ``tracker``, made absolute."""
    from tracelet.readers import delivered_store
    from tracelet.rundir import read_spec

    run = box.tracelet_run()
    spec = read_spec(run)
    return _absolute(delivered_store(run, tracker, box.environ()), Path(spec.cwd))


def _local_path(location: str) -> tuple[str, str, str] | None:
    """``(scheme, path, fragment)`` of a store location that names a local path
    (``sqlite:///x.db``, ``file:./mlruns``, ``file:///abs``, a plain path), else None."""
    location, hash_sign, fragment = location.partition("#")
    for scheme in ("sqlite:///", "file://", "file:"):
        if location.startswith(scheme):
            return scheme, location[len(scheme) :], hash_sign + fragment
    return None if "://" in location else ("", location, hash_sign + fragment)


def _absolute(location: str, cwd: Path) -> str:
    """``location`` with a relative path (``file:./mlruns``) resolved against ``cwd``."""
    parts = _local_path(location)
    if parts is None or not parts[1] or Path(parts[1]).is_absolute():
        return location
    scheme, path, fragment = parts
    return f"{scheme}{(cwd / path).resolve()}{fragment}"


def _mirror(location: str, migrated_root: Path, original_root: Path) -> str | None:
    """The same store in the original copy, for a store inside the migrated copy (without
    the ``#run`` part: the original store holds its own one run); else None."""
    parts = _local_path(location)
    if parts is None or not Path(parts[1]).is_relative_to(migrated_root):
        return None
    return parts[0] + str(original_root / Path(parts[1]).relative_to(migrated_root))


def _original_locations(
    tracker: str,
    target: str,
    migrated_location: str,
    copies: dict[str, tuple[Path, Path]],
    box: Sandbox,
) -> list[str]:
    """Where the original run may be, best first: where the migrated run went, mirrored into
    the original copy (when that is inside the copy); the sandbox store; a store the script
    wrote into its own folder."""
    mirrored = None
    if tracker == target:
        mirrored = _mirror(migrated_location, copies["migrated"][0], copies["original"][0])
    found = [mirrored, box.store(tracker), *_stores_in(copies["original"][0], tracker)]
    return list(dict.fromkeys(location for location in found if location))


def _stores_in(folder: Path, tracker: str) -> list[str]:
    """Stores the script wrote into its own folder (a Lightning logger's default)."""
    layout = TRACKERS[tracker].option("SANDBOX")
    candidates = layout.local_stores(folder) if layout else []
    return [location for path, location in candidates if path.exists()]


def _read_location(what: str, tracker: str, location, outcome: Outcome) -> str:
    try:
        return location()
    except (ValueError, FileNotFoundError) as exc:
        raise ScriptError(
            f"reading what the {what} logged to {tracker}: {exc} "
            f"(its output is in {outcome.stderr.parent})"
        ) from exc


def _read_first(what: str, tracker: str, locations: list[str], outcome: Outcome) -> RunTables:
    """The run in the first of ``locations`` that holds one (the first error otherwise)."""
    first: ScriptError | None = None
    for location in locations:
        try:
            return _read(what, tracker, location, outcome)
        except ScriptError as exc:
            first = first or exc
    assert first is not None
    raise first


def _read(what: str, tracker: str, location: str, outcome: Outcome) -> RunTables:
    try:
        return read_store(location)
    except (ValueError, FileNotFoundError) as exc:
        raise ScriptError(
            f"reading what the {what} logged to {tracker}: {exc} "
            f"(its output is in {outcome.stderr.parent})"
        ) from exc
