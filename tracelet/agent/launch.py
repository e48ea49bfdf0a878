"""Starting a run's delivery agent, and waiting for it when the run stops.

The agent is normally a separate process, ``python -m tracelet.agent RUN_DIR`` in its own
session (so Ctrl-C in the terminal reaches only the training process), with its output
in the run's ``agent.log`` and a duplicate of the training process's stderr for the few
lines meant for the user. It starts at the lowest CPU priority, so that training wins
the CPU while the agent imports its tracker (:mod:`tracelet.agent.priority`).
``delivery="thread"`` runs the same agent in a thread instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tracelet.agent import priority
from tracelet.agent.delivery import DeliveryState
from tracelet.rundir import AGENT_LOG, RunSpec

DELIVERY_MODES = ("process", "thread")
STOP_GRACE_SECONDS = 5.0  # the agent itself stops at the deadline; let it save its cursors
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
        self.backends = list(spec.backends)
        self.process: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        if mode == "process":
            self.process = _start_process(self.run_dir)
        else:
            self.thread = _start_thread(self.run_dir, spec)

    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.thread is not None and self.thread.is_alive()

    def wait_for_delivery(self, deadline: float) -> None:
        """Return as soon as every backend has its end marker (the agent then exits on
        its own), or when the agent is gone, or shortly after the deadline."""
        if self.process is not None:
            priority.restore(self.process.pid)  # the run stops: full speed for delivery
        while time.time() < deadline + STOP_GRACE_SECONDS:
            if all(DeliveryState.load(self.run_dir, name).done for name in self.backends):
                break
            if not self.running():
                break
            time.sleep(0.02)
        else:
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
        if self.process is not None:  # reap it in the background: no zombie, no wait
            threading.Thread(target=self.process.wait, name="tracelet-reaper", daemon=True).start()


def _start_process(run_dir: Path) -> subprocess.Popen:
    notify_fd = os.dup(sys.stderr.fileno()) if _has_fileno(sys.stderr) else None
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
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
        priority.lower(process.pid)  # it restores itself when the run stops
        return process
    finally:
        if notify_fd is not None:
            os.close(notify_fd)


def _start_thread(run_dir: Path, spec: RunSpec) -> threading.Thread:
    from tracelet.agent.agent import Agent

    def notify(message: str) -> None:
        print(f"tracelet: {message}", file=sys.stderr)

    agent = Agent(run_dir, spec, notify, writer_alive=lambda: True)
    thread = threading.Thread(target=agent.run, name="tracelet-agent", daemon=True)
    thread.start()
    return thread


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
