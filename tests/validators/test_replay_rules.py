"""Replay's predictions come from each tracker module's rules (no writer is run here)."""

from __future__ import annotations

import math

from tracelet.backends.wandb import STEP_KEY
from tracelet.tables import RunTables, metrics_frame
from tracelet.validators.replay import expected_direct_path, expected_stored

INF = math.inf


def _run(points) -> RunTables:
    return RunTables(metrics_frame([(k, s, v, 0.0) for k, s, v in points]), source="run")


def _points(tables: RunTables) -> list[tuple[str, int, float]]:
    m = tables.metrics
    return list(zip(m["key"], m["step"].tolist(), m["value"].tolist(), strict=True))


def test_wandb_rules_name_the_step_key_the_backend_writes() -> None:
    source = _run([("loss", 5, 1.0), ("val", 2, 2.0), ("loss", 6, 3.0)])
    stored, both = expected_stored("wandb", source)
    expected, imposed = expected_direct_path("wandb", stored, [])

    assert both == []
    assert _points(expected) == [("loss", 5, 1.0), ("loss", 6, 3.0)]
    rules = {i.rule: i for i in imposed}
    assert set(rules) == {"wandb-lower-step"}
    assert rules["wandb-lower-step"].examples == (("val", 2),)
    assert STEP_KEY == "tracelet/step"
    for item in imposed:
        assert STEP_KEY in item.description and "global_step" not in item.description


def test_wandb_same_step_replaces_the_earlier_value_on_the_direct_path() -> None:
    source = _run([("loss", 1, 1.0), ("loss", 1, 2.0)])
    expected, imposed = expected_direct_path("wandb", expected_stored("wandb", source)[0], [])

    assert _points(expected) == [("loss", 1, 2.0)]
    assert [(i.rule, i.examples) for i in imposed] == [("wandb-same-step", (("loss", 1),))]


def test_mlflow_and_clearml_stored_values_on_both_paths() -> None:
    source = _run([("a", 0, INF), ("a", 1, -0.0), ("a", 2, -INF), ("a", 3, 0.5)])

    mlflow, mlflow_rules = expected_stored("mlflow", source)
    clearml, clearml_rules = expected_stored("clearml", source)

    top = 1.7976931348623157e308
    assert _points(mlflow) == [("a", 0, top), ("a", 1, 0.0), ("a", 2, -top), ("a", 3, 0.5)]
    assert math.copysign(1.0, mlflow.metrics["value"][1]) == 1.0
    assert [(r.rule, r.points) for r in mlflow_rules] == [
        ("mlflow-inf", 2),
        ("mlflow-negative-zero", 1),
    ]
    assert _points(clearml) == [("a", 0, 0.0), ("a", 1, -0.0), ("a", 2, 0.0), ("a", 3, 0.5)]
    assert [(r.rule, r.path, r.points) for r in clearml_rules] == [("clearml-nonfinite", "both", 2)]


def test_a_refused_name_says_how_tracelet_keeps_it() -> None:
    source = _run([("a//b", 0, 1.0), ("ok", 0, 2.0)])
    refused = [{"kind": "metric", "key": "a//b", "message": "Invalid metric name"}]

    expected, imposed = expected_direct_path("mlflow", source, refused)

    assert _points(expected) == [("ok", 0, 2.0)]
    (item,) = imposed
    assert item.rule == "mlflow-refused-name" and item.points == 1
    assert item.description.startswith("MLflow refused the metric name 'a//b'")
    assert "tracelet.renamed_keys" in item.description
