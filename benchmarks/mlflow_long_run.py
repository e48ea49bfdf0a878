"""Long-run benchmark: 1,000,000 points to MLflow sqlite in one run, through the agent.

    .venv/bin/python benchmarks/mlflow_long_run.py [--points 1000000] [--window 100000]

A training process logs ``--points`` points (10 keys, as fast as it can, so the agent
always has a backlog) and stops with no deadline to speak of; this process samples the
agent's delivery cursor (``delivery/mlflow.json``) every 0.1 s and prints the delivery
rate of the first and of the last ``--window`` points. Delivery costs the same per point
at any run length when the two are within 2x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracelet.validators.sandbox import Sandbox

TRAIN = """
import sys, tracelet
from torch.utils.tensorboard import SummaryWriter
experiment = tracelet.start_logging(exp_name="long", project="bench", backend="mlflow")
print(experiment.run_dir, flush=True)
writer = SummaryWriter("runs")
for i in range({points}):
    writer.add_scalar(f"k{{i % 10}}", i * 0.5, i // 10)
report = tracelet.stop_logging(timeout=7200)
print(report.summary(), file=sys.stderr)
sys.exit(0 if report.complete else 1)
"""


def sample_delivery(process: subprocess.Popen, run_dir: Path) -> list[tuple[float, int]]:
    """``(seconds, points delivered)`` every 0.1 s until the training process exits."""
    state_file = run_dir / "delivery" / "mlflow.json"
    samples = []
    while process.poll() is None:
        if state_file.exists():
            delivered = json.loads(state_file.read_text())["delivered"].get("metrics", 0)
            samples.append((time.perf_counter(), delivered))
        time.sleep(0.1)
    delivered = json.loads(state_file.read_text())["delivered"].get("metrics", 0)
    samples.append((time.perf_counter(), delivered))
    return samples


def window_rate(samples: list[tuple[float, int]], start: int, end: int) -> float:
    """Points per second while the delivered count went from ``start`` to ``end``."""
    t0, d0 = next((t, d) for t, d in samples if d >= start)
    t1, d1 = next((t, d) for t, d in samples if d >= end)
    return (d1 - d0) / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracelet-long-") as tmp:
        env = Sandbox.create(Path(tmp) / "env").environ()
        del env["MLFLOW_TRACKING_URI"]  # MLflow's default store: ./mlflow.db (sqlite)
        script = Path(tmp, "train.py")
        script.write_text(TRAIN.format(points=args.points))
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp, env=env, stdout=subprocess.PIPE, text=True
        )
        run_dir = Path(process.stdout.readline().strip())
        samples = sample_delivery(process, run_dir)
        total = time.perf_counter() - started
        delivered = samples[-1][1]
        if process.returncode != 0 or delivered != args.points:
            print(f"delivery incomplete: {delivered} of {args.points} points", file=sys.stderr)
            return 1
        # the first window starts at the first delivered batch: the agent's start-up
        # (importing MLflow, creating the store) is not delivery
        first_start = next(d for _, d in samples if d > 0)
        first = window_rate(samples, first_start, first_start + args.window)
        last = window_rate(samples, args.points - args.window, args.points)
    print("| points | first window pts/s | last window pts/s | last / first | total s |")
    print("|---|---|---|---|---|")
    print(f"| {args.points} | {first:.0f} | {last:.0f} | {last / first:.2f} | {total:.1f} |")
    return 0 if last >= first / 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
