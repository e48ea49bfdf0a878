"""What the training process prints reaches each tracker's console view (track_console)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

import tracelet
from tracelet.backends.wandb.logfile import payloads
from tracelet.console import ConsoleCapture, console_text, read_console
from tracelet.experiment import _tracking

PRINTED = "epoch 1: loss 0.5\nepoch 2: loss 0.25\n"
WARNED = "warning: lr too high\n"


def print_like_training() -> None:
    print("epoch 1: loss 0.5")
    print("warning: lr too high", file=sys.stderr)
    print("epoch 2: loss 0.25")


def test_the_tee_writes_through_and_the_flusher_appends_to_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    capture = ConsoleCapture(tmp_path / "console.jsonl")
    capture.install()
    print_like_training()
    assert out.getvalue() == PRINTED and err.getvalue() == WARNED  # the terminal as before
    assert not (tmp_path / "console.jsonl").exists()  # nothing written on the hot path
    capture.drain()
    capture.uninstall()
    assert sys.stdout is out and sys.stderr is err
    print("after the run")
    capture.drain()

    chunks = list(read_console(tmp_path / "console.jsonl"))
    assert [(stream, text) for _, stream, text in chunks] == [
        ("stdout", "epoch 1: loss 0.5"),
        ("stdout", "\n"),
        ("stderr", "warning: lr too high"),
        ("stderr", "\n"),
        ("stdout", "epoch 2: loss 0.25"),
        ("stdout", "\n"),
    ]
    assert [t for t, _, _ in chunks] == sorted(t for t, _, _ in chunks)
    assert console_text(tmp_path / "console.jsonl") == (
        "epoch 1: loss 0.5\nwarning: lr too high\nepoch 2: loss 0.25\n"
    )


def test_console_is_on_for_wandb_and_clearml_and_off_for_mlflow_unless_asked():
    defaults = _tracking(["mlflow", "wandb", "clearml"], None, None, None, {})
    assert {name: t["console"] for name, t in defaults.items()} == {
        "mlflow": False,
        "wandb": True,
        "clearml": True,
    }
    from_config = _tracking(["mlflow", "wandb"], None, None, None, {"track_console": "on"})
    assert all(t["console"] for t in from_config.values())
    assert not any(t["console"] for t in _tracking(["wandb"], None, None, False, {}).values())


def wandb_output_records(run_folder: Path) -> list[tuple[str, str]]:
    """The console records of a ``.wandb`` file, as wandb's own capture writes them."""
    from wandb.proto import wandb_internal_pb2 as pb

    (log_file,) = run_folder.glob("*.wandb")
    found = []
    for payload in payloads(log_file.read_bytes(), []):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "output_raw":
            stream = pb.OutputRawRecord.OutputType.Name(record.output_raw.output_type)
            found.append((stream.lower(), record.output_raw.line))
    return found


def test_wandb_run_holds_the_console_as_its_own_capture_writes_it(isolated: Path):
    experiment = tracelet.start_logging(
        exp_name="console", project="p", backend="wandb", track_system=False
    )
    print_like_training()
    experiment.log_metric("loss", 0.25, 2)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    (run_folder,) = (isolated / "env" / "wandb").glob("**/offline-run-*")
    assert wandb_output_records(run_folder) == [
        ("stdout", "epoch 1: loss 0.5"),
        ("stdout", "\n"),
        ("stderr", "warning: lr too high"),
        ("stderr", "\n"),
        ("stdout", "epoch 2: loss 0.25"),
        ("stdout", "\n"),
    ]


@pytest.mark.slow  # fast: the W&B case above (the same capture and delivery)
def test_clearml_console_log_holds_the_training_output(isolated: Path):
    tracelet.start_logging(exp_name="console", project="p", backend="clearml", track_system=False)
    print_like_training()
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    (session,) = (isolated / "env" / "clearml").glob("**/offline-*/log.jsonl")
    reports = [e for line in session.read_text().splitlines() for e in json.loads(line)]
    # ClearML may join reports of one level into one message, its own first line included
    lines = [(e["level"], line) for e in reports for line in e["msg"].splitlines()]
    assert [line for line in lines if not line[1].startswith("ClearML")] == [
        ("info", "epoch 1: loss 0.5"),
        ("error", "warning: lr too high"),
        ("info", "epoch 2: loss 0.25"),
    ]


@pytest.mark.slow  # fast: the W&B case above (the same capture and delivery)
@pytest.mark.usefixtures("mlflow_db")
def test_mlflow_run_gets_a_console_log_artifact_when_asked(isolated: Path):
    from mlflow import MlflowClient

    tracelet.start_logging(exp_name="console", project="p", backend="mlflow", track_console=True)
    print_like_training()
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    client = MlflowClient(f"sqlite:///{isolated}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("p").experiment_id])
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["console.log"]
    path = client.download_artifacts(run.info.run_id, "console.log", str(isolated))
    assert Path(path).read_text() == "epoch 1: loss 0.5\nwarning: lr too high\nepoch 2: loss 0.25\n"
