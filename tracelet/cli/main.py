"""``tracelet`` command line: ``migrate``, ``validate``, ``sync``, ``export``, ``copy``.

Each subcommand lives in its own module exposing ``configure(parser)`` and
``run(args) -> int``; modules are imported only when their subcommand runs, so
``tracelet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": (
        "tracelet.cli.migrate",
        "rewrite direct W&B / MLflow / ClearML / Lightning calls into SummaryWriter + tracelet",
    ),
    "validate": (
        "tracelet.cli.validate",
        "prove a migration changed nothing by diffing the metric tables of two runs",
    ),
    "sync": ("tracelet.cli.sync", "deliver what a crashed or offline run left in its journal"),
    "export": ("tracelet.cli.export", "write any store's metrics (and params) to parquet or csv"),
    "copy": ("tracelet.cli.copy", "replay a stored run into another tracker"),
}

PASSES_SCRIPT_ARGS = {"validate"}


def _load(name: str):
    return importlib.import_module(SUBCOMMANDS[name][0])


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The full parser; only the ``selected`` subcommand's options are loaded."""
    parser = argparse.ArgumentParser(
        prog="tracelet",
        description="Route TensorBoard-style logging to any tracker; migrate and validate.",
    )
    from tracelet import __version__

    parser.add_argument("--version", action="version", version=f"tracelet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(command=name)
        if name == selected:
            _load(name).configure(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parser = build_parser(selected)
    script_args: list[str] = []
    if "--" in argv:  # everything after -- belongs to the user's script (validate)
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if script_args and args.command not in PASSES_SCRIPT_ARGS:
        parser.error(f"tracelet {args.command} takes no arguments after --")
    args.script_args = script_args
    if not args.command:
        parser.print_help()
        return 0
    return int(_load(args.command).run(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
