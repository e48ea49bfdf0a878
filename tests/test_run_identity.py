"""``Experiment.ids`` / ``urls`` and ``start_logging(resume=...)`` against real stores:
MLflow sqlite, W&B offline and ClearML offline, read back with tracelet's readers and
the trackers' own clients."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

import tracelet
from tracelet.backends.clearml import read_run as read_clearml
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.wandb import read_run as read_wandb
from tracelet.backends.wandb.logfile import decode
from tracelet.readers import read_store


@pytest.fixture(autouse=True)
def patient_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded machine may take longer than 30 s to create a fresh MLflow store."""
    monkeypatch.setenv("TRACELET_IDENTITY_TIMEOUT", "240")


def log_steps(experiment: tracelet.Experiment, steps: range) -> None:
    for step in steps:
        experiment.log_metric("loss", 1.0 / (step + 1), step=step)


def points(tables) -> list[tuple[str, int, float]]:
    frame = tables.metrics
    return list(zip(frame["key"], frame["step"], frame["value"], strict=True))


EXPECTED = [("loss", s, 1.0 / (s + 1)) for s in range(6)]


@pytest.mark.slow
def test_ids_and_urls_name_the_open_mlflow_run(isolated: Path):
    store = f"sqlite:///{isolated / 'mlflow.db'}"
    experiment = tracelet.start_logging(exp_name="who", project="ids", backend_url=store)
    run_id = experiment.ids["mlflow"]  # while the run is live: waits for the agent
    assert experiment.urls == {"mlflow": f"{store}#{run_id}"}
    log_steps(experiment, range(2))
    assert tracelet.stop_logging().complete
    info = MlflowClient(store).get_run(run_id).info
    assert (info.run_name, info.status) == ("who", "FINISHED")
    assert points(read_store(experiment.urls["mlflow"])) == EXPECTED[:2]


def test_ids_and_urls_of_wandb_and_clearml_offline_runs(isolated: Path):
    experiment = tracelet.start_logging(exp_name="who", project="ids", backend=["wandb", "clearml"])
    ids, urls = experiment.ids, experiment.urls
    log_steps(experiment, range(2))
    assert tracelet.stop_logging().complete
    wandb_dir = Path(urls["wandb"])
    assert wandb_dir.name.endswith(f"-{ids['wandb']}")
    assert [p.name for p in wandb_dir.glob("*.wandb")] == [f"run-{ids['wandb']}.wandb"]
    session = Path(urls["clearml"])
    assert session.name == ids["clearml"]
    assert json.loads((session / "task.json").read_text())["id"] == ids["clearml"]
    for url in urls.values():
        assert points(read_store(url)) == EXPECTED[:2]


@pytest.mark.slow
def test_mlflow_run_resumed_by_id_appends_after_its_points(isolated: Path):
    store = f"sqlite:///{isolated / 'mlflow.db'}"
    with tracelet.start_logging(exp_name="long", project="r", backend_url=store) as first:
        log_steps(first, range(3))
    run_id = first.ids["mlflow"]
    with tracelet.start_logging(
        exp_name="long", project="r", backend_url=store, resume=run_id, resume_mode="must"
    ) as second:
        log_steps(second, range(3, 6))
    assert second.report.complete, second.report.summary()
    assert second.ids == {"mlflow": run_id}
    assert points(read_mlflow(store, run_id)) == EXPECTED
    runs = MlflowClient(store).search_runs([MlflowClient(store).get_run(run_id).info.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].info.status == "FINISHED"


@pytest.mark.slow
def test_mlflow_resume_of_an_unknown_run(isolated: Path):
    store = f"sqlite:///{isolated / 'mlflow.db'}"
    unknown = "0" * 32
    with (
        pytest.warns(UserWarning, match="delivery incomplete"),
        tracelet.start_logging(
            exp_name="x", backend_url=store, resume=unknown, resume_mode="must"
        ) as must,
    ):
        log_steps(must, range(1))
    [report] = must.report.backends
    assert f"no run {unknown!r} to resume" in report.unavailable
    with tracelet.start_logging(exp_name="y", backend_url=store, resume=unknown) as allow:
        log_steps(allow, range(1))
    assert allow.report.complete
    assert allow.ids["mlflow"] != unknown
    assert points(read_mlflow(store, allow.ids["mlflow"])) == EXPECTED[:1]


def test_resume_names_its_backends():
    with pytest.raises(ValueError, match="2 backends"):
        tracelet.start_logging(backend=["mlflow", "wandb"], resume="abc")
    with pytest.raises(ValueError, match="does not have"):
        tracelet.start_logging(backend="mlflow", resume={"wandb": "abc"})
    with pytest.raises(ValueError, match="resume_mode"):
        tracelet.start_logging(backend="mlflow", resume="abc", resume_mode="never")


def test_wandb_offline_run_resumed_by_id_appends_after_its_rows(isolated: Path):
    with tracelet.start_logging(exp_name="long", project="r", backend="wandb") as first:
        log_steps(first, range(3))
    run_id = first.ids["wandb"]
    with tracelet.start_logging(
        exp_name="long", project="r", backend="wandb", resume=run_id, resume_mode="must"
    ) as second:
        log_steps(second, range(3, 6))
    assert second.report.complete, second.report.summary()
    assert second.ids == {"wandb": run_id}
    root = Path(first.urls["wandb"]).parent
    assert points(read_wandb(str(root), run_id)) == EXPECTED
    sync_files = sorted(root.glob(f"*-{run_id}*/run-{run_id}.wandb"))
    assert len(sync_files) == 2
    steps = [int(row["_step"]) for f in sync_files for row in decode(f).rows]
    assert steps == list(range(6))  # the resumed rows continue W&B's own row counter

    with (
        pytest.warns(UserWarning, match="delivery incomplete"),
        tracelet.start_logging(backend="wandb", resume="nosuchrun", resume_mode="must") as bad,
    ):
        log_steps(bad, range(1))
    assert "no offline run 'nosuchrun' to resume" in bad.report.backends[0].unavailable


@pytest.mark.slow
def test_clearml_offline_task_resumed_by_id_appends_after_its_points(isolated: Path):
    with tracelet.start_logging(exp_name="long", project="r", backend="clearml") as first:
        log_steps(first, range(3))
    task_id = first.ids["clearml"]
    with tracelet.start_logging(
        exp_name="long", project="r", backend="clearml", resume=task_id, resume_mode="must"
    ) as second:
        log_steps(second, range(3, 6))
    assert second.report.complete, second.report.summary()
    assert second.ids == {"clearml": task_id}
    assert points(read_clearml(first.urls["clearml"])) == EXPECTED

    with (
        pytest.warns(UserWarning, match="delivery incomplete"),
        tracelet.start_logging(
            backend="clearml", resume="offline-nosuchtask", resume_mode="must"
        ) as bad,
    ):
        log_steps(bad, range(1))
    assert "no offline session 'offline-nosuchtask'" in bad.report.backends[0].unavailable
