"""``tracelet export``: any store to a metrics table plus params and tags, read back exactly."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from tests.validators.test_sources import record
from tracelet.cli import main
from tracelet.readers import read_store
from tracelet.tables import RunTables, metrics_frame, params_frame, tags_frame

NAN, INF = float("nan"), float("inf")
POINTS = [  # steps never go down: W&B's direct API would drop a lower step
    ("train loss", 0, 0.1 + 0.2),
    ("nan", 1, -INF),
    ("val,loss", 3, INF),
    ("loss", 3, 5e-324),
    ("loss/x", 3, 1 / 3),
    ("ünïcödé/a/b/c", 2**40, NAN),
]
PARAMS = {"lr": "0.01", "note": 'has "quotes", commas\nand lines', "empty": ""}
TAGS = {"team": "vision"}


def source_run() -> RunTables:
    rows = [(k, s, v, 1_700_000_000.25 + i) for i, (k, s, v) in enumerate(POINTS)]
    return RunTables(metrics_frame(rows), params_frame(PARAMS), tags_frame(TAGS), source="t")


def bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def export(capsys, *args) -> tuple[int, str, str]:
    code = main(["export", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_wandb_run_exports_exactly_with_params_and_tags(isolated: Path, capsys, suffix: str):
    location = record(isolated / "box", "wandb", source_run())
    output = isolated / "out" / f"run{suffix}"

    code, out, _ = export(capsys, location, "-o", output)

    assert code == 0
    assert "6 points of 6 keys" in out
    assert (isolated / "out" / f"run.params{suffix}").is_file()
    assert (isolated / "out" / f"run.tags{suffix}").is_file()
    original, exported = read_store(location), read_store(str(output))
    for column in ("key", "step"):
        assert exported.metrics[column].tolist() == original.metrics[column].tolist()
    assert bits(exported.metrics["value"]) == bits(original.metrics["value"])
    assert bits(exported.metrics["wall_time"]) == bits(original.metrics["wall_time"])
    assert dict(zip(exported.params["key"], exported.params["value"], strict=True)) == PARAMS
    assert dict(zip(exported.tags["key"], exported.tags["value"], strict=True)) == TAGS


@pytest.mark.slow
def test_csv_columns_are_the_data_model(isolated: Path, capsys):
    location = record(isolated / "box", "mlflow", source_run())
    assert export(capsys, location, "-o", "run.csv")[0] == 0
    frame = pd.read_csv(isolated / "run.csv", dtype=str, keep_default_na=False)
    assert frame.columns.tolist() == ["key", "step", "value", "wall_time"]
    assert pd.read_csv(isolated / "run.params.csv").columns.tolist() == ["key", "value"]


@pytest.mark.slow
def test_export_then_validate_against_the_store_is_equal(isolated: Path, capsys):
    location = record(isolated / "box", "mlflow", source_run())
    assert export(capsys, location, "-o", "run.csv")[0] == 0

    code = main(["validate", location, "run.csv"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "EQUAL" in out


def test_export_rewrites_stale_params_and_tags(isolated: Path, capsys):
    first = isolated / "first.csv"
    source_run().metrics.to_csv(first, index=False, na_rep="nan")
    params_frame(PARAMS).to_csv(isolated / "first.params.csv", index=False)
    assert export(capsys, first, "-o", "out.csv")[0] == 0
    assert len(read_store("out.csv").params) == len(PARAMS)

    bare = isolated / "bare.csv"
    source_run().metrics.to_csv(bare, index=False, na_rep="nan")
    assert export(capsys, bare, "-o", "out.csv")[0] == 0

    assert read_store("out.csv").params.empty
    assert read_store("out.csv").tags.empty


def test_bad_output_and_unreadable_source_exit_2_with_one_line(isolated: Path, capsys):
    good = isolated / "good.csv"
    source_run().metrics.to_csv(good, index=False, na_rep="nan")

    code, _, err = export(capsys, good, "-o", "table.xlsx")
    assert code == 2
    assert (
        err.strip() == "tracelet export: error: table.xlsx: the output must end in .csv or .parquet"
    )

    code, _, err = export(capsys, "missing.db", "-o", "t.csv")
    assert code == 2
    assert err.strip() == "tracelet export: error: missing.db: no such file or folder"
    assert not (isolated / "t.csv").exists()
