"""The agent's CPU priority: the lowest while it starts up, normal once it delivers.

Right after ``start_logging`` the agent imports its tracker and opens the run (one to
several seconds of CPU for MLflow: ``import mlflow`` and, for a new sqlite store, its
schema migrations; W&B adds its wandb-core service) while the training loop runs its
first steps. On a machine without a free core, that CPU comes from training, so the
agent starts at :data:`LOW` (from its first instruction: the training process sets it)
and gets :data:`NORMAL` back at the first of:

* it has opened every tracker run (its start-up is over; what is left is delivery,
  which a low priority would only push into ``stop_logging``);
* :func:`cold_seconds` after it started (a start-up that takes longer than that on a
  saturated machine is better done while training runs than all at the stop). The
  training process keeps this one with a timer: an agent this low may not get the CPU
  to notice it itself;
* ``stop_logging`` begins, or the training process waits for the agent
  (``Experiment.ids``): training is not running then. The training process sets it, as
  a starved agent may see the end marker late.

The agent runs in its own session, hence (with Linux autogroups, the default for
processes outside a CPU cgroup) in its own scheduling group. The group's nice value is
what weighs it against the training process, and unlike a process's nice value or
``SCHED_IDLE``, an unprivileged process may set it back to 0 (sched(7): raising priority
needs privilege only below 0). Processes the agent starts share its group, unless they
start a session of their own (wandb-core, MLflow's store creation): those the agent
keeps at its own level. Where autogroups do not apply (a CPU cgroup, as in most
containers) the processes are niced instead, but only when they can be un-niced (root,
or an ``RLIMIT_NICE`` that allows it). All of it is best effort: a system that refuses
leaves the agent at normal priority.
"""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path

LOW = 19
NORMAL = 0
COLD_SECONDS = 10.0
#: The nice value the training process had when it started the agent. A process's own
#: nice value is set back to no lower than it: a job started with ``nice -n 10`` keeps an
#: agent at 10, not one raised above it (autogroups start at 0, whatever the job's value).
BASE_NICE_VARIABLE = "TRACELET_AGENT_BASE_NICE"


def cold_seconds() -> float:
    """The cold window: :data:`COLD_SECONDS`, or ``$TRACELET_AGENT_COLD_SECONDS`` (0: the
    agent is never lowered)."""
    return float(os.environ.get("TRACELET_AGENT_COLD_SECONDS", COLD_SECONDS))


class TrainingSide:
    """Run by the training process for the agent it started (a session leader): the
    lowest priority from now on, normal after the cold window or at the stop."""

    def __init__(self, agent_pid: int) -> None:
        self.agent_pid = agent_pid
        window = cold_seconds()
        #: the agent's level while training runs (NORMAL: it is never lowered)
        self.level = LOW if window > 0 else NORMAL
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        if window > 0:
            set_level(agent_pid, LOW)  # so that its imports already run at it
            self._timer = threading.Timer(window, self.stop)
            self._timer.daemon = True
            self._timer.start()

    def normal(self) -> None:
        """Normal priority for the agent and the processes it started, for now (the
        training process waits for it); :meth:`resume` goes back."""
        set_tree_level(self.agent_pid, NORMAL)

    def resume(self) -> None:
        """Back to the level of training time after a :meth:`normal`."""
        with self._lock:
            if self.level != NORMAL:
                set_tree_level(self.agent_pid, self.level)

    def stop(self) -> None:
        """Normal priority from now on (the cold window is over, or the run stops)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self.level = NORMAL
            set_tree_level(self.agent_pid, NORMAL)


class AgentPriority:
    """Run by the agent: leaves :data:`LOW` once its start-up is over, and keeps the
    processes it started in sessions of their own at its own level."""

    def __init__(self) -> None:
        self._children: dict[int, int] = {}  # pid: the level last given to it
        self._session = _session_of(0)
        self._level = NORMAL

    def watch(self, started_up: bool) -> None:
        """Called every few tens of milliseconds (cheap: reads /proc)."""
        level = current_level()
        if started_up and level == LOW:
            set_level(os.getpid(), NORMAL)
            level = NORMAL
        if level == self._level == NORMAL:
            return  # a session started meanwhile is at normal priority already
        self._level = level
        for pid in children_of(os.getpid()):
            if self._children.get(pid) != level and _session_of(pid) not in (None, self._session):
                # a child in our own session is in our own group: writing its autogroup
                # would set ours
                _set_autogroup(pid, level)
                self._children[pid] = level

    def restore(self) -> None:
        """Normal priority, for itself and the processes it started (the end marker is
        here: the run stops)."""
        set_tree_level(os.getpid(), NORMAL)


def share_level(pid: int) -> None:
    """Give a process just started in a session of its own (a scheduling group of its
    own) this process's priority now, not at the agent's next :meth:`AgentPriority.watch`:
    it would take a core from training at normal priority until then."""
    _set_autogroup(pid, current_level())


def current_level() -> int:
    """This process's priority: its autogroup's nice value, else its own."""
    try:
        return int(Path("/proc/self/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else NORMAL


def base_nice() -> int:
    """The training process's own nice value (:data:`BASE_NICE_VARIABLE` in the agent)."""
    with suppress(KeyError, ValueError):
        return int(os.environ[BASE_NICE_VARIABLE])
    return os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else NORMAL


def set_level(pid: int, nice: int) -> None:
    """The nice value of ``pid``'s autogroup, and of its process group where nice values
    can be set back (:func:`_can_renice`), there no lower than :func:`base_nice`."""
    _set_autogroup(pid, nice)
    if _can_renice():
        with suppress(OSError):
            _set_process_group(os.getpgid(pid), max(nice, base_nice()))


def set_tree_level(agent_pid: int, nice: int) -> None:
    for pid in (agent_pid, *children_of(agent_pid)):
        set_level(pid, nice)


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError):
                found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (OSError, AttributeError):  # gone, or not POSIX
        return None


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
