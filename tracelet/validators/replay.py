"""Replay mode: log a recorded run "direct" and "routed" into fresh stores, and diff them.

``tracelet validate --replay SOURCE --backend TRACKER[,TRACKER]`` checks tracelet's routing
for exactly the key names, steps and values of *your* run. For each tracker it runs two
writers, each in a subprocess with its own :class:`~tracelet.validators.sandbox.Sandbox`:

direct
    the tracker's own API, the way its documentation recommends: the writer of the
    tracker module's ``REPLAY`` (:class:`~tracelet.backends.registry.DirectReplay`,
    its docstring says which calls it makes);
routed
    ``tracelet.start_logging(backend=...)``, one ``SummaryWriter.add_scalar(key, value,
    step, walltime)`` per point (torch), ``experiment.log_params(params)``,
    ``experiment.set_tags(tags)``, ``tracelet.stop_logging()``.

Both are read back with the tracker's reader and compared with
:func:`~tracelet.validators.compare.compare_runs`. Artifacts are not replayed and not
compared. A missing ``wall_time`` (a table without it) becomes one millisecond per
point from the replay's start, the same on both paths.

Tracker-imposed differences
    Some trackers store less than they are given, and that is not tracelet's doing.
    The replay predicts, from the recorded run, what each path must store:

    The tracker module's ``REPLAY.stored`` gives what its store keeps on both paths
    (for example ±inf kept as max-float), and ``REPLAY.direct`` which points the direct
    writer's own calls keep (for example a step lower than the run's current one
    dropped, where tracelet logs every point with its SummaryWriter step in a step key of
    its own). A name the tracker's API refuses on the direct path is not stored there;
    ``REPLAY.kept_name`` says how tracelet stores it. ``docs/validate.md`` lists the
    rules of every tracker.

    Each rule that applies is listed with its point count, keys and first steps. The
    verdict per tracker is ``equal`` (the two paths store the same), ``explained``
    (they differ, but the direct path stored exactly what the rules predict and the
    routed path stored every point the tracker can keep; a column the routed path's
    writer added (a step column of the tracker's store) is listed as a rule of its own), or
    ``different``.
    ``explained`` exits 0 unless ``strict`` is set.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracelet.backends.registry import TRACKERS, DirectReplay, ImposedRule, with_option
from tracelet.readers import read_store
from tracelet.tables import RunTables
from tracelet.validators import exit_codes
from tracelet.validators.compare import compare_runs
from tracelet.validators.sandbox import Child, Sandbox

if TYPE_CHECKING:
    from rich.console import Console

    from tracelet.validators.result import Comparison

DIRECT = "direct"
ROUTED = "routed"
PATHS = (DIRECT, ROUTED)
EQUAL = "equal"
EXPLAINED = "explained"
DIFFERENT = "different"
DEFAULT_TIMEOUT = 900.0
PROJECT = "tracelet-replay"
_SKIP = ("artifacts", "media")  # a replay writes metrics, params and tags only


class ReplayError(RuntimeError):
    """A replay writer could not run; the message says where its output is."""


@dataclass(frozen=True)
class Imposed:
    """A difference a tracker imposes on what it is given, predicted from the run."""

    tracker: str
    path: str
    rule: str
    description: str
    points: int = 0
    keys: tuple[str, ...] = ()
    examples: tuple[tuple[str, int], ...] = ()

    def text(self) -> str:
        where = "both paths" if self.path == "both" else f"the {self.path} path"
        head = f"{self.description} ({where}"
        if self.points:
            head += f"; {self.points:,} point{'s' if self.points != 1 else ''}"
        if self.examples:
            shown = ", ".join(f"{k!r}@{s}" for k, s in self.examples)
            head += f"; first: {shown}"
        return head + ")"


@dataclass
class BackendReplay:
    """Both paths of one tracker, read back and compared."""

    backend: str
    comparison: Comparison
    direct: RunTables
    routed: RunTables
    imposed: list[Imposed]
    direct_check: Comparison
    routed_check: Comparison
    sandboxes: dict[str, Path]
    strict: bool = False

    @property
    def verdict(self) -> str:
        if self.comparison.equal:
            return EQUAL
        if self.direct_check.equal and self.routed_check.equal:
            return EXPLAINED
        return DIFFERENT

    @property
    def exit_code(self) -> int:
        if self.verdict == EQUAL or (self.verdict == EXPLAINED and not self.strict):
            return exit_codes.EQUAL
        return exit_codes.DIFFERENT


@dataclass
class ReplayReport:
    """The replay of one recorded run into every requested tracker."""

    source: str
    points: int
    workdir: Path
    backends: list[BackendReplay] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return max((b.exit_code for b in self.backends), default=exit_codes.EQUAL)


# -- the parent side ------------------------------------------------------------------------
def replay(
    source: RunTables,
    backends: Iterable[str],
    workdir: str | Path | None = None,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    strict: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int = 2,
) -> ReplayReport:
    """Replay ``source`` into each backend, direct and routed, under ``workdir``
    (default: a new temporary folder, ``ReplayReport.workdir``).

    Every writer is a subprocess in its own sandbox ``<workdir>/<backend>-<path>``;
    up to ``jobs`` run at once. Raises :class:`ReplayError` when a writer fails.
    """
    from tracelet.backends import ensure_installed, normalize_backends

    names = normalize_backends(list(backends))
    supported = replay_backends()
    unsupported = [n for n in names if n not in supported]
    if unsupported:
        raise ValueError(f"replay supports {', '.join(supported)}; not {', '.join(unsupported)}")
    for name in names:
        ensure_installed(name)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="tracelet-replay-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    payload = workdir / "source.json"
    write_payload(source, payload)
    tasks = [(name, path) for name in names for path in PATHS]
    results = _run_writers(tasks, payload, workdir, timeout, max(1, jobs))
    report = ReplayReport(source.source, len(source.metrics), workdir)
    for name in names:
        report.backends.append(_compare_backend(name, source, results, rtol, atol, strict))
    return report


def replay_backends() -> list[str]:
    """The trackers whose module has a direct writer for replay."""
    return [t.name for t in with_option("REPLAY")]


def _replay_of(backend: str) -> DirectReplay:
    return TRACKERS[backend].module.REPLAY


def _run_writers(
    tasks: list[tuple[str, str]], payload: Path, workdir: Path, timeout: float, jobs: int
) -> dict[tuple[str, str], dict[str, Any]]:
    pending = list(tasks)
    running: list[tuple[tuple[str, str], Child, Path]] = []
    results: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.pop(0)
                running.append(_start_writer(task, payload, workdir, timeout))
            task, child, result_file = running.pop(0)
            outcome = child.wait()
            if not outcome.ok:
                why = "timed out" if outcome.timed_out else f"exit code {outcome.returncode}"
                raise ReplayError(
                    f"the {task[1]} replay into {task[0]} failed ({why}): "
                    f"{outcome.last_error_line()}; output in {child.sandbox.root}"
                )
            results[task] = json.loads(result_file.read_text())
            results[task]["sandbox"] = child.sandbox
    finally:
        for _, child, _ in running:
            child.kill()
    return results


def _start_writer(
    task: tuple[str, str], payload: Path, workdir: Path, timeout: float
) -> tuple[tuple[str, str], Child, Path]:
    backend, path = task
    sandbox = Sandbox.create(workdir / f"{backend}-{path}")
    result = sandbox.root / "result.json"
    argv = [sys.executable, "-m", "tracelet.validators.replay", path, backend, str(payload)]
    argv += [str(result), "--name", f"replay-{path}", "--project", PROJECT]
    argv += ["--logdir", str(sandbox.root / "runs")]
    env = sandbox.environ(PYTHONPATH=_pythonpath())
    return task, sandbox.start(argv, cwd=sandbox.root, timeout=timeout, env=env), result


def _pythonpath() -> str:
    import os

    package_root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)


def _compare_backend(
    backend: str,
    source: RunTables,
    results: dict[tuple[str, str], dict[str, Any]],
    rtol: float,
    atol: float,
    strict: bool,
) -> BackendReplay:
    direct_result, routed_result = results[(backend, DIRECT)], results[(backend, ROUTED)]
    direct = read_store(direct_result["sandbox"].store(backend))
    routed = read_store(routed_result["sandbox"].delivered_store(backend))
    stored, imposed = expected_stored(backend, source)
    expected_direct, direct_rules = expected_direct_path(
        backend, stored, direct_result.get("refused", [])
    )
    imposed += direct_rules
    imposed += _routed_refusals(backend, routed_result)
    imposed += _added_columns(backend, direct, routed)
    options = {"rtol": rtol, "atol": atol, "skip": _SKIP}
    return BackendReplay(
        backend=backend,
        comparison=compare_runs(direct, routed, **options),
        direct=direct,
        routed=routed,
        imposed=imposed,
        direct_check=compare_runs(expected_direct, direct, **options),
        # the recorded run has no columns a writer added; _added_columns names them
        routed_check=compare_runs(stored, routed, **{**options, "skip": (*_SKIP, "columns")}),
        sandboxes={path: results[(backend, path)]["sandbox"].root for path in PATHS},
        strict=strict,
    )


def _added_columns(backend: str, direct: RunTables, routed: RunTables) -> list[Imposed]:
    """Columns the routed path's writer added that the direct store does not hold (a step
    column for SummaryWriter points, in a tracker whose rows have a step of their own)."""
    return [
        Imposed(backend, ROUTED, "added-column", f"column {name!r} {description}")
        for name, description in sorted(routed.added_columns.items())
        if name not in direct.added_columns
    ]


def _routed_refusals(backend: str, result: dict[str, Any]) -> list[Imposed]:
    refused = result.get("refused_by_tracker") or {}
    if not refused and result.get("complete", True):
        return []
    errors = "; ".join(result.get("errors") or []) or "see the run's agent.log"
    text = f"tracelet's {backend} backend refused {refused or 'nothing'}: {errors}"
    if not result.get("complete", True):
        text = f"tracelet did not deliver everything to {backend}: {errors}"
    return [Imposed(backend, ROUTED, "tracelet-refused", text, sum(refused.values()))]


# -- what each path must store ----------------------------------------------------------------
def expected_stored(backend: str, source: RunTables) -> tuple[RunTables, list[Imposed]]:
    """``source`` as ``backend``'s store keeps it on either path, and the rules applied."""
    metrics = source.metrics.reset_index(drop=True)
    values, rules = _replay_of(backend).stored(metrics["value"].to_numpy(dtype=np.float64))
    imposed = [_rule(backend, "both", rule, metrics) for rule in rules]
    stored = metrics.assign(value=values)
    return _tables(
        stored, source.params, source.tags, f"{source.source} as {backend} stores it"
    ), imposed


