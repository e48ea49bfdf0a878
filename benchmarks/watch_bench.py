"""``experiment.watch`` against ``wandb.watch``: what the hooks cost the training loop.

    .venv/bin/python benchmarks/watch_bench.py [--reps 3] [--steps 300] [--log-freq 1,10]

One fresh process per case and rep (sandboxed stores, W&B offline): an MLP
(784-256-256-10, 270k parameters, CPU) trains ``--steps`` steps of batch 64, logging
its loss every step, with ``wandb.log`` in a ``wandb.init`` run or with ``tracelet.log``
in a tracelet run delivering to W&B, each once without and once with
``watch(model, log="all", log_freq=F)``. Printed: medians of ms per training step, and
what watching adds per step (with minus without, same tracker).
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
import json, time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
    torch.nn.Linear(256, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
inputs, labels = torch.randn(64, 784), torch.randint(0, 10, (64,))
if {tracker!r} == "wandb":
    import wandb
    run = wandb.init(project="bench", settings=wandb.Settings(console="off"))
    log = run.log
    if {watch}:
        wandb.watch(model, log="all", log_freq={log_freq})
else:
    import tracelet
    experiment = tracelet.start_logging(exp_name="bench", project="bench", backend="wandb")
    log = tracelet.log
    if {watch}:
        experiment.watch(model, log="all", log_freq={log_freq})
def step():
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(inputs), labels)
    loss.backward()
    optimizer.step()
    log({{"loss": loss.item()}})
for _ in range(20):
    step()
t = time.perf_counter()
for _ in range({steps}):
    step()
elapsed = (time.perf_counter() - t) / {steps} * 1e3
if {tracker!r} == "wandb":
    run.finish()
else:
    tracelet.stop_logging()
print(json.dumps({{"ms": elapsed}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--log-freq", default="1,10")
    args = parser.parse_args()
    print("| log_freq | tracker | ms/step unwatched | ms/step watched | watch adds ms/step |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="tracelet-bench-") as tmp:
        for log_freq in (int(f) for f in args.log_freq.split(",")):
            for tracker in ("wandb", "tracelet"):
                times = {}
                for watch in (False, True):
                    code = CASE.format(
                        tracker=tracker, watch=watch, log_freq=log_freq, steps=args.steps
                    )
                    runs = [run_case(code, Path(tmp))["ms"] for _ in range(args.reps)]
                    times[watch] = statistics.median(runs)
                added = times[True] - times[False]
                print(
                    f"| {log_freq} | {tracker} | {times[False]:.2f} | {times[True]:.2f} "
                    f"| {added:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
