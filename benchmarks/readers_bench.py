"""Reader benchmark: read a 100,000-point run back from each store into the metrics table.

    .venv/bin/python benchmarks/readers_bench.py [--points 100000] [--reps 3]

Each store is written through its tracelet backend (as the delivery agent writes it: 1000
points per call, 10 keys) into a sandbox, then read with ``tracelet.readers.read_store``
in a fresh process per repetition (imports included, as a user's ``tracelet export``
pays them). Targets (issue 3): W&B under 2 s, ClearML under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracelet.validators.sandbox import Sandbox

WRITE = """
import sys, time
from tracelet.backends import RunInfo, load_backend
from tracelet.events import Point
name, points = sys.argv[1], int(sys.argv[2])
backend = load_backend(name)(RunInfo("bench", "bench", "bench", ".", time.time()), {}, {})
backend.open()
for start in range(0, points, 1000):
    backend.log_metrics([Point(f"k{i % 10}", i * 0.5, i // 10, time.time())
                         for i in range(start, min(points, start + 1000))])
backend.close("FINISHED")
"""

READ = """
import json, sys, time
t = time.perf_counter()
from tracelet.readers import read_store
tables = read_store(sys.argv[1])
total = time.perf_counter() - t
print(json.dumps({"rows": len(tables.metrics), "seconds": total}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--stores", default="mlflow,wandb,clearml")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tracelet-readers-") as tmp:
        for name in args.stores.split(","):
            box = Sandbox.create(Path(tmp) / name)
            env = box.environ()
            subprocess.run(
                [sys.executable, "-c", WRITE, name, str(args.points)],
                cwd=box.root, env=env, check=True, capture_output=True,
            )  # fmt: skip
            times = []
            for _ in range(args.reps):
                out = subprocess.run(
                    [sys.executable, "-c", READ, box.store(name)],
                    cwd=box.root, env=env, check=True, capture_output=True, text=True,
                )  # fmt: skip
                result = json.loads(out.stdout.strip().splitlines()[-1])
                assert result["rows"] == args.points, result
                times.append(result["seconds"])
            rows.append((name, statistics.median(times), times))
            print(name, [round(t, 2) for t in times])
    print(f"\n| store | read {args.points} points, s (median of {args.reps}) |")
    print("|---|---|")
    for name, median, _ in rows:
        print(f"| {name} | {median:.2f} |")


if __name__ == "__main__":
    main()
