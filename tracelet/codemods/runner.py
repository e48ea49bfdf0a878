"""Run a codemod over files: discovery, pre-filter, process pool, diff, write.

* Files are read as bytes and handed to libcst as bytes, and written back as
  ``Module.bytes``: encoding (``# -*- coding: latin-1 -*-``), CRLF line endings and every
  comment stay byte for byte; only changed files are written.
* One bad file (a syntax error, bytes that do not decode, a crash in a codemod) becomes an
  ``error`` entry in the report and never stops the run. Files named explicitly are
  always parsed; the CLI treats one that is not Python as a usage error.
* Files that mention the tracker are transformed in a process pool (``jobs`` processes,
  at most 61 as on Windows; in-process for a single file).
* The decision is the program's: a module that shares a run with a held-back module
  (:mod:`tracelet.codemods.program`) is transformed again, holding back.
* ``write`` refuses a file with changes git does not hold (untracked in a git work tree,
  or changed since it was last staged or committed), so that ``git diff`` shows exactly
  the migration and ``git checkout`` undoes it, unless ``force`` is given. Staged files
  and files outside git are written.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext

from tracelet.codemods import load_codemod, program, report
from tracelet.codemods.discovery import discover, mentions
from tracelet.codemods.resolve import ProgramCalls

MAX_JOBS = 61


@dataclass(frozen=True)
class Options:
    """What to migrate from and to, and which rules apply."""

    source: str
    targets: Sequence[str]
    unsafe: bool = False
    disable: Sequence[str] = ()
    style: str = "summarywriter"  # see tracelet.codemods.writer


@dataclass
class Change:
    """A file whose bytes the migration changes."""

    path: Path
    old: bytes
    new: bytes
    encoding: str = "utf-8"


@dataclass
class Outcome:
    """The report plus the changed files, ready to be shown or written."""

    report: report.MigrationReport
    changes: list[Change] = field(default_factory=list)


def transform_bytes(
    data: bytes,
    path: str,
    options: Options,
    hold: str | None = None,
    calls: ProgramCalls | None = None,
) -> tuple[bytes, report.FileReport, str]:
    """Migrate one file's bytes: ``(new bytes, file report, encoding)``. ``hold`` (why) keeps
    every tracker call of the file, as another module of the program requires; ``calls``
    are the calls between modules the program decision follows."""
    file_report = report.FileReport(path)
    try:
        module = parse(data, path)
    except NotPythonError as exc:
        return data, _failed(file_report, exc.reason, exc.line), "utf-8"
    codemod = load_codemod(options.source)(
        CodemodContext(filename=path),
        to=list(options.targets),
        unsafe=options.unsafe,
        disable=list(options.disable),
        style=options.style,
        hold=hold,
        program=calls,
    )
    try:
        new = codemod.transform_module(module).bytes
    except Exception as exc:  # a codemod bug must not stop the other files
        return (
            data,
            _failed(file_report, f"internal error: {type(exc).__name__}: {exc}", 1),
            (module.encoding),
        )
    broken = _python_syntax_error(new, path) if new != data else None
    if broken is not None:  # never hand out code that does not parse: keep the file whole
        failed = _failed(
            file_report,
            f"internal error: the rewrite would not parse at line {broken[0]} ({broken[1]}); "
            "the file is left as it was",
            1,
        )
        failed.held = True
        return data, failed, module.encoding
    file_report.entries = codemod.entries
    file_report.held = codemod.held
    file_report.starts_run = codemod.starts_run
    file_report.uses_run = codemod.uses_run
    file_report.blocking_lines = codemod.blocking_lines
    file_report.program_calls = codemod.program_calls
    file_report.module_aliases = codemod.module_aliases
    file_report.moves_globals = codemod.moves_globals
    file_report.keeps_calls = codemod.keeps_calls
    file_report.changed = new != data
    return new, file_report, module.encoding


class NotPythonError(ValueError):
    """A file libcst cannot parse: where and why."""

    def __init__(self, path: str, line: int, reason: str):
        super().__init__(f"{path}:{line}: not valid Python ({reason})")
        self.path, self.line, self.reason = path, line, reason


def parse(data: bytes, path: str) -> cst.Module:
    """Parse a file's bytes with libcst, or raise :class:`NotPythonError`.

    The reason is CPython's own (``'(' was never closed``) when CPython rejects the
    bytes too; libcst's ``expected one of ...`` list only when it alone does.
    """
    try:
        return cst.parse_module(data)
    except cst.ParserSyntaxError as exc:
        line, message = _python_syntax_error(data, path) or (exc.raw_line, exc.message)
        raise NotPythonError(path, line, f"syntax error: {message}") from exc
    except (UnicodeError, LookupError, SyntaxError, ValueError) as exc:
        raise NotPythonError(path, 1, f"cannot read: {exc}") from exc


def _python_syntax_error(data: bytes, path: str) -> tuple[int, str] | None:
    try:
        compile(data, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return exc.lineno or 1, exc.msg
    except (ValueError, UnicodeError):
        return None
    return None


def _failed(file_report: report.FileReport, message: str, line: int) -> report.FileReport:
    file_report.error = message
    file_report.entries = [
        report.Entry(line, 1, report.ERROR, None, None, None, reason=f"skipped: {message}")
    ]
    return file_report


def _work(item: tuple) -> tuple[report.FileReport, bytes | None, str]:
    path, data, options, *decided = item
    new, file_report, encoding = transform_bytes(data, path, options, *decided)
    return file_report, (new if file_report.changed else None), encoding


def migrate(
    paths: Iterable[str | Path],
    options: Options,
    mode: str = "diff",
    exclude: Iterable[str] = (),
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Outcome:
    """Discover, pre-filter and transform; nothing is written (see :func:`write`).

    Files named in ``paths`` are parsed even when they do not mention the tracker, so
    that one that is not Python is reported (``FileReport.named`` tells them apart
    from files found in a folder).
    """
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    named = {p for p in paths if p.is_file()}
    files = discover(paths, exclude)
    migration = report.MigrationReport(options.source, list(options.targets), mode)
    migration.scanned = len(files)
    work: list[tuple[str, bytes, Options]] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            failed = report.FileReport(str(path), named=path in named)
            migration.files.append(_failed(failed, f"cannot read: {exc}", 1))
            continue
        if mentions(options.source, data):
            migration.candidates += 1
        elif path not in named:
            continue
        work.append((str(path), data, options))
    originals = {item[0]: item[1] for item in work}
    decision = _ProgramDecision(paths, files, originals, options)
    results = decision.follow_calls(_run(work, jobs, progress))
    results = decision.hold_shared_runs(decision.follow_module_aliases(results))
    results = decision.keep_tracker_globals(results)
    outcome = Outcome(migration)
    for file_report, new, encoding in sorted(results, key=lambda r: r[0].path):
        file_report.named = Path(file_report.path) in named
        migration.files.append(file_report)
        if new is not None:
            outcome.changes.append(
                Change(Path(file_report.path), originals[file_report.path], new, encoding)
            )
    migration.files.sort(key=lambda f: f.path)
    migration.seconds = time.perf_counter() - started
    return outcome


Result = tuple[report.FileReport, bytes | None, str]
_NONE = ProgramCalls()


class _ProgramDecision:
    """The decisions over the whole program (see :mod:`tracelet.codemods.program`): follow
    tracker objects passed between modules, then hold back the modules that share a run
    with a held-back one. Each changes some modules' analysis, so those are migrated again."""

    def __init__(
        self, paths: list[Path], files: list[Path], originals: dict[str, bytes], options: Options
    ):
        self.paths, self.files, self.originals, self.options = paths, files, originals, options
        self.codemod = load_codemod(options.source)
        self.calls: dict[str, ProgramCalls] = {}
        self._sources: dict[Path, bytes] | None = None

    @property
    def sources(self) -> dict[Path, bytes]:
        """Every file found (the ones that do not mention the tracker relay imports)."""
        if self._sources is None:
            self._sources = {}
            for path in self.files:
                data = self.originals.get(str(path))
                if data is None:
                    try:
                        data = path.read_bytes()
                    except OSError:
                        data = b""
                self._sources[path] = data
        return self._sources

    def _again(self, path: str, hold: str | None = None) -> Result:
        if path not in self.originals:  # a module that does not mention the tracker itself
            self.originals[path] = self.sources[Path(path)]
        item = (path, self.originals[path], self.options, hold, self.calls.get(path))
        return _work(item)

    def follow_calls(self, results: list[Result]) -> list[Result]:
        """Migrate again the modules that pass a run to a function of another module, and
        the module that defines it, when the program decision follows the call."""
        calls = [(Path(r.path), call) for r, _, _ in results for call in r.program_calls]
        if not calls:
            return results
        # Lightning: a module held on its own stays held once it receives a logger
        refused = (
            set() if self.codemod.START_KEYS else {Path(r.path) for r, _, _ in results if r.held}
        )
        out = results
        while True:
            plan = program.follow_calls(
                calls, self.sources, self.paths, refused, classes=bool(self.codemod.START_KEYS)
            )
            again = {str(path) for path in plan} | set(self.calls)
            self.calls = {str(path): calls for path, calls in plan.items()}
            if not again:
                return out
            out = [self._again(r.path) if r.path in again else (r, n, e) for r, n, e in out]
            done = {r.path for r, _, _ in out}
            out.extend(self._again(path) for path in self.calls if path not in done)
            if self.codemod.START_KEYS:  # a held callee holds its callers (hold_shared_runs)
                return out
            # Lightning: no run to share; a logger followed into a module needs that module
            # migrated whole (nothing left there reads the Trainer's logger)
            held = {
                Path(r.path) for r, _, _ in out if r.held and self.calls.get(r.path, _NONE).params
            }
            if not held - refused:
                return out
            refused |= held

    def follow_module_aliases(self, results: list[Result]) -> list[Result]:
        """A module that stores the tracker module on ``self.<name>`` and another that
        calls through ``<object>.<name>`` (ConvNeXt: ``wandb_logger._wandb.log(...)``): the
        other is migrated again with those chains known as the tracker module; when it
        still keeps its tracker calls, the storing module is held back with it, since the
        calls would find no run once the storing module starts it through tracelet."""
        reaching: dict[str, list[tuple[Path, str]]] = {}
        for file_report, _, _ in results:
            owner = Path(file_report.path)
            for line, name, kind in file_report.module_aliases:
                for path, where, code in self._reaching(owner, name):
                    calls = self.calls.setdefault(str(path), ProgramCalls())
                    calls.module_attributes[name] = kind
                    reaching.setdefault(file_report.path, []).append(
                        (path, f"{path}:{where} calls {code} on the {self.codemod.TRACKER_NAME} "
                         f"module stored at {owner}:{line}")
                    )  # fmt: skip
        if not reaching:
            return results
        by_path = {r[0].path: r for r in results}
        for path in {str(p) for found in reaching.values() for p, _ in found}:
            by_path[path] = self._again(path)
        for owner, found in reaching.items():
            kept = [why for path, why in found if by_path[str(path)][0].held]
            if kept:
                reason = "; ".join(kept) + ", which keeps its calls: they would find no run"
                by_path[owner] = self._again(owner, reason)
        return list(by_path.values())

    def _reaching(self, owner: Path, name: str) -> Iterator[tuple[Path, int, str]]:
        """``(module, line, code)`` of the first ``<object>.<name>.<attribute>`` in each
        other module of the program."""
        use = re.compile(rf"\b(?!self\b)\w+(?:\.\w+)*\.{re.escape(name)}\.\w+")
        for path, data in self.sources.items():
            text = data.decode("utf-8", "replace")
            found = use.search(text) if path != owner else None
            if found is not None:
                yield path, text.count("\n", 0, found.start()) + 1, found.group(0)

    def hold_shared_runs(self, results: list[Result]) -> list[Result]:
        """Migrate again, holding back, the modules that share a run with a held-back one."""
        if not self.codemod.START_KEYS:  # Lightning: loggers belong to a Trainer
            return results
        # a module that could not be parsed keeps its tracker calls: count it as holding its run
        facts = {
            Path(r.path): program.ModuleFacts(
                Path(r.path),
                r.starts_run or r.error is not None,
                r.uses_run or r.error is not None,
                r.held or r.error is not None,
                [r.error_line] if r.error is not None else r.blocking_lines,
            )
            for r, _, _ in results
        }
        if not any(f.logs_only for f in facts.values()) or not any(f.held for f in facts.values()):
            return results
        groups = program.shared_runs(facts, program.import_graph(self.sources, self.paths))
        held = program.holds(facts, groups, self.codemod.TRACKER_NAME)
        out = []
        for result in results:
            file_report = result[0]
            found = held.get(Path(file_report.path))
            if found is None or file_report.error is not None:
                out.append(result)
                continue
            reason, holders = found
            result = self._again(file_report.path, reason)
            result[0].held_by = [str(p) for p in holders]
            out.append(result)
        return out

    def keep_tracker_globals(self, results: list[Result]) -> list[Result]:
        """Migrate again, keeping the tracker's process-wide settings it moved into tracelet
        (``mlflow.set_tracking_uri``), a module whose settings other code still reads: a
        module that keeps tracker calls, or, when no module given starts a run, the code
        that starts it."""
        moving = [r for r, _, _ in results if r.moves_globals and not r.held]
        if not moving:
            return results
        keeping = [r.path for r, _, _ in results if r.keeps_calls or r.error is not None]
        starting = any(r.starts_run and not r.held for r, _, _ in results)
        name = self.codemod.TRACKER_NAME
        out = []
        for result in results:
            file_report = result[0]
            others = [path for path in keeping if path != file_report.path]
            if file_report not in moving or (starting and not others):
                out.append(result)
                continue
            self.calls.setdefault(file_report.path, ProgramCalls()).keep_globals = (
                f"{others[0]} keeps {name} calls, which read it"
                if others
                else f"no module given starts the {name} run, and the code that starts it reads it"
            )
            out.append(self._again(file_report.path))
        return out


def _run(
    work: list[tuple[str, bytes, Options]],
    jobs: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[tuple[report.FileReport, bytes | None, str]]:
    total = len(work)
    workers = min(jobs or os.cpu_count() or 1, MAX_JOBS, total)
    results = []
    if workers <= 1:
        for done, item in enumerate(work, 1):
            results.append(_work(item))
            if progress:
                progress(done, total)
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_work, item) for item in work]
        for done, future in enumerate(as_completed(futures), 1):
            results.append(future.result())
            if progress:
                progress(done, total)
    return results


