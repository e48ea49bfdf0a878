"""System-metrics benchmark: the hot path with ``track_system=True`` next to it off.

    .venv/bin/python benchmarks/system_bench.py [--reps 5] [--interval 0.5]

In one fresh process per rep (sandboxed stores), a routed ``add_scalar`` loop (10 keys,
100,000 calls, about 3 s) runs once in a run with system metrics off and once in a run
with them on, sampled every ``--interval`` seconds (default 0.5 s, 20 times MLflow's
default rate, so several samples fall inside the loop); the order alternates between
reps. Printed: medians of µs per call, and of the on/off ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_bench import run_case

CASE = """
import json, time, tracelet
from torch.utils.tensorboard import SummaryWriter
from tracelet.agent.delivery import DeliveryState
N, KEYS = 100000, [f"k{{i}}" for i in range(10)]
results = {{}}
order = [False, True] if {rep} % 2 == 0 else [True, False]
for system in order:
    experiment = tracelet.start_logging(
        exp_name="bench", project="bench", backend={backend!r},
        track_system=system, system_interval={interval},
    )
    while not DeliveryState.load(experiment.run_dir, {backend!r}).location:
        time.sleep(0.05)
    time.sleep(2.0)
    writer = SummaryWriter(f"runs/{{system}}")
    t = time.perf_counter()
    for i in range(N):
        writer.add_scalar(KEYS[i % 10], i * 0.5, i // 10)
    results["on" if system else "off"] = (time.perf_counter() - t) / N * 1e6
    writer.close()
    tracelet.stop_logging()
print(json.dumps(results))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--backends", default="mlflow,clearml,wandb")
    args = parser.parse_args()
    print("| backend | off µs/call | on µs/call | on/off |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="tracelet-bench-") as tmp:
        for backend in args.backends.split(","):
            runs = [
                run_case(CASE.format(backend=backend, rep=r, interval=args.interval), Path(tmp))
                for r in range(args.reps)
            ]
            off = statistics.median(r["off"] for r in runs)
            on = statistics.median(r["on"] for r in runs)
            ratio = statistics.median(r["on"] / r["off"] for r in runs)
            print(f"| {backend} | {off:.1f} | {on:.1f} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
