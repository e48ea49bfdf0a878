"""Script mode: run a script and its migrated copy side by side, and diff what they logged.

``tracelet validate train.py --from wandb [--to mlflow] [--root .] [-- --epochs 3]``

1. **Copy.** The script (with ``--root``, the whole folder it belongs to, which must
   hold it) is copied twice into a work folder (default: a new temporary folder):
   ``original/`` and ``migrated/``. Version-control folders, virtualenvs, caches and
   tracker output (``wandb/``, ``mlruns/``, ``.tracelet/``, ``mlflow.db``) are not
   copied. The user's files are never modified.
2. **Migrate.** Every Python file of ``migrated/`` that mentions the tracker goes
   through the ``tracelet migrate --from <tracker>`` codemods, with ``--to`` as the
   target backend (default: the same tracker). A call site the codemods leave is
   listed; the copy still calls the tracker there. If nothing was rewritten there is
   nothing to validate: that is an error.
3. **Run.** Each copy runs with the same interpreter and the script's own arguments
   (everything after ``--``), in its own :class:`~tracelet.validators.sandbox.Sandbox`
   (``original-store/``, ``migrated-store/``: W&B offline, ClearML offline, MLflow
   sqlite, ``HOME``, ``TMPDIR`` and caches inside), both at once, each with a timeout
   (default 900 s). The working directory is the copy's root (the script's folder
   without ``--root``). ``PYTHONPATH`` starts with the copy's root (and its ``src/``),
   so the copy's own package shadows an installed one; without ``--root`` the
   original script's folder comes last, so sibling imports resolve (those modules
   are not migrated: use ``--root`` for that).
4. **Read and diff.** The original run is read from the sandbox store of ``--from``
   (the store must hold one run); the migrated run from where its tracelet run
   delivered to ``--to``. Then :func:`~tracelet.validators.compare.compare_runs`.

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

from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs
from tracelet.validators.sandbox import Outcome, Sandbox

if TYPE_CHECKING:
    from rich.console import Console

    from tracelet.codemods.report import MigrationReport
    from tracelet.tables import RunTables
    from tracelet.validators.result import Comparison

DEFAULT_TIMEOUT = 900.0
SOURCES = ("wandb", "mlflow", "clearml")
SIDES = ("original", "migrated")
MIGRATION_REPORT = "migration-report.txt"
_OUTPUT_DIRS = frozenset({"wandb", "mlruns", ".tracelet"})
_OUTPUT_FILES = frozenset({"mlflow.db"})


class ScriptError(RuntimeError):
    """A side could not run or be read; the message says where its output is."""


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

    Raises :class:`FileNotFoundError`, :class:`ValueError` (bad arguments, an unreadable
    store) or :class:`ScriptError` (a side crashed or timed out).
    """
    from tracelet.backends import ensure_installed, normalize_backends

    script = Path(script).resolve()
    if not script.is_file():
        raise FileNotFoundError(f"{script}: no such script")
    if source not in SOURCES:
        raise ValueError(f"--from {source!r}: script mode supports {', '.join(SOURCES)}")
    targets = normalize_backends(target or source)
    if len(targets) != 1:
        raise ValueError(f"--to takes one tracker in script mode, got {', '.join(targets)}")
    (target,) = targets
    for name in dict.fromkeys((source, target)):
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
    if not migration.changed_files:
        raise ValueError(
            f"tracelet migrate --from {source} rewrote nothing in {script.name}: "
            f"is --from {source} the tracker it calls? (report: {workdir / MIGRATION_REPORT})"
        )
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
    original = _read(
        "original", source, lambda: boxes["original"].store(source), outcomes["original"]
    )
    migrated = _read(
        "migrated copy",
        target,
        lambda: boxes["migrated"].delivered_store(target),
        outcomes["migrated"],
    )
    return ScriptOutcome(
        script=script,
        source=source,
        target=target,
        workdir=workdir,
        keep_workdir=keep,
        comparison=compare_runs(original, migrated, rtol=rtol, atol=atol),
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

    ignored = set()
    for name in names:
        path = Path(folder, name)
        if path.is_dir():
            output = name in _OUTPUT_DIRS and not (path / "__init__.py").exists()
            if name in SKIP_DIRS or output or (path / "pyvenv.cfg").exists():
                ignored.add(name)
        elif name in _OUTPUT_FILES:
            ignored.add(name)
    return ignored


def _migrate(copy_root: Path, source: str, target: str) -> MigrationReport:
    """Run the codemods over the copy and write the changed files (the copy is ours)."""
    from tracelet.codemods.runner import Options, migrate, write

    outcome = migrate([copy_root], Options(source, [target]), mode="write", jobs=1)
    write(outcome, force=True)
    return outcome.report


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


def _read(what: str, tracker: str, location, outcome: Outcome) -> RunTables:
    try:
        return read_store(location())
    except (ValueError, FileNotFoundError) as exc:
        raise ScriptError(
            f"reading what the {what} logged to {tracker}: {exc} "
            f"(its output is in {outcome.stderr.parent})"
        ) from exc