def expected_direct_path(
    backend: str, stored: RunTables, refused: Sequence[dict[str, Any]]
) -> tuple[RunTables, list[Imposed]]:
    """What the direct path must store, given what the tracker refused while writing."""
    imposed: list[Imposed] = []
    if refused:
        stored, imposed = _without_refused(backend, stored, refused)
    simulate = _replay_of(backend).direct
    if simulate is not None:
        metrics = stored.metrics.reset_index(drop=True)
        kept, rules = simulate(metrics["key"].tolist(), metrics["step"].tolist())
        imposed += [_rule(backend, DIRECT, rule, metrics) for rule in rules]
        source = stored.source + " (direct)"
        stored = _tables(metrics[kept], stored.params, stored.tags, source)
    return stored, imposed


def _without_refused(
    backend: str, stored: RunTables, refused: Sequence[dict[str, Any]]
) -> tuple[RunTables, list[Imposed]]:
    metrics, params, tags = stored.metrics, stored.params, stored.tags
    tracker = TRACKERS[backend]
    imposed = []
    gone: dict[str, set[str]] = {"metric": set(), "param": set(), "tag": set()}
    for item in refused:
        kind, key = item["kind"], item["key"]
        gone[kind].add(key)
        count = int((metrics["key"] == key).sum()) if kind == "metric" else 0
        imposed.append(
            Imposed(
                backend,
                DIRECT,
                f"{backend}-refused-name",
                f"{tracker.label} refused the {kind} name {key!r} ({item['message']}); "
                + _replay_of(backend).kept_name(kind, key),
                count,
                (key,),
            )
        )
    metrics = metrics[~metrics["key"].isin(gone["metric"])]
    params = params[~params["key"].isin(gone["param"])]
    tags = tags[~tags["key"].isin(gone["tag"])]
    return _tables(metrics, params, tags, stored.source + " (direct)"), imposed


