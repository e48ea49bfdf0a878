"""``tracelet migrate`` end to end through the command line, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tracelet.cli import main

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """\
import wandb

wandb.init(project="p")
for step in range(3):
    wandb.log({"loss": 1.0 / (step + 1)})
wandb.finish()
"""
LEFT = """\
import wandb

wandb.init(project="p")
wandb.Video("clip.mp4")
wandb.log({"loss": 0.5})
"""
MLFLOW = """\
import mlflow

with mlflow.start_run(run_name="r"):
    mlflow.log_metric("loss", 0.5, step=1)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "src" / "train.py").write_text(SCRIPT)
    (root / "src" / "hooks.py").write_text(LEFT)
    (root / "src" / "plain.py").write_text("print('no tracker here')\n")
    return root


def test_default_prints_a_diff_and_writes_nothing(project: Path, capsys) -> None:
    code = main(["migrate", str(project / "src"), "--from", "wandb", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0
    assert '+    tracelet.log({"loss": 1.0 / (step + 1)})' in out
    assert '-    wandb.log({"loss": 1.0 / (step + 1)})' in out
    assert (project / "src" / "train.py").read_text() == SCRIPT
    assert "2 files would change, 3 call sites rewritten, 3 call sites left (see report)" in err
    assert "hooks.py:4 WB100 left: wandb.Video(): tracelet has no video value" in err


def test_write_then_check_passes(project: Path, capsys) -> None:
    src = str(project / "src")
    assert main(["migrate", src, "--from", "wandb", "--check", "--no-progress"]) == 1
    _, err = capsys.readouterr()
    assert "would change" in err and "train.py" in err

    assert main(["migrate", src, "--from", "wandb", "--write", "--no-progress"]) == 0
    _, err = capsys.readouterr()
    assert err.startswith("2 files changed, 3 call sites rewritten")
    migrated = (project / "src" / "train.py").read_text()
    assert 'tracelet.start_logging(project="p", backend="wandb")' in migrated
    assert "# TODO(tracelet): WB100" in (project / "src" / "hooks.py").read_text()

    assert main(["migrate", src, "--from", "wandb", "--check", "--no-progress"]) == 0
    assert main(["migrate", src, "--from", "wandb", "--check", "--strict", "--no-progress"]) == 1


def test_report_json_lists_every_call_site(project: Path, capsys) -> None:
    report_path = project / "migration.json"
    args = ["migrate", str(project / "src"), "--from", "wandb", "--report", str(report_path)]
    assert main([*args, "--no-progress"]) == 0
    report = json.loads(report_path.read_text())
    assert report["from"] == "wandb" and report["to"] == ["wandb"] and report["mode"] == "diff"
    by_file = {Path(f["path"]).name: f for f in report["files"]}
    assert set(by_file) == {"train.py", "hooks.py"}
    train = [(e["line"], e["rule"], e["action"]) for e in by_file["train.py"]["entries"]]
    assert train == [
        (3, "WB001", "rewritten"),
        (5, "WB002", "rewritten"),
        (6, "WB003", "rewritten"),
    ]
    first = by_file["train.py"]["entries"][0]
    assert first["old"] == 'wandb.init(project="p")'
    assert first["new"] == 'tracelet.start_logging(project="p", backend="wandb")'
    hooks = [(e["line"], e["rule"], e["action"]) for e in by_file["hooks.py"]["entries"]]
    assert hooks == [(3, "WB001", "held"), (4, "WB100", "left"), (5, "WB002", "held")]
    assert report["totals"]["sites_left"] == 1 and report["totals"]["sites_held"] == 2


def test_text_report(project: Path) -> None:
    report_path = project / "migration.txt"
    main(["migrate", str(project / "src"), "--from", "wandb", "--report", str(report_path),
          "--no-progress"])  # fmt: skip
    text = report_path.read_text()
    assert "3:1: REWRITTEN: [WB001 wandb-init]" in text
    assert '    Old: wandb.init(project="p")' in text
    assert '    New: tracelet.start_logging(project="p", backend="wandb")' in text
    assert "4:1: LEFT: [WB100 wandb-media]" in text


def test_from_mlflow_to_two_trackers(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text(MLFLOW)
    args = ["migrate", str(path), "--from", "mlflow", "--to", "wandb,mlflow", "--write"]
    assert main([*args, "--no-progress"]) == 0
    assert 'backend=["wandb", "mlflow"]) as experiment:' in path.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from", "lightning", "--to", "comet"], "unknown backend 'comet'"),
        (["--from", "wandb", "--disable", "XX999"], "unknown rule 'XX999'"),
        (["--from", "wandb", "--to", "neptune"], "unknown backend 'neptune'"),
        (["missing.py", "--from", "wandb"], "no such file or folder: missing.py"),
        (["--from", "wandb"], "give at least one file or folder"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    (tmp_path / "t.py").write_text(SCRIPT)
    paths = [] if argv[0] in ("missing.py",) or argv == ["--from", "wandb"] else ["t.py"]
    assert main(["migrate", *paths, *argv]) == 2
    assert message in capsys.readouterr().err


def test_never_silent_when_nothing_mentions_the_tracker(tmp_path: Path, capsys) -> None:
    (tmp_path / "plain.py").write_text("x = 1\n")
    assert main(["migrate", str(tmp_path), "--from", "clearml", "--no-progress"]) == 0
    assert "No file mentions clearml (1 Python file scanned)." in capsys.readouterr().err


def test_list_rules(capsys) -> None:
    assert main(["migrate", "--list-rules", "--from", "mlflow"]) == 0
    out = capsys.readouterr().out
    assert "ML003" in out and "TL001" in out and "WB002" not in out


def test_runs_under_libcst_tool(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "-m", "libcst.tool", "codemod", "--no-format", "--hide-progress",
         "-x", "tracelet.codemods.wandb.WandbToTracelet", "--to", "wandb,mlflow", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'backend=["wandb", "mlflow"]' in path.read_text()


def test_pre_commit_hooks_fail_on_new_direct_calls(tmp_path: Path) -> None:
    import shlex

    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {
        "tracelet-no-wandb",
        "tracelet-no-mlflow",
        "tracelet-no-clearml",
        "tracelet-no-lightning-loggers",
    }
    assert all(h["entry"].startswith("tracelet migrate --check") for h in hooks.values())
    direct = tmp_path / "direct.py"
    direct.write_text(MLFLOW)
    clean = tmp_path / "clean.py"
    clean.write_text("import tracelet\n\ntracelet.log({'a': 1})\n")
    argv = shlex.split(hooks["tracelet-no-mlflow"]["entry"])
    assert argv[:2] == ["tracelet", "migrate"]
    assert main([*argv[1:], str(clean)]) == 0
    assert main([*argv[1:], str(clean), str(direct)]) == 1
    assert direct.read_text() == MLFLOW


LIGHTNING = """\
import lightning.pytorch as pl
from lightning.pytorch.loggers import WandbLogger


def main(model):
    trainer = pl.Trainer(logger=WandbLogger(project="p", offline=True))
    trainer.fit(model)
"""


def test_from_lightning_logs_to_the_loggers_tracker_unless_to(tmp_path: Path, capsys) -> None:
    script = tmp_path / "train.py"
    script.write_text(LIGHTNING)
    report = tmp_path / "report.json"

    code = main(["migrate", str(script), "--from", "lightning", "--write", "--force",
                 "--report", str(report), "--no-progress"])  # fmt: skip

    assert code == 0
    assert script.read_text() == (
        "import lightning.pytorch as pl\n"
        "import tracelet\n\n\n"
        "def main(model):\n"
        '    tracelet.start_logging(project="p", backend="wandb", '
        'backend_options={"wandb": {"dir": ".", "mode": "offline"}})\n'
        "    trainer = pl.Trainer(logger=False)\n"
        "    trainer.fit(model)\n"
        "    tracelet.stop_logging()\n"
    )
    data = json.loads(report.read_text())
    assert data["from"] == "lightning" and data["to"] == []
    assert [e["rule"] for e in data["files"][0]["entries"]] == ["LT003", "LT003", "LT002"]

    script.write_text(LIGHTNING)
    code = main(["migrate", str(script), "--from", "lightning", "--to", "mlflow",
                 "--no-progress"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    assert '+    tracelet.start_logging(project="p", backend="mlflow")' in out
    assert "1 file would change, 2 call sites rewritten, 0 call sites left" in err


STEP_METRIC = """import mlflow
import torch

with mlflow.start_run():
    for epoch in range(2):
        mlflow.log_metric("loss", torch.tensor(1.0 / (epoch + 1)).item(), step=epoch)
"""


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        (None, 'writer.add_scalar("loss", torch.tensor(1.0 / (epoch + 1)).item(), epoch)'),
        (
            "tracelet",
            'experiment.log_metric("loss", torch.tensor(1.0 / (epoch + 1)).item(), step=epoch)',
        ),
    ],
)
def test_style_chooses_summarywriter_or_experiment_calls(
    tmp_path: Path, capsys, style: str | None, expected: str
) -> None:
    script = tmp_path / "train.py"
    script.write_text(STEP_METRIC)
    argv = ["migrate", str(script), "--from", "mlflow", "--no-progress"]

    assert main([*argv, *(["--style", style] if style else [])]) == 0

    diff = capsys.readouterr().out
    assert f"+        {expected}" in diff
    assert ("+    writer = SummaryWriter()" in diff) is (style is None)
