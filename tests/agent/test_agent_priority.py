"""The delivery agent yields the CPU to training while it starts up, and delivers at
normal priority once its tracker runs are open (or after a bounded cold window, or when
the training process waits for it or stops)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tracelet
from tracelet.agent import priority
from tracelet.agent.delivery import DeliveryState
from tracelet.readers import read_store


def autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def levels(pid: int) -> tuple[int, int]:
    """The autogroup's nice value, and the process's own where tracelet sets it (where it
    can be set back: root, here); elsewhere the autogroup's twice."""
    own = os.getpriority(os.PRIO_PROCESS, pid)
    return autogroup_nice(pid), own if priority._can_renice() else autogroup_nice(pid)


#: levels() of a process at normal priority: a process's own nice value goes back to the
#: one this test runs at (`nice -n 10 make test` runs the agent at 10), its autogroup to 0
NORMAL_LEVELS = (priority.NORMAL, priority.base_nice() if priority._can_renice() else 0)
LOW_LEVELS = (priority.LOW, priority.LOW)


def wait_for(condition, seconds: float = 300.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


AGENT_SIDE = """
import json, os, subprocess
from tracelet.agent import priority
def levels(*pids):
    return [int(open(f"/proc/{p}/autogroup").read().split()[-1]) for p in pids]
priority.set_level(os.getpid(), priority.LOW)  # as the training process does
in_session = subprocess.Popen(["sleep", "60"])  # shares this process's group (git, say)
own_session = subprocess.Popen(["sleep", "60"], start_new_session=True)  # as wandb-core
seen = []
agent = priority.AgentPriority()
agent.watch(started_up=False)
seen.append(levels(os.getpid(), own_session.pid))
agent.watch(started_up=True)
seen.append(levels(os.getpid(), own_session.pid))
priority.set_level(os.getpid(), priority.LOW)  # the training process waited for it, then
agent.watch(started_up=False)  # lowered it again (a new tracker run is being opened)
seen.append(levels(os.getpid(), own_session.pid))
agent.restore()  # the end marker
seen.append(levels(os.getpid(), own_session.pid))
# only the child in a session of its own was given a level: writing the autogroup of one
# in the agent's session sets the agent's own (a stale level would take it down again)
seen.append(sorted(agent._children) == [own_session.pid])
for child in (in_session, own_session):
    child.kill()
    child.wait()
print(json.dumps(seen))
"""


def test_the_agent_leaves_the_lowest_priority_once_started_and_its_services_follow_it():
    # in a session of its own, as the agent: this test's own group keeps its priority
    result = subprocess.run(
        [sys.executable, "-c", AGENT_SIDE], capture_output=True, text=True, start_new_session=True
    )
    assert result.returncode == 0, result.stderr
    low, started, lowered_again, stopped, only_own_session = json.loads(result.stdout)
    assert low == [priority.LOW, priority.LOW]
    assert started == [priority.NORMAL, priority.NORMAL]
    assert lowered_again == [priority.LOW, priority.LOW]
    assert stopped == [priority.NORMAL, priority.NORMAL]
    assert only_own_session


def test_the_training_process_ends_the_cold_window_of_an_agent_that_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "0.5")
    starved = subprocess.Popen(["sleep", "60"], start_new_session=True)  # never runs a check
    try:
        side = priority.TrainingSide(starved.pid)
        assert levels(starved.pid) == LOW_LEVELS
        wait_for(lambda: levels(starved.pid) == NORMAL_LEVELS)
        side._timer.join(timeout=60)
        side.resume()  # after an Experiment.ids: the window is over, it stays normal
        assert levels(starved.pid) == NORMAL_LEVELS
    finally:
        starved.kill()
        starved.wait()