def _rule(tracker: str, path: str, rule: ImposedRule, metrics) -> Imposed:
    hit = metrics[rule.mask]
    examples = tuple((str(k), int(s)) for k, s in zip(hit["key"][:5], hit["step"][:5], strict=True))
    keys = tuple(dict.fromkeys(hit["key"].tolist()))
    return Imposed(tracker, path, rule.rule, rule.text, int(rule.mask.sum()), keys, examples)


def _tables(metrics, params, tags, source: str) -> RunTables:
    return RunTables(
        metrics=metrics.reset_index(drop=True),
        params=params.reset_index(drop=True),
        tags=tags.reset_index(drop=True),
        source=source,
    )


# -- reporting ---------------------------------------------------------------------------------
def render_replay(report: ReplayReport, console: Console) -> None:
    """Print each tracker's comparison, the imposed differences, and the verdicts."""
    from rich.rule import Rule

    from tracelet.validators.report import render_terminal

    for item in report.backends:
        console.print(Rule(f"replay into {item.backend}"))
        console.print(
            f"direct: {_replay_of(item.backend).api} -> {item.direct.source}\n"
            f"routed: SummaryWriter + tracelet -> {item.routed.source}"
        )
        render_terminal(item.comparison, console)
        if item.imposed:
            console.print("[bold]tracker-imposed differences[/bold]")
            for imposed in item.imposed:
                console.print(f"  - {imposed.text()}", markup=False, highlight=False)
        console.print(_check_line("routed path", item.routed_check), markup=False)
        if not item.comparison.equal:
            console.print(_check_line("direct path", item.direct_check), markup=False)
        style = {EQUAL: "green", EXPLAINED: "yellow", DIFFERENT: "red"}[item.verdict]
        console.print(f"[bold {style}]{item.backend}: {replay_verdict(item)}[/]")
        if item.exit_code:
            console.print(f"stores kept in {', '.join(map(str, item.sandboxes.values()))}")


