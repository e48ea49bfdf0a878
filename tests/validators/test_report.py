"""Reports of a comparison: rich terminal text, strict JSON, a self-contained HTML page."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from rich.console import Console

from tracelet.backends.mlflow import SQLITE_ENCODING
from tracelet.backends.tensorboard import FLOAT32_ENCODING
from tracelet.tables import RunTables, artifacts_frame, metrics_frame, params_frame, tags_frame
from tracelet.validators.compare import compare_runs
from tracelet.validators.report import SCHEMA, render_terminal, to_json, write_html

INF, NAN = float("inf"), float("nan")


def run(points, **tables) -> RunTables:
    rows = [(key, step, value, 0.0) for key, step, value in points]
    return RunTables(metrics=metrics_frame(rows), **tables)


LEFT = run(
    [("loss", s, 1.0 / (s + 1)) for s in range(20)]
    + [("acc", s, s / 20) for s in range(20)]
    + [("lr", 0, 0.1), ("gnorm", 0, NAN)],
    params=params_frame({"lr": 0.1, "bs": 32}),
    tags=tags_frame({"team": "a"}),
    artifacts=artifacts_frame([("model.pt", "/l/model.pt", 10, "a" * 64)]),
    source="mlflow run L",
)
RIGHT = run(
    [("loss", s, 0.5 if s == 5 else 1.0 / (s + 1)) for s in range(20)]
    + [("acc", s, s / 20) for s in range(20)]
    + [("momentum", 3, 0.9), ("gnorm", 0, INF)],
    params=params_frame({"lr": 0.2, "bs": 32}),
    tags=tags_frame({"team": "b"}),
    artifacts=artifacts_frame([("model.pt", "/r/model.pt", 11, "b" * 64)]),
    source="wandb run R",
)


def terminal_text(comparison, **kwargs) -> str:
    console = Console(record=True, width=160, color_system=None)
    render_terminal(comparison, console, **kwargs)
    return console.export_text()


def test_terminal_names_every_differing_key_and_the_verdict():
    text = terminal_text(compare_runs(LEFT, RIGHT))

    for key in ("loss", "lr", "momentum", "gnorm"):
        assert re.search(rf"│ {key}\s+│ (different|only-left|only-right)", text), key
    assert "│ acc" in text and "equal" in text
    assert "0.16666666666666666" in text and "0.5" in text  # first differing point of loss
    assert "momentum: 1 point only on the right, at step 3" in text
    verdict = text.strip().splitlines()[-1]
    assert verdict.startswith("DIFFERENT: 4 of 5 metric keys differ: gnorm, loss, lr, momentum")
    assert "params differ: lr" in text and "tags differ: team" in text
    assert "artifacts differ: model.pt" in text


def test_terminal_folds_many_equal_keys_but_never_a_differing_one():
    points = [(f"k{i:03d}", 0, 1.0) for i in range(120)]
    changed = [(k, s, 2.0 if k in ("k007", "k099") else v) for k, s, v in points]

    text = terminal_text(compare_runs(run(points), run(changed)), max_equal_rows=10)

    assert "k007" in text and "k099" in text
    assert "… 118 equal keys" in text
    assert "k000" not in text


def test_terminal_equal_run_shows_adjustment_and_verdict():
    tensorboard = run([("loss", 0, 0.10000000149011612)])
    tensorboard.encodings = (FLOAT32_ENCODING,)

    text = terminal_text(compare_runs(run([("loss", 0, 0.1)]), tensorboard))

    flat = " ".join(text.split())
    assert "precision adjustment float32, declared by right (the store's reader)" in flat
    assert "values changed: 1 left, 0 right" in flat
    assert text.strip().splitlines()[-1] == (
        "EQUAL: 1 metric key, 1 point on each side match exactly "
        "(after precision adjustments: float32)"
    )


def test_json_round_trips_as_strict_json():
    document = to_json(compare_runs(LEFT, RIGHT))

    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert document["schema"] == SCHEMA
    assert (document["verdict"], document["exit_code"]) == ("different", 1)
    assert document["summary"]["differing_keys"] == ["gnorm", "loss", "lr", "momentum"]
    metrics = {m["key"]: m for m in document["metrics"]}
    assert metrics["loss"]["first_differences"] == [
        {"step": 5, "occurrence": 0, "left": 1 / 6, "right": 0.5}
    ]
    assert metrics["gnorm"]["first_differences"][0]["left"] == "nan"
    assert metrics["gnorm"]["first_differences"][0]["right"] == "inf"
    assert metrics["gnorm"]["max_abs_diff"] == "inf"
    assert metrics["lr"]["max_abs_diff"] is None
    assert document["params"]["changed"] == {"lr": {"left": "0.1", "right": "0.2"}}
    assert document["artifacts"]["changed"][0]["name"] == "model.pt"


def test_json_lists_adjustments():
    mlflow = run([("m", 0, 1.7976931348623157e308)])
    mlflow.encodings = (SQLITE_ENCODING,)

    document = to_json(compare_runs(run([("m", 0, INF)]), mlflow))

    assert document["verdict"] == "equal"
    assert document["adjustments"] == [
        {
            "encoding": "mlflow-sqlite",
            "description": document["adjustments"][0]["description"],
            "declared_by": ["right"],
            "reasons": ["the store's reader"],
            "changed": {"left": 1, "right": 0},
        }
    ]


def plots(page: str) -> dict[str, str]:
    """Each plot's SVG by the metric key it draws."""
    pattern = r'<svg class="plot" data-key="([^"]*)".*?</svg>'
    return {m.group(1): m.group(0) for m in re.finditer(pattern, page, re.S)}


