"""Run every benchmark in turn (`make bench`); each prints a Markdown table.

    .venv/bin/python benchmarks/run.py [--quick] [--long]

``--quick`` runs fewer repetitions and smaller sizes, for a smoke check. ``--long`` adds
``mlflow_long_run.py`` (1,000,000 points to MLflow in one run; several minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--long", action="store_true", help="add the 1,000,000-point run")
    args = parser.parse_args()
    quick = {
        "runtime_bench.py": ["--reps", "1", "--points", "20000"],
        "readers_bench.py": ["--reps", "1"],
        "compare_bench.py": [],
        "migrate_bench.py": [],
        "corpus_bench.py": ["--no-cli"],
        "watch_bench.py": ["--reps", "1", "--steps", "100"],
    }
    if args.long:
        quick["mlflow_long_run.py"] = ["--points", "200000", "--window", "50000"]
    failed = 0
    for script, quick_args in quick.items():
        print(f"\n## {script}\n", flush=True)
        command = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        failed += subprocess.run(command).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
