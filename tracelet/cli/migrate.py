"""``tracelet migrate``: the command line around the codemods.

::

    tracelet migrate src/ --from wandb                  # coloured unified diff, nothing written
    tracelet migrate src/ --from wandb --write          # apply, then summarise
    tracelet migrate src/ --from mlflow --to wandb,mlflow --write
    tracelet migrate src/ --from clearml --check        # exit 1 if anything would change
    tracelet migrate train.py --from wandb --report migration.json
    tracelet migrate train.py --from lightning          # MLFlowLogger / WandbLogger on a Trainer
    tracelet migrate train.py --from mlflow --style tracelet   # experiment.log_metric, no writer

The diff goes to stdout (so ``> migration.patch`` gives a clean patch); progress and the
summary go to stderr.

Exit codes: 0 on success; 1 when ``--check`` finds a file that would change (with
``--strict`` also when call sites are left or held back) or when ``--write`` refused a
file; 2 for a usage error, which includes a file named on the command line that is not
valid Python (nothing is written then). Files found in a folder that cannot be parsed are
reported and skipped; they do not change the exit code.
"""

from __future__ import annotations

import argparse

from tracelet.codemods import SOURCES, default_targets
from tracelet.codemods.rules import RULES, Safety, resolve_rules, rules_for
from tracelet.codemods.writer import STYLES, SUMMARYWRITER


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``tracelet migrate``'s arguments to ``parser``."""
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to migrate")
    parser.add_argument(
        "--from", dest="source", choices=sorted(SOURCES), help="the tracker the code calls now"
    )
    parser.add_argument(
        "--to",
        default=None,
        metavar="TRACKERS",
        help="comma-separated trackers to log to after the migration (default: the --from one; "
        "with --from lightning, the trackers of each Trainer's loggers)",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the files in place")
    action.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file would change"
    )
    parser.add_argument(
        "--diff", action="store_true", help="also print the diff with --write/--check"
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --check, also fail when call sites are left or held back",
    )
    parser.add_argument("--report", metavar="FILE", help="write a report (.json, or text)")
    parser.add_argument(
        "--unsafe", action="store_true", help="also apply rewrites whose rules are marked unsafe"
    )
    parser.add_argument(
        "--style",
        choices=STYLES,
        default=SUMMARYWRITER,
        help="metrics logged with a step become SummaryWriter.add_scalar calls "
        "(summarywriter, the default) or stay tracelet experiment calls (tracelet)",
    )
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE",
        help="turn a rule off (id or name; repeat or comma-separate)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching this glob (repeatable)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --write, also write files with changes git does not hold (untracked, unstaged)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=None, help="worker processes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")


def run(args: argparse.Namespace) -> int:
    """Run ``tracelet migrate``; returns the exit code."""
    from rich.console import Console

    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    if args.list_rules:
        _list_rules(out, args.source)
        return 0
    problem = _usage_problem(args)
    if problem:
        err.print(f"tracelet migrate: {problem}", markup=False, soft_wrap=True)
        return 2
    from tracelet.codemods import runner

    options = runner.Options(
        source=args.source,
        targets=_targets(args),
        unsafe=args.unsafe,
        disable=tuple(args.disable),
        style=args.style,
    )
    mode = "write" if args.write else "check" if args.check else "diff"
    outcome = _migrate(runner, args, options, mode, err)
    not_python = [f for f in outcome.report.files if f.named and f.error]
    for f in not_python:
        err.print(
            f"tracelet migrate: error: {f.path}:{f.error_line}: not valid Python ({f.error})",
            markup=False,
            soft_wrap=True,
        )
    if not_python:
        return 2
    if mode == "write":
        runner.write(outcome, force=args.force)
    if mode == "diff" or args.diff:
        for change in outcome.changes:
            _print_diff(out, runner.unified_diff(change))
    if mode == "check":
        for change in outcome.changes:
            err.print(f"would change {change.path}", markup=False, soft_wrap=True)
    if args.report:
        outcome.report.write(args.report)
    for line in outcome.report.summary():
        err.print(line, markup=False, soft_wrap=True)
    if args.report:
        err.print(f"report written to {args.report}", markup=False, soft_wrap=True)
    totals = outcome.report.totals()
    if mode == "check":
        left = totals["sites_left"] + totals["sites_held"]
        return int(bool(outcome.changes) or (args.strict and left > 0))
    return int(totals["files_refused"] > 0)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if not args.source:
        return "--from is required (wandb, mlflow, clearml or lightning)"
    if args.source not in SOURCES:
        return f"unknown source {args.source!r}; choose from {', '.join(SOURCES)}"
    if not args.paths:
        return "give at least one file or folder"
    from pathlib import Path

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        return f"no such file or folder: {', '.join(missing)}"
    try:
        resolve_rules(args.disable)
        from tracelet.backends import normalize_backends

        targets = _targets(args)
        if targets:
            normalize_backends(targets)
    except (KeyError, ValueError) as exc:
        return str(exc.args[0] if exc.args else exc)
    return None


def _targets(args: argparse.Namespace) -> list[str]:
    if not args.to:
        return default_targets(args.source)
    return [t.strip().lower() for t in args.to.split(",") if t.strip()]


def _migrate(runner, args, options, mode, err):
    if args.no_progress or not err.is_terminal:  # rich.progress costs a tenth of a file
        return runner.migrate(args.paths, options, mode, args.exclude, args.jobs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("migrating from {task.fields[source]}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("migrate", total=None, source=args.source)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return runner.migrate(args.paths, options, mode, args.exclude, args.jobs, advance)


def _print_diff(console, diff: str) -> None:
    from rich.text import Text

    for line in diff.splitlines():
        line = line.rstrip("\r")
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        console.print(Text(line, style=style), soft_wrap=True)


def _list_rules(console, source: str | None) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table("id", "name", "tracker", "safety", "what it does")
    colours = {Safety.SAFE: "green", Safety.UNSAFE: "yellow", Safety.MANUAL: "red"}
    for rule in rules_for(source) if source else RULES.values():
        safety = Text(rule.safety.value, style=colours.get(rule.safety, ""))
        table.add_row(
            Text(rule.id), Text(rule.name), Text(rule.tracker), safety, Text(rule.summary)
        )
    console.print(table)
