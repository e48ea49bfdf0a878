"""experiment.summary and define_metric, delivered to each tracker and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracelet
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

EXPECTED = {
    "acc.mean": "1.0",
    "best_acc": "0.93",
    "best_epoch": "7.0",
    "val/loss.max": "0.5",
    "val/loss.min": "0.125",
}


def log_summary_calls(experiment: tracelet.Experiment) -> None:
    """The calls every tracker receives; their summary is EXPECTED."""
    experiment.define_metric("val/*", summary="min,max")
    experiment.define_metric("acc", summary="mean")
    experiment.define_metric("train/*", step_metric="epoch")  # no summary
    for step, (loss, acc) in enumerate([(0.5, 0.0), (0.125, 1.0), (0.25, 2.0)]):
        experiment.log_metrics({"val/loss": loss, "acc": acc, "train/loss": 9.0}, step=step)
    experiment.summary["best_acc"] = 0.93
    experiment.summary.update({"best_epoch": 7})


def summary_of(tables) -> dict[str, str]:
    return dict(zip(tables.summary["key"], tables.summary["value"], strict=True))


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_summary_and_define_metric_reach_mlflow_as_summary_tags(isolated: Path):
    from mlflow import MlflowClient

    experiment = tracelet.start_logging(exp_name="sum", project="p", backend="mlflow")
    log_summary_calls(experiment)
    experiment.summary["arch"] = "resnet"
    experiment.summary["gone"] = {"a": 1, "b": 2}
    del experiment.summary["gone"]
    assert dict(experiment.summary) == {"best_acc": 0.93, "best_epoch": 7, "arch": "resnet"}
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    store = delivered_store(experiment.run_dir, "mlflow")
    uri, _, run_id = store.rpartition("#")  # absolute: MLflow caches stores by URI
    tags = MlflowClient(uri).get_run(run_id).data.tags
    summary_tags = {k: v for k, v in tags.items() if k.startswith("summary.")}
    assert summary_tags == {
        "summary.acc.mean": "1.0",
        "summary.arch": '"resnet"',
        "summary.best_acc": "0.93",
        "summary.best_epoch": "7",
        "summary.val/loss.max": "0.5",
        "summary.val/loss.min": "0.125",
    }
    tables = read_store(store)
    assert summary_of(tables) == {**EXPECTED, "arch": "resnet"}
    assert not any(k.startswith("summary.") for k in tables.tags["key"])
    journal = read_store(str(experiment.run_dir))
    assert summary_of(journal) == summary_of(tables)
    assert compare_runs(journal, tables).summary.equal


def test_a_summary_difference_makes_runs_different(isolated: Path):
    from tracelet.tables import RunTables, metrics_frame, summary_frame

    left = RunTables(metrics_frame(), summary=summary_frame({"best": 0.5, "name": "a"}))
    right = RunTables(metrics_frame(), summary=summary_frame({"best": 0.5, "name": "b"}))
    comparison = compare_runs(left, right)
    assert comparison.exit_code == 1
    assert comparison.summary.changed == {"name": ("a", "b")}
    assert compare_runs(left, right, skip=("summary",)).equal


@pytest.mark.slow
def test_summary_reaches_wandb_natively(isolated: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    from tracelet.backends.wandb.logfile import payloads

    experiment = tracelet.start_logging(exp_name="sum", project="p", backend="wandb")
    log_summary_calls(experiment)
    experiment.summary["gone"] = 1
    del experiment.summary["gone"]
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    store = delivered_store(experiment.run_dir, "wandb")
    (sync_file,) = Path(store.partition("#")[0]).glob("*run-*/run-*.wandb")
    user, derived, metrics = {}, {}, {}
    record = pb.Record()
    for payload in payloads(sync_file.read_bytes(), []):
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "summary":
            for item in record.summary.update:
                target = user if item.key else derived
                target[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
            for item in record.summary.remove:
                user.pop(item.key)
        elif kind == "metric":
            metrics[record.metric.name or record.metric.glob_name] = record.metric
    assert {k: v for k, v in user.items() if not k.startswith("_")} == {
        "best_acc": 0.93,
        "best_epoch": 7,
    }
    assert derived["val/loss"] == {"min": 0.125, "max": 0.5}
    assert derived["acc"] == {"mean": 1}
    assert derived["train/loss"] == 9.0  # W&B's own last value, not part of the summary
    assert metrics["train/loss"].step_metric == "epoch"  # the glob, defined for its key
    assert metrics["val/loss"].summary.min and metrics["val/loss"].summary.max

    assert summary_of(read_store(store)) == EXPECTED


@pytest.mark.slow
def test_summary_reaches_clearml_as_single_values(isolated: Path):
    experiment = tracelet.start_logging(exp_name="sum", project="p", backend="clearml")
    log_summary_calls(experiment)
    experiment.summary["arch"] = "resnet"
    del experiment.summary["best_epoch"]
    with pytest.warns(UserWarning, match="refused by the tracker"):
        report = tracelet.stop_logging()
    (backend,) = report.backends
    assert backend.refused == {"summary": 2}, report.summary()

    store = delivered_store(experiment.run_dir, "clearml")
    events = [
        event
        for line in (Path(store) / "metrics.jsonl").read_text().splitlines()
        for event in json.loads(line)
        if event.get("metric") == "Summary"
    ]
    assert {(e["variant"], e["value"], e["iter"]) for e in events} == {
        (key, float(value), -(2**31)) for key, value in EXPECTED.items()
    }
    assert summary_of(read_store(store)) == EXPECTED  # the deletion was refused


@pytest.mark.slow
def test_the_same_calls_read_back_equal_from_every_tracker(isolated: Path):
    backends = ["mlflow", "wandb", "clearml", "tensorboard"]
    experiment = tracelet.start_logging(exp_name="all", project="p", backend=backends)
    log_summary_calls(experiment)
    experiment.log_params({"lr": 0.1, "epochs": 3}, section="Args")
    experiment.log_params({"batch_size": 32, "model": {"depth": 4}})
    experiment.log_params({"seed": 7}, section="General")
    experiment.set_tags({"seed": 0, "fraction": 0.5, "owner": "me", "flag": True})
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    runs = {b: read_store(delivered_store(experiment.run_dir, b)) for b in backends}
    runs["journal"] = read_store(str(experiment.run_dir))
    for name, tables in runs.items():
        assert summary_of(tables) == EXPECTED, name
        assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
            "Args/lr": "0.1",
            "Args/epochs": "3",
            "batch_size": "32",
            "model/depth": "4",
            "seed": "7",
        }, name
        assert dict(zip(tables.tags["key"], tables.tags["value"], strict=True)) == {
            "seed": "0",
            "fraction": "0.5",
            "owner": "me",
            "flag": "True",
        }, name
    comparison = compare_runs(runs["clearml"], runs["mlflow"])
    assert comparison.params.equal and comparison.tags.equal and comparison.summary.equal


@pytest.mark.slow
def test_summary_on_a_real_mlflow_server(isolated: Path, mlflow_server):
    experiment = tracelet.start_logging(
        exp_name="sum", project="summary-server", backend="mlflow", backend_url=mlflow_server.url
    )
    log_summary_calls(experiment)
    experiment.log_params({"lr": 0.1}, section="Args")
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    tables = read_store(delivered_store(experiment.run_dir, "mlflow"))
    assert summary_of(tables) == EXPECTED
    assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
        "Args/lr": "0.1"
    }


@pytest.mark.slow
def test_copy_moves_the_summary_and_compares_it(isolated: Path, capsys):
    from tracelet.cli import main

    experiment = tracelet.start_logging(exp_name="sum", project="p", backend="mlflow")
    log_summary_calls(experiment)
    experiment.summary.update({"arch": "resnet", "layers": [2, 2], "nan": float("nan")})
    assert tracelet.stop_logging().complete
    source = delivered_store(experiment.run_dir, "mlflow")

    code = main(["copy", source, "--to", "wandb", "--json", "c.json"])
    assert code == 0, capsys.readouterr().out
    report = json.loads((isolated / "c.json").read_text())
    assert report["run_summary"]["equal"] and report["run_summary"]["matched"] == 8
    expected = {**EXPECTED, "arch": "resnet", "layers": "[2, 2]", "nan": "nan"}
    assert summary_of(read_store(report["copy"])) == expected


@pytest.mark.slow
def test_define_metric_aggregates_the_values_of_tracelet_log_rows(isolated: Path):
    experiment = tracelet.start_logging(exp_name="rows", project="p", backend="mlflow")
    experiment.define_metric("loss", summary="min,last")
    for loss in (0.5, 0.25, 0.375):
        tracelet.log({"loss": loss})
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    tables = read_store(delivered_store(experiment.run_dir, "mlflow"))
    assert summary_of(tables) == {"loss.last": "0.375", "loss.min": "0.25"}
    assert summary_of(read_store(str(experiment.run_dir))) == summary_of(tables)
