"""A list of media under one key: `tracelet.log({"examples": [tracelet.Image(...), ...]})`
stores what `wandb.log({"examples": [wandb.Image(...), ...]})` stores in W&B (the same
`images/separated` history value, the same files), and what `experiment.log_images` stores
in the other trackers (`examples/0`, `examples/1`, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tracelet
from tests.backends.test_wandb_history import _run_script
from tests.backends.wandb_history import history, metric_definitions, sync_file
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.wandb import read_run as read_wandb
from tracelet.log_steps import WandbStyleLog
from tracelet.validators.compare import compare_runs

# the shapes real code logs: a comprehension of torch images with captions (wandb/examples
# pytorch-cnn-mnist), numpy images of two sizes, a tuple, a list logged with step= that
# moves the step past a row left open by commit=False, histograms, an empty list, tables,
# and lists logged with step=epoch each epoch (W&B names each file after the step before)
CALLS = """
import numpy as np
import torch
torch.manual_seed(0)
rng = np.random.default_rng(0)
data = torch.randn(3, 1, 28, 28)
LOG({"examples": [IMAGE(d, caption=f"Pred: {i}") for i, d in enumerate(data)], "acc": 0.5})
LOG({"examples": [IMAGE(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)),
                  IMAGE(rng.integers(0, 256, (8, 10, 3), dtype=np.uint8))]})
LOG({"pair": (IMAGE(rng.random((6, 6)), mode="L"),)}, commit=False)
LOG({"examples": [IMAGE(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))]}, step=7)
LOG({"weights": [HISTOGRAM(rng.normal(size=50), num_bins=8), HISTOGRAM(rng.normal(size=9))]})
LOG({"none": [], "loss": 0.25})
LOG({"tables": [TABLE(columns=["a"], data=[[1]]), TABLE(columns=["b"], data=[["x"]])]})
for epoch in (10, 11, 12):
    LOG({"epoch": epoch, "samples": [IMAGE(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))]},
        step=epoch)
