"""``tracelet export SOURCE -o table.parquet|csv``: any store's metrics as one table.

::

    tracelet export wandb/latest-run -o run.parquet
    tracelet export "sqlite:///mlflow.db#baseline" -o baseline.csv

SOURCE is anything :func:`tracelet.readers.read_store` reads. Three files are written,
in the format the output's suffix names (``.csv`` or ``.parquet``):

``table.<ext>``         the metrics table: ``key``, ``step``, ``value``, ``wall_time``
                        (seconds), every point in the order the store gave them
``table.params.<ext>``  the params: ``key``, ``value`` (strings)
``table.tags.<ext>``    the tags: ``key``, ``value`` (strings)

The params and tags files are always written (possibly with no rows), so a later
export never leaves a stale one next to the table. ``read_store("table.csv")`` reads
all three back. CSV keeps every float64 exactly (shortest round-trip form; ``nan``,
``inf``, ``-inf``); parquet needs ``pyarrow``. Artifacts are not exported, and neither
are the store's notes and declared lossy encodings (``RunTables.encodings``): compare
with the store itself when they matter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tracelet.readers import TABLE_SUFFIXES, read_store, sibling_path

if TYPE_CHECKING:
    import pandas as pd

    from tracelet.tables import RunTables

PROG = "tracelet export"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``tracelet export``'s arguments to ``parser``."""
    parser.add_argument("source", metavar="SOURCE", help="the run to export (path or URI[#RUN])")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="table.parquet or table.csv"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")


def run(args: argparse.Namespace) -> int:
    """Run ``tracelet export``; returns 0, or 2 with one line on stderr."""
    try:
        tables = read_store(args.source)
        written = export_tables(tables, args.output)
    except Exception as exc:
        if args.debug:
            raise
        from tracelet.cli.common import error_line

        print(f"{PROG}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    metrics = tables.metrics
    print(
        f"{len(metrics):,} points of {metrics['key'].nunique():,} keys from {tables.source} "
        f"-> {written[0]}; {len(tables.params)} params -> {written[1]}; "
        f"{len(tables.tags)} tags -> {written[2]}"
    )
    return 0


def export_tables(tables: RunTables, output: str | Path) -> tuple[Path, Path, Path]:
    """Write the metrics table and its params and tags siblings; returns the three paths."""
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{output}: the output must end in {' or '.join(TABLE_SUFFIXES)}")
    if suffix == ".parquet":
        _require_pyarrow()
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = (output, sibling_path(output, "params"), sibling_path(output, "tags"))
    frames = (tables.metrics, tables.params, tables.tags)
    for frame, path in zip(frames, paths, strict=True):
        _write(frame.reset_index(drop=True), path)
    return paths


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, na_rep="nan")


def _require_pyarrow() -> None:
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ValueError("writing parquet needs pyarrow: pip install pyarrow (or write .csv)")
