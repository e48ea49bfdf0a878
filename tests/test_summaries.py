"""The summary data model: RunSummary events, define_metric aggregates, the table form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracelet.events import SUMMARY
from tracelet.summaries import (
    MetricSummaries,
    RunSummary,
    check_metric_name,
    flatten_summary,
    parse_summary_ops,
    summary_value,
)
from tracelet.tables import summary_frame


def test_run_summary_is_a_mutable_mapping_that_journals_each_change():
    events = []
    summary = RunSummary(events.append)
    summary["best_acc"] = 0.93
    summary.update({"epoch": np.int64(7), "path": "best.pt"}, note="x")
    del summary["path"]

    assert dict(summary) == {"best_acc": 0.93, "epoch": 7, "note": "x"}
    assert summary["epoch"] == 7 and type(summary["epoch"]) is int
    assert len(summary) == 3 and "path" not in summary
    assert events == [
        (SUMMARY, {"best_acc": 0.93}, []),
        (SUMMARY, {"epoch": 7, "path": "best.pt", "note": "x"}, []),
        (SUMMARY, {}, ["path"]),
    ]
    with pytest.raises(KeyError):
        del summary["never"]
    assert len(events) == 3


def test_summary_ops_follow_wandb():
    assert parse_summary_ops(None) is None
    assert parse_summary_ops("MIN, max,mean") == ["min", "max", "mean"]
    assert parse_summary_ops("none") == ["none"]
    with pytest.raises(ValueError, match="unknown summary 'best'"):
        parse_summary_ops("best")
    with pytest.raises(TypeError):
        parse_summary_ops(["min"])
    assert check_metric_name("val/*") == "val/*"
    with pytest.raises(ValueError, match="only end in"):
        check_metric_name("*/loss")
    with pytest.raises(ValueError):
        check_metric_name("")


def test_aggregates_of_defined_keys_only():
    summaries = MetricSummaries()
    summaries.define("val/*", ["min", "max", "mean", "first", "last"])
    summaries.define("val/acc", ["max"])  # an exact name wins over the glob
    summaries.define("loss", ["none"])
    summaries.define("val/*", None)  # a call without summary changes nothing
    for key, value in [
        ("val/loss", 0.5),
        ("val/loss", float("nan")),
        ("val/loss", 0.25),
        ("val/acc", 0.1),
        ("val/acc", 0.9),
        ("loss", 3.0),
        ("train/loss", 1.0),
    ]:
        summaries.add(key, value)
    values = summaries.values()
    assert values["val/acc"] == {"max": 0.9}
    assert set(values) == {"val/loss", "val/acc"}
    loss = values["val/loss"]
    assert (loss["min"], loss["max"], loss["first"], loss["last"]) == (0.25, 0.5, 0.5, 0.25)
    assert math.isnan(loss["mean"])  # a NaN point makes the mean NaN, never min or max

    resumed = MetricSummaries.from_state(summaries.state())
    resumed.add("val/acc", 1.5)
    assert resumed.values()["val/acc"] == {"max": 1.5}


def test_summary_table_flattens_and_normalises_numbers():
    assert flatten_summary({"a": {"b": {"c": 1}}, "d": {}}) == {"a.b.c": 1, "d": {}}
    assert [summary_value(v) for v in (5, 5.0, True, "5", [1, 2], None, 0.1)] == [
        "5.0",
        "5.0",
        "true",
        "5",
        "[1, 2]",
        "null",
        "0.1",
    ]
    frame = summary_frame({"val/loss": {"min": 0.1}, "best": 2})
    assert list(zip(frame["key"], frame["value"], strict=True)) == [
        ("best", "2.0"),
        ("val/loss.min", "0.1"),
    ]
