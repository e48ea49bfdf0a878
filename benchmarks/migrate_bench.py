"""How fast ``tracelet migrate`` is on a repository-sized tree, in diff mode.

Generates a tree of about ``--lines`` lines of Python (default 200,000) in which
``--share`` of the files (default 2%) are W&B training scripts, then measures:

* ``cli``: ``tracelet migrate TREE --from wandb`` as a user runs it (a fresh
  interpreter, discovery, pre-filter, process pool, diffs printed to a pipe);
* ``runner``: the same in-process (``tracelet.codemods.runner.migrate`` + diffs);
* ``transform``: the codemod alone on the tracker files, in one process, giving the
  lines per second of the files that use a tracker.

``--file FILE`` measures one file instead: the CPU time (user + system, interpreter
start-up included) of ``tracelet migrate FILE --from SOURCE`` in a fresh interpreter, the
figure a pre-commit hook or an editor pays per file (target: under 1 s for 300 lines).

Usage::

    .venv/bin/python benchmarks/migrate_bench.py            # 200k lines, 2% tracker files
    .venv/bin/python benchmarks/migrate_bench.py --lines 50000 --repeat 1
    .venv/bin/python benchmarks/migrate_bench.py --file train.py --from wandb
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PLAIN = '''
def {name}_{i}(values, scale={i}):
    """Scale and clip a list of values ({name}, block {i})."""
    out = []
    for value in values:
        scaled = value * scale / (1 + abs(value))
        if scaled > {i}:
            scaled = {i}
        out.append(scaled)  # keep order
    return out


class {cls}{i}:
    def __init__(self, size={i}):
        self.size = size
        self.buffer = [0.0] * size

    def push(self, value):
        self.buffer = self.buffer[1:] + [value]
        return sum(self.buffer) / self.size

'''

TRACKER = """
import argparse

import wandb


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--wandb", action="store_true")
    return parser.parse_args()


def log_step(metrics, step=None):
    if wandb.run is not None:
        wandb.log(metrics, step=step)


def train_{i}(args):
    if args.wandb:
        wandb.init(project="bench", name="run-{i}", config=vars(args))
    total = 0.0
    for step in range(100):
        loss = 1.0 / (step + 1)
        total += loss
        log_step({{"train/loss": loss, "train/total": total}})
    wandb.config.update({{"steps": 100}})
    wandb.finish()
"""


def generate(root: Path, lines: int, share: float, seed: int = 0) -> dict[str, int]:
    """Write the tree; returns line counts."""
    rng = random.Random(seed)
    tracker_lines = plain_lines = files = tracker_files = 0
    while tracker_lines + plain_lines < lines:
        index = files
        package = root / f"pkg{index % 20}" / f"sub{index % 7}"
        package.mkdir(parents=True, exist_ok=True)
        is_tracker = rng.random() < share or (files >= 10 and tracker_files == 0)
        blocks = rng.randint(6, 14)
        body = "".join(PLAIN.format(name=f"f{index}", cls=f"C{index}_", i=i) for i in range(blocks))
        if is_tracker:
            body = TRACKER.format(i=index) + body
        text = f'"""Module {index}."""\n' + textwrap.dedent(body)
        (package / f"mod{index}.py").write_text(text)
        count = text.count("\n")
        if is_tracker:
            tracker_lines += count
            tracker_files += 1
        else:
            plain_lines += count
        files += 1
    return {
        "files": files,
        "tracker_files": tracker_files,
        "lines": tracker_lines + plain_lines,
        "tracker_lines": tracker_lines,
    }


CLI = "import sys; from tracelet.cli import main; sys.exit(main())"


def time_cli(root: Path, source: str = "wandb") -> float:
    started = time.perf_counter()
    run_cli(root, source)
    return time.perf_counter() - started


def run_cli(path: Path, source: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI, "migrate", str(path), "--from", source],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"tracelet migrate failed:\n{done.stderr}")


def cpu_of_one_file(path: Path, source: str, repeat: int) -> list[float]:
    """CPU seconds (user + system) of each run of the CLI on one file."""
    runs = []
    for _ in range(repeat):
        before = os.times()
        run_cli(path, source)
        after = os.times()
        runs.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return runs


def time_runner(root: Path) -> tuple[float, int]:
    from tracelet.codemods import runner

    started = time.perf_counter()
    outcome = runner.migrate([root], runner.Options("wandb", ["wandb"]), mode="diff")
    diff_bytes = sum(len(runner.unified_diff(change)) for change in outcome.changes)
    return time.perf_counter() - started, diff_bytes


def time_transform(root: Path) -> tuple[float, int]:
    from tracelet.codemods.discovery import discover, mentions
    from tracelet.codemods.runner import Options, transform_bytes

    files = [(p, p.read_bytes()) for p in discover([root])]
    files = [(p, data) for p, data in files if mentions("wandb", data)]
    options = Options("wandb", ["wandb"])
    started = time.perf_counter()
    for path, data in files:
        transform_bytes(data, str(path), options)
    return time.perf_counter() - started, sum(data.count(b"\n") for _, data in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--share", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", type=Path, help="measure the CPU time of one file instead")
    parser.add_argument("--from", dest="source", default="wandb")
    args = parser.parse_args()
    if args.file:
        runs = cpu_of_one_file(args.file, args.source, args.repeat)
        lines = args.file.read_bytes().count(b"\n")
        shown = ", ".join(f"{t:.2f}" for t in runs)
        print(
            f"{args.file} ({lines} lines), --from {args.source}: "
            f"{statistics.median(runs):.2f} s CPU, start-up included (runs: {shown})"
        )
        return
    with tempfile.TemporaryDirectory(prefix="tracelet-migrate-bench-") as tmp:
        root = Path(tmp) / "tree"
        sizes = generate(root, args.lines, args.share)
        print(
            f"tree: {sizes['files']} files, {sizes['lines']:,} lines; "
            f"{sizes['tracker_files']} files ({sizes['tracker_lines']:,} lines) use wandb"
        )
        cli = [time_cli(root) for _ in range(args.repeat)]
        runner_runs = [time_runner(root) for _ in range(args.repeat)]
        transform_runs = [time_transform(root) for _ in range(args.repeat)]
        tracker_lines = transform_runs[0][1]
        cli_s = statistics.median(cli)
        runner_s = statistics.median(r[0] for r in runner_runs)
        transform_s = statistics.median(t[0] for t in transform_runs)
        runs = ", ".join(f"{t:.2f}" for t in cli)
        print(f"cli (diff mode, fresh interpreter): {cli_s:.2f} s  runs: {runs}")
        tree_rate = sizes["lines"] / runner_s
        print(f"runner in-process + diffs:          {runner_s:.2f} s ({tree_rate:,.0f} lines/s)")
        rate = tracker_lines / transform_s
        print(
            f"transform only, tracker files:      {transform_s:.2f} s "
            f"({rate:,.0f} lines/s of tracker files, one process)"
        )


if __name__ == "__main__":
    main()
