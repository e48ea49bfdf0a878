"""The agent's CPU priority: low while it starts up, normal once it delivers.

Right after ``start_logging`` the agent imports its tracker and opens the run (over a
second of CPU for MLflow; W&B adds its wandb-core service) while the training loop runs
its first steps. On a machine without a free core that start-up took CPU from the loop
(measured: the first 20,000 ``add_scalar`` calls 1.2 to 1.8 times slower), so the agent
starts at the lowest priority. It gets normal priority back at the first of:

* it has opened every tracker run (its start-up is over; what is left is delivery,
  which a low priority would only push into ``stop_logging``);
* :func:`cold_seconds` after it started (a start-up that takes longer than that on a
  saturated machine is better done while training runs than all at the stop). The
  training process enforces this one with a timer: an agent starved by other
  processes at normal priority may not get the CPU to notice it itself;
* ``stop_logging`` begins (the training process restores it, as the agent may be too
  starved to notice the end marker quickly).

The agent runs in its own session, hence (with Linux autogroups, the default for
processes outside a CPU cgroup) in its own scheduling group. The group's nice value is
what weighs it against the training process, and unlike a process's nice value or
``SCHED_IDLE``, an unprivileged process may set it back to 0 (sched(7): raising priority
needs privilege only below 0). Processes the agent starts in a session of their own
(wandb-core) get the same treatment. Where autogroups do not apply (a CPU cgroup, as in
most containers) the processes are niced instead, but only when they can be un-niced
(root, or an ``RLIMIT_NICE`` that allows it). All of it is best effort: a system that
refuses leaves the agent at normal priority.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import suppress
from pathlib import Path

LOW = 19
NORMAL = 0
COLD_SECONDS = 10.0


def cold_seconds() -> float:
    """The cold window: :data:`COLD_SECONDS`, or ``$TRACELET_AGENT_COLD_SECONDS`` (0: the
    agent is never lowered)."""
    return float(os.environ.get("TRACELET_AGENT_COLD_SECONDS", COLD_SECONDS))


def lower(agent_pid: int) -> threading.Timer | None:
    """Give a just-started agent (a session leader) the lowest priority for at most
    :func:`cold_seconds`; called by the training process, so that the agent's own
    imports already run at it. Returns the timer that restores it (None when the
    window is 0: the agent is not lowered)."""
    window = cold_seconds()
    if window <= 0:
        return None
    _set_autogroup(agent_pid, LOW)
    if _can_renice():
        _set_process_group(agent_pid, LOW)
    timer = threading.Timer(window, restore, (agent_pid,))
    timer.daemon = True
    timer.start()
    return timer


def restore(agent_pid: int) -> None:
    """Normal priority for the agent and the processes it started. Called by the agent
    once its start-up is over, and by the training process when it stops the run (a
    starved agent would see the end marker late)."""
    for pid in (agent_pid, *children_of(agent_pid)):
        _set_autogroup(pid, NORMAL)
        if _can_renice():
            with suppress(OSError):
                _set_process_group(os.getpgid(pid), NORMAL)


def lower_again(agent_pid: int) -> None:
    """Back to the lowest priority after a :func:`restore` while the run goes on (the
    training process waited for the agent, see ``Experiment.ids``)."""
    for pid in (agent_pid, *children_of(agent_pid)):
        lower(pid)


class AgentPriority:
    """Run by the agent: keeps itself and the processes it starts low while it starts
    up (see the module docstring), normal from then on."""

    def __init__(self, window: float | None = None) -> None:
        self.children: set[int] = set()
        self.restored = False
        self._cold_until = time.monotonic() + (cold_seconds() if window is None else window)

    def watch(self, started_up: bool) -> None:
        """Called every few tens of milliseconds: lower the processes started since the
        last call (cheap: reads /proc), or restore all once the start-up is over."""
        if self.restored:
            return
        if started_up or time.monotonic() >= self._cold_until:
            self.restore()
            return
        for pid in children_of(os.getpid()) - self.children:
            self.children.add(pid)
            _set_autogroup(pid, LOW)  # the nice value, when used, they inherit

    def restore(self) -> None:
        self.restored = True
        restore(os.getpid())


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _can_renice() -> bool:
    """Whether a nice value of 0 can be set again after ``LOW`` (see setpriority(2))."""
    if not hasattr(os, "setpriority"):
        return False
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= 20 - NORMAL


def _set_autogroup(pid: int, nice: int) -> None:
    with suppress(OSError):  # no autogroups (not Linux, or a kernel without them)
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def _set_process_group(group: int, nice: int) -> None:
    with suppress(OSError):  # every thread of every process in the group
        os.setpriority(os.PRIO_PGRP, group, nice)
