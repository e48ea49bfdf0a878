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
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracelet.validators import exit_codes

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from tracelet.tables import RunTables
    from tracelet.validators.result import Comparison

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
    add_comparison_options(parser.add_argument_group("comparison and output"))


def add_comparison_options(group: argparse._ActionsContainer) -> None:
    """Tolerances, report files and ``--debug``: shared by ``validate`` and ``copy``."""
    group.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0)")
    group.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    group.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    group.add_argument("--json", type=Path, help="write the JSON report here")
    group.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def run(args: argparse.Namespace) -> int:
    """Run ``tracelet validate``; returns the exit code."""

    def body(console: Console) -> int:
        if args.replay:
            return _run_replay(args, console)
        if args.inputs and args.inputs[0].endswith(".py"):
            return _run_script(args, console)
        return _run_stores(args, console)

    return run_guarded(PROG, args, body)


def run_guarded(prog: str, args: argparse.Namespace, body: Callable[[Console], int]) -> int:
    """Run ``body`` with a report console; any failure is one line and exit code 2
    (a traceback with ``--debug``)."""
    try:
        return body(make_console())
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return exit_codes.ERROR
    except Exception as exc:
        if args.debug:
            raise
        print(f"{prog}: error: {error_line(exc)}", file=sys.stderr)
        return exit_codes.ERROR


def make_console() -> Console:
    """A rich console for reports: 120 columns when not a terminal (CI logs), unless
    ``COLUMNS`` says otherwise."""
    import os

    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=120)
    return console


def error_line(exc: BaseException) -> str:
    """One line for an error: its message, else its type."""
    text = " ".join(str(exc).split())
    if (
        isinstance(exc, FileNotFoundError)
        and exc.filename
        and not text.startswith(str(exc.filename))
    ):
        text = f"{exc.filename}: {exc.strerror or text}"
    return text or type(exc).__name__


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
    comparison = compare_runs(left, right, rtol=args.rtol, atol=args.atol)
    return show_comparison(comparison, left, right, args, console, {"mode": "stores"})


def _run_script(args: argparse.Namespace, console: Console) -> int:
    from tracelet.validators.script import DEFAULT_TIMEOUT, validate_script

    _refuse(args, "in script mode", "--backend", "--strict")
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
    code = show_comparison(
        outcome.comparison, outcome.original, outcome.migrated, args, console, outcome.to_json()
    )
    outcome.finish(code, console)
    return code


def _run_replay(args: argparse.Namespace, console: Console) -> int:
    from tracelet.readers import read_store
    from tracelet.validators.replay import DEFAULT_TIMEOUT, render_replay, replay, replay_json

    _refuse(args, "with --replay", "--from", "--to", "--root")
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
        _write_json(args.json, replay_json(report))
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


def show_comparison(
    comparison: Comparison,
    left: RunTables,
    right: RunTables,
    args: argparse.Namespace,
    console: Console,
    extra: dict[str, Any],
) -> int:
    """Print the comparison, write ``--json``/``--html``, return its exit code."""
    from tracelet.validators.report import render_terminal, to_json, write_html

    render_terminal(comparison, console)
    if args.json:
        _write_json(args.json, {**to_json(comparison), **extra})
    if args.html:
        write_html(comparison, left, right, args.html)
        console.print(f"HTML report: {args.html}")
    return comparison.exit_code


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class UsageError(ValueError):
    """Arguments that do not fit together."""


def _refuse(args: argparse.Namespace, mode: str, *options: str) -> None:
    names = {
        "--from": "source",
        "--to": "target",
        "--root": "root",
        "--backend": "backend",
        "--strict": "strict",
        "--workdir": "workdir",
        "--timeout": "timeout",
    }
    given = [o for o in options if getattr(args, names[o]) not in (None, False)]
    if given:
        raise UsageError(f"{' and '.join(given)}: not used {mode}")
