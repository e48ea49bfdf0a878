"""``tracelet validate``: prove that a migration changed nothing.

Three ways to get the two runs it diffs::

    tracelet validate LEFT RIGHT                                  # two stored runs
    tracelet validate train.py --from wandb [--to mlflow] [-- --epochs 3]   # script mode
    tracelet validate --replay SOURCE --backend wandb,mlflow      # replay mode

``LEFT``, ``RIGHT`` and ``SOURCE`` are anything :func:`tracelet.readers.read_store`
reads (a tracking URI with ``#RUN``, a W&B run folder, a ClearML session, a TensorBoard
logdir, a tracelet run folder, a ``.csv``/``.parquet`` table). Script mode is
:mod:`tracelet.validators.script`, replay mode :mod:`tracelet.validators.replay`.

Exit codes (:mod:`tracelet.validators.exit_codes`): 0 the runs match within tolerance,
1 they differ, 2 something could not run (a missing tracker, a crashing script, an
unreadable store). An error is one line on stderr, never a traceback (``--debug``
shows it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelet.cli.common import (
    UsageError,
    add_comparison_options,
    run_guarded,
    show_comparison,
    write_json,
)
from tracelet.validators import exit_codes

if TYPE_CHECKING:
    from rich.console import Console


PROG = "tracelet validate"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``tracelet validate``'s arguments to ``parser``."""
    parser.usage = (
        "tracelet validate LEFT RIGHT [options]\n"
        "       tracelet validate SCRIPT.py --from TRACKER [--to TRACKER] [options] "
        "[-- SCRIPT_ARGS]\n"
        "       tracelet validate --replay SOURCE --backend TRACKERS [options]"
    )
    parser.epilog = (
        "exit codes: 0 equal within tolerance, 1 different, 2 error. "
        "Stores: sqlite:///mlflow.db#RUN, http://host:port#RUN, mlruns/, wandb/ or a W&B "
        "run folder, a ClearML offline session or offline/ folder, a TensorBoard logdir, "
        "a tracelet run folder, a .csv/.parquet metrics table."
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="two stores to diff, or a script (then everything after -- goes to the script)",
    )
    script = parser.add_argument_group("script mode")
    script.add_argument(
        "--from", dest="source", metavar="TRACKER", help="wandb, mlflow, clearml, lightning"
    )
    script.add_argument(
        "--to",
        dest="target",
        metavar="TRACKER",
        help="the migrated copy logs here (default: --from)",
    )
    script.add_argument(
        "--root",
        type=Path,
        help="copy and migrate this package folder with the script (default: the script alone)",
    )
    script.add_argument(
        "--timeout", type=float, default=None, help="seconds per run or replay writer (default 900)"
    )
    script.add_argument(
        "--workdir",
        type=Path,
        help="keep the sandboxes here (default: a new temporary folder, kept when not equal)",
    )
    replay = parser.add_argument_group("replay mode")
    replay.add_argument("--replay", metavar="SOURCE", help="a recorded run to replay")
    replay.add_argument(
        "--backend",
        default=None,
        help="trackers to replay into, comma-separated (mlflow,wandb,clearml)",
    )
    replay.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 also when the only differences are those a tracker imposes",
    )
    stores = parser.add_argument_group("two stores")
    stores.add_argument(
        "--system",
        action="store_true",
        help="also compare system metrics (CPU, memory, ...; left out by default: they "
        "differ from run to run)",
    )
    add_comparison_options(parser.add_argument_group("comparison and output"))


def run(args: argparse.Namespace) -> int:
    """Run ``tracelet validate``; returns the exit code."""

    def body(console: Console) -> int:
        if args.replay:
            return _run_replay(args, console)
        if _script_mode(args):
            return _run_script(args, console)
        return _run_stores(args, console)

    return run_guarded(PROG, args, body)


def _script_mode(args: argparse.Namespace) -> bool:
    """A ``.py`` first input, or one input with ``--from``: a store needs a second one, so
    ``validate notes.txt --from wandb`` is a script that is not Python, not a store."""
    if not args.inputs:
        return False
    return args.inputs[0].endswith(".py") or (len(args.inputs) == 1 and bool(args.source))


