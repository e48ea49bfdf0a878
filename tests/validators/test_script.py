"""Script mode: a script and its migrated copy run in sandboxes, then their stores are diffed."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from tests.validators.test_cli import assert_one_error_line, validate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "migration").glob("*_train.py"))
FIXTURES = REPO / "tests" / "fixtures" / "validate"


@pytest.fixture(autouse=True)
def temp_folders_in_the_test_folder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work folders kept after a DIFFERENT verdict land in the test's TMPDIR, not /tmp."""
    monkeypatch.setattr(tempfile, "tempdir", None)


def test_the_migration_examples_exist():
    assert {p.name for p in EXAMPLES} >= {
        "wandb_train.py",
        "mlflow_train.py",
        "clearml_train.py",
        "lightning_train.py",
        "lightning_wandb_train.py",
    }


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_migration_example_is_equal(isolated: Path, capsys, example: Path):
    tracker = example.name.split("_")[0]  # lightning_*: the script's Lightning loggers
    before = example.read_bytes()

    code, out, err = validate(capsys, example, "--from", tracker, "--json", "report.json")

    assert code == 0, out + err
    assert "EQUAL:" in out
    report = json.loads((isolated / "report.json").read_text())
    assert report["verdict"] == "equal"
    assert report["mode"] == "script"
    assert report["migration"]["totals"]["sites_rewritten"] > 0
    assert report["summary"]["left_points"] == report["summary"]["right_points"] > 0
    assert not Path(report["workdir"]).exists()  # removed after an equal verdict
    assert example.read_bytes() == before  # the user's file is untouched


@pytest.mark.slow
def test_script_arguments_after_double_dash_and_another_target(isolated: Path, capsys):
    example = REPO / "examples" / "migration" / "wandb_train.py"

    code, out, _ = validate(
        capsys, example, "--from", "wandb", "--to", "mlflow", "--json", "r.json", "--",
        "--epochs", "2",
    )  # fmt: skip

    assert code == 0, out
    report = json.loads((isolated / "r.json").read_text())
    assert report["to"] == "mlflow"
    assert report["sources"]["left"].endswith("/original-store/wandb/wandb")
    assert report["sources"]["right"].startswith("sqlite:///")
    epochs = [m for m in report["metrics"] if m["key"] == "epoch"]
    assert epochs[0]["left_points"] == 2  # --epochs 2 reached both runs


@pytest.mark.slow
def test_one_changed_value_in_the_copy_is_different_and_named(isolated: Path, capsys):
    script = FIXTURES / "wandb_changed_in_copy.py"

    code, out, _ = validate(
        capsys, script, "--from", "wandb", "--json", "r.json", "--html", "r.html"
    )

    assert code == 1
    text = " ".join(out.split())
    assert "DIFFERENT: 1 of 2 metric keys differ: loss" in text
    report = json.loads((isolated / "r.json").read_text())
    assert report["summary"]["differing_keys"] == ["loss"]
    (loss,) = [m for m in report["metrics"] if m["key"] == "loss"]
    assert loss["first_differences"] == [
        {"step": 3, "occurrence": 0, "left": 0.25, "right": 0.25 + 0.001}
    ]
    workdir = Path(report["workdir"])
    assert f"runs and stores kept in {workdir}" in text
    assert (workdir / "original-store" / "stderr.log").is_file()
    assert (workdir / "migrated" / "wandb_changed_in_copy.py").read_text().count("tracelet") > 1
    assert (workdir / "migration-report.txt").is_file()
    assert (isolated / "r.html").is_file()


def test_package_folder_with_root_is_migrated_whole(isolated: Path, capsys):
    project = FIXTURES / "project"

    code, out, err = validate(
        capsys, project / "train.py", "--from", "wandb", "--root", project, "--", "--epochs", "4"
    )

    assert code == 0, out + err
    assert "2 files changed" in out
    assert "EQUAL: 2 metric keys, 8 points on each side match exactly" in " ".join(out.split())


@pytest.mark.slow
def test_crashing_script_exits_2_with_one_line(isolated: Path, capsys):
    code, _, err = validate(capsys, FIXTURES / "mlflow_crash.py", "--from", "mlflow")
    assert code == 2
    assert_one_error_line(
        err,
        "the original script failed (exit code 1): ZeroDivisionError: division by zero",
        "its output is in",
    )
    folder = Path(err.rsplit("its output is in ", 1)[1].strip())
    assert "ZeroDivisionError" in (folder / "stderr.log").read_text()


