"""Runtime benchmark: the cost of routing SummaryWriter calls, measured against the
plain writer and against each tracker's own API called directly in its best way.

    .venv/bin/python benchmarks/runtime_bench.py [--reps 5] [--points 100000]

Every case runs in a fresh subprocess with its own sandboxed stores (W&B offline,
ClearML offline, MLflow sqlite) under a temporary folder; medians of ``--reps`` runs
are printed, with the ratios the issues set targets for:

* hot path: µs per ``add_scalar`` (10 keys, 20,000 calls), routed vs plain, in the same
  process (alternating which goes first between reps), measured once the delivery agent
  has imported its tracker, opened the run and settled for 2 s (its start-up is a
  one-time cost, paid in the end-to-end figure);
* cold start: µs per ``add_scalar`` in the first 20,000 calls right after
  ``start_logging``, while the agent starts and imports its tracker, against the mean of
  a plain loop before the run and one after the agent has exited (on a shared machine the
  load drifts; bracketing halves that), and the ``stop_logging`` that follows; then the
  same run with training going on for ``--train-seconds`` (default 25) after
  ``start_logging``, past the agent's cold window (20 ms CPU-bound steps that log 10
  scalars each), the share of a core the training process got over those seconds
  (1.0: it never waited for the CPU) and its ``stop_logging``;
* end to end: ``start_logging`` + loop + ``stop_logging`` for ``--points`` points, vs
  the same points through the tracker's own API called directly in its best way
  (MLflow ``log_batch`` of 1000, one ``wandb.log`` per step, ClearML ``report_scalar``
  in-process), and vs the plain SummaryWriter loop alone (what the routed loop costs
  before any tracker is involved);
* ``stop_logging`` when nothing is pending.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracelet.cache import CACHE_VARIABLE
from tracelet.validators.sandbox import Sandbox

HOT_PATH = """
import json, time, tracelet
from torch.utils.tensorboard import SummaryWriter
from tracelet.agent.delivery import DeliveryState
N, KEYS = 20000, [f"k{{i}}" for i in range(10)]
def loop(writer):
    t = time.perf_counter()
    for i in range(N):
        writer.add_scalar(KEYS[i % 10], i * 0.5, i // 10)
    return (time.perf_counter() - t) / N * 1e6
results = {{}}
order = ["plain", "routed"] if {rep} % 2 == 0 else ["routed", "plain"]
for case in order:
    if case == "routed":
        experiment = tracelet.start_logging(exp_name="bench", project="bench", backend={backend!r})
        # steady state: the agent has imported the tracker and opened the run, and the
        # tracker's own start-up threads (ClearML's take ~1-2 s of CPU) have settled
        while not DeliveryState.load(experiment.run_dir, {backend!r}).location:
            time.sleep(0.05)
        time.sleep(2.0)
    writer = SummaryWriter(f"runs/{{case}}")
    writer.add_scalar("warm", 0.0, 0)
    results[case] = loop(writer)
    writer.close()
    if case == "routed":
        tracelet.stop_logging()
print(json.dumps(results))
"""

COLD_START = """
import json, time, tracelet
from torch.utils.tensorboard import SummaryWriter
N, KEYS = 20000, [f"k{{i}}" for i in range(10)]
def loop(writer):
    t = time.perf_counter()
    for i in range(N):
        writer.add_scalar(KEYS[i % 10], i * 0.5, i // 10)
    return (time.perf_counter() - t) / N * 1e6
def plain(name):
    writer = SummaryWriter(f"runs/{{name}}")
    writer.add_scalar("warm", 0.0, 0)
    us = loop(writer)
    writer.close()
    return us
before = plain("before")
writer = SummaryWriter("runs/routed")
writer.add_scalar("warm", 0.0, 0)
experiment = tracelet.start_logging(exp_name="bench", project="bench", backend={backend!r})
started = time.perf_counter()
routed = loop(writer)  # while the agent starts, imports its tracker and opens the run
step = N // 10
trained, cpu = time.perf_counter(), time.process_time()
while time.perf_counter() - started < {train_seconds}:  # training goes on past the window:
    busy = time.perf_counter() + 0.02  # a 20 ms training step that keeps the CPU busy,
    while time.perf_counter() < busy:
        pass
    for key in KEYS:  # then 10 scalars (500 points/s)
        writer.add_scalar(key, step * 0.5, step)
    step += 1
t = time.perf_counter()
# the share of a core the training process got while it trained (1.0: it never waited)
share = (time.process_time() - cpu) / (t - trained) if t - trained > 1 else None
tracelet.stop_logging()
stop = time.perf_counter() - t
experiment._agent.process.wait()  # the plain loop after it runs without an agent
print(json.dumps({{"plain": (before + plain("after")) / 2, "routed": routed, "stop": stop,
                  "share": share}}))
"""

MAKE_STORE_TEMPLATE = """
import json
from pathlib import Path
from tracelet.backends.mlflow import _create_store
_create_store(str(Path("warm-up.db").resolve()))  # MLflow creates it: the template
print(json.dumps({}))
"""

ROUTED_E2E = """
import json, time, tracelet
from torch.utils.tensorboard import SummaryWriter
N = {points}
writer = SummaryWriter("runs")
t = time.perf_counter()
tracelet.start_logging(exp_name="bench", project="bench", backend={backend!r})
for i in range(N):
    writer.add_scalar(f"k{{i % 10}}", i * 0.5, i // 10)
loop = time.perf_counter() - t
report = tracelet.stop_logging()
total = time.perf_counter() - t
assert report.complete, report.summary()
print(json.dumps({{"loop": loop, "total": total}}))
"""

PLAIN_E2E = """
import json, time
from torch.utils.tensorboard import SummaryWriter
N = {points}
t = time.perf_counter()
writer = SummaryWriter("runs")
for i in range(N):
    writer.add_scalar(f"k{{i % 10}}", i * 0.5, i // 10)
writer.close()
print(json.dumps({{"total": time.perf_counter() - t}}))
"""

STOP_IDLE = """
import json, time, tracelet
from tracelet.agent.delivery import DeliveryState
experiment = tracelet.start_logging(exp_name="bench", project="bench", backend={backend!r})
experiment.log_metric("x", 1.0, 0)
experiment.flush()
while DeliveryState.load(experiment.run_dir, {backend!r}).delivered.get("metrics", 0) < 1:
    time.sleep(0.05)
t = time.perf_counter()
tracelet.stop_logging()
print(json.dumps({{"stop": time.perf_counter() - t}}))
"""

DIRECT = {
    "mlflow": """
import json, time
from mlflow import MlflowClient
from mlflow.entities import Metric
N = {points}
t = time.perf_counter()
client = MlflowClient()  # MLFLOW_TRACKING_URI: the sandbox sqlite store
run_id = client.create_run(client.create_experiment("bench")).info.run_id
batch, now = [], int(time.time() * 1000)
for i in range(N):
    batch.append(Metric(f"k{{i % 10}}", i * 0.5, now, i // 10))
    if len(batch) == 1000:
        client.log_batch(run_id, metrics=batch)
        batch = []
if batch:
    client.log_batch(run_id, metrics=batch)
client.set_terminated(run_id)
print(json.dumps({{"total": time.perf_counter() - t}}))
""",
    "wandb": """
import json, time, wandb
N = {points}
t = time.perf_counter()
run = wandb.init(project="bench", name="bench", settings=wandb.Settings(console="off"))
for s in range(N // 10):
    run.log({{f"k{{j}}": (s * 10 + j) * 0.5 for j in range(10)}}, step=s)
run.finish()
print(json.dumps({{"total": time.perf_counter() - t}}))
""",
    "clearml": """
import json, time
from clearml import Task
from clearml.utilities.check_updates import CheckPackageUpdates
CheckPackageUpdates._package_version_checked = True
N = {points}
t = time.perf_counter()
task = Task.init(project_name="bench", task_name="bench", auto_connect_frameworks=False,
                 auto_resource_monitoring=False, auto_connect_streams=False)
logger = task.get_logger()
for i in range(N):
    logger.report_scalar("k", str(i % 10), value=i * 0.5, iteration=i // 10)
task.close()
print(json.dumps({{"total": time.perf_counter() - t}}))
""",
}


#: extra environment of every case (--first-store: no MLflow store template)
CASE_ENV: dict[str, str] = {}


def run_case(code: str, root: Path, cpu: str | None = None) -> dict:
    workdir = Path(tempfile.mkdtemp(dir=root))
    script = workdir / "case.py"
    script.write_text(textwrap.dedent(code))
    result = subprocess.run(
        [*(["taskset", "-c", cpu] if cpu else []), sys.executable, str(script)],
        cwd=workdir,
        env=Sandbox.create(workdir / "sandbox").environ(**CASE_ENV),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark case failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--backends", default="mlflow,wandb,clearml")
    parser.add_argument(
        "--train-seconds",
        type=float,
        default=25.0,
        help="training time of the second cold-start case (longer than the cold window)",
    )
    parser.add_argument("--only-cold", action="store_true", help="run the cold-start cases only")
    parser.add_argument(
        "--cpu",
        default=None,
        help="run the cold-start cases on this CPU only (taskset -c): training and agent "
        "then always compete, as on a machine without a free core",
    )
    parser.add_argument(
        "--first-store",
        action="store_true",
        help="every new MLflow store is created by MLflow's migrations, as for the first "
        "run on a machine (by default the cases share one store template, as later runs do)",
    )
    args = parser.parse_args()
    backends = args.backends.split(",")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="tracelet-bench-") as tmp:
        root = Path(tmp)
        # the cases share one cache folder (the MLflow store template) inside the run
        CASE_ENV[CACHE_VARIABLE] = str(root / "cache")
        if args.first_store:
            CASE_ENV["TRACELET_MLFLOW_STORE_TEMPLATE"] = "0"
        elif "mlflow" in backends:
            run_case(MAKE_STORE_TEMPLATE, root)
        for backend in backends:
            cold = [
                run_case(COLD_START.format(backend=backend, train_seconds=0), root, args.cpu)
                for _ in range(args.reps)
            ]
            long_cold = [
                run_case(
                    COLD_START.format(backend=backend, train_seconds=args.train_seconds),
                    root,
                    args.cpu,
                )
                for _ in range(args.reps)
            ]
            cold_figures = {
                "cold_plain_us": median([c["plain"] for c in cold]),
                "cold_routed_us": median([c["routed"] for c in cold]),
                "cold_ratio": median([c["routed"] / c["plain"] for c in cold]),
                "cold_stop_s": median([c["stop"] for c in cold]),
                "long_cold_ratio": median([c["routed"] / c["plain"] for c in long_cold]),
                "long_stop_s": median([c["stop"] for c in long_cold]),
                "long_share": median([c["share"] or 0.0 for c in long_cold]),
            }
            if args.only_cold:
                results[backend] = cold_figures
                print(backend, json.dumps({k: round(v, 3) for k, v in cold_figures.items()}))
                continue
            hot = [
                run_case(HOT_PATH.format(backend=backend, rep=r), root) for r in range(args.reps)
            ]
            plain = [h["plain"] for h in hot]
            routed = [h["routed"] for h in hot]
            ratios = [h["routed"] / h["plain"] for h in hot]
            e2e = [
                run_case(ROUTED_E2E.format(backend=backend, points=args.points), root)
                for _ in range(args.reps)
            ]
            direct = [
                run_case(DIRECT[backend].format(points=args.points), root)["total"]
                for _ in range(args.reps)
            ]
            plain_e2e = [
                run_case(PLAIN_E2E.format(points=args.points), root)["total"]
                for _ in range(args.reps)
            ]
            stop = [run_case(STOP_IDLE.format(backend=backend), root)["stop"] for _ in range(3)]
            results[backend] = {
                "hot_plain_us": median(plain),
                "hot_routed_us": median(routed),
                "hot_ratio": median(ratios),
                **cold_figures,
                "e2e_loop_s": median([e["loop"] for e in e2e]),
                "e2e_total_s": median([e["total"] for e in e2e]),
                "direct_s": median(direct),
                "plain_writer_s": median(plain_e2e),
                "e2e_ratio": median([e["total"] for e in e2e]) / median(direct),
                "stop_idle_s": median(stop),
            }
            print(backend, json.dumps({k: round(v, 3) for k, v in results[backend].items()}))
    print()
    print(f"cold start: the first 20,000 calls; long: training for {args.train_seconds:g} s")
    print(
        "| backend | cold start plain/routed µs | cold ratio | cold stop s "
        "| long ratio | training CPU share over the long run | long stop s |"
    )
    print("|" + "---|" * 7)
    for backend, r in results.items():
        print(
            f"| {backend} | {r['cold_plain_us']:.1f} / {r['cold_routed_us']:.1f} | "
            f"{r['cold_ratio']:.2f} | {r['cold_stop_s']:.2f} | {r['long_cold_ratio']:.2f} | "
            f"{r['long_share']:.2f} | {r['long_stop_s']:.2f} |"
        )
    if args.only_cold:
        return
    print()
    print(f"{args.points} points, 10 keys, medians of {args.reps} runs")
    header = (
        "| backend | plain µs/call | routed µs/call | ratio | cold start plain/routed µs "
        "| cold ratio | cold stop s | routed loop+stop s | direct API s | e2e ratio "
        "| plain writer loop s | idle stop s |"
    )
    print(header)
    print("|" + "---|" * 12)
    for backend, r in results.items():
        print(
            f"| {backend} | {r['hot_plain_us']:.1f} | {r['hot_routed_us']:.1f} | "
            f"{r['hot_ratio']:.2f} | {r['cold_plain_us']:.1f} / {r['cold_routed_us']:.1f} | "
            f"{r['cold_ratio']:.2f} | {r['cold_stop_s']:.2f} | {r['e2e_total_s']:.2f} | "
            f"{r['direct_s']:.2f} | {r['e2e_ratio']:.2f} | {r['plain_writer_s']:.2f} | "
            f"{r['stop_idle_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
