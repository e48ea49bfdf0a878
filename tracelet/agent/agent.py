"""The delivery agent: the process that talks to the trackers.

``start_logging`` spawns ``python -m tracelet.agent RUN_DIR`` (as W&B spawns
wandb-core). Tracker clients are Python too and share a GIL with whatever calls them,
so calling them from the training process slows training down (measured: a delivery
*thread* calling MlflowClient.log_batch doubled the cost of a tight ``add_scalar``
loop). The agent tails the run's journal and delivers it, one worker thread and one
cursor per backend (:mod:`tracelet.agent.delivery`).

The live agent stops when every backend has received the run's end marker, or at the
deadline the end marker carries. ``tracelet sync`` runs the same agent with a deadline of
its own (``follow_run_deadline=False``): the original run's deadline has long passed.
If the training process dies without an end marker (SIGKILL, a crash in C code), the
agent delivers what the journal holds and closes the tracker runs as KILLED, within a
grace period. It ignores SIGINT: Ctrl-C in the terminal belongs to the training process,
which then stops logging itself. SIGTERM asks it to stop: ``stop_logging`` sends it when
the only trackers left are ones that cannot be reached, and the agent then saves its
cursors and exits.

While it starts up (imports its trackers, opens their runs) the agent has the lowest CPU
priority, for at most a few seconds, and normal priority from then on
(:mod:`tracelet.agent.priority`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tracelet import journal
from tracelet.agent.delivery import BackendWorker, DeliveryState
from tracelet.agent.priority import AgentPriority
from tracelet.agent.system_metrics import SamplingThread
from tracelet.events import SystemSample
from tracelet.rundir import JOURNAL_FILE, RunSpec, read_spec

WATCH_SECONDS = 0.05
ORPHAN_GRACE_SECONDS = float(os.environ.get("TRACELET_ORPHAN_GRACE", "120"))


class Agent:
    """Runs one :class:`BackendWorker` per backend until the run is delivered."""

    def __init__(
        self,
        run_dir: Path,
        spec: RunSpec,
        notify: Callable[[str], None],
        writer_alive: Callable[[], bool],
        deadline: float | None = None,
        priority: AgentPriority | None = None,
        follow_run_deadline: bool = True,
        on_tick: Callable[[], None] | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.priority = priority
        self.spec = spec
        self.notify = notify
        self.writer_alive = writer_alive
        self.deadline = deadline
        self.follow_run_deadline = follow_run_deadline
        self.on_tick = on_tick
        self.workers = [
            BackendWorker(self.run_dir, spec, name, notify, writer_alive) for name in spec.backends
        ]
        self._watch_offset = 0
        self._stopping = threading.Event()

    def run(self) -> list[DeliveryState]:
        sampling = self._start_sampling()
        try:
            return self._run_workers()
        finally:
            if sampling is not None:
                sampling.stop()

    def _start_sampling(self) -> SamplingThread | None:
        """System metrics for the backends that record them (see ``system_metrics``)."""
        sinks = [w for w in self.workers if not w.state.done and w.wants_system_samples()]
        if not sinks:
            return None

        def deliver(sample: SystemSample) -> None:
            for worker in sinks:
                worker.system_samples.append(sample)

        try:
            sampling = SamplingThread(self.spec.pid, self.spec.system_interval, deliver)
        except ImportError:
            self.notify("system metrics need psutil: pip install psutil")
            return None
        sampling.start()
        return sampling

    def _run_workers(self) -> list[DeliveryState]:
        self._watch()  # a deadline already known must hold before a worker opens a tracker
        threads = []
        for worker in self.workers:
            if worker.state.done:
                continue
            worker.deadline = self.deadline
            thread = threading.Thread(
                target=worker.run, name=f"tracelet-deliver-{worker.name}", daemon=True
            )
            thread.start()
            threads.append(thread)
        try:
            while any(t.is_alive() for t in threads) and not self._stopping.is_set():
                self._watch()
                if self.on_tick is not None:
                    self.on_tick()
                for thread in threads:
                    thread.join(WATCH_SECONDS / max(1, len(threads)))
        finally:  # also on Ctrl-C in `tracelet sync`: the workers save their cursors
            for worker in self.workers:
                worker.stop()
            for thread in threads:
                thread.join(5.0)
        return [worker.state for worker in self.workers]

    def stop(self) -> None:
        self._stopping.set()

    def _watch(self) -> None:
        """Set the workers' deadline from the end marker, or when the writer died."""
        if self.priority is not None:
            self.priority.watch(started_up=all(w.started_up for w in self.workers))
        if self.deadline is None and self.follow_run_deadline:
            path = self.run_dir / JOURNAL_FILE
            if path.exists():
                self._watch_offset, end = journal.find_end(path, self._watch_offset)
                if end is not None:
                    self._set_deadline(end[2] if len(end) > 2 else None)
            if self.deadline is None and not self.writer_alive():
                self._set_deadline(time.time() + ORPHAN_GRACE_SECONDS)

    def _set_deadline(self, deadline: float | None) -> None:
        if self.priority is not None:
            self.priority.restore()
        self.deadline = deadline
        for worker in self.workers:
            worker.deadline = deadline


def _notifier(fd: int | None) -> Callable[[str], None]:
    stream = os.fdopen(fd, "w", buffering=1, closefd=True) if fd is not None else sys.stderr
    lock = threading.Lock()

    def notify(message: str) -> None:
        logging.getLogger("tracelet.agent").warning(message)
        with lock:
            try:
                stream.write(f"tracelet: {message}\n")
                stream.flush()
            except (OSError, ValueError):
                pass

    return notify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracelet.agent")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--notify-fd", type=int, default=None)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parent_pid = args.parent_pid or os.getppid()
    spec = read_spec(args.run_dir)
    agent = Agent(
        args.run_dir,
        spec,
        _notifier(args.notify_fd),
        writer_alive=lambda: os.getppid() == parent_pid,
        priority=AgentPriority(),
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: agent.stop())  # stop_logging gave up
    states = agent.run()
    logging.getLogger("tracelet.agent").info(
        "agent done: %s", {s.backend: (s.done, s.status, s.delivered) for s in states}
    )
    return 0
