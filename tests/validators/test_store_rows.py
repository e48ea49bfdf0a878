"""Script mode compares every column of the rows a store keeps, not only the metric table.

Two real W&B offline runs whose metric tables read back the same: the second keeps a
hidden step-metric column (as a SummaryWriter-routed tracelet run does), which the metric
table does not show. ``compare_runs(..., store_rows=True)`` must name that column.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs
from tracelet.validators.report import to_json, verdict
from tracelet.validators.sandbox import Sandbox

# nanoGPT's train.py logging shape: a dict literal, no step
PLAIN = """
import wandb
wandb.init(project="rows", name="plain")
for i in range(3):
    wandb.log({"iter": i, "train/loss": 1.0 / (i + 1)})
wandb.finish()
"""
WITH_STEP_COLUMN = """
import wandb
run = wandb.init(project="rows", name="step-column")
run.define_metric("my/step", hidden=True)
run.define_metric("*", step_metric="my/step")
for i in range(3):
    wandb.log({"my/step": i, "iter": i, "train/loss": 1.0 / (i + 1)})
wandb.finish()
"""


def run_script(root: Path, code: str):
    box = Sandbox.create(root)
    script = root / "train.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], env=box.environ(), cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return read_store(box.store("wandb"))


@pytest.mark.slow
def test_a_hidden_column_makes_script_mode_different_and_is_named(tmp_path: Path) -> None:
    plain = run_script(tmp_path / "plain", PLAIN)
    stepped = run_script(tmp_path / "stepped", WITH_STEP_COLUMN)

    tables_only = compare_runs(plain, stepped)
    assert tables_only.differing_keys == []  # the metric tables are the same, the stores not
    assert verdict(tables_only) == "DIFFERENT: added columns differ: my/step"

    comparison = compare_runs(plain, stepped, store_rows=True)
    assert comparison.exit_code == 1
    assert comparison.history.only_right_columns == ("my/step",)
    assert comparison.history.left_rows == comparison.history.right_rows == 3
    assert comparison.history.differing_cells == {}
    assert verdict(comparison) == "DIFFERENT: store rows differ: my/step"
    document = to_json(comparison)["history"]
    assert document["only_right_columns"] == ["my/step"] and not document["equal"]

    same = compare_runs(plain, run_script(tmp_path / "again", PLAIN), store_rows=True)
    assert same.exit_code == 0, verdict(same)
    assert set(same.history.only_left_columns) == set() and not same.history.skipped


@pytest.mark.slow
def test_step_columns_under_two_names_with_the_same_cells_are_explained(tmp_path: Path) -> None:
    """Lightning's WandbLogger numbers rows with ``trainer/global_step``, tracelet with its own
    step column: the same steps under each writer's name are not a difference."""
    mine = run_script(tmp_path / "mine", WITH_STEP_COLUMN)
    theirs = run_script(tmp_path / "theirs", WITH_STEP_COLUMN.replace("my/step", "trainer/step"))

    comparison = compare_runs(mine, theirs, store_rows=True)

    assert comparison.exit_code == 0, verdict(comparison)
    assert comparison.history.renamed_steps == (("my/step", "trainer/step"),)
    assert comparison.history.only_left_columns == comparison.history.only_right_columns == ()


def rows(records: list[dict[str, str]], steps: tuple[str, ...] = ()):
    import pandas as pd

    from tracelet.backends.wandb import _history_frame

    frame = _history_frame(records, set(steps))
    assert isinstance(frame, pd.DataFrame)
    return frame


def tables(history, encodings=()):
    from tracelet.tables import RunTables, metrics_frame

    return RunTables(metrics_frame(), history=history, encodings=encodings)


def test_cells_compare_row_by_row_with_declared_encodings_and_renamed_steps() -> None:
    """The comparison itself, on frames shaped as the W&B reader builds them."""
    import numpy as np

    from tracelet.backends.tensorboard import FLOAT32_ENCODING

    left = rows(
        [{"_step": "0", "global_step": "4", "loss": str(float(np.float32(0.1)))}],
        steps=("global_step",),
    )
    right = rows(
        [{"_step": "0", "my/step": "4", "loss": "0.1"}],
        steps=("my/step",),
    )

    explained = compare_runs(
        tables(left, (FLOAT32_ENCODING,)), tables(right), store_rows=True
    ).history
    assert explained.equal and explained.renamed_steps == (("global_step", "my/step"),)

    raw = compare_runs(tables(left), tables(right), store_rows=True).history
    assert raw.differing_cells == {"loss": 1}  # float32 against float64 without the encoding
    assert raw.examples == ((0, "loss", left["loss"][0], "0.1"),)

    missing = rows([{"_step": "0", "loss": "0.1"}, {"_step": "1", "text": '{"_type": "html"}'}])
    diff = compare_runs(tables(missing), tables(right), store_rows=True).history
    assert (diff.left_rows, diff.right_rows) == (2, 1)
    assert diff.only_left_columns == ("text",)
    assert diff.only_right_columns == ("my/step",)
    assert not diff.equal
