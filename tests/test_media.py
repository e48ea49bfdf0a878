"""Media through the runtime: `experiment.log_image` & co. and `tracelet.log` with
`tracelet.Image` / `Histogram` / `Table`, read back from real stores."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

import tracelet
from tracelet.backends.mlflow import read_run as read_mlflow


def test_import_tracelet_does_not_import_numpy_or_pil():
    code = (
        "import sys, tracelet; tracelet.Image; "
        "print(sorted({'numpy', 'PIL', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "server"])
def test_media_reach_mlflow_as_images_tables_and_histogram_plots(
    isolated: Path, store: str, request: pytest.FixtureRequest
):
    url = request.getfixturevalue("mlflow_server").url if store == "server" else None
    name = f"media-{isolated.name}"  # the server is shared by the session's tests
    pixels = np.random.default_rng(1).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    with tracelet.start_logging(
        exp_name=name, project="p", backend="mlflow", backend_url=url
    ) as experiment:
        experiment.log_image("sample", pixels, step=3, caption="three")
        experiment.log_histogram("weights", np.arange(100.0), step=3, num_bins=10)
        experiment.log_table("preds", [[1, "cat"], [2, "dog"]], columns=["id", "label"], step=3)
        tracelet.log({"loss": 0.5, "grid": tracelet.Image(pixels)})
        experiment.log_images("pair", [pixels, pixels[::-1]], step=5, captions=["a", "b"])
        figure = Figure(figsize=(2, 1), dpi=50)
        figure.subplots().plot([0, 1], [1, 0])
        experiment.log_figure("curve", figure, step=6)
    assert experiment.report.complete

    run = read_mlflow(url or "sqlite:///mlflow.db", name)
    assert run.metrics[["key", "step", "value"]].values.tolist() == [["loss", 0, 0.5]]
    names = set(run.artifacts["name"])
    assert {"tables/preds/step_3.json", "histograms/weights/step_3.json"} <= names
    assert "histograms/weights/step_3.png" in names
    table = json.loads(Path(_path(run, "tables/preds/step_3.json")).read_text())
    assert table["columns"] == ["id", "label"] and table["data"] == [[1, "cat"], [2, "dog"]]
    histogram = json.loads(Path(_path(run, "histograms/weights/step_3.json")).read_text())
    assert histogram["bucket_counts"] == [10.0] * 10 and histogram["min"] == 0.0
    from PIL import Image

    images = {
        (row.key, row.step): row.content for row in run.media.itertuples() if row.kind == "image"
    }
    assert set(images) == {("sample", 3), ("grid", 0), ("pair/0", 5), ("pair/1", 5), ("curve", 6)}
    for name in (n for n in names if n.startswith("images/sample+") and n.endswith(".png")):
        with Image.open(_path(run, name)) as image:  # MLflow's step view: key and step
            assert image.size == (48, 32)
            assert np.array_equal(np.asarray(image), pixels)
    assert images["curve", 6].startswith("100x50 ")
    assert images["pair/1", 5] != images["pair/0", 5] == images["sample", 3]


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _path(run, name: str) -> str:
    return run.artifacts.set_index("name").loc[name, "path"]


@pytest.mark.slow
def test_media_reach_tensorboard_clearml_and_wandb_and_read_back_alike(isolated: Path):
    from tracelet.readers import delivered_store, read_store
    from tracelet.tables import image_content

    pixels = np.random.default_rng(2).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    backends = ["tensorboard", "clearml", "wandb"]
    with tracelet.start_logging(exp_name="media", project="p", backend=backends) as experiment:
        experiment.log_image("sample", pixels, step=3)
        experiment.log_histogram("weights", np.arange(100.0), step=3, num_bins=10)
        experiment.log_table("preds", [[1, "cat"]], columns=["id", "label"], step=4)
    assert experiment.report.complete, experiment.report.summary()

    png = isolated / "expected.png"
    from PIL import Image

    Image.fromarray(pixels).save(png)
    expected_image = image_content(png)
    stores = {b: read_store(delivered_store(experiment.run_dir, b)) for b in backends}
    for backend in ("tensorboard", "wandb"):
        media = stores[backend].media
        by_kind = {kind: rows for kind, rows in media.groupby("kind")}
        image = by_kind["image"].iloc[0]
        assert (image.key, image.step, image.content) == ("sample", 3, expected_image), backend
        histogram = json.loads(by_kind["histogram"].iloc[0].content)
        assert histogram["counts"] == [10.0] * 10 and histogram["limits"][0] == 9.9, backend
    table = stores["wandb"].media.query("kind == 'table'").iloc[0]
    assert json.loads(table.content) == {"columns": ["id", "label"], "data": [[1, "cat"]]}
    assert (
        stores["tensorboard"].media.query("kind == 'text'").iloc[0].content
        == "id | label\n--- | ---\n1 | cat"
    )
    from tracelet.validators.compare import compare_runs

    clearml_table = stores["clearml"].media.query("kind == 'table'").iloc[0]
    assert clearml_table.content == table.content
    # images and histograms read back alike from all three stores
    alike = {
        backend: dataclasses.replace(
            stores[backend],
            media=stores[backend].media.query("kind in ('image', 'histogram')"),
            added_columns={},
        )
        for backend in backends
    }
    assert len(alike["clearml"].media) == 2
    for backend in ("tensorboard", "clearml"):
        comparison = compare_runs(alike["wandb"], alike[backend], skip=("params", "tags"))
        assert comparison.media.equal and comparison.media.matched == 2, backend
    session = Path(delivered_store(experiment.run_dir, "clearml").split("#")[0])
    (stored,) = session.glob("data/*/*/metrics/sample/*/*.png")
    assert stores["clearml"].media.query("kind == 'image'").iloc[0].sha256 == _sha256(stored)


@pytest.mark.slow
def test_media_store_the_data_at_the_call_not_after_later_in_place_changes(isolated: Path):
    """A tensor changed in place right after the call (an optimizer step) before the run
    flushes: W&B and MLflow store what it held at the call, as wandb's media types do."""
    import torch

    from tracelet.readers import delivered_store, read_store

    weights = torch.linspace(-1.0, 1.0, 100, requires_grad=True)
    pixels = torch.linspace(0.0, 1.0, 3 * 8 * 8).reshape(3, 8, 8)
    cells = [[1, torch.tensor(0.5)]]
    kept = weights.detach().clone(), pixels.clone(), [[1, torch.tensor(0.5)]]
    backends = ["wandb", "mlflow"]
    with tracelet.start_logging(exp_name="snap", project="p", backend=backends) as experiment:
        tracelet.log(
            {
                "w": tracelet.Histogram(weights, num_bins=16),
                "img": tracelet.Image(pixels),
                "tab": tracelet.Table(columns=["id", "p"], data=cells),
            }
        )
        with torch.no_grad():
            weights.mul_(10.0)
        pixels.fill_(0.0)
        cells[0][1].fill_(9.0)
        tracelet.log(
            {
                "w_kept": tracelet.Histogram(kept[0], num_bins=16),
                "img_kept": tracelet.Image(kept[1]),
                "tab_kept": tracelet.Table(columns=["id", "p"], data=kept[2]),
            }
        )
    assert experiment.report.complete, experiment.report.summary()

    for backend in backends:
        media = read_store(delivered_store(experiment.run_dir, backend)).media
        content = dict(zip(media["key"], media["content"], strict=True))
        for key in ("w", "img", "tab"):
            assert content[key] == content[f"{key}_kept"], (backend, key)
        assert json.loads(content["w"])["limits"][-1] == 1.0, backend
    wandb_media = read_store(delivered_store(experiment.run_dir, "wandb")).media
    table = wandb_media.set_index("key").loc["tab", "content"]
    assert json.loads(table) == {"columns": ["id", "p"], "data": [[1, 0.5]]}


