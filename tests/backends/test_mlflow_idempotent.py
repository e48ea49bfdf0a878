"""Delivery to an MLflow server is idempotent: after lost responses, a server killed and
restarted mid-run, or a resumed delivery, the store holds each logged point once, with
the timestamp it was logged at.

The faults are real: a loopback proxy in front of a real ``mlflow server`` forwards a
request, lets the server commit it and drops the response; the server is SIGKILLed while
the agent delivers and started again on the same store.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tests.loopback_proxy import LoopbackProxy
from tests.mlflow_server import MlflowServer
from tracelet.backends.mlflow import read_run

pytestmark = pytest.mark.slow  # a real server behind a proxy, killed and restarted

BASE_TIME = 1_700_000_000.0


def _log(writer: SummaryWriter, steps: range) -> None:
    """``loss`` once per step, ``epoch`` twice per step with equal value and wall time
    (as Lightning logs it): the second ``epoch`` is a distinct point, kept 1 ms later."""
    for step in steps:
        wall_time = BASE_TIME + step * 0.01
        writer.add_scalar("loss", step * 0.5, step, walltime=wall_time)
        writer.add_scalar("epoch", float(step // 100), step, walltime=wall_time)
        writer.add_scalar("epoch", float(step // 100), step, walltime=wall_time)


def _expected(steps: range) -> list[tuple]:
    rows = []
    for step in steps:
        millis = int((BASE_TIME + step * 0.01) * 1000)
        rows.append(("loss", step, step * 0.5, millis))
        rows.append(("epoch", step, float(step // 100), millis))
        rows.append(("epoch", step, float(step // 100), millis + 1))
    return sorted(rows)


def _stored(url: str, run_id: str) -> list[tuple]:
    metrics = read_run(url, run_id).metrics
    return sorted(
        (row.key, row.step, row.value, round(row.wall_time * 1000)) for row in metrics.itertuples()
    )


def _delivery_state(run_dir: Path) -> dict:
    path = run_dir / "delivery" / "mlflow.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_lost_responses_store_each_point_once_with_its_timestamp(mlflow_server, tmp_path):
    upstream = int(mlflow_server.url.rsplit(":", 1)[1])
    batches = itertools.count()
    proxy = LoopbackProxy(
        upstream, drop_response=lambda line: "log-batch" in line and next(batches) % 2 == 1
    ).start()
    steps = range(700)  # 2,100 points: a few batches (a server batch takes seconds here)
    try:
        tracelet.start_logging(
            exp_name="lost-responses",
            project="idempotent",
            backend="mlflow",
            backend_options={"mlflow": {"url": proxy.url}},
        )
        _log(SummaryWriter(str(tmp_path / "tb")), steps)
        report = tracelet.stop_logging(timeout=240)
    finally:
        proxy.stop()
    assert proxy.dropped, "the proxy dropped no response: the test proved nothing"
    (mlflow_report,) = report.backends
    assert report.complete, report.summary()
    assert mlflow_report.delivered["metrics"] == 3 * len(steps)
    assert _stored(mlflow_server.url, mlflow_report.tracker["run_id"]) == _expected(steps)


def test_server_killed_and_restarted_mid_run_stores_each_point_once(tmp_path):
    server = MlflowServer(tmp_path / "server").start()
    try:
        experiment = tracelet.start_logging(
            exp_name="restarted",
            project="idempotent",
            backend="mlflow",
            backend_options={"mlflow": {"url": server.url}},
        )
        run_dir = Path(experiment.run_dir)
        writer = SummaryWriter(str(tmp_path / "tb"))
        _log(writer, range(0, 500))
        experiment.flush()
        _wait_for(lambda: _delivery_state(run_dir).get("delivered"), "a first delivery")
        server.stop()  # SIGKILL, while the agent delivers
        _log(writer, range(500, 1000))
        experiment.flush()
        _wait_for(lambda: _delivery_state(run_dir).get("errors"), "a failed delivery")
        server.start()
        report = tracelet.stop_logging(timeout=240)
        (mlflow_report,) = report.backends
        assert report.complete, report.summary()
        assert _stored(server.url, mlflow_report.tracker["run_id"]) == _expected(range(1000))
    finally:
        server.stop()


def test_a_resumed_delivery_decides_timestamps_as_the_first_try_did(tmp_path: Path):
    """The second of two identical points is kept 1 ms later even when a new process
    (``tracelet sync`` after the agent died) delivers it: it replays the first."""
    from tracelet.agent.delivery import BackendWorker
    from tracelet.journal import JournalWriter
    from tracelet.rundir import RunSpec, create_run_dir

    url = f"sqlite:///{tmp_path}/mlflow.db"
    spec = RunSpec.new("resumed", "p", ["mlflow"], {"mlflow": {"url": url}})
    run_dir = create_run_dir(spec, tmp_path / "tracelet")
    journal = JournalWriter(run_dir / "journal.tlj", spec.run_id)
    epoch = ["m", "epoch", 1.0, 7, BASE_TIME]
    journal.append([epoch])

    first = BackendWorker(run_dir, spec, "mlflow", print, writer_alive=lambda: True)
    thread = threading.Thread(target=first.run, daemon=True)
    thread.start()
    _wait_for(lambda: first.state.offset == journal.path.stat().st_size, "the first point")
    first.stop()  # the first process is gone; its backend and memory with it
    thread.join(30)

    journal.append([epoch, ["e", "FINISHED", None]])
    journal.close()
    second = BackendWorker(run_dir, spec, "mlflow", print, writer_alive=lambda: False)
    assert second.run().status == "FINISHED"
    millis = int(BASE_TIME * 1000)
    assert _stored(url, second.state.tracker["run_id"]) == [
        ("epoch", 7, 1.0, millis),
        ("epoch", 7, 1.0, millis + 1),
    ]
