"""The end of training does not hang on a tracker that is down or misconfigured."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

import tracelet
from tracelet.agent.delivery import DeliveryState
from tracelet.journal import count_events

POINTS = 1000


def unused_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_points(experiment: tracelet.Experiment) -> None:
    for step in range(POINTS):
        experiment.log_metric("loss", float(step), step)


def wait_for_state(run_dir: Path, backend: str, condition, timeout: float = 120) -> DeliveryState:
    deadline = time.time() + timeout
    while True:
        state = DeliveryState.load(run_dir, backend)
        if condition(state):
            return state
        assert time.time() < deadline, f"{backend}: {state}"
        time.sleep(0.05)


def timed_stop() -> tuple[tracelet.agent.stop_report.StopReport, float]:
    started = time.monotonic()
    report = tracelet.stop_logging()
    return report, time.monotonic() - started


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_unreachable_mlflow_stops_within_5_s_and_keeps_the_events(isolated: Path):
    url = f"http://127.0.0.1:{unused_loopback_port()}"
    experiment = tracelet.start_logging(exp_name="down", project="p", backend_url=url)
    log_points(experiment)
    wait_for_state(experiment.run_dir, "mlflow", lambda s: s.errors)  # it tried, and failed

    report, seconds = timed_stop()

    assert seconds < 5.0, f"stop_logging took {seconds:.1f} s"
    (mlflow,) = report.backends
    assert not report.complete and mlflow.pending == POINTS
    assert f"tracelet sync {experiment.run_dir}" in report.summary()
    assert count_events(experiment.run_dir / "journal.tlj") == POINTS
    assert DeliveryState.load(experiment.run_dir, "mlflow").offset == 0


@pytest.mark.slow  # fast: the same stop, after a failed try
def test_unreachable_mlflow_right_after_start_stops_within_5_s(isolated: Path):
    url = f"http://127.0.0.1:{unused_loopback_port()}"
    experiment = tracelet.start_logging(exp_name="cold", project="p", backend_url=url)
    log_points(experiment)

    report, seconds = timed_stop()  # the agent may not even have tried yet

    assert seconds < 5.0, f"stop_logging took {seconds:.1f} s"
    assert report.backends[0].pending == POINTS
    assert count_events(experiment.run_dir / "journal.tlj") == POINTS


def assert_one_line_naming_the_fix(stderr: str, backend: str, fix: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith(f"tracelet: {backend}:")]
    assert len(lines) == 1, stderr
    assert fix in lines[0], lines[0]


@pytest.mark.parametrize(
    ("backend", "environment", "fix"),
    [
        ("wandb", {"WANDB_MODE": None, "WANDB_API_KEY": ""}, "wandb login"),
        ("clearml", {"CLEARML_OFFLINE_MODE": None}, "clearml-init"),
    ],
)
def test_a_tracker_without_credentials_is_reported_at_once_and_not_waited_for(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capfd, backend, environment, fix
):
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    experiment = tracelet.start_logging(exp_name="nokey", project="p", backend=backend)
    log_points(experiment)
    # reported at once, while training still runs, not after the stop timeout
    wait_for_state(experiment.run_dir, backend, lambda s: s.unavailable, timeout=60)

    report, seconds = timed_stop()

    assert seconds < 5.0, f"stop_logging took {seconds:.1f} s"
    (result,) = report.backends
    assert result.pending == POINTS and fix in result.unavailable
    assert f"not delivered: {result.unavailable}" in report.summary()
    assert_one_line_naming_the_fix(capfd.readouterr().err, backend, fix)


def test_a_stop_right_after_start_with_no_key_waits_only_for_the_first_answer(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "")
    experiment = tracelet.start_logging(
        exp_name="nokey", project="p", backend="wandb", stop_timeout=120
    )
    log_points(experiment)

    report, seconds = timed_stop()

    # the agent's cold start (importing wandb) is all it waits for, never the 120 s
    assert seconds < 30.0, f"stop_logging took {seconds:.1f} s"
    assert report.backends[0].unavailable


@pytest.mark.slow  # fast: the same give-up on stop_logging
def test_sigterm_with_a_backlog_exits_bounded_and_says_how_to_deliver_the_rest(isolated: Path):
    import signal
    import subprocess
    import sys

    url = f"http://127.0.0.1:{unused_loopback_port()}"
    script = isolated / "train.py"
    script.write_text(
        "import sys, time, tracelet\n"
        f"experiment = tracelet.start_logging(exp_name='term', project='p', backend_url={url!r})\n"
        "for step in range(5000):\n"
        "    experiment.log_metric('loss', float(step), step)\n"
        "experiment.flush()\n"
        "print(experiment.run_dir, flush=True)\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    run_dir = Path(process.stdout.readline().strip())
    wait_for_state(run_dir, "mlflow", lambda s: s.errors)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    seconds = time.monotonic() - started

    assert process.returncode == -signal.SIGTERM
    assert seconds < 10.0, f"exit took {seconds:.1f} s"
    assert "5000 events NOT delivered" in stderr
    assert f"deliver them with: tracelet sync {run_dir}" in stderr
