"""Where the CPU goes in the first seconds of a run: ``runtime_bench.py``'s cold-start
case under a /proc sampler.

    .venv/bin/python benchmarks/cold_start_profile.py --backend mlflow --train-seconds 15 --cpu 1

Prints the CPU seconds of every thread of the training process, the agent and the
processes it starts, in three windows: the first 20,000 ``add_scalar`` calls, the rest
of training, and ``stop_logging``; and each change of their priority (autogroup nice
value, own nice value) with its time after ``start_logging``. The benchmark's ratios are
wall times, which a shared machine's load spreads widely; these are the CPU seconds
behind them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from runtime_bench import COLD_START

from tracelet.validators.sandbox import Sandbox

TICKS = os.sysconf("SC_CLK_TCK")
MARKS = {
    "experiment = tracelet.start_logging": "print('START', time.time(), flush=True)\n"
    "experiment = tracelet.start_logging",
    "started = time.perf_counter()": "import threading\n"
    "print('NAMES', json.dumps({t.native_id: t.name for t in threading.enumerate()}))\n"
    "started = time.perf_counter()",
    "step = N // 10": "print('LOOPED', time.time(), flush=True)\nstep = N // 10",
    "tracelet.stop_logging()\nstop =": "print('STOPPING', time.time(), flush=True)\n"
    "tracelet.stop_logging()\nprint('STOPPED', time.time(), flush=True)\nstop =",
}


def descendants(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
                found += descendants(int(child))
    except OSError:
        pass
    return found


def sample(root: int, commands: dict[int, str], levels: dict, changes: list) -> dict:
    """CPU seconds per (pid, tid); records priority changes as they are seen."""
    now, cpu = time.time(), {}
    for pid in descendants(root):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
            if command:  # empty once it has exited
                commands[pid] = command
            group = Path(f"/proc/{pid}/autogroup").read_text().split()[-1]
            for tid in map(int, os.listdir(f"/proc/{pid}/task")):
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                cpu[(pid, tid)] = (int(fields[11]) + int(fields[12])) / TICKS
                level = (int(group), int(fields[16]))
                if levels.get((pid, tid)) != level:
                    levels[(pid, tid)] = level
                    changes.append((now, pid, tid, level))
        except (OSError, ValueError):
            pass
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="mlflow")
    parser.add_argument("--train-seconds", type=float, default=15.0)
    parser.add_argument("--cpu", default=None, help="taskset -c CPU for the case")
    args = parser.parse_args()
    code = COLD_START.format(backend=args.backend, train_seconds=args.train_seconds)
    for anchor, marked in MARKS.items():
        code = code.replace(anchor, marked, 1)
    workdir = Path(tempfile.mkdtemp(prefix="tracelet-profile-"))
    (workdir / "case.py").write_text(textwrap.dedent(code))
    process = subprocess.Popen(
        [*(["taskset", "-c", args.cpu] if args.cpu else []), sys.executable, "case.py"],
        cwd=workdir,
        env=Sandbox.create(workdir / "sandbox").environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    commands: dict[int, str] = {}
    levels: dict = {}
    changes: list = []
    samples = []
    while process.poll() is None:
        samples.append((time.time(), sample(process.pid, commands, levels, changes)))
        time.sleep(0.05)
    lines = process.stdout.read().splitlines()
    marks = {line.split()[0]: float(line.split()[1]) for line in lines if line[:1] in "LS"}
    names = next((json.loads(line[6:]) for line in lines if line.startswith("NAMES")), {})
    result = json.loads(lines[-1])
    start = marks["START"]
    print(f"{args.backend}: {json.dumps({k: round(v or 0, 3) for k, v in result.items()})}")
    print("priority changes (s after start_logging, autogroup nice, own nice):")
    for when, pid, tid, level in changes:
        if when >= start - 0.5 and pid != process.pid:
            command = commands.get(pid, "?")[:90]
            print(f"  {when - start:6.2f}  pid {pid} tid {tid}  {level}  {command}")

    def cpu_at(moment: float) -> dict:
        latest: dict = {}
        for when, cpu in samples:
            if when <= moment:
                latest.update(cpu)
        return latest

    windows = [
        ("first 20,000 calls", start, marks["LOOPED"]),
        ("training", marks["LOOPED"], marks["STOPPING"]),
        ("stop_logging", marks["STOPPING"], marks["STOPPED"]),
    ]
    for title, begin, end in windows:
        before, after = cpu_at(begin), cpu_at(end)
        print(f"{title}: {end - begin:.2f} s wall")
        used = {key: after[key] - before.get(key, 0.0) for key in after}
        for (pid, tid), seconds in sorted(used.items(), key=lambda item: -item[1]):
            if seconds >= 0.01:
                who = "training" if pid == process.pid else commands.get(pid, "?")[:90]
                thread = names.get(str(tid), "main" if tid == pid else f"tid {tid}")
                print(f"  {seconds:6.2f} s  {who}  [{thread}]")


if __name__ == "__main__":
    main()
