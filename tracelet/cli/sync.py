"""``tracelet sync RUN_DIR...``: deliver what a crashed or offline run left in its journal.

It runs the same delivery engine as the live agent, in this process, resuming each
backend from its saved cursor (so nothing is delivered twice) and into the same tracker
run (its id is kept in ``delivery/<backend>.json``). A run whose end marker is missing
(the training process died) is closed with status KILLED once its journal is delivered.

A sync has a deadline of its own: by default it runs until every backend is delivered,
showing its progress (Ctrl-C stops it, cursors saved; run it again to go on), and
``--timeout`` bounds it. The deadline of the original run, already past, plays no part.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from pathlib import Path

from tracelet.rundir import JOURNAL_FILE, read_spec, tracelet_home


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dirs",
        nargs="*",
        type=Path,
        metavar="RUN_DIR",
        help="run folders to deliver (default: every unfinished run under $TRACELET_DIR)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="give up after this many seconds (default: run until delivered)",
    )
    parser.add_argument(
        "--force", action="store_true", help="sync even if the run's process seems alive"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tracelet.agent.agent import Agent
    from tracelet.agent.delivery import pending_events

    console = Console(stderr=True)
    run_dirs = args.run_dirs or _unfinished_runs()
    if not run_dirs:
        console.print("Nothing to sync: no unfinished run under", tracelet_home())
        return 0
    exit_code = 0
    for run_dir in run_dirs:
        try:
            spec = read_spec(run_dir)
        except FileNotFoundError as exc:
            console.print(f"[red]error:[/] {exc}")
            exit_code = 2
            continue
        if _writer_alive(spec.pid) and not args.force:
            console.print(
                f"skip {run_dir}: its training process (pid {spec.pid}) is still running "
                "(its own agent delivers it; --force to sync anyway)"
            )
            continue
        deadline = time.time() + args.timeout if args.timeout else None
        console.print(f"sync {run_dir}")
        progress = _Progress(console, Path(run_dir))
        agent = Agent(
            run_dir,
            spec,
            progress.notify,
            writer_alive=lambda: False,
            deadline=deadline,
            follow_run_deadline=False,
        )
        agent.on_tick = functools.partial(progress.show, agent.workers)
        interrupted = False
        try:
            states = agent.run()
        except KeyboardInterrupt:
            states, interrupted = [worker.state for worker in agent.workers], True
        finally:
            progress.close()
        for state in states:
            pending = pending_events(run_dir, state)
            points = state.delivered.get("metrics", 0)
            verdict = "complete" if state.done and not pending else f"{pending} events pending"
            console.print(f"  {state.backend}: {points} points in total, {verdict}")
            if pending:
                exit_code = max(exit_code, 1)
        if interrupted:
            console.print(f"interrupted; run `tracelet sync {run_dir}` again to go on")
            return 130
    return exit_code


class _Progress:
    """One status line while a sync runs: how far each backend has read the journal.

    On a terminal it is a live line; otherwise a plain line every few seconds."""

    PLAIN_EVERY_SECONDS = 5.0

    def __init__(self, console, run_dir: Path):
        from rich.status import Status

        self.console = console
        self.journal = run_dir / JOURNAL_FILE
        self.status: Status | None = None
        if console.is_terminal:
            self.status = Status("", console=console)
            self.status.start()
        self._last_plain = time.monotonic()

    def notify(self, message: str) -> None:
        self.console.print(f"  {message}")

    def show(self, workers) -> None:
        size = self.journal.stat().st_size if self.journal.exists() else 0
        parts = []
        for worker in workers:
            share = 100 if worker.state.done or not size else 100 * worker.state.offset // size
            points = worker.state.delivered.get("metrics", 0)
            parts.append(f"{worker.name}: {share}% of the journal, {points} points")
        line = "  " + "; ".join(parts)
        if self.status is not None:
            self.status.update(line)
        elif time.monotonic() - self._last_plain >= self.PLAIN_EVERY_SECONDS:
            self._last_plain = time.monotonic()
            self.console.print(line)

    def close(self) -> None:
        if self.status is not None:
            self.status.stop()


def _unfinished_runs() -> list[Path]:
    from tracelet.agent.delivery import DeliveryState

    root = tracelet_home() / "runs"
    found = []
    for run_dir in sorted(root.glob("*/")) if root.exists() else []:
        try:
            spec = read_spec(run_dir)
        except FileNotFoundError:
            continue
        if not all(DeliveryState.load(run_dir, name).done for name in spec.backends):
            found.append(run_dir)
    return found


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
