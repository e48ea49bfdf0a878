"""Starting a run's delivery agent, and waiting for it when the run stops.

The agent is normally a separate process, ``python -m tracelet.agent RUN_DIR`` in its own
session (so Ctrl-C in the terminal reaches only the training process), with its output
in the run's ``agent.log`` and a duplicate of the training process's stderr for the few
lines meant for the user. It starts at the lowest CPU priority, so that training wins
the CPU while the agent imports its tracker, for a few seconds at most
(:mod:`tracelet.agent.priority`).
``delivery="thread"`` runs the same agent in a thread instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tracelet.agent import priority
from tracelet.agent.delivery import DeliveryState
from tracelet.agent.stop_progress import StopProgress
from tracelet.rundir import AGENT_LOG, RunSpec

DELIVERY_MODES = ("process", "thread")
STOP_GRACE_SECONDS = 5.0  # the agent itself stops at the deadline; let it save its cursors
# A tracker that has never answered (it refuses connections, or failed every attempt to
# open its run) is given this long once the stop began, not the whole stop timeout: its
# events stay in the journal for `tracelet sync`.
NEVER_ANSWERED_SECONDS = 3.0
PROBE_EVERY_SECONDS = 1.0
# The agent is not a rank of the training job: trackers that read these (ClearML joins
# the task of TORCHELASTIC_RUN_ID) must not see them.
LAUNCHER_VARIABLES = frozenset(
    {
        "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
        "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
        "TORCHELASTIC_ERROR_FILE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
    }
)  # fmt: skip


class AgentHandle:
    """The running agent of one run: a process or a thread."""

    def __init__(self, run_dir: Path, spec: RunSpec, mode: str):
        if mode not in DELIVERY_MODES:
            raise ValueError(f"delivery must be 'process' or 'thread', got {mode!r}")
        self.run_dir = Path(run_dir)
        self.spec = spec
        self.backends = list(spec.backends)
        self.process: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        self.agent = None  # the Agent itself, in thread mode
        self._priority: priority.TrainingSide | None = None
        if mode == "process":
            self.process = _start_process(self.run_dir)
            self._priority = priority.TrainingSide(self.process.pid)
        else:
            self.agent = _thread_agent(self.run_dir, spec)
            self.thread = threading.Thread(
                target=self.agent.run, name="tracelet-agent", daemon=True
            )
            self.thread.start()

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.thread is not None and self.thread.is_alive()

    @contextlib.contextmanager
    def full_priority(self) -> Iterator[Callable[[], None]]:
        """Normal CPU priority for the agent while the training process waits for it
        (``Experiment.ids``): training is not running then, and a starved agent on a busy
        machine takes minutes to open its trackers. Call what it yields on every poll: it
        also restores the processes the agent started meanwhile (wandb-core)."""
        if self._priority is None or not self.running():
            yield lambda: None
            return
        try:
            yield self._priority.normal
        finally:
            self._priority.resume()

    def wait_for_delivery(self, deadline: float, points_logged: int = 0) -> None:
        """Return as soon as every backend has its end marker (the agent then exits on
        its own), or when the agent is gone, or shortly after the deadline. A backend
        whose error cannot heal, or that has never answered, is not waited for: when
        only such backends are left, the agent is asked to stop."""
        if self._priority is not None:
            self._priority.stop()  # the run stops: full speed for delivery
        started = time.time()
        reachable: dict[str, bool | None] = {}
        probed = 0.0
        progress = StopProgress(points_logged, deadline)
        try:
            while time.time() < deadline + STOP_GRACE_SECONDS:
                states = [DeliveryState.load(self.run_dir, name) for name in self.backends]
                if all(state.done for state in states) or not self.running():
                    break
                if time.time() - probed >= PROBE_EVERY_SECONDS:
                    reachable, probed = self._probe(states), time.time()
                    if self._priority is not None:  # again: an agent that read its old
                        self._priority.stop()  # level just before may have set it back
                if all(_not_worth_waiting(s, started, reachable.get(s.backend)) for s in states):
                    self._stop_agent()
                    break
                progress.show(states)
                time.sleep(0.02)
            else:
                if self.process is not None and self.process.poll() is None:
                    self.process.kill()
        finally:
            progress.close()
        if self.process is not None:  # reap it in the background: no zombie, no wait
            threading.Thread(target=self.process.wait, name="tracelet-reaper", daemon=True).start()

    def _probe(self, states: list[DeliveryState]) -> dict[str, bool | None]:
        """For each backend whose run is not open yet: does its tracker accept
        connections now (None: cannot tell)?"""
        from tracelet.backends import load_backend

        return {
            s.backend: load_backend(s.backend).probe(self.spec.backend_options.get(s.backend, {}))
            for s in states
            if not s.location and not s.done
        }

    def _stop_agent(self) -> None:
        """The agent saves its cursors and exits (SIGTERM is its stop request)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
        else:
            self.agent.stop()


def _not_worth_waiting(state: DeliveryState, started: float, reachable: bool | None) -> bool:
    if state.done or state.unavailable:
        return True
    if state.location:  # it has answered: wait for it until the deadline
        return False
    never_answered = reachable is False or (reachable is None and bool(state.errors))
    return never_answered and time.time() - started >= NEVER_ANSWERED_SECONDS


def _start_process(run_dir: Path) -> subprocess.Popen:
    notify_fd = os.dup(sys.stderr.fileno()) if _has_fileno(sys.stderr) else None
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env[priority.BASE_NICE_VARIABLE] = str(priority.base_nice())
    cmd = [sys.executable, "-m", "tracelet.agent", str(run_dir), "--parent-pid", str(os.getpid())]
    if notify_fd is not None:
        cmd += ["--notify-fd", str(notify_fd)]
    try:
        with open(run_dir / AGENT_LOG, "ab") as log_file:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(notify_fd,) if notify_fd is not None else (),
                start_new_session=True,
                env=env,
            )
        return process
    finally:
        if notify_fd is not None:
            os.close(notify_fd)


def _thread_agent(run_dir: Path, spec: RunSpec):
    from tracelet.agent.agent import Agent

    def notify(message: str) -> None:
        print(f"tracelet: {message}", file=sys.stderr)

    return Agent(run_dir, spec, notify, writer_alive=lambda: True)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
