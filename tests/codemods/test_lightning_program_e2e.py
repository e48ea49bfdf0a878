"""A Lightning logger followed into another module of the program (``LT006``) and the
Trainer-logger calls rewritten with it (``LT007``), end to end.

``tests/fixtures/lightning_e2e/seq2seq_program`` reduces huggingface/transformers-research-
projects' seq2seq-distillation (``finetune.py`` makes the ``WandbLogger``,
``lightning_base.generic_train`` makes the Trainer; with ``--do_predict`` ``finetune.py``
logs the hparams again through the returned Trainer's logger, then tests). The folder is
copied twice, one copy migrated
with ``tracelet migrate --from lightning --write``; both run (W&B offline: the original
through ``WandbLogger``, the migrated through tracelet's W&B backend) and the two ``.wandb``
stores, read by tracelet's own reader of W&B's file format, are compared as ``tracelet
validate`` compares them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import start_script, wait
from tracelet.cli import main
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs

PROGRAM = Path(__file__).resolve().parents[1] / "fixtures" / "lightning_e2e" / "seq2seq_program"


def _prepare(tmp_path: Path) -> dict[str, Path]:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        shutil.copytree(PROGRAM, folder)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"]), "--from", "lightning", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert totals["files_written"] == 1  # lightning_base.py only hands the logger on
    assert totals["sites_left"] == totals["sites_held"] == 0
    return folders


def _run(tmp_path: Path, folders: dict[str, Path], args: list[str]) -> dict[str, dict]:
    started = {
        side: start_script(folder, "finetune.py", tmp_path / f"{side}-env", args=args)
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/finetune.py")
    return {side: env for side, (_, env) in started.items()}


@pytest.mark.slow
@pytest.mark.parametrize("logger_name", ["wandb", "wandb_shared"])
def test_a_logger_passed_to_another_modules_trainer_logs_the_same_run(
    tmp_path: Path, logger_name: str
) -> None:
    folders = _prepare(tmp_path)
    migrated = (folders["migrated"] / "finetune.py").read_text()
    assert "WandbLogger(" not in migrated
    assert migrated.count("        logger = False\n") == 2
    assert "    if trainer.logger is None:\n        tracelet.get_active_experiment()" in migrated
    base = "lightning_base.py"
    assert (folders["migrated"] / base).read_text() == (PROGRAM / base).read_text()

    _run(tmp_path, folders, ["--logger_name", logger_name, "--do_train", "--do_predict"])
    stores = {side: read_store(str(folder / "wandb")) for side, folder in folders.items()}
    original = stores["original"]
    keys = original.metrics["key"]
    assert (keys == "loss").sum() == 6 and (keys == "test_loss").sum() == 1
    params = dict(zip(original.params["key"], original.params["value"], strict=True))
    assert params["test_checkpoint"] == "out/epoch=1-step=24.ckpt"  # set after fit
    comparison = compare_runs(original, stores["migrated"], store_rows=True)
    assert comparison.exit_code == 0, comparison


@pytest.mark.slow
def test_the_default_logger_branch_still_logs_to_lightnings_own_logger(tmp_path: Path) -> None:
    folders = _prepare(tmp_path)
    envs = _run(tmp_path, folders, ["--logger_name", "default", "--do_train", "--do_predict"])
    for side, folder in folders.items():
        assert not (folder / "wandb").exists()
        assert not list(Path(envs[side]["TRACELET_DIR"]).glob("runs/*/run.json"))
    for name in ("lightning_logs/version_0/hparams.yaml", "out/test_results.txt"):
        texts = {side: (folder / name).read_text() for side, folder in folders.items()}
        assert texts["original"] == texts["migrated"]
    assert "test_loss = " in texts["original"]
    events = {
        side: len(list(f.glob("lightning_logs/version_0/events.*"))) for side, f in folders.items()
    }
    assert events["original"] == events["migrated"] >= 1