def _check_line(what: str, check: Comparison) -> str:
    if check.equal:
        return f"{what} vs the recorded run (after the rules above): every point as predicted"
    keys = ", ".join(check.differing_keys[:5]) or "params or tags"
    return f"{what} vs the recorded run (after the rules above): NOT as predicted: {keys}"


def replay_verdict(item: BackendReplay) -> str:
    """One line: EQUAL, EXPLAINED (with the rules) or DIFFERENT."""
    if item.verdict == EQUAL:
        return f"EQUAL: direct and routed stores match ({len(item.direct.metrics):,} points)"
    if item.verdict == EXPLAINED:
        rules = ", ".join(dict.fromkeys(i.rule for i in item.imposed))
        tail = " (--strict: exit 1)" if item.strict else ""
        return f"EXPLAINED: the stores differ only as {item.backend} imposes ({rules}){tail}"
    return "DIFFERENT: " + ", ".join(item.comparison.differing_keys[:10] or ["params or tags"])


def replay_json(report: ReplayReport) -> dict[str, Any]:
    """The replay as strict JSON (schema ``tracelet.validate/replay-1``)."""
    from dataclasses import asdict

    from tracelet.validators.report import to_json

    return {
        "schema": "tracelet.validate/replay-1",
        "source": report.source,
        "points": report.points,
        "exit_code": report.exit_code,
        "backends": [
            {
                "backend": item.backend,
                "verdict": item.verdict,
                "exit_code": item.exit_code,
                "comparison": to_json(item.comparison),
                "imposed": [asdict(i) for i in item.imposed],
                "direct_as_predicted": item.direct_check.equal,
                "routed_as_predicted": item.routed_check.equal,
                "stores": {path: str(root) for path, root in item.sandboxes.items()},
            }
            for item in report.backends
        ],
    }


