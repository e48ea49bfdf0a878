"""`tracelet.log` writes the W&B history `wandb.log` writes (issue 11, item 7).

A script logging with `wandb.log` and its copy logging with `tracelet.log` run into W&B
offline stores; both `.wandb` files are decoded independently of tracelet
(tests/backends/wandb_history.py) and by tracelet's reader, and must hold the same rows:
same columns, `_step` and values (W&B's wall-clock `_runtime` / `_timestamp` aside), and
no `define_metric` record the original lacks.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.backends.wandb_history import history, metric_definitions, sync_file
from tests.conftest import run_python
from tracelet.backends.base import RunInfo
from tracelet.backends.wandb import STEP_KEY, WandbBackend, read_run
from tracelet.events import Point
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs

WALL = 1_700_000_000.0

# dict literals, no step, commit=False, explicit steps, a lower step (dropped), nested
# dicts, ints, bools, -0.0 and NaN: what training scripts hand wandb.log
CALLS = """
for i in range(12):
    LOG({"loss": 1.0 / (i + 1), "lr": 0.1})
    if i % 3 == 0:
        LOG({"acc": i / 10}, commit=False)
LOG({"val/loss": 0.5}, step=20)
LOG({"val/acc": 0.7}, step=20)
LOG({"epoch": 1})
LOG({"late": 1.0}, step=5)
LOG({"nested": {"x": 1, "y": 2.5}})
LOG({"big": 2**40, "flag": True, "neg": -0.0, "nan": float("nan")})
LOG({"tail": 3.0}, step=40, commit=False)
"""

ORIGINAL = (
    "import wandb\n"
    'run = wandb.init(project="p", name="n", settings=wandb.Settings(console="off"))\n'
    + CALLS.replace("LOG(", "wandb.log(")
    + "wandb.finish()\n"
)

MIGRATED = (
    "import tracelet\n"
    'tracelet.start_logging(exp_name="n", project="p", backend="wandb", track_system=False,\n'
    "                       track_git=False)\n"
    + CALLS.replace("LOG(", "tracelet.log(")
    + "tracelet.stop_logging()\n"
)


def _run_script(code: str, folder: Path) -> Path:
    folder.mkdir()
    done = run_python(code, folder, WANDB_DIR=str(folder))
    assert done.returncode == 0, done.stderr
    (run_dir,) = (folder / "wandb").glob("offline-run-*")
    return run_dir


def _nan_safe(rows: list[dict]) -> list[dict]:
    return [{k: "NaN" if v != v else v for k, v in row.items()} for row in rows]


@pytest.mark.slow
def test_tracelet_log_writes_the_history_wandb_log_writes(isolated: Path):
    original = _run_script(ORIGINAL, isolated / "original")
    migrated = _run_script(MIGRATED, isolated / "migrated")

    rows = _nan_safe(history(sync_file(original)))
    assert len(rows) == 16 and rows[0] == {"_step": 0, "loss": 1.0, "lr": 0.1}
    assert _nan_safe(history(sync_file(migrated))) == rows
    assert metric_definitions(sync_file(migrated)) == metric_definitions(sync_file(original))
    assert not any(STEP_KEY in row for row in history(sync_file(migrated)))

    left, right = read_run(str(original)), read_run(str(migrated))
    assert right.added_columns == {} == left.added_columns
    comparison = compare_runs(left, right)
    assert comparison.equal, comparison.differing_keys
    assert len(right.metrics) == sum(len(r) - 1 for r in rows if "flag" not in r) + 3


def _backend(tmp_path: Path) -> WandbBackend:
    info = RunInfo("20250101-120000-rows", "rows", "tracelet-tests", str(tmp_path), WALL)
    return WandbBackend(info, {}, {})


def test_rows_are_native_and_summarywriter_points_get_a_listed_step_column(tmp_path):
    backend = _backend(tmp_path)
    backend.open()
    backend.log_row(0, WALL, {"loss": 0.5, "n": 3})
    backend.log_row(4, WALL + 1, {"loss": 0.25})
    backend.log_metrics([Point("tb/loss", 0.1, 100, WALL + 2), Point("tb/loss", 0.2, 7, WALL + 3)])
    backend.log_row(5, WALL + 4, {"loss": 0.125})
    backend.close("FINISHED")
    run_dir = Path(os.environ["WANDB_DIR"]) / "wandb" / "latest-run"

    rows = history(sync_file(run_dir))
    assert rows[:2] == [{"_step": 0, "loss": 0.5, "n": 3}, {"_step": 4, "loss": 0.25}]
    assert rows[2:] == [
        {"_step": 5, STEP_KEY: 100, "tb/loss": 0.1},
        {"_step": 6, STEP_KEY: 7, "tb/loss": 0.2},
        {"_step": 7, STEP_KEY: 5, "loss": 0.125},  # mixed: from the first point on
    ]
    defined = metric_definitions(sync_file(run_dir))
    assert len(defined) == 3 and all(STEP_KEY in d for d in defined)

    tables = read_store(str(run_dir))
    metrics = tables.metrics
    points = sorted(zip(metrics["key"], metrics["step"], metrics["value"], strict=True))
    assert points == [
        ("loss", 0, 0.5), ("loss", 4, 0.25), ("loss", 5, 0.125), ("n", 0, 3.0),
        ("tb/loss", 7, 0.2), ("tb/loss", 100, 0.1),
    ]  # fmt: skip
    assert list(tables.added_columns) == [STEP_KEY]
    assert "added by tracelet" in tables.added_columns[STEP_KEY]
    assert "(3 values)" in tables.added_columns[STEP_KEY]

    native = read_store(str(run_dir))
    native.added_columns = {}
    comparison = compare_runs(native, tables)
    assert not comparison.equal and list(comparison.columns.only_right) == [STEP_KEY]


MEDIA_CALLS = """
import numpy as np
rng = np.random.default_rng(0)
for i in range(4):
    pixels = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    LOG({"loss": 1.0 / (i + 1), "sample": IMAGE(pixels, caption=f"step {i}")})
