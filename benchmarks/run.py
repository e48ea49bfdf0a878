"""Run every benchmark in turn (`make bench`); each prints a Markdown table.

    .venv/bin/python benchmarks/run.py [--quick]

``--quick`` runs fewer repetitions and smaller sizes, for a smoke check.
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
    args = parser.parse_args()
    quick = {
        "runtime_bench.py": ["--reps", "1", "--points", "20000"],
        "readers_bench.py": ["--reps", "1"],
        "compare_bench.py": [],
        "migrate_bench.py": [],
    }
    failed = 0
    for script, quick_args in quick.items():
        print(f"\n## {script}\n", flush=True)
        command = [sys.executable, str(HERE / script), *(quick_args if args.quick else [])]
        failed += subprocess.run(command).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