def unified_diff(change: Change, context: int = 3) -> str:
    """The unified diff of one change, with ``a/`` and ``b/`` paths like git."""
    old = change.old.decode(change.encoding, errors="replace").splitlines(keepends=True)
    new = change.new.decode(change.encoding, errors="replace").splitlines(keepends=True)
    name = change.path.as_posix().lstrip("/")
    lines = difflib.unified_diff(old, new, f"a/{name}", f"b/{name}", n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def write(outcome: Outcome, force: bool = False) -> None:
    """Write the changed files, refusing those git would not let you undo (unless forced)."""
    refused = {} if force else dirty_files([c.path for c in outcome.changes])
    by_path = {f.path: f for f in outcome.report.files}
    for change in outcome.changes:
        file_report = by_path[str(change.path)]
        reason = refused.get(change.path)
        if reason:
            file_report.refused = reason
            continue
        change.path.write_bytes(change.new)
        file_report.written = True


def dirty_files(paths: Sequence[Path]) -> dict[Path, str]:
    """Files git could not restore: untracked inside a git work tree, or with changes
    not staged. A file whose working copy is staged (as a pre-commit hook sees it) is
    safe: ``git diff`` shows the migration and ``git checkout FILE`` undoes it."""
    by_root: dict[str, list[Path]] = {}
    roots: dict[Path, str | None] = {}
    for path in paths:
        folder = path.resolve().parent
        if folder not in roots:
            roots[folder] = _git_root(folder)
        root = roots[folder]
        if root is not None:
            by_root.setdefault(root, []).append(path)
    dirty: dict[Path, str] = {}
    for root, files in by_root.items():
        relative = {os.path.relpath(p.resolve(), root).replace(os.sep, "/"): p for p in files}
        status = _git(
            root, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *relative
        )
        if status is None:
            continue
        records = status.split("\0")
        index = 0
        while index < len(records):
            record = records[index]
            index += 1
            if len(record) < 4:
                continue
            code, name = record[:2], record[3:]
            if code[0] in "RC":
                index += 1
            if name in relative and code[1] != " ":  # " ": the index holds the working copy
                dirty[relative[name]] = (
                    "not in git (untracked): git add it first, or pass --force"
                    if code == "??"
                    else f"changes not staged in git ({code.strip()}): git add or stash them, "
                    "or pass --force"
                )
    return dirty


def _git_root(folder: Path) -> str | None:
    out = _git(str(folder), "rev-parse", "--show-toplevel")
    return out.strip() or None if out is not None else None


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
