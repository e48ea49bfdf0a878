"""The delivery agent yields the CPU to training while it starts up, and delivers at
normal priority once its tracker runs are open (or after a bounded cold window)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import tracelet
from tracelet.agent import priority
from tracelet.agent.delivery import DeliveryState
from tracelet.readers import read_store


def autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def wait_for(condition, seconds: float = 300.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_the_cold_window_ends_the_low_priority_even_before_the_start_up_does(monkeypatch):
    restored = []
    monkeypatch.setattr(priority, "restore", restored.append)  # not this test's own process
    cold = priority.AgentPriority(window=300.0)
    cold.watch(started_up=False)
    assert not cold.restored and restored == []
    cold.watch(started_up=True)
    assert cold.restored and restored == [os.getpid()]

    window_over = priority.AgentPriority(window=0.0)
    window_over.watch(started_up=False)
    assert window_over.restored and restored == [os.getpid()] * 2


def test_the_training_process_ends_the_cold_window_of_an_agent_that_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "0.5")
    starved = subprocess.Popen(["sleep", "60"], start_new_session=True)  # never runs a check
    try:
        timer = priority.lower(starved.pid)
        assert autogroup_nice(starved.pid) == priority.LOW
        wait_for(lambda: autogroup_nice(starved.pid) == priority.NORMAL)
        assert not timer.is_alive()
    finally:
        starved.kill()
        starved.wait()


def test_a_cold_window_of_zero_leaves_the_agent_at_normal_priority(monkeypatch):
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "0")
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert priority.lower(process.pid) is None
        assert autogroup_nice(process.pid) == priority.NORMAL
    finally:
        process.kill()
        process.wait()


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

    wait_for(lambda: autogroup_nice(agent) == priority.NORMAL)  # the run is still going
    wait_for(lambda: DeliveryState.load(experiment.run_dir, "mlflow").location)
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
    assert all(autogroup_nice(pid) == priority.NORMAL for pid in core)

    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    (run,) = (isolated / "env" / "wandb").glob("**/offline-run-*")
    assert read_store(str(run)).metrics[["key", "step", "value"]].values.tolist() == [
        ["loss", 1, 0.5]
    ]
