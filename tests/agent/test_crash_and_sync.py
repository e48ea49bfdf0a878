"""Crashes, kills and `tracelet sync`: what was journaled is delivered exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_python
from tests.waiting import delivery_state, wait_until
from tracelet.backends.mlflow import read_run
from tracelet.cli import main as cli_main
from tracelet.journal import count_events, encode_record, iter_events

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)

TRAIN_THEN_DIE = """
import os, signal, time, tracelet
from torch.utils.tensorboard import SummaryWriter
experiment = tracelet.start_logging(exp_name="crash", project="p", backend="mlflow")
print(experiment.run_dir, flush=True)
if {kill_agent}:
    experiment._agent.process.kill()
    experiment._agent.process.wait()
writer = SummaryWriter("runs")
for step in range(5000):
    writer.add_scalar("loss", step * 0.25, step)
experiment.log_params({{"lr": 0.1}})
experiment.flush()
os.kill(os.getpid(), signal.SIGKILL)
"""


def _mlflow_status(isolated: Path) -> str:
    from mlflow import MlflowClient

    (run,) = MlflowClient(f"sqlite:///{isolated}/mlflow.db").search_runs(["1"])
    return run.info.status


def _wait_for_agent(run_dir: Path, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    state_file = run_dir / "delivery" / "mlflow.json"
    while time.time() < deadline:
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if state["done"]:
                return state
        time.sleep(0.2)
    raise AssertionError(f"agent did not finish: {state_file.read_text()}")


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_sigkill_of_training_process_loses_nothing_flushed(isolated: Path):
    result = run_python(TRAIN_THEN_DIE.format(kill_agent=False), isolated)
    assert result.returncode == -signal.SIGKILL
    run_dir = Path(result.stdout.split()[0])
    state = _wait_for_agent(run_dir)
    assert state["status"] == "KILLED"
    metrics = read_run("sqlite:///mlflow.db").metrics
    assert metrics["step"].tolist() == list(range(5000))
    assert _mlflow_status(isolated) == "KILLED"


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_sync_delivers_a_run_whose_agent_died_and_never_twice(isolated: Path, capsys):
    result = run_python(TRAIN_THEN_DIE.format(kill_agent=True), isolated)
    assert result.returncode == -signal.SIGKILL
    run_dir = Path(result.stdout.split()[0])
    assert count_events(run_dir / "journal.tlj") == 5001  # 5000 points + params

    assert cli_main(["sync", str(run_dir)]) == 0
    tables = read_run("sqlite:///mlflow.db")
    assert tables.metrics["step"].tolist() == list(range(5000))
    assert tables.params.to_dict("records") == [{"key": "lr", "value": "0.1"}]
    assert _mlflow_status(isolated) == "KILLED"

    capsys.readouterr()
    assert cli_main(["sync", str(run_dir)]) == 0  # a second sync delivers nothing again
    assert len(read_run("sqlite:///mlflow.db").metrics) == 5000
    assert "mlflow: 5000 points in total, complete" in capsys.readouterr().err


@pytest.mark.slow  # fast: sync never twice above
def test_sync_with_no_argument_finds_unfinished_runs(isolated: Path):
    result = run_python(TRAIN_THEN_DIE.format(kill_agent=True), isolated)
    assert result.returncode == -signal.SIGKILL
    assert cli_main(["sync"]) == 0
    assert len(read_run("sqlite:///mlflow.db").metrics) == 5000


@pytest.mark.slow
def test_torn_last_write_is_ignored_and_corrupt_record_skipped(isolated: Path):
    result = run_python(TRAIN_THEN_DIE.format(kill_agent=True), isolated)
    run_dir = Path(result.stdout.split()[0])
    journal = run_dir / "journal.tlj"
    with open(journal, "ab") as handle:
        good = encode_record([["m", "late", 1.0, 1, 0.0]])
        bad = bytearray(good)
        bad[12] ^= 1  # flip a bit in the JSON: the checksum no longer matches
        handle.write(bytes(bad))
        handle.write(encode_record([["m", "after", 2.0, 2, 0.0]]))
        handle.write(good[:-5])  # a torn last write: no newline
    keys = {event[1] for event in iter_events(journal) if event[0] == "m"}
    assert keys == {"loss", "after"}
    assert cli_main(["sync", str(run_dir)]) == 0
    metrics = read_run("sqlite:///mlflow.db").metrics
    assert sorted(set(metrics["key"])) == ["after", "loss"]
    assert len(metrics) == 5001
    state = json.loads((run_dir / "delivery" / "mlflow.json").read_text())
    assert state["refused"] == {"journal records": 1}  # reported, never silently skipped


LOG_THEN_WAIT = """
import signal, time, tracelet
# Ctrl-C as in a terminal: a suite started in the background of a script inherits SIGINT
# ignored, and Python then raises no KeyboardInterrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
from torch.utils.tensorboard import SummaryWriter
experiment = tracelet.start_logging(exp_name="signalled", project="p", backend="mlflow")
writer = SummaryWriter("runs")
for step in range(1000):
    writer.add_scalar("loss", float(step), step)
print("ready", experiment.run_dir, flush=True)
time.sleep(3600)  # until the test's signal (training goes on)
"""


def _signal_training(isolated: Path, signum: int) -> int:
    script = isolated / "train.py"
    script.write_text(LOG_THEN_WAIT)
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=isolated, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ),
    )  # fmt: skip
    try:
        ready, run_dir = process.stdout.readline().split()
        assert ready == "ready"
        # The signal gives delivery a bounded time; opening the MLflow run (creating the
        # sqlite tables) is not what these tests measure, so the agent has done it first.
        wait_until(lambda: delivery_state(run_dir, "mlflow").get("location"), "the MLflow run")
        process.send_signal(signum)
        return process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_ctrl_c_in_training_stops_logging_cleanly(isolated: Path):
    assert _signal_training(isolated, signal.SIGINT) != 0
    assert read_run("sqlite:///mlflow.db").metrics["step"].tolist() == list(range(1000))
    assert _mlflow_status(isolated) == "KILLED"


@pytest.mark.slow
def test_sigterm_flushes_and_marks_killed(isolated: Path):
    assert _signal_training(isolated, signal.SIGTERM) == -signal.SIGTERM
    assert read_run("sqlite:///mlflow.db").metrics["step"].tolist() == list(range(1000))
    assert _mlflow_status(isolated) == "KILLED"


@pytest.mark.slow  # fast: sync never twice above
def test_sync_gives_up_at_its_timeout_and_keeps_the_rest(isolated: Path):
    result = run_python(TRAIN_THEN_DIE.format(kill_agent=True), isolated)
    run_dir = Path(result.stdout.split()[0])
    spec = json.loads((run_dir / "run.json").read_text())
    spec["backend_options"]["mlflow"]["url"] = "http://127.0.0.1:9"  # a tracker that is down
    (run_dir / "run.json").write_text(json.dumps(spec))
    started = time.time()
    assert cli_main(["sync", str(run_dir), "--timeout", "3"]) == 1
    assert time.time() - started < 30
    assert count_events(run_dir / "journal.tlj") == 5001
