"""``tracelet validate LEFT RIGHT``: two stored runs, exit codes, --json, --html, errors."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from tests.validators.test_sources import POINTS, record, source_run, write_journal
from tracelet.cli import main


@pytest.fixture(autouse=True)
def temp_folders_in_the_test_folder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work folders kept after a DIFFERENT verdict land in the test's TMPDIR, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", None)


def validate(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tracelet validate: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def changed(value_of_loss_at_1: float):
    return [(k, s, value_of_loss_at_1 if (k, s) == ("loss", 1) else v) for k, s, v in POINTS]


@pytest.mark.slow
def test_equal_runs_in_two_trackers_exit_0_and_write_reports(isolated: Path, capsys):
    mlflow = record(isolated / "mlflow", "mlflow")
    wandb = record(isolated / "wandb", "wandb")

    code, out, _ = validate(capsys, mlflow, wandb, "--json", "report.json", "--html", "report.html")

    assert code == 0, out
    assert "EQUAL: 3 metric keys, 4 points on each side match exactly" in " ".join(out.split())
    report = json.loads((isolated / "report.json").read_text())
    assert report["verdict"] == "equal"
    assert report["exit_code"] == 0
    assert report["mode"] == "stores"
    assert report["summary"]["keys"] == 3
    assert report["sources"]["left"].startswith("sqlite:///")
    page = (isolated / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert 'data-key="val/loss"' in page


def test_one_changed_value_exits_1_and_names_key(isolated: Path, capsys):
    left = isolated / "left"
    right = isolated / "right"
    left.mkdir()
    right.mkdir()
    write_journal(left / "journal.tlj")
    write_journal(right / "journal.tlj", points=changed(0.3))

    code, out, _ = validate(capsys, left, right, "--json", "diff.json")

    assert code == 1
    assert "DIFFERENT: 1 of 3 metric keys differ: loss" in " ".join(out.split())
    report = json.loads((isolated / "diff.json").read_text())
    assert report["verdict"] == "different"
    assert report["summary"]["differing_keys"] == ["loss"]
    (loss,) = [m for m in report["metrics"] if m["key"] == "loss"]
    assert loss["first_differences"] == [{"step": 1, "occurrence": 0, "left": 0.25, "right": 0.3}]


def test_tolerance_options_turn_a_small_difference_equal(isolated: Path, capsys):
    left = isolated / "left.csv"
    right = isolated / "right.csv"
    source_run().metrics.to_csv(left, index=False)
    source_run(changed(0.25 + 1e-9)).metrics.to_csv(right, index=False)

    assert validate(capsys, left, right)[0] == 1
    assert validate(capsys, left, right, "--atol", "1e-6")[0] == 0
    assert validate(capsys, left, right, "--rtol", "1e-6")[0] == 0


@pytest.mark.slow
def test_two_mlflow_runs_of_one_store_by_run_name(isolated: Path, capsys):
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    location = record(isolated / "box", "mlflow", name="baseline")
    client = MlflowClient(location)
    experiment_id = client.get_experiment_by_name("tracelet-replay").experiment_id
    run_id = client.create_run(experiment_id, run_name="candidate").info.run_id
    client.log_batch(run_id, metrics=[Metric(k, v, 0, s) for k, s, v in changed(0.5)])

    code, out, _ = validate(capsys, f"{location}#baseline", f"{location}#candidate")

    assert code == 1
    assert "loss" in out
    assert "params differ" in " ".join(out.split())


def test_unreadable_store_exits_2_with_one_line(isolated: Path, capsys):
    (isolated / "notes.txt").write_text("not a store")
    good = isolated / "good.csv"
    source_run().metrics.to_csv(good, index=False)

    code, _, err = validate(capsys, good, "notes.txt")
    assert code == 2
    assert_one_error_line(err, "notes.txt: not a store tracelet can read")

    code, _, err = validate(capsys, good, "missing.db")
    assert code == 2
    assert_one_error_line(err, "missing.db: no such file or folder")


def test_corrupt_store_exits_2_with_one_line(isolated: Path, capsys):
    (isolated / "broken.wandb").write_bytes(b"garbage")
    good = isolated / "good.csv"
    source_run().metrics.to_csv(good, index=False)
    code, _, err = validate(capsys, "broken.wandb", good)
    assert code == 2
    assert_one_error_line(err, "cannot read", "broken.wandb", "as a W&B run")


def test_missing_tracker_exits_2_naming_the_extra(isolated: Path, capsys):
    run_dir = isolated / "run"
    run_dir.mkdir()
    (run_dir / "run-abc.wandb").write_bytes(b"")
    with pytest.MonkeyPatch.context() as patch:
        for name in [m for m in sys.modules if m == "wandb" or m.startswith("wandb.")]:
            patch.delitem(sys.modules, name)
        patch.setitem(sys.modules, "wandb", None)  # what an uninstalled package looks like

        code, _, err = validate(capsys, run_dir, run_dir)

    assert code == 2
    assert_one_error_line(err, "wandb is not installed: pip install 'tracelet[wandb]'")


def test_wrong_number_of_inputs_and_mixed_modes_exit_2(isolated: Path, capsys):
    good = isolated / "good.csv"
    source_run().metrics.to_csv(good, index=False)
    code, _, err = validate(capsys, good)
    assert code == 2
    assert_one_error_line(err, "give two stores to diff")
    code, _, err = validate(capsys, good, good, "--backend", "mlflow")
    assert code == 2
    assert_one_error_line(err, "--backend")
    code, _, err = validate(capsys, "--replay", good)
    assert code == 2
    assert_one_error_line(err, "--replay needs --backend")
