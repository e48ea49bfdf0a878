"""``experiment.watch`` against ``wandb.watch``: what the hooks cost the training loop.

    .venv/bin/python benchmarks/watch_bench.py [--reps 3] [--steps 300] [--log-freq 1,10]

One fresh process per case and rep (sandboxed stores, W&B offline): an MLP
(784-256-256-10, 270k parameters, CPU) trains ``--steps`` steps of batch 64, logging
its loss every step, with ``wandb.log`` in a ``wandb.init`` run or with ``tracelet.log``
in a tracelet run delivering to W&B, each once without and once with
``watch(model, log="all", log_freq=F)``. Printed: medians of the wall-clock ms per
training step and of the training thread's own CPU ms per step (``time.thread_time``,
torch on one thread: what the hooks cost the training thread, without the tracker
processes competing for the cores), and what watching adds to each (with minus
without, same tracker).
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
t, cpu = time.perf_counter(), time.thread_time()
for _ in range({steps}):
    step()
elapsed = (time.perf_counter() - t) / {steps} * 1e3
thread = (time.thread_time() - cpu) / {steps} * 1e3
if {tracker!r} == "wandb":
    run.finish()
else:
    tracelet.stop_logging()
print(json.dumps({{"ms": elapsed, "thread_ms": thread}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--log-freq", default="1,10")
    args = parser.parse_args()
    print(
        "| log_freq | tracker | wall ms/step unwatched | watched | watch adds "
        "| thread CPU ms/step unwatched | watched | watch adds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="tracelet-bench-") as tmp:
        for log_freq in (int(f) for f in args.log_freq.split(",")):
            for tracker in ("wandb", "tracelet"):
                runs = {}
                for watch in (False, True):
                    code = CASE.format(
                        tracker=tracker, watch=watch, log_freq=log_freq, steps=args.steps
                    )
                    runs[watch] = [run_case(code, Path(tmp)) for _ in range(args.reps)]
                row = [str(log_freq), tracker]
                for measure in ("ms", "thread_ms"):
                    off = statistics.median(r[measure] for r in runs[False])
                    on = statistics.median(r[measure] for r in runs[True])
                    row += [f"{off:.2f}", f"{on:.2f}", f"{on - off:.2f}"]
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
