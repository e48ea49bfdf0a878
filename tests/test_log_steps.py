"""`tracelet.log` keeps `wandb.log`'s step semantics: checked against W&B itself."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import tracelet
from tracelet.backends import wandb as wandb_backend
from tracelet.log_steps import WandbStyleLog

# The sequence of the W&B notes: implicit steps, commit=False, explicit steps, a lower
# step (dropped by W&B), a call without step committing an open row, nested dicts.
CALLS = [
    ({"a": 1.0}, {}),
    ({"a": 2.0}, {}),
    ({"b": 10.0}, {"commit": False}),
    ({"a": 3.0}, {}),
    ({"a": 4.0}, {"step": 10}),
    ({"b": 5.0}, {"step": 10}),
    ({"a": 6.0}, {"step": 11}),
    ({"a": 7.0}, {"step": 5}),
    ({"c": 8.0}, {}),
    ({"epoch": 1, "val": {"loss": 0.5}}, {}),
    ({"a": 9.0}, {"step": 20, "commit": False}),
    ({"b": 9.5}, {"step": 20, "commit": True}),
    ({"tail": 1.0}, {"step": 25}),  # left open: committed by finish()
]


def _points(tables) -> list[tuple]:
    return sorted(map(tuple, tables.metrics[["key", "step", "value"]].values.tolist()))


def test_unit_semantics():
    emitted = []
    log = WandbStyleLog(emitted.append)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data, kwargs in CALLS:
            log.log(data, **kwargs)
    log.finish()
    assert [e[0] for e in emitted] == ["r"] * 8  # one row per commit, as wandb.log writes them
    assert [e[1] for e in emitted] == [0, 1, 2, 10, 11, 12, 20, 25]
    rows = sorted((key, e[1], value) for e in emitted for key, value in e[3].items())
    assert rows == sorted(
        [
            ("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 3.0), ("b", 2, 10.0),
            ("a", 10, 4.0), ("b", 10, 5.0), ("a", 11, 6.0), ("c", 11, 8.0),
            ("epoch", 12, 1.0), ("val.loss", 12, 0.5), ("a", 20, 9.0), ("b", 20, 9.5),
            ("tail", 25, 1.0),
        ]
    )  # fmt: skip
    assert log.dropped_calls == 1


@pytest.mark.slow
def test_same_table_as_wandb_log(isolated: Path):
    import wandb

    run = wandb.init(project="p", name="direct", settings=wandb.Settings(console="off"))
    for data, kwargs in CALLS:
        run.log(data, **kwargs)
    run.finish()
    wandb.teardown()  # finish() may return before wandb-core wrote the run's last records
    direct = wandb_backend.read_run(run.dir.rsplit("/files", 1)[0])

    with (
        pytest.warns(UserWarning, match="lower than the current step"),
        tracelet.start_logging(exp_name="routed", project="p", backend="mlflow"),
    ):
        for data, kwargs in CALLS:
            tracelet.log(data, **kwargs)
    from tracelet.backends.mlflow import read_run

    routed = read_run("sqlite:///mlflow.db", "routed")
    assert _points(routed) == _points(direct)
    assert os.path.exists(run.dir)


@pytest.mark.slow
def test_non_scalar_value_is_warned_not_lost_silently(isolated: Path):
    with (
        pytest.warns(UserWarning, match="not a scalar"),
        tracelet.start_logging(exp_name="media", project="p") as experiment,
    ):
        experiment.log({"loss": 1.0, "image": object()})
    from tracelet.backends.mlflow import read_run

    assert _points(read_run("sqlite:///mlflow.db")) == [("loss", 0, 1.0)]


def test_log_without_active_run_raises():
    with pytest.raises(RuntimeError, match="start_logging"):
        tracelet.log({"a": 1.0})


def test_media_of_the_call_that_moves_the_step_are_listed_as_early():
    emitted = []
    log = WandbStyleLog(emitted.append)
    first, second = tracelet.Image("a.png"), tracelet.Image("b.png")
    log.log({"a": first, "x": 1.0}, step=3)  # W&B binds a to step 0, its step then
    log.log({"b": second})  # bound to step 3
    log.log({"c": first}, step=4)
    log.log({"c": second})  # the later call wins: c is bound to step 4
    log.log({"d": first}, step=6)  # row 4 was committed: W&B binds d to step 5
    log.log({"e": second}, step=8)  # row 6 is still open: e is bound to step 6
    log.finish()
    assert [(e[1], e[3], e[4:]) for e in emitted] == [
        (3, {"a": first, "x": 1.0, "b": second}, (["a"], 0)),
        (4, {"c": second}, ()),
        (6, {"d": first}, (["d"], 5)),
        (8, {"e": second}, (["e"], 6)),
    ]
