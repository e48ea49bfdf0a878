"""``log_artifact`` of a matplotlib or plotly figure, a PIL image and an image array: the
MLflow run holds the files ``mlflow.log_figure`` / ``mlflow.log_image(artifact_file=)`` store, byte
for byte, at the same paths (read back with MLflow's own client, next to a twin run
logged by MLflow itself into the same store). Vector formats are left out: matplotlib
writes new clip ids (SVG) and dates (PDF) on every save, MLflow's own two saves differ;
plotly's HTML names its plot with a new uuid on every save, compared with that uuid
replaced."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import plotly.graph_objects as go
import pytest
from mlflow import MlflowClient
from PIL import Image

import tracelet
from tracelet.readers import read_store

NAMES = ("plots/roc.png", "plots/roc.jpg", "plots/bars.html", "sample.png", "gray.jpg", "noise.png",
         "mask.png")  # fmt: skip
FIGURES = 3  # the first NAMES are figures (mlflow.log_figure), the others images
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def pictures() -> list:
    """The values logged under ``NAMES``, in that order."""
    figure, axes = plt.subplots()
    axes.plot([0, 1, 2], [0.2, 0.9, 0.4], label="roc")
    axes.legend()
    gray = np.linspace(0, 255, 48, dtype=np.uint8).reshape(6, 8)
    noise = np.random.default_rng(0).random((5, 7, 3))  # floats 0-1: scaled by 255
    mask = np.zeros((4, 4, 1), dtype=bool)
    mask[1:3, 1:3] = True
    bars = go.Figure(go.Bar(x=["a", "b"], y=[3, 1]))
    return [figure, figure, bars, Image.new("RGB", (9, 5), (200, 30, 60)), gray, noise, mask]


def log_with_mlflow(uri: str, values: list) -> str:
    """The twin run: MLflow's own calls, as the original program makes them."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("pictures")
    with mlflow.start_run(run_name="mlflow") as run:
        for name, figure in zip(NAMES[:FIGURES], values[:FIGURES], strict=True):
            mlflow.log_figure(figure, name)
        for name, image in zip(NAMES[FIGURES:], values[FIGURES:], strict=True):
            mlflow.log_image(image, artifact_file=name)
    return run.info.run_id


def log_with_tracelet(uri: str | None, values: list) -> str:
    with tracelet.start_logging(
        exp_name="tracelet", project="pictures", backend="mlflow", backend_url=uri
    ) as run:
        for name, value in zip(NAMES, values, strict=True):
            run.log_artifact(value, name=name)
    assert run.report.complete, run.report.summary()
    return run.ids["mlflow"]


def stored_files(uri: str, run_id: str) -> dict[str, bytes]:
    client = MlflowClient(uri)
    folder = Path(client.download_artifacts(run_id, "", tempfile.mkdtemp()))
    return {
        path.relative_to(folder).as_posix(): UUID.sub(b"<uuid>", path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def assert_same_files_as_mlflow(uri: str) -> None:
    values = pictures()
    twin = stored_files(uri, log_with_mlflow(uri, values))
    migrated_id = log_with_tracelet(uri, values)
    assert stored_files(uri, migrated_id) == twin
    assert sorted(twin) == sorted(NAMES)
    run = MlflowClient(uri).get_run(migrated_id)
    assert not any(key.startswith("mlflow.loggedImages") for key in run.data.tags)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_figure_and_images_stored_as_mlflow_stores_them(mlflow_db: Path):
    assert_same_files_as_mlflow(f"sqlite:///{mlflow_db}")


@pytest.mark.slow
def test_figure_and_images_on_a_real_mlflow_server(mlflow_server):
    assert_same_files_as_mlflow(mlflow_server.url)


def test_array_without_an_image_name_stays_an_npy_file(isolated: Path):
    with tracelet.start_logging(exp_name="npy", backend="tensorboard") as run:
        run.log_artifact(np.arange(3), name="values")
        run.log_artifact(np.zeros((2, 2), np.uint8), name="thumb.png")
    assert run.report.complete, run.report.summary()
    names = sorted(p.name for p in run.run_dir.rglob("*") if p.parent.parent.name == "artifacts")
    assert names == ["thumb.png", "values.npy"]
    with Image.open(next(run.run_dir.rglob("thumb.png"))) as thumb:
        assert (thumb.size, thumb.mode) == ((2, 2), "L")


def test_figure_needs_a_named_file(isolated: Path):
    figure = plt.figure()
    with tracelet.start_logging(exp_name="fig", backend="tensorboard") as run:
        with pytest.raises(TypeError, match="needs name="):
            run.log_artifact(figure)
        with pytest.raises(ValueError, match="file suffix"):
            run.log_artifact(figure, name="roc")


@pytest.mark.slow
def test_figure_file_reaches_wandb_and_clearml_offline_under_its_name(isolated: Path):
    figure = pictures()[0]
    with tracelet.start_logging(exp_name="both", project="p", backend=["wandb", "clearml"]) as run:
        run.log_artifact(figure, name="plots/roc.png")
    assert run.report.complete, run.report.summary()
    saved = isolated / "roc.png"
    figure.savefig(saved)
    expected = hashlib.sha256(saved.read_bytes()).hexdigest()
    for backend in ("wandb", "clearml"):
        row = read_store(run.urls[backend]).artifacts.set_index("name").loc["plots/roc.png"]
        assert row["sha256"] == expected, backend
