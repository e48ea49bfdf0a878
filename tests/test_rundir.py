"""Run folders: where they go, what they are named, and the JSON files the processes share."""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pytest

from tracelet.rundir import (
    RunSpec,
    create_run_dir,
    delivery_file,
    read_json,
    read_spec,
    tracelet_home,
    write_json,
)


def _spec(exp_name: str = "exp") -> RunSpec:
    return RunSpec.new(exp_name, "proj", ["mlflow", "wandb"], {"mlflow": {"url": "u"}})


def test_home_is_tracelet_dir_or_dot_tracelet_in_the_working_directory(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("TRACELET_DIR", "relative/home")
    assert tracelet_home() == isolated / "relative" / "home"
    monkeypatch.delenv("TRACELET_DIR")
    assert tracelet_home() == isolated / ".tracelet"
    monkeypatch.setenv("TRACELET_DIR", "")
    assert tracelet_home() == isolated / ".tracelet"


def test_a_new_spec_describes_this_process():
    before = time.time()
    spec = _spec()
    assert re.fullmatch(r"[0-9a-f]{32}", spec.run_id)
    assert spec.run_id != _spec().run_id
    assert before <= spec.created <= time.time()
    assert (spec.pid, spec.cwd) == (os.getpid(), os.getcwd())
    assert spec.backends == ["mlflow", "wandb"]


def test_run_folder_layout_and_spec_round_trip(tmp_path: Path):
    spec = _spec("my exp")
    run_dir = create_run_dir(spec, root=tmp_path)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(spec.created))
    assert run_dir == tmp_path / "runs" / f"{stamp}-my-exp-{spec.run_id[:8]}"
    assert sorted(p.name for p in run_dir.iterdir()) == ["delivery", "media", "run.json"]
    assert read_spec(run_dir) == spec


def test_run_folders_go_under_tracelet_dir_by_default(isolated: Path):
    run_dir = create_run_dir(_spec())
    assert run_dir.parent == Path(os.environ["TRACELET_DIR"]) / "runs"


@pytest.mark.parametrize(
    ("exp_name", "part"),
    [
        ("a/b c", "a-b-c"),
        ("--x..y_z--", "x..y_z"),
        ("ü/", "run"),
        ("", "run"),
        ("n" * 60, "n" * 40),
    ],
)
def test_the_folder_name_keeps_only_safe_characters_of_the_experiment_name(
    tmp_path: Path, exp_name: str, part: str
):
    spec = _spec(exp_name)
    run_dir = create_run_dir(spec, root=tmp_path)
    assert run_dir.name == f"{run_dir.name[:15]}-{part}-{spec.run_id[:8]}"


def test_a_folder_without_run_json_is_refused_by_name(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="is not a tracelet run folder"):
        read_spec(tmp_path)


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path):
    path = tmp_path / "delivery" / "state.json"
    path.parent.mkdir()
    write_json(path, {"b": 1, "a": [1.5, math.inf]})
    write_json(path, {"b": 2, "a": [math.nan]})
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]
    data = read_json(path)
    assert data["b"] == 2 and math.isnan(data["a"][0])
    assert path.read_text().index('"a"') < path.read_text().index('"b"')  # sorted keys


def test_read_json_of_a_missing_file_gives_the_default(tmp_path: Path):
    assert read_json(tmp_path / "none.json") is None
    assert read_json(tmp_path / "none.json", default={}) == {}


def test_each_backend_has_its_own_delivery_file(tmp_path: Path):
    assert delivery_file(tmp_path, "wandb") == tmp_path / "delivery" / "wandb.json"