# -- the payload handed to writer subprocesses -------------------------------------------------
def write_payload(tables: RunTables, path: Path, *, summary: bool = False) -> None:
    """Write a run's metrics, params and tags (and, with ``summary``, its summary values)
    as JSON (``allow_nan``: floats stay exact).

    A missing ``wall_time`` becomes one millisecond per point from now.
    """
    metrics = tables.metrics
    walls = metrics["wall_time"].to_numpy(dtype=np.float64).copy()
    missing = ~np.isfinite(walls)
    walls[missing] = time.time() + np.flatnonzero(missing) * 1e-3
    payload = {
        "metrics": [
            metrics["key"].astype(str).tolist(),
            metrics["step"].to_numpy(dtype=np.int64).tolist(),
            metrics["value"].to_numpy(dtype=np.float64).tolist(),
            walls.tolist(),
        ],
        "params": dict(zip(tables.params["key"], tables.params["value"], strict=True)),
        "tags": dict(zip(tables.tags["key"], tables.tags["value"], strict=True)),
    }
    if summary:
        payload["summary"] = dict(zip(tables.summary["key"], tables.summary["value"], strict=True))
    Path(path).write_text(json.dumps(payload, allow_nan=True), encoding="utf-8")


def read_payload(path: Path) -> tuple[list[tuple[str, int, float, float]], dict, dict, dict]:
    """(rows, params, tags, summary); the summary is empty unless it was written."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = list(zip(*data["metrics"], strict=True)) if data["metrics"][0] else []
    return rows, data["params"], data["tags"], data.get("summary", {})


# -- the writers (run in the subprocess) ----------------------------------------------------------
def write_routed(
    rows: Sequence[tuple[str, int, float, float]],
    params: dict[str, str],
    tags: dict[str, str],
    backend: str,
    *,
    project: str | None,
    name: str,
    logdir: str,
    url: str | None = None,
    summary: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The routed path: SummaryWriter + tracelet into ``backend``; returns the delivery.

    ``summary`` holds summary-table values (``tracelet copy``), logged as the values
    they are the string form of."""
    import tracelet
    from tracelet.summaries import value_from_table

    experiment = tracelet.start_logging(
        exp_name=name, project=project, backend=backend, backend_url=url
    )
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(logdir)
    add_scalar = writer.add_scalar
    for key, step, value, wall_time in rows:
        add_scalar(key, value, step, walltime=wall_time)
    writer.close()
    if params:
        experiment.log_params(params)
    if tags:
        experiment.set_tags(tags)
    if summary:
        experiment.summary.update({k: value_from_table(v) for k, v in summary.items()})
    report = tracelet.stop_logging()
    (delivery,) = report.backends
    return {
        "run_dir": str(report.run_dir),
        "complete": report.complete,
        "summary": report.summary(),
        "refused_by_tracker": delivery.refused,
        "errors": delivery.errors[-3:],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a writer subprocess: ``python -m tracelet.validators.replay``."""
    parser = argparse.ArgumentParser(prog="python -m tracelet.validators.replay")
    parser.add_argument("path", choices=PATHS)
    parser.add_argument("backend")
    parser.add_argument("payload", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--project", default=None)
    parser.add_argument("--name", default="replay")
    parser.add_argument("--logdir", required=True)
    parser.add_argument("--url", default=None)
    args = parser.parse_args(argv)
    rows, params, tags, summary = read_payload(args.payload)
    if args.path == DIRECT:
        refused = _replay_of(args.backend).write(
            rows, params, tags, args.project or PROJECT, args.name
        )
        result: dict[str, Any] = {"refused": refused}
    else:
        result = write_routed(
            rows,
            params,
            tags,
            args.backend,
            project=args.project,
            name=args.name,
            logdir=args.logdir,
            url=args.url,
            summary=summary,
        )
    args.result.write_text(json.dumps(result, allow_nan=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
