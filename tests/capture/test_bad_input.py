"""Input plain TensorBoard accepts never crashes training under tracelet, and what the
tracker stores is what the event file holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.tensorboard import read_run as read_tensorboard

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_fractional_steps_are_recorded_as_the_event_file_records_them(isolated: Path):
    steps = [1.5, 2.9, np.float64(3.25), torch.tensor(4.75), -0.5]
    plain = SummaryWriter(str(isolated / "plain"))
    for i, step in enumerate(steps):
        plain.add_scalar("lr", float(i), step)
    plain.close()
    recorded = read_tensorboard(str(isolated / "plain")).metrics["step"].tolist()
    assert recorded == [1, 2, 3, 4, 0]  # TensorBoard truncates with int()

    tracelet.start_logging(exp_name="frac", project="p", backend="mlflow")
    writer = SummaryWriter(str(isolated / "routed"))
    for i, step in enumerate(steps):
        writer.add_scalar("lr", float(i), step)
    writer.add_scalars("pair", {"a": 1.0}, 0.5)
    writer.add_text("note", "hello", 7.5)
    writer.close()
    report = tracelet.stop_logging()

    assert report.complete, report.summary()
    metrics = read_mlflow("sqlite:///mlflow.db", "frac").metrics
    lr = metrics[metrics.key == "lr"]
    assert lr["step"].tolist() == recorded
    assert lr["value"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert metrics[metrics.key == "pair/a"]["step"].tolist() == [0]
    assert read_tensorboard(str(isolated / "routed")).metrics["step"].tolist()[:5] == recorded


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_keys_that_mlflow_maps_to_one_name_stay_distinct(isolated: Path):
    from mlflow import MlflowClient

    keys = ["a@b", "a#b", "a_b", "a b"]
    tracelet.start_logging(exp_name="collide", project="p", backend="mlflow")
    writer = SummaryWriter(str(isolated / "runs"))
    for step in range(3):
        for i, key in enumerate(keys):
            writer.add_scalar(key, 10.0 * i + step, step)
    writer.close()
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    metrics = read_mlflow("sqlite:///mlflow.db", "collide").metrics
    for i, key in enumerate(keys):
        rows = metrics[metrics.key == key]
        assert rows["step"].tolist() == [0, 1, 2], key
        assert rows["value"].tolist() == [10.0 * i + s for s in range(3)], key
    assert len(metrics) == 12

    client = MlflowClient(f"sqlite:///{isolated}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("p").experiment_id])[0]
    stored = sorted(run.data.metrics)
    assert stored == ["a b", "a_b", "a_b_2", "a_b_3"]  # first come keeps the plain name
    for name in stored:
        assert len(client.get_metric_history(run.info.run_id, name)) == 3


def test_disambiguated_names_survive_a_resumed_delivery(isolated: Path):
    import json

    from tracelet.backends.base import RunInfo
    from tracelet.backends.mlflow import MlflowBackend
    from tracelet.events import Point

    uri = f"sqlite:///{isolated}/mlflow.db"
    run = RunInfo("r1", "resume", "p", str(isolated), 0.0, {"url": uri})
    first = MlflowBackend(run, run.options, {})
    first.open()
    first.log_metrics([Point("a@b", 1.0, 0, 1.0), Point("a#b", 2.0, 0, 1.0)])
    saved = json.loads(json.dumps(first.state))  # as delivery/mlflow.json keeps it

    resumed = MlflowBackend(run, run.options, saved)
    resumed.open()
    resumed.log_metrics([Point("a#b", 20.0, 1, 2.0), Point("a@b", 10.0, 1, 2.0)])
    resumed.close("FINISHED")

    metrics = read_mlflow(uri, "resume").metrics
    assert metrics[metrics.key == "a@b"]["value"].tolist() == [1.0, 10.0]
    assert metrics[metrics.key == "a#b"]["value"].tolist() == [2.0, 20.0]
