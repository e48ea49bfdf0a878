"""The delivery agent yields the CPU to training while the run goes on, not at stop."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import tracelet
from tracelet.agent import priority
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


@pytest.mark.slow
def test_agent_and_wandb_core_are_low_while_training_and_normal_at_stop(isolated: Path):
    experiment = tracelet.start_logging(exp_name="prio", project="p", backend="wandb")
    agent = experiment._agent.process.pid
    assert autogroup_nice(agent) == priority.LOW  # from its first instruction
    experiment.log_metric("loss", 0.5, 1)

    core = wait_for(lambda: priority.children_of(agent))  # wandb-core, in its own session
    wait_for(lambda: all(autogroup_nice(pid) == priority.LOW for pid in core))
    priority.restore(agent)  # what stop_logging does first

    assert autogroup_nice(agent) == priority.NORMAL
    assert all(autogroup_nice(pid) == priority.NORMAL for pid in core)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    (run,) = (isolated / "env" / "wandb").glob("**/offline-run-*")
    assert read_store(str(run)).metrics[["key", "step", "value"]].values.tolist() == [
        ["loss", 1, 0.5]
    ]
