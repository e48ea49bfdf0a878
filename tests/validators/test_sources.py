"""read_store: every store tracelet reads, recognised from its path or URI, read back exactly."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tracelet.backends.tensorboard import FLOAT32_ENCODING
from tracelet.journal import JournalWriter
from tracelet.readers import read_store, resolve_store, sibling_path
from tracelet.tables import RunTables, metrics_frame, params_frame, tags_frame
from tracelet.validators.replay import write_payload
from tracelet.validators.sandbox import Sandbox

NAN, INF = float("nan"), float("inf")
POINTS = [("loss", 0, 0.5), ("loss", 1, 0.25), ("acc", 1, 0.75), ("val/loss", 2, 1 / 3)]
PARAMS = {"lr": "0.01", "batch_size": "32"}
TAGS = {"team": "vision"}


def bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def source_run(points=POINTS, params=PARAMS, tags=TAGS) -> RunTables:
    rows = [(k, s, v, 1_700_000_000.0 + i) for i, (k, s, v) in enumerate(points)]
    return RunTables(metrics_frame(rows), params_frame(params), tags_frame(tags), source="test")


def record(root: Path, tracker: str, run: RunTables | None = None, name: str = "run") -> str:
    """Log ``run`` with ``tracker``'s own API into a fresh sandbox (a real store); returns
    the sandbox store's location. Uses the replay's direct writer in a subprocess."""
    box = Sandbox.create(root)
    payload = root / "payload.json"
    write_payload(run or source_run(), payload)
    argv = [sys.executable, "-m", "tracelet.validators.replay", "direct", tracker]
    argv += [str(payload), str(root / "result.json"), "--name", name, "--logdir", str(root)]
    done = subprocess.run(argv, env=box.environ(), cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return box.store(tracker)


def write_journal(path: Path, points=POINTS, params=PARAMS, tags=TAGS) -> Path:
    writer = JournalWriter(path, "run-1")
    writer.append([["m", k, v, s, 1_700_000_000.0 + i] for i, (k, s, v) in enumerate(points)])
    writer.append([["p", params], ["t", tags], ["e", "FINISHED"]])
    writer.close()
    return path


def write_tensorboard(logdir: Path, points=POINTS) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    for key, step, value in points:
        writer.add_scalar(key, value, step)
    writer.close()
    return logdir


def assert_points(tables: RunTables, points=POINTS, float32: bool = False) -> None:
    metrics = tables.metrics
    got = sorted(zip(metrics["key"], metrics["step"], metrics["value"], strict=True))
    want = sorted((k, s, float(np.float32(v)) if float32 else v) for k, s, v in points)
    assert [(k, s) for k, s, _ in got] == [(k, s) for k, s, _ in want]
    assert bits(v for *_, v in got) == bits(v for *_, v in want)


def mapping(frame) -> dict[str, str]:
    return dict(zip(frame["key"], frame["value"], strict=True))


# -- MLflow ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_mlflow_sqlite_uri_db_path_and_run_selection(isolated: Path):
    location = record(isolated / "box", "mlflow", name="first")
    db = location.removeprefix("sqlite:///")
    for given in (location, db, f"{location}#first"):
        assert resolve_store(given).kind == "mlflow"
        tables = read_store(given)
        assert_points(tables)
        assert mapping(tables.params) == PARAMS
        assert mapping(tables.tags) == TAGS
    run_id = tables.source.rpartition("#")[2]
    assert read_store(f"{db}#{run_id}").source.endswith(run_id)


@pytest.mark.slow
def test_mlflow_store_with_two_runs_needs_run_and_names_them(isolated: Path):
    from mlflow import MlflowClient

    location = record(isolated / "box", "mlflow", name="first")
    client = MlflowClient(location)
    second = client.create_run(client.get_experiment_by_name("tracelet-replay").experiment_id)
    with pytest.raises(ValueError, match="holds 2 runs; name one with #RUN_ID") as error:
        read_store(location)
    assert second.info.run_id in str(error.value)
    assert read_store(f"{location}#{second.info.run_id}").metrics.empty


def test_mlflow_file_store_folder_and_uri(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlruns = isolated / "mlruns"
    client = MlflowClient(f"file:{mlruns}")
    run = client.create_run(client.create_experiment("e"))
    metrics = [Metric(k, v, 1_700_000_000_000 + i, s) for i, (k, s, v) in enumerate(POINTS)]
    client.log_batch(run.info.run_id, metrics=metrics)
    for given in (str(mlruns), f"file:{mlruns}"):
        assert resolve_store(given).kind == "mlflow"
        assert_points(read_store(given))


def test_mlflow_server_uri_with_run(isolated: Path, mlflow_server):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(mlflow_server.url)
    run = client.create_run(client.create_experiment(f"sources-{isolated.name}"))
    metrics = [Metric(k, v, 1_700_000_000_000 + i, s) for i, (k, s, v) in enumerate(POINTS)]
    client.log_batch(run.info.run_id, metrics=metrics)
    tables = read_store(f"{mlflow_server.url}#{run.info.run_id}")
    assert_points(tables)


# -- tracelet journal -----------------------------------------------------------------------------
def test_tracelet_run_folder_and_journal_file(isolated: Path):
    run_dir = isolated / "run"
    run_dir.mkdir()
    journal = write_journal(run_dir / "journal.tlj")
    for given in (run_dir, journal):
        assert resolve_store(str(given)).kind == "journal"
        tables = read_store(str(given))
        assert_points(tables)
        assert mapping(tables.params) == PARAMS
        assert mapping(tables.tags) == TAGS


# -- W&B ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_wandb_run_folder_wandb_file_and_wandb_folder(isolated: Path):
    wandb_folder = Path(record(isolated / "box", "wandb"))
    (run_dir,) = [p for p in wandb_folder.glob("offline-run-*") if not p.is_symlink()]
    (wandb_file,) = run_dir.glob("*.wandb")
    run_id = wandb_file.stem.removeprefix("run-")
    for given in (
        run_dir,
        wandb_file,
        wandb_folder,
        wandb_folder.parent,
        f"{wandb_folder}#{run_id}",
    ):
        assert resolve_store(str(given)).kind == "wandb", given
        tables = read_store(str(given))
        assert_points(tables)
        assert mapping(tables.params) == PARAMS
        assert mapping(tables.tags) == TAGS


# -- ClearML --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_clearml_session_folder_zip_and_offline_folder(isolated: Path):
    offline = Path(record(isolated / "box", "clearml"))
    (session,) = [p for p in offline.glob("offline-*") if p.is_dir()]
    task_id = session.name.removeprefix("offline-")
    given_all = (
        session,
        session.with_suffix(".zip"),
        offline,
        offline.parent,
        f"{offline}#{task_id}",
    )
    for given in given_all:
        assert resolve_store(str(given)).kind == "clearml", given
        tables = read_store(str(given))
        assert_points(tables)
        assert mapping(tables.params) == PARAMS
        assert mapping(tables.tags) == TAGS


# -- TensorBoard ----------------------------------------------------------------------------------
def test_tensorboard_logdir_event_file_and_subfolder(isolated: Path):
    write_tensorboard(isolated / "runs" / "train")
    (event_file,) = (isolated / "runs" / "train").glob("events.out.tfevents*")
    for given, prefix in (
        (isolated / "runs" / "train", ""),
        (event_file, ""),
        (f"{isolated / 'runs'}#train", ""),
        (isolated / "runs", "train/"),
    ):
        assert resolve_store(str(given)).kind == "tensorboard"
        tables = read_store(str(given))
        assert_points(tables, [(prefix + k, s, v) for k, s, v in POINTS], float32=True)
        assert tables.encodings == (FLOAT32_ENCODING,)


# -- metrics tables -------------------------------------------------------------------------------
AWKWARD = [
    ("nan", 0, NAN),
    ("", 1, INF),
    ("a,b", 2**40, -INF),
    ('quote"d\nnew line', -1, -0.0),
    ("ünï/cödé//x", 3, 0.1 + 0.2),
    ("tiny", 4, 5e-324),
]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_metrics_table_reads_exactly_with_params_sibling(isolated: Path, suffix: str):
    path = isolated / f"table{suffix}"
    frame = source_run(AWKWARD).metrics
    params = params_frame({"lr": "0.01", "empty": "", "nan": "nan"})
    if suffix == ".csv":
        frame.to_csv(path, index=False, na_rep="nan")
        params.to_csv(sibling_path(path, "params"), index=False)
    else:
        frame.to_parquet(path, index=False)
        params.to_parquet(sibling_path(path, "params"), index=False)

    tables = read_store(str(path))

    assert tables.metrics["key"].tolist() == [k for k, _, _ in AWKWARD]
    assert tables.metrics["step"].tolist() == [s for _, s, _ in AWKWARD]
    assert bits(tables.metrics["value"]) == bits(v for *_, v in AWKWARD)
    assert tables.metrics["wall_time"].tolist() == frame["wall_time"].tolist()
    assert mapping(tables.params) == {"lr": "0.01", "empty": "", "nan": "nan"}
    assert tables.tags.empty


def test_metrics_table_without_wall_time_or_params(isolated: Path):
    path = isolated / "bare.csv"
    path.write_text("step,key,value,comment\n1,loss,0.5,x\n2,loss,,y\n")
    tables = read_store(str(path))
    assert tables.metrics[["key", "step"]].values.tolist() == [["loss", 1], ["loss", 2]]
    assert tables.metrics["value"].tolist()[0] == 0.5
    assert np.isnan(tables.metrics["value"].tolist()[1])
    assert tables.metrics["wall_time"].isna().all()
    assert tables.params.empty


def test_metrics_table_missing_column_is_named(isolated: Path):
    path = isolated / "bad.csv"
    path.write_text("key,value\nloss,1\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['step'\]"):
        read_store(str(path))


# -- what cannot be read --------------------------------------------------------------------------
def test_missing_location_is_file_not_found(isolated: Path):
    with pytest.raises(FileNotFoundError, match="nowhere: no such file or folder"):
        read_store("nowhere")


def test_unknown_file_and_folder_name_what_was_tried(isolated: Path):
    (isolated / "notes.txt").write_text("hello")
    (isolated / "empty").mkdir()
    for given in ("notes.txt", "empty"):
        with pytest.raises(ValueError, match=r"not a store tracelet can read .* tried MLflow"):
            read_store(given)


def test_corrupt_store_is_one_value_error(isolated: Path):
    (isolated / "broken.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    (isolated / "broken.wandb").write_bytes(b"not a wandb file")
    (isolated / "broken.zip").write_bytes(b"PK not a zip")
    with pytest.raises(ValueError, match=r"cannot read .*broken.db as an MLflow store"):
        read_store("broken.db")
    with pytest.raises(ValueError, match=r"cannot read .*broken.wandb as a W&B run"):
        read_store("broken.wandb")
    with pytest.raises(ValueError, match="not a store tracelet can read"):
        read_store("broken.zip")


def test_folder_with_several_kinds_must_be_named(isolated: Path):
    write_tensorboard(isolated / "project" / "runs")
    offline = isolated / "project" / "offline" / "offline-abc"
    offline.mkdir(parents=True)
    (offline / "metrics.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"holds several kinds of store .*ClearML.*TensorBoard"):
        read_store(str(isolated / "project"))


def test_path_with_hash_that_exists_is_taken_whole(isolated: Path):
    folder = isolated / "run#1"
    folder.mkdir()
    write_journal(folder / "journal.tlj")
    assert resolve_store(str(folder)).run is None
    assert_points(read_store(str(folder)))


def test_clearml_zip_is_recognised_by_content(isolated: Path):
    path = isolated / "session.zip"
    with zipfile.ZipFile(path, "w") as archive:
        event = {"type": "training_stats_scalar", "iter": 3, "metric": "loss", "variant": "loss"}
        archive.writestr("metrics.jsonl", json.dumps([{**event, "value": 0.5, "timestamp": 1}]))
    assert resolve_store(str(path)).kind == "clearml"
    assert read_store(str(path)).metrics[["key", "step", "value"]].values.tolist() == [
        ["loss", 3, 0.5]
    ]
