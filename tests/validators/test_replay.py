"""Replay mode: a run's awkward data through each tracker, direct and routed, read back."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.validators.test_cli import assert_one_error_line, validate
from tracelet.readers import read_store
from tracelet.tables import RunTables, metrics_frame, params_frame, tags_frame
from tracelet.validators.replay import EQUAL, EXPLAINED, replay

NAN, INF = float("nan"), float("inf")
MAX = 1.7976931348623157e308
PARAMS = {"lr": "0.01", "optimizer": "adam"}
TAGS = {"team": "vision", "note": "a tag longer than W&B's 64 characters " * 2}

AWKWARD = [
    ("train loss", 0, 0.5),
    ("ünïcödé/accuracy", 0, 0.1 + 0.2),
    ("a/b/c/d/e/f", 1, NAN),
    ("a//b", 1, 1.5),  # MLflow refuses this name
    ("train loss", 3, 0.25),
    ("train loss", 3, 0.125),  # same key and step again: W&B keeps only the last
    ("train loss", 2, 0.375),  # a lower step: W&B drops it
    ("val/loss", 5, INF),
    ("val/loss", 6, -INF),
    ("z", 7, -0.0),
    ("big step", 2**40, 1.0),
]


@pytest.fixture(autouse=True)
def temp_folders_in_the_test_folder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work folders kept after a DIFFERENT verdict land in the test's TMPDIR, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", None)


def run_of(points, params=PARAMS, tags=TAGS) -> RunTables:
    rows = [(k, s, v, 1_700_000_000.0 + i) for i, (k, s, v) in enumerate(points)]
    return RunTables(metrics_frame(rows), params_frame(params), tags_frame(tags), source="test")


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def points_of(tables: RunTables) -> list[tuple[str, int, bytes]]:
    metrics = tables.metrics
    return sorted(
        (k, int(s), bits(v))
        for k, s, v in zip(metrics["key"], metrics["step"], metrics["value"], strict=True)
    )


def expected(points, encode=lambda v: v) -> list[tuple[str, int, bytes]]:
    return sorted((k, s, bits(encode(v))) for k, s, v in points)


def rules(item) -> dict[str, tuple[str, int, tuple[str, ...]]]:
    return {i.rule: (i.path, i.points, i.keys) for i in item.imposed}


def mlflow_sqlite(value: float) -> float:
    return max(-MAX, min(MAX, value)) + 0.0 if value == value else value


@pytest.mark.slow
def test_mlflow_explains_refused_name_and_inf(isolated: Path):
    (item,) = replay(run_of(AWKWARD), ["mlflow"], isolated / "work").backends

    assert item.verdict == EXPLAINED
    assert item.exit_code == 0
    assert item.comparison.differing_keys == ["a//b"]
    assert rules(item) == {
        "mlflow-inf": ("both", 2, ("val/loss",)),
        "mlflow-negative-zero": ("both", 1, ("z",)),
        "mlflow-refused-name": ("direct", 1, ("a//b",)),
    }
    refused = next(i for i in item.imposed if i.rule == "mlflow-refused-name")
    assert "tracelet stores it as 'a/b'" in refused.description
    assert "must not resolve to other names" in refused.description  # MLflow's own words
    assert {i.description for i in item.imposed if i.path == "both"} == {
        "MLflow's sqlite store: ±inf is stored as ±1.7976931348623157e308",
        "MLflow's sqlite store: -0.0 is stored as 0.0",
    }
    assert points_of(item.routed) == expected(AWKWARD, mlflow_sqlite)
    assert points_of(item.direct) == expected([p for p in AWKWARD if p[0] != "a//b"], mlflow_sqlite)
    assert dict(zip(item.routed.params["key"], item.routed.params["value"], strict=True)) == PARAMS
    assert dict(zip(item.direct.tags["key"], item.direct.tags["value"], strict=True)) == TAGS


@pytest.mark.slow
def test_wandb_explains_lower_step_and_same_step(isolated: Path):
    (item,) = replay(run_of(AWKWARD), ["wandb"], isolated / "work").backends

    assert item.verdict == EXPLAINED
    assert item.exit_code == 0
    assert item.comparison.differing_keys == ["train loss"]
    assert rules(item) == {
        "wandb-refused-name": ("direct", 0, ("note",)),
        "wandb-lower-step": ("direct", 1, ("train loss",)),
        "wandb-same-step": ("direct", 1, ("train loss",)),
        "added-column": ("routed", 0, ()),
    }
    by_rule = {i.rule: i for i in item.imposed}
    assert "'tracelet/step' added by tracelet" in by_rule["added-column"].description
    assert list(item.comparison.columns.only_right) == ["tracelet/step"]
    assert by_rule["wandb-lower-step"].examples == (("train loss", 2),)
    assert by_rule["wandb-same-step"].examples == (("train loss", 3),)
    assert "lower than the run's current step" in by_rule["wandb-lower-step"].description
    assert "config['tracelet_tags']" in by_rule["wandb-refused-name"].description
    assert points_of(item.routed) == expected(AWKWARD)  # tracelet kept every point, exactly
    assert points_of(item.direct) == expected(
        [p for p in AWKWARD if (p[0], p[2]) not in {("train loss", 0.25), ("train loss", 0.375)}]
    )
    assert dict(zip(item.routed.tags["key"], item.routed.tags["value"], strict=True)) == TAGS


@pytest.mark.slow
def test_clearml_is_equal_and_lists_non_finite_as_zero(isolated: Path):
    (item,) = replay(run_of(AWKWARD), ["clearml"], isolated / "work").backends

    assert item.verdict == EQUAL
    assert item.exit_code == 0
    assert rules(item) == {
        "clearml-nonfinite": ("both", 3, ("a/b/c/d/e/f", "val/loss")),
    }
    assert points_of(item.routed) == expected(AWKWARD, lambda v: v if np.isfinite(v) else 0.0)
    assert dict(zip(item.routed.params["key"], item.routed.params["value"], strict=True)) == PARAMS


KEYS = [
    "train loss",
    "ünïcödé/accuracy",
    "a/b/c/d/e/f/g",
    "val/loss",
    "learning rate",
    "Loss/Train",
    "x",
    "y",
    "z",
    "grad norm",
]


def big_run() -> RunTables:
    steps = [round(j * 2**40 / 9_999) for j in range(10_000)]
    values = np.random.default_rng(0).standard_normal(100_000)
    values[::997], values[5::1009], values[7::1013] = NAN, INF, -INF
    points = [
        (k, s, float(values[i * 10 + j])) for i, s in enumerate(steps) for j, k in enumerate(KEYS)
    ]
    return run_of(points, tags={"team": "vision"})


@pytest.mark.slow
def test_100k_points_awkward_keys_huge_steps_are_equal_in_every_tracker(isolated: Path):
    source = big_run()
    points = list(
        zip(source.metrics["key"], source.metrics["step"], source.metrics["value"], strict=True)
    )

    report = replay(source, ["mlflow", "wandb", "clearml"], isolated / "work")

    assert report.points == 100_000
    assert report.exit_code == 0
    verdicts = {item.backend: item.verdict for item in report.backends}
    # W&B's routed store holds the SummaryWriter steps in a column of its own
    assert verdicts == {"mlflow": EQUAL, "wandb": EXPLAINED, "clearml": EQUAL}
    encodings = {
        "mlflow": mlflow_sqlite,
        "wandb": lambda v: v,
        "clearml": lambda v: v if np.isfinite(v) else 0.0,
    }
    for item in report.backends:
        assert len(item.routed.metrics) == 100_000
        assert points_of(item.routed) == expected(points, encodings[item.backend]), item.backend
    infinite = int(np.isinf(source.metrics["value"]).sum())
    non_finite = int((~np.isfinite(source.metrics["value"])).sum())
    assert {b.backend: [(i.rule, i.points) for i in b.imposed] for b in report.backends} == {
        "mlflow": [("mlflow-inf", infinite)],
        "wandb": [("added-column", 0)],
        "clearml": [("clearml-nonfinite", non_finite)],
    }


@pytest.mark.slow
def test_cli_replay_explained_exits_0_strict_exits_1_and_writes_json(isolated: Path, capsys):
    table = isolated / "run.csv"
    run_of(AWKWARD).metrics.to_csv(table, index=False, na_rep="nan")

    code, out, _ = validate(
        capsys, "--replay", table, "--backend", "wandb", "--json", "replay.json", "--html", "r.html"
    )

    assert code == 0, out
    text = " ".join(out.split())
    assert "wandb: EXPLAINED: the stores differ only as wandb imposes" in text
    assert "W&B drops wandb.log(..., step=s) when s is lower than the run's current step" in text
    report = json.loads((isolated / "replay.json").read_text())
    assert report["schema"] == "tracelet.validate/replay-1"
    (backend,) = report["backends"]
    assert backend["verdict"] == "explained"
    rules = ["wandb-lower-step", "wandb-same-step", "added-column"]
    assert [i["rule"] for i in backend["imposed"]] == rules
    assert "column 'tracelet/step' added by tracelet" in text
    assert backend["comparison"]["added_columns"]["only_right"] == {
        "tracelet/step": backend["imposed"][2]["description"].removeprefix(
            "column 'tracelet/step' "
        )
    }
    assert backend["comparison"]["summary"]["differing_keys"] == ["train loss"]
    assert (isolated / "r.html").read_text().startswith("<!DOCTYPE html>")

    code, out, _ = validate(capsys, "--replay", table, "--backend", "wandb", "--strict")
    assert code == 1
    assert "--strict: exit 1" in " ".join(out.split())  # the verdict line may wrap


def test_cli_replay_errors_exit_2_with_one_line(isolated: Path, capsys):
    table = isolated / "run.csv"
    run_of(AWKWARD[:2]).metrics.to_csv(table, index=False)
    code, _, err = validate(capsys, "--replay", table, "--backend", "tensorboard")
    assert code == 2
    assert_one_error_line(err, "replay supports mlflow, wandb, clearml")
    code, _, err = validate(capsys, "--replay", table, "--backend", "neptune")
    assert code == 2
    assert_one_error_line(err, "unknown backend 'neptune'")
    code, _, err = validate(capsys, "--replay", "missing.csv", "--backend", "mlflow")
    assert code == 2
    assert_one_error_line(err, "missing.csv: no such file or folder")


@pytest.mark.slow
def test_replay_writer_crash_is_reported_with_its_output(isolated: Path, monkeypatch):
    from tracelet.validators.replay import ReplayError

    monkeypatch.setenv("PYTHONPATH", str(isolated / "broken"))
    (isolated / "broken").mkdir()
    (isolated / "broken" / "mlflow.py").write_text("raise RuntimeError('mlflow is broken here')\n")
    with pytest.raises(ReplayError, match=r"mlflow is broken here; output in .*mlflow-direct"):
        replay(run_of(AWKWARD[:2]), ["mlflow"], isolated / "work")


# -- tracelet copy: the routed path, for real -------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mlflow", "wandb"])
def test_copy_awkward_run_into_a_tracker_reads_back_equal(isolated: Path, capsys, backend: str):
    from tracelet.cli import main

    table = isolated / "history.csv"
    run_of(AWKWARD).metrics.to_csv(table, index=False, na_rep="nan")
    params_frame(PARAMS).to_csv(isolated / "history.params.csv", index=False)

    code = main(["copy", str(table), "--to", backend, "--name", "baseline", "--json", "c.json"])

    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert f"copying 11 points from {table} to {backend}" in out
    assert "EQUAL: 7 metric keys, 11 points on each side match" in out
    report = json.loads((isolated / "c.json").read_text())
    assert report["mode"] == "copy"
    copied = read_store(report["copy"])
    encode = mlflow_sqlite if backend == "mlflow" else (lambda v: v)
    assert points_of(copied) == expected(AWKWARD, encode)
    assert dict(zip(copied.params["key"], copied.params["value"], strict=True)) == PARAMS


def test_copy_errors_exit_2_with_one_line(isolated: Path, capsys):
    from tracelet.cli import main

    table = isolated / "history.csv"
    run_of(AWKWARD[:2]).metrics.to_csv(table, index=False)
    assert main(["copy", str(table), "--to", "neptune"]) == 2
    assert capsys.readouterr().err.strip().startswith("tracelet copy: error: unknown backend")
    assert main(["copy", "missing.csv", "--to", "mlflow"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tracelet copy: error: missing.csv: no such file or folder"
    )
