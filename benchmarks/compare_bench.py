"""Time ``compare_runs`` on two 1,000,000-point runs (the target is under 2 s).

Both runs have 10 keys x 100,000 points; step 0 of every key is logged twice (as
TensorBoard and MLflow keep it), the right run has 1,000 changed values, 100 missing
points and 100 extra ones, so every path (pairing, duplicates, value differences,
one-sided points) runs. Each repeat gets freshly built tables whose key strings are
distinct objects, as a store reader returns them (so no string hash is cached).
``--all-differ`` shifts every right value instead (the worst case for the report).
The HTML report of the last comparison is timed too.

Run: ``.venv/bin/python benchmarks/compare_bench.py [--points N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tracelet.tables import METRIC_COLUMNS, RunTables
from tracelet.validators.compare import compare_runs
from tracelet.validators.report import write_html

KEYS = 10


def build_runs(points: int, all_differ: bool = False, seed: int = 0) -> tuple[RunTables, RunTables]:
    """Two runs of ``points`` metric points each, mostly equal."""
    rng = np.random.default_rng(seed)
    per_key = points // KEYS
    step = np.tile(np.concatenate([[0], np.arange(per_key - 1)]), KEYS).astype(np.int64)
    key_index = np.repeat(np.arange(KEYS), per_key)
    value = rng.standard_normal(len(step))
    left = pd.DataFrame(
        {"step": step, "value": value, "wall_time": np.arange(len(step), dtype=float)}
    )
    right = left.copy()
    if all_differ:
        right["value"] += 1e-3
    else:
        changed = rng.choice(len(right), 1_000, replace=False)
        right.loc[changed, "value"] += 1e-3
    dropped = rng.choice(len(right), 100, replace=False)
    extra = rng.choice(len(left), 100, replace=False)
    right = pd.concat(
        [right.drop(index=dropped), left.iloc[extra].assign(step=lambda f: f["step"] + per_key)],
        ignore_index=True,
    )
    right_keys = np.concatenate([np.delete(key_index, dropped), key_index[extra]])

    def tables(frame: pd.DataFrame, keys: np.ndarray, source: str) -> RunTables:
        names = np.array([f"train/metric_{k}" for k in keys], dtype=object)
        metrics = frame.assign(key=names)[list(METRIC_COLUMNS)].astype(METRIC_COLUMNS)
        return RunTables(metrics=metrics, source=source)

    return tables(left, key_index, "left"), tables(right, right_keys, "right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--all-differ", action="store_true")
    args = parser.parse_args()
    timings = []
    for repeat in range(args.repeat):
        left, right = build_runs(args.points, args.all_differ, seed=repeat)
        start = time.perf_counter()
        result = compare_runs(left, right)
        timings.append(time.perf_counter() - start)
    print(
        f"compare_runs: {len(left.metrics):,} vs {len(right.metrics):,} points, "
        f"{len(result.differences):,} differing rows: "
        f"median {statistics.median(timings):.3f} s over {args.repeat} runs "
        f"(min {min(timings):.3f} s, max {max(timings):.3f} s)"
    )
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = write_html(result, left, right, Path(folder) / "report.html")
        elapsed = time.perf_counter() - start
        print(f"write_html: {elapsed:.3f} s, {path.stat().st_size / 1e3:,.0f} kB")


if __name__ == "__main__":
    main()