def _run_stores(args: argparse.Namespace, console: Console) -> int:
    from tracelet.readers import read_store
    from tracelet.validators.compare import compare_runs

    _refuse(args, "when diffing two stores", "--from", "--to", "--root", "--backend", "--strict")
    _refuse(args, "when diffing two stores", "--workdir", "--timeout")
    if args.script_args:
        raise UsageError("arguments after -- go to a script; give SCRIPT.py first")
    if len(args.inputs) != 2:
        raise UsageError(
            f"give two stores to diff, a script ending in .py, or --replay SOURCE "
            f"(got {len(args.inputs)} input{'s' if len(args.inputs) != 1 else ''})"
        )
    left, right = (read_store(location) for location in args.inputs)
    if args.system:
        left, right = left.with_system_metrics(), right.with_system_metrics()
    comparison = compare_runs(left, right, rtol=args.rtol, atol=args.atol)
    return show_comparison(comparison, left, right, args, console, {"mode": "stores"})


def _run_script(args: argparse.Namespace, console: Console) -> int:
    from tracelet.validators.script import DEFAULT_TIMEOUT, validate_script

    _refuse(args, "in script mode", "--backend", "--strict", "--system")
    if not args.source:
        raise UsageError("script mode needs --from TRACKER (the tracker the script calls)")
    if len(args.inputs) != 1:
        raise UsageError("script mode takes one script; its own arguments go after --")
    (script,) = args.inputs
    outcome = validate_script(
        Path(script),
        source=args.source,
        target=args.target,
        root=args.root,
        script_args=args.script_args,
        timeout=args.timeout or DEFAULT_TIMEOUT,
        workdir=args.workdir,
        rtol=args.rtol,
        atol=args.atol,
        console=console,
    )
    for side, tables in (("original", outcome.original), ("migrated", outcome.migrated)):
        for note in tables.notes:  # what each reader skipped or how its store encodes
            console.print(f"{side} store: {note}", markup=False, highlight=False, soft_wrap=True)
    code = show_comparison(
        outcome.comparison, outcome.original, outcome.migrated, args, console, outcome.to_json()
    )
    outcome.finish(code, console)
    return code


def _run_replay(args: argparse.Namespace, console: Console) -> int:
    from tracelet.readers import read_store
    from tracelet.validators.replay import DEFAULT_TIMEOUT, render_replay, replay, replay_json

    _refuse(args, "with --replay", "--from", "--to", "--root", "--system")
    if args.inputs or args.script_args:
        raise UsageError("--replay takes one SOURCE; drop the other inputs")
    if not args.backend:
        raise UsageError("--replay needs --backend, e.g. --backend wandb,mlflow")
    source = read_store(args.replay)
    report = replay(
        source,
        args.backend.split(","),
        args.workdir,
        rtol=args.rtol,
        atol=args.atol,
        strict=args.strict,
        timeout=args.timeout or DEFAULT_TIMEOUT,
    )
    render_replay(report, console)
    if args.json:
        write_json(args.json, replay_json(report))
    if args.html:
        from tracelet.validators.report import write_html

        for item, path in zip(report.backends, _html_paths(args.html, report), strict=True):
            write_html(item.comparison, item.direct, item.routed, path)
            console.print(f"HTML report ({item.backend}): {path}")
    if report.exit_code == exit_codes.EQUAL and args.workdir is None:
        import shutil

        shutil.rmtree(report.workdir, ignore_errors=True)
    return report.exit_code


def _html_paths(path: Path, report: Any) -> list[Path]:
    if len(report.backends) == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{b.backend}{path.suffix}") for b in report.backends]


def _refuse(args: argparse.Namespace, mode: str, *options: str) -> None:
    names = {
        "--from": "source",
        "--to": "target",
        "--root": "root",
        "--backend": "backend",
        "--strict": "strict",
        "--workdir": "workdir",
        "--timeout": "timeout",
        "--system": "system",
    }
    given = [o for o in options if getattr(args, names[o]) not in (None, False)]
    if given:
        raise UsageError(f"{' and '.join(given)}: not used {mode}")
