"""What the subcommands share: one-line errors, the report console, comparison options.

``validate`` and ``copy`` both end in a comparison report; ``export`` and ``sync`` print
errors the same way.
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


class UsageError(ValueError):
    """Arguments that do not fit together."""


def add_comparison_options(group: argparse._ActionsContainer) -> None:
    """Tolerances, report files and ``--debug``: shared by ``validate`` and ``copy``."""
    group.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0)")
    group.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    group.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    group.add_argument("--json", type=Path, help="write the JSON report here")
    group.add_argument("--debug", action="store_true", help="show tracebacks of errors")


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
        write_json(args.json, {**to_json(comparison), **extra})
    if args.html:
        write_html(comparison, left, right, args.html)
        console.print(f"HTML report: {args.html}")
    return comparison.exit_code


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