def test_migrated_copy_crash_exits_2_naming_the_copy(isolated: Path, capsys):
    code, _, err = validate(capsys, FIXTURES / "wandb_crash_in_copy.py", "--from", "wandb")
    assert code == 2
    assert_one_error_line(
        err, "the migrated copy failed (exit code 1): RuntimeError: only the migrated copy fails"
    )


@pytest.mark.slow
def test_timeout_exits_2(isolated: Path, capsys):
    code, _, err = validate(
        capsys, FIXTURES / "mlflow_sleeps.py", "--from", "mlflow", "--timeout", "3"
    )
    assert code == 2
    assert_one_error_line(err, "timed out after 3 s")


def test_missing_tracker_exits_2_naming_the_extra(isolated: Path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        for name in [m for m in sys.modules if m == "clearml" or m.startswith("clearml.")]:
            patch.delitem(sys.modules, name)
        patch.setitem(sys.modules, "clearml", None)  # what an uninstalled package looks like

        code, _, err = validate(
            capsys, REPO / "examples/migration/clearml_train.py", "--from", "clearml"
        )

    assert code == 2
    assert_one_error_line(err, "clearml is not installed: pip install 'tracelet[clearml]'")


def test_nothing_to_migrate_and_bad_arguments_exit_2(isolated: Path, capsys):
    code, _, err = validate(capsys, FIXTURES / "no_tracker.py", "--from", "wandb")
    assert code == 2
    assert_one_error_line(err, "rewrote nothing in no_tracker.py")

    code, _, err = validate(capsys, FIXTURES / "no_tracker.py")
    assert code == 2
    assert_one_error_line(err, "script mode needs --from")

    code, _, err = validate(capsys, "missing.py", "--from", "wandb")
    assert code == 2
    assert_one_error_line(err, "missing.py: no such script")

    code, _, err = validate(capsys, FIXTURES / "no_tracker.py", "--from", "wandb", "--root", "/usr")
    assert code == 2
    assert_one_error_line(err, "--root /usr does not hold")


def test_sandbox_keeps_the_user_trackers_out(isolated: Path):
    from clearml.utilities.pyhocon import ConfigFactory

    from tracelet.validators.sandbox import Sandbox

    box = Sandbox.create(isolated / "box")
    user = {
        "PATH": "/usr/bin",
        "MLFLOW_TRACKING_URI": "http://tracking.example.com",
        "WANDB_API_KEY": "secret",
        "WANDB_MODE": "online",
        "CLEARML_API_HOST": "https://api.example.com",
        "TRACELET_BACKEND": "wandb",
    }

    env = box.environ(user)

    assert env["PATH"] == "/usr/bin"
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{box.root / 'mlflow.db'}"
    assert env["WANDB_MODE"] == "offline"
    assert "WANDB_API_KEY" not in env
    assert "CLEARML_API_HOST" not in env
    assert "TRACELET_BACKEND" not in env
    inside = [env[k] for k in ("HOME", "TMPDIR", "WANDB_DIR", "CLEARML_CACHE_DIR", "TRACELET_DIR")]
    assert all(Path(v).is_relative_to(box.root) and Path(v).is_dir() for v in inside)
    config = ConfigFactory.parse_file(env["CLEARML_CONFIG_FILE"])
    assert config.get("sdk.development.report_use_subprocess") is False
    outcome = box.start(
        [sys.executable, "-c", "import os; print(os.environ['HOME'])"], cwd=box.root
    ).wait()
    assert outcome.ok
    assert outcome.stdout.read_text().strip() == env["HOME"]


@pytest.mark.slow
def test_lightning_logger_store_in_the_script_folder_is_found(isolated: Path, capsys):
    """WandbLogger writes ./wandb whatever $WANDB_DIR says; both runs are read from there."""
    example = REPO / "examples" / "migration" / "lightning_wandb_train.py"

    code, out, _ = validate(
        capsys, example, "--from", "lightning", "--json", "r.json", "--workdir", "work"
    )

    assert code == 0, out
    report = json.loads((isolated / "r.json").read_text())
    work = (isolated / "work").resolve()
    assert report["from"] == "lightning"
    assert report["to"] == "wandb"
    assert report["sources"]["left"] == str(work / "original" / "wandb")
    assert report["sources"]["right"].startswith(str(work / "migrated" / "wandb"))
    assert "epoch" in {m["key"] for m in report["metrics"]}
    assert "train/mae_step" in {m["key"] for m in report["metrics"]}


LIGHTNING_BOTH = """
import lightning.pytorch as pl
from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

trainer = pl.Trainer(logger=[MLFlowLogger(), WandbLogger(offline=True)])
"""


def test_lightning_with_loggers_of_two_trackers_needs_to(isolated: Path, capsys):
    script = isolated / "both.py"
    script.write_text(LIGHTNING_BOTH)

    code, _, err = validate(capsys, script, "--from", "lightning")

    assert code == 2
    assert_one_error_line(
        err, "the loggers of mlflow and wandb: choose the one to compare with --to"
    )


def test_lightning_without_tracker_logger_exits_2(isolated: Path, capsys):
    script = isolated / "tensorboard_only.py"
    script.write_text(
        "import lightning.pytorch as pl\n"
        "from lightning.pytorch.loggers import TensorBoardLogger\n"
        "trainer = pl.Trainer(logger=TensorBoardLogger('logs'))\n"
    )

    code, _, err = validate(capsys, script, "--from", "lightning")

    assert code == 2
    assert_one_error_line(err, "rewrote nothing in tensorboard_only.py")


@pytest.mark.slow
def test_clearml_title_equal_to_series_reads_back_the_same(isolated: Path, capsys):
    """ClearML's ``report_scalar("lr", "lr", ...)`` reads back as ``lr``; so does the copy's."""
    example = REPO / "examples" / "migration" / "clearml_train.py"
    assert 'report_scalar("lr", "lr",' in example.read_text()

    code, out, _ = validate(capsys, example, "--from", "clearml", "--json", "r.json")

    assert code == 0, out
    metrics = {m["key"]: m for m in json.loads((isolated / "r.json").read_text())["metrics"]}
    assert "lr/lr" not in metrics
    assert metrics["lr"]["status"] == "equal"
    assert metrics["lr"]["left_points"] == metrics["lr"]["right_points"] == 4


@pytest.mark.slow
def test_tensorboard_sync_differences_are_each_reported(isolated: Path, capsys):
    """cleanrl's wandb.init(sync_tensorboard=True): W&B's sync stores float32 values, one row
    per TensorBoard step under global_step and the last of two values at one step; the
    routed writer stores what it was given. Validate says so and exits 1."""
    code, out, _ = validate(
        capsys, FIXTURES / "wandb_cleanrl_sync.py", "--from", "wandb", "--json", "r.json"
    )

    assert code == 1, out
    assert "original store: written by W&B's TensorBoard sync: float32 values" in out
    report = json.loads((isolated / "r.json").read_text())
    assert [(a["encoding"], a["declared_by"]) for a in report["adjustments"]] == [
        ("float32", ["left"])
    ]
    metrics = {m["key"]: m for m in report["metrics"]}
    assert metrics["losses/td_loss"]["status"] == metrics["charts/SPS"]["status"] == "equal"
    returns = metrics["charts/episodic_return"]
    assert (returns["left_points"], returns["right_points"]) == (4, 8)
    assert returns["only_right_steps"] == [149, 299, 449, 599]
    history = report["history"]
    assert history["only_left_columns"] == ["global_step"]
    assert (history["left_rows"], history["right_rows"]) == (10, 15)


def test_the_error_named_is_the_exception_not_the_stop_progress_printed_after_it(tmp_path):
    from tracelet.validators.sandbox import _last_line

    stderr = tmp_path / "stderr.txt"
    stderr.write_text(
        "Traceback (most recent call last):\n"
        '  File "train.py", line 3, in <module>\n'
        "RuntimeError: only the migrated copy fails\n"
        "tracelet: delivering, 119 s left at most: wandb no answer yet\n"
    )
    assert _last_line(stderr) == "RuntimeError: only the migrated copy fails"
    stderr.write_text("tracelet: wandb: cannot open the run\n")
    assert _last_line(stderr) == "tracelet: wandb: cannot open the run"  # nothing else said