def test_html_is_self_contained_with_one_plot_per_key_and_marked_differences(tmp_path):
    comparison = compare_runs(LEFT, RIGHT)

    path = write_html(comparison, LEFT, RIGHT, tmp_path / "report.html")

    page = path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    by_key = plots(page)
    assert sorted(by_key) == ["acc", "gnorm", "loss", "lr", "momentum"]
    assert page.count('<svg class="plot"') == 5
    assert 'data-step="5"' in by_key["loss"]
    assert "diff-ticks" in by_key["loss"]
    assert "diff-ticks" not in by_key["acc"]
    assert 'data-step="3"' in by_key["momentum"]
    assert "<td>lr</td><td>0.1</td><td>0.2</td>" in page
    assert "<td>team</td><td>a</td><td>b</td>" in page
    assert "model.pt" in page and "a" * 64 in page
    assert "DIFFERENT: 4 of 5 metric keys differ" in page


def test_html_stays_small_for_big_runs_and_marks_every_difference(tmp_path):
    steps = np.arange(200_000)
    values = np.sin(steps / 5_000.0)
    left = RunTables(pd.DataFrame({"key": "big", "step": steps, "value": values, "wall_time": 0.0}))
    changed = values.copy()
    changed[[1_000, 100_000, 199_999]] += 1.0
    right = RunTables(
        pd.DataFrame({"key": "big", "step": steps, "value": changed, "wall_time": 0.0})
    )

    page = write_html(compare_runs(left, right), left, right, tmp_path / "big.html").read_text(
        encoding="utf-8"
    )

    assert len(page) < 150_000
    ticks = re.search(r'class="diff-ticks"[^>]*d="([^"]*)"', page).group(1)
    assert ticks.count("M") == 3
    assert [f'data-step="{s}"' in page for s in (1_000, 100_000, 199_999)] == [True] * 3


def test_html_marks_differences_when_every_point_differs(tmp_path):
    steps = np.arange(50_000)
    left = RunTables(pd.DataFrame({"key": "m", "step": steps, "value": 0.0, "wall_time": 0.0}))
    right = RunTables(pd.DataFrame({"key": "m", "step": steps, "value": 1.0, "wall_time": 0.0}))

    page = write_html(compare_runs(left, right), left, right, tmp_path / "all.html").read_text(
        encoding="utf-8"
    )

    assert len(page) < 150_000
    assert "data-step=" not in page  # too many for circles: ticks and spans cover them
    ticks = re.search(r'class="diff-ticks"[^>]*d="([^"]*)"', page).group(1)
    assert ticks.count("M") > 500


def test_html_of_empty_runs(tmp_path):
    empty = RunTables.empty()

    page = write_html(compare_runs(empty, empty), empty, empty, tmp_path / "empty.html").read_text(
        encoding="utf-8"
    )

    assert "<svg" not in page and "EQUAL: 0 metric keys" in page