@pytest.mark.slow
def test_validate_compares_the_journal_media_with_the_store(isolated: Path, capsys):
    from tracelet.cli import main
    from tracelet.readers import delivered_store

    pixels = np.random.default_rng(3).integers(0, 256, size=(8, 8), dtype=np.uint8)
    with tracelet.start_logging(exp_name="j", project="p", backend="tensorboard") as experiment:
        experiment.log_image("gray", pixels, step=1)
        tracelet.log({"h": tracelet.Histogram(np_histogram=([1, 2], [0.0, 1.0, 2.0]))})
    store = delivered_store(experiment.run_dir, "tensorboard")

    assert main(["validate", str(experiment.run_dir), store, "--json", "v.json"]) == 0
    report = json.loads(Path("v.json").read_text())
    assert report["media"]["matched"] == 2 and report["media"]["equal"]

    np.save(experiment.run_dir / "media" / "000001.npy", pixels[::-1])  # the journal's copy
    capsys.readouterr()
    assert main(["validate", str(experiment.run_dir), store]) == 1
    assert "media differ: gray@1" in " ".join(capsys.readouterr().out.split())


def test_the_flusher_writes_media_files_and_a_backend_reads_them_natively(tmp_path: Path):
    """Fast: the router's preparation of a row and a backend's default media delivery,
    without an agent (TensorBoard, read back with tracelet's reader)."""
    from tracelet.backends.base import RunInfo
    from tracelet.backends.tensorboard import TensorboardBackend, read_run
    from tracelet.media import with_absolute_paths
    from tracelet.router import Router
    from tracelet.tables import image_content

    run_dir = tmp_path / "run"
    (run_dir / "media").mkdir(parents=True)
    pixels = np.arange(12 * 8 * 3, dtype=np.uint8).reshape(8, 12, 3)
    image, histogram = tracelet.Image(pixels), tracelet.Histogram(np.arange(10.0), num_bins=5)
    router = Router(run_dir, "r")
    prepared = router._prepare(("r", 2, 1.7e9, {"loss": 1, "img": image, "h": histogram}))
    router.close("FINISHED", None)
    _, step, wall, values = prepared
    assert values["loss"] == 1 and values["img"]["path"] == "media/000001.npy"
    assert np.array_equal(np.load(run_dir / values["img"]["path"]), pixels)

    info = RunInfo("r", "r", "p", str(run_dir), 1.7e9)
    backend = TensorboardBackend(info, {"log_dir": str(tmp_path / "tb")}, {})
    backend.open()
    backend.log_row(step, wall, {k: with_absolute_paths(v, run_dir) for k, v in values.items()})
    backend.close("FINISHED")

    tables = read_run(str(tmp_path / "tb"))
    assert tables.metrics[["key", "step", "value"]].values.tolist() == [["loss", 2, 1.0]]
    media = {row.kind: row for row in tables.media.itertuples()}
    png = tmp_path / "expected.png"
    from PIL import Image

    Image.fromarray(pixels).save(png)
    assert (media["image"].key, media["image"].step) == ("img", 2)
    assert media["image"].content == image_content(png)
    assert json.loads(media["histogram"].content)["counts"] == [2.0] * 5


def test_histogram_bins_at_the_call_exactly_as_wandb_histogram(tmp_path: Path):
    import torch
    import wandb

    from tracelet.media import histogram_dict

    media_dir = tmp_path / "media"
    media_dir.mkdir()
    rng = np.random.default_rng(4)
    cases = [
        (rng.standard_normal(1000).astype(np.float32), 64),
        (torch.randn(50, 20, generator=torch.Generator().manual_seed(5)), 7),
        (list(rng.integers(0, 10, size=30)), 1),
    ]
    for values, num_bins in cases:
        expected = wandb.Histogram(values, num_bins=num_bins)
        descriptor = tracelet.Histogram(values, num_bins=num_bins).descriptor(media_dir, "h")
        assert descriptor["np_histogram"] == [expected.histogram, expected.bins]
        assert json.dumps(descriptor["np_histogram"]) == json.dumps(
            [expected.histogram, expected.bins]
        )
        flat = np.asarray(values, dtype=np.float64).ravel()
        assert histogram_dict(descriptor)["sum"] == float(flat.sum())
    assert not list(media_dir.iterdir())  # nothing written: the counts are the descriptor
