"""Media through the runtime: `experiment.log_image` & co. and `tracelet.log` with
`tracelet.Image` / `Histogram` / `Table`, read back from real stores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import tracelet
from tracelet.backends.mlflow import read_run as read_mlflow


def test_import_tracelet_does_not_import_numpy_or_pil():
    code = (
        "import sys, tracelet; tracelet.Image; "
        "print(sorted({'numpy', 'PIL', 'torch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_media_reach_mlflow_as_images_tables_and_histogram_plots(isolated: Path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    with tracelet.start_logging(exp_name="media", project="p", backend="mlflow") as experiment:
        experiment.log_image("sample", pixels, step=3, caption="three")
        experiment.log_histogram("weights", np.arange(100.0), step=3, num_bins=10)
        experiment.log_table("preds", [[1, "cat"], [2, "dog"]], columns=["id", "label"], step=3)
        tracelet.log({"loss": 0.5, "grid": tracelet.Image(pixels)})
    assert experiment.report.complete

    run = read_mlflow("sqlite:///mlflow.db", "media")
    assert run.metrics[["key", "step", "value"]].values.tolist() == [["loss", 0, 0.5]]
    names = set(run.artifacts["name"])
    assert {"tables/preds/step_3.json", "histograms/weights/step_3.json"} <= names
    assert "histograms/weights/step_3.png" in names
    table = json.loads(Path(_path(run, "tables/preds/step_3.json")).read_text())
    assert table["columns"] == ["id", "label"] and table["data"] == [[1, "cat"], [2, "dog"]]
    histogram = json.loads(Path(_path(run, "histograms/weights/step_3.json")).read_text())
    assert histogram["bucket_counts"] == [10.0] * 10 and histogram["min"] == 0.0
    from PIL import Image

    images = [n for n in names if n.startswith("images/") and n.endswith(".png")]
    assert len(images) == 2  # MLflow's step view: one per key and step
    for name in images:
        with Image.open(_path(run, name)) as image:
            assert image.size == (48, 32)
            assert np.array_equal(np.asarray(image), pixels)


def _path(run, name: str) -> str:
    return run.artifacts.set_index("name").loc[name, "path"]