"""


def _without_client_ids(value):
    """A table's ``artifact_path`` names a client-side artifact id W&B draws at random."""
    if isinstance(value, list):
        return [_without_client_ids(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_client_ids(v) for k, v in value.items() if "artifact_path" not in k}
    return value


def _script(module: str, start: str, stop: str) -> str:
    calls = CALLS.replace("LOG(", f"{module}.log(")
    for name in ("IMAGE", "HISTOGRAM", "TABLE"):
        calls = calls.replace(f"{name}(", f"{module}.{name.title()}(")
    return f"import {module}\n{start}\n{calls}{stop}\n"


@pytest.mark.slow
def test_a_list_of_images_is_the_history_value_and_files_wandb_log_writes(isolated: Path):
    original = _run_script(
        _script(
            "wandb",
            'wandb.init(project="p", name="n", settings=wandb.Settings(console="off"))',
            "wandb.finish()",
        ),
        isolated / "original",
    )
    migrated = _run_script(
        _script(
            "tracelet",
            'tracelet.start_logging(exp_name="n", project="p", backend="wandb",'
            " track_system=False, track_git=False)",
            "tracelet.stop_logging()",
        ),
        isolated / "migrated",
    )

    rows = _without_client_ids(history(sync_file(original)))
    assert [row["_step"] for row in rows] == [0, 1, 2, 7, 8, 9, 10, 11, 12]
    named = [row["samples.filenames"][0].split("_")[1] for row in rows[6:]]
    assert named == ["10", "10", "11"] and rows[3]["examples.filenames"][0].split("_")[1] == "2"
    first = rows[0]
    assert first["examples._type"] == "images/separated" and first["examples.count"] == 3
    assert first["examples.captions"] == ["Pred: 0", "Pred: 1", "Pred: 2"]
    assert rows[2]["pair._type"] == "images/separated" and rows[4]["none"] == []
    assert [h["_type"] for h in rows[3]["weights"]] == ["histogram", "histogram"]
    assert _without_client_ids(history(sync_file(migrated))) == rows
    files = [name for row in rows for key, v in row.items() if key.endswith(".filenames")
             for name in v]  # fmt: skip
    assert len(files) == 10
    for relative in files:
        stored = (migrated / "files" / relative).read_bytes()
        assert (original / "files" / relative).read_bytes() == stored
    assert metric_definitions(sync_file(migrated)) == metric_definitions(sync_file(original))

    left, right = read_wandb(str(original)), read_wandb(str(migrated))
    assert not any("no local copy" in note for note in left.notes), left.notes
    images = left.media[left.media["kind"] == "image"]
    assert list(zip(images["key"], images["step"], strict=True)) == [
        ("examples/0", 0), ("examples/1", 0), ("examples/2", 0), ("examples/0", 1),
        ("examples/1", 1), ("pair/0", 2), ("examples/0", 7), ("samples/0", 10),
        ("samples/0", 11), ("samples/0", 12),
    ]  # fmt: skip
    listed = left.media[left.media["kind"] != "image"]
    assert list(zip(listed["key"], listed["kind"], strict=True)) == [
        ("weights/0", "histogram"), ("weights/1", "histogram"), ("tables/0", "table"),
        ("tables/1", "table"),
    ]  # fmt: skip
    comparison = compare_runs(left, right)
    assert comparison.equal, comparison.differing_keys


@pytest.mark.slow
def test_a_list_of_images_reaches_mlflow_as_log_images_stores_it(isolated: Path):
    rng = np.random.default_rng(2)
    pixels = [rng.integers(0, 256, size=(8, 12, 3), dtype=np.uint8) for _ in range(3)]
    with tracelet.start_logging(exp_name="listed", project="p", backend="mlflow") as experiment:
        images = [tracelet.Image(p, caption=str(i)) for i, p in enumerate(pixels)]
        tracelet.log({"examples": images})
        tracelet.log({"examples": tracelet.Image(pixels[0]), "loss": 0.5})
        tracelet.log({"hist": [tracelet.Histogram(np.arange(10.0), num_bins=5)], "none": []})
    assert experiment.report.complete, experiment.report.summary()
    with tracelet.start_logging(exp_name="named", project="p", backend="mlflow") as experiment:
        experiment.log_images("examples", pixels, step=0, captions=["0", "1", "2"])
        experiment.log_image("examples", pixels[0], step=1)
        experiment.log_histogram("hist/0", np.arange(10.0), step=2, num_bins=5)

    listed, named = (
        read_mlflow("sqlite:///mlflow.db", "listed"),
        read_mlflow("sqlite:///mlflow.db", "named"),
    )
    keys = list(zip(listed.media["key"], listed.media["step"], listed.media["kind"], strict=True))
    assert keys == [
        ("examples/0", 0, "image"), ("examples/1", 0, "image"), ("examples/2", 0, "image"),
        ("examples", 1, "image"), ("hist/0", 2, "histogram"),
    ]  # fmt: skip
    columns = ["key", "step", "kind", "content"]
    assert listed.media[columns].values.tolist() == named.media[columns].values.tolist()
    files = listed.media["kind"] == "image"  # the same PNG files (a histogram's JSON has times)
    assert list(listed.media[files]["sha256"]) == list(named.media[files]["sha256"])
    assert listed.metrics[["key", "step", "value"]].values.tolist() == [["loss", 1, 0.5]]


def test_a_list_mixing_kinds_or_holding_other_values_raises_naming_the_key():
    rows: list[tuple] = []
    steps = WandbStyleLog(rows.append)
    image, histogram = tracelet.Image(np.zeros((2, 2))), tracelet.Histogram([1.0, 2.0])
    with pytest.raises(TypeError, match=r"'val\.examples' is a list of Histogram, Image"):
        steps.log({"loss": 1.0, "val": {"examples": [image, histogram]}})
    with pytest.raises(TypeError, match="'examples' is a list of Image, int"):
        steps.log({"examples": [image, 3]})
    assert rows == [] and steps.step == 0  # nothing of the refused calls was kept
    steps.log({"examples": (image, image), "loss": 1.0})
    (row,) = rows
    assert row[3]["examples"].items == (image, image) and row[3]["loss"] == 1.0


def test_the_training_thread_keeps_a_snapshot_and_the_flusher_writes_the_files(tmp_path: Path):
    from tracelet.media import prepare, with_absolute_paths

    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    given = pixels.copy()
    rows: list[tuple] = []
    WandbStyleLog(rows.append).log({"examples": [tracelet.Image(pixels, caption="a")] * 2})
    listed = rows[0][3]["examples"]
    assert all(item.data_or_path is not pixels for item in listed.items)  # a copy, not encoded
    assert not list(tmp_path.rglob("*.npy"))
    pixels += 100  # changed in place after the call: not what was logged

    (tmp_path / "media").mkdir()  # the run folder's, made by start_logging
    descriptor = prepare(listed, tmp_path, "000001")
    assert descriptor["_type"] == "list" and descriptor["kind"] == "image"
    assert [item["path"] for item in descriptor["items"]] == [
        "media/000001-0.npy",
        "media/000001-1.npy",
    ]
    absolute = with_absolute_paths(descriptor, tmp_path)
    assert np.array_equal(np.load(absolute["items"][1]["path"]), given)