def test_normal_priority_while_the_training_process_waits_and_from_the_stop_on(monkeypatch):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "300")
    starved = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        side = priority.TrainingSide(starved.pid)
        assert levels(starved.pid) == LOW_LEVELS
        side.normal()  # Experiment.ids waits for the agent
        assert levels(starved.pid) == NORMAL_LEVELS
        side.resume()  # training goes on inside the cold window
        assert levels(starved.pid) == LOW_LEVELS
        side.stop()  # stop_logging
        assert levels(starved.pid) == NORMAL_LEVELS
        side.resume()  # an Experiment.ids during the stop leaves it normal
        assert levels(starved.pid) == NORMAL_LEVELS
        side._timer.join(timeout=60)  # the window ends with the run
        assert not side._timer.is_alive()
    finally:
        starved.kill()
        starved.wait()


def test_a_cold_window_of_zero_leaves_the_agent_at_normal_priority(monkeypatch):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "0")
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        side = priority.TrainingSide(process.pid)
        assert side.level == priority.NORMAL and side._timer is None
        side.resume()
        assert levels(process.pid) == NORMAL_LEVELS
    finally:
        process.kill()
        process.wait()


NICED_TRAINING = """
import json, os, subprocess
from tracelet.agent import priority
os.nice(5)  # as `nice -n 5 python train.py`
agent = subprocess.Popen(["sleep", "60"], start_new_session=True)
side = priority.TrainingSide(agent.pid)
seen = [os.getpriority(os.PRIO_PROCESS, agent.pid)]
side.stop()
autogroup = int(open(f"/proc/{agent.pid}/autogroup").read().split()[-1])
seen += [os.getpriority(os.PRIO_PROCESS, agent.pid), autogroup]
agent.kill()
print(json.dumps(seen))
"""


def test_a_niced_training_job_gets_its_agent_back_at_its_own_nice_value_not_above_it():
    env = {**os.environ, "TRACELET_AGENT_COLD_SECONDS": "300"}
    result = subprocess.run(
        [sys.executable, "-c", NICED_TRAINING], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    niced = min(priority.base_nice() + 5, priority.LOW)
    lowered = priority.LOW if priority._can_renice() else niced
    assert json.loads(result.stdout) == [lowered, niced, priority.NORMAL]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
@pytest.mark.usefixtures("mlflow_db")
def test_the_agent_starts_low_and_delivers_at_normal_priority_while_training_runs(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "2")  # bounded on a loaded machine
    experiment = tracelet.start_logging(exp_name="prio", project="p", backend="mlflow")
    agent = experiment._agent.process.pid
    assert autogroup_nice(agent) == priority.LOW  # from its first instruction
    experiment.log_metric("loss", 0.5, 1)
    experiment.flush()

    assert experiment.ids["mlflow"]  # waits for the run (the agent at normal priority)
    wait_for(lambda: autogroup_nice(agent) == priority.NORMAL)  # the run is still going
    assert DeliveryState.load(experiment.run_dir, "mlflow").location
    assert tracelet.get_active_experiment() is experiment

    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    metrics = read_store("sqlite:///mlflow.db").metrics
    assert metrics[["key", "step", "value"]].values.tolist() == [["loss", 1, 0.5]]


@pytest.mark.slow
def test_wandb_core_is_low_with_the_agent_and_normal_once_the_run_is_open(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "2")
    experiment = tracelet.start_logging(exp_name="prio", project="p", backend="wandb")
    agent = experiment._agent.process.pid
    assert autogroup_nice(agent) == priority.LOW
    experiment.log_metric("loss", 0.5, 1)

    core = wait_for(lambda: priority.children_of(agent))  # wandb-core, in its own session
    wait_for(lambda: DeliveryState.load(experiment.run_dir, "wandb").location)
    wait_for(lambda: autogroup_nice(agent) == priority.NORMAL)
    wait_for(lambda: all(autogroup_nice(pid) == priority.NORMAL for pid in core))

    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    (run,) = (isolated / "env" / "wandb").glob("**/offline-run-*")
    assert read_store(str(run)).metrics[["key", "step", "value"]].values.tolist() == [
        ["loss", 1, 0.5]
    ]