LOG({"gray": IMAGE(rng.random((16, 16)), mode="L")}, commit=False)
LOG({"weights": HISTOGRAM(rng.normal(size=500), num_bins=16)})
LOG({"preds": TABLE(columns=["id", "label"], data=[[1, "cat"], [2, "dog"]])}, step=9)
import torch
from PIL import Image as PILImage
torch.manual_seed(0)
LOG({"tensor": IMAGE(torch.rand(3, 8, 12))})
PILImage.fromarray(pixels).save("pic.png")
LOG({"pil": IMAGE(PILImage.fromarray(pixels)), "file": IMAGE("pic.png", caption="file")})
"""


def _without_client_ids(rows: list[dict]) -> list[dict]:
    """A table's ``artifact_path`` names a client-side artifact id W&B draws at random."""
    return [{k: v for k, v in row.items() if not k.endswith("artifact_path")} for row in rows]


def _media_script(module: str, start: str, stop: str) -> str:
    calls = MEDIA_CALLS.replace("LOG(", f"{module}.log(")
    for name in ("IMAGE", "HISTOGRAM", "TABLE"):
        calls = calls.replace(f"{name}(", f"{module}.{name.title()}(")
    return f"import {module}\n{start}\n{calls}{stop}\n"


@pytest.mark.slow
def test_tracelet_media_write_the_history_and_files_wandb_media_write(isolated: Path):
    original = _run_script(
        _media_script(
            "wandb",
            'wandb.init(project="p", name="n", settings=wandb.Settings(console="off"))',
            "wandb.finish()",
        ),
        isolated / "original",
    )
    migrated = _run_script(
        _media_script(
            "tracelet",
            'tracelet.start_logging(exp_name="n", project="p", backend="wandb",'
            " track_system=False, track_git=False)",
            "tracelet.stop_logging()",
        ),
        isolated / "migrated",
    )

    rows = _without_client_ids(history(sync_file(original)))
    assert len(rows) == 7 and {"loss", "sample.sha256", "sample.caption"} <= set(rows[0])
    # paths and sha256 of every file included
    assert _without_client_ids(history(sync_file(migrated))) == rows
    first = rows[0]
    assert (first["sample._type"], first["sample.width"], first["sample.height"]) == (
        "image-file",
        48,
        32,
    )
    assert rows[4]["weights._type"] == "histogram" and sum(rows[4]["weights.values"]) == 500
    assert rows[5]["_step"] == 9 and rows[5]["preds._type"] == "table-file"
    assert rows[5]["tensor._type"] == "image-file" and rows[6]["file.caption"] == "file"
    files = [value for row in rows for key, value in row.items() if key.endswith(".path")]
    assert len(files) == 9
    for relative in files:
        stored = (migrated / "files" / relative).read_bytes()
        assert (original / "files" / relative).read_bytes() == stored
    assert metric_definitions(sync_file(migrated)) == metric_definitions(sync_file(original))
