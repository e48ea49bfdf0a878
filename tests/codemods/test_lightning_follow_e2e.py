"""Lightning loggers followed to where they are made (``LT004``/``LT005``), end to end.

Each script in ``tests/fixtures/lightning_e2e`` is a reduction of public training code
(named in its docstring) whose logger variable is set in several places or by a
conditional expression. It is copied twice, one copy migrated with
``tracelet migrate --from lightning --write``, both run at once in their own isolated
environments, and the logger's store is read back from each copy's own folder and
compared as ``tracelet validate``'s script mode compares (the stores' own rows).
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

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "lightning_e2e"


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [[], ["--run_name", "dsg-1", "--debug"]], ids=["version-read", "named-debug"]
)
def test_logger_per_branch_logs_the_same_run(tmp_path: Path, args: list[str]) -> None:
    script = "disentangan_training.py"
    folders = _prepare(tmp_path, script)
    migrated_code = (folders["migrated"] / script).read_text()
    assert "wandb_logger = False" in migrated_code
    assert "hparams.run_name = None" in migrated_code
    assert "WandbLogger(" not in migrated_code

    _run(tmp_path, folders, script, args)
    original = read_store(str(folders["original"] / "wandb"))
    migrated = read_store(str(folders["migrated"] / "wandb"))
    assert len(original.metrics) >= 20
    points = ["key", "step", "value"]
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    comparison = compare_runs(original, migrated, store_rows=True)
    assert comparison.exit_code == 0, comparison
    # the checkpoint is named after hparams.run_name: WandbLogger.version was None
    name = "dsg-1" if args else "None"
    for folder in folders.values():
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [f"{name}_mnist.ckpt"]


@pytest.mark.slow
@pytest.mark.parametrize("logger_name", ["mlflow", "default"])
def test_conditional_logger_logs_the_same_run(tmp_path: Path, logger_name: str) -> None:
    script = "seq2seq_conditional_logger.py"
    folders = _prepare(tmp_path, script)
    assert "MLFlowLogger(" not in (folders["migrated"] / script).read_text()

    _run(tmp_path, folders, script, ["--logger_name", logger_name, "--do_train"])
    if logger_name == "default":  # the Trainer's own TensorBoardLogger, no tracker run
        for folder in folders.values():
            assert not (folder / "mlruns").exists()
            assert len(list(folder.glob("out/lightning_logs/version_0/events.*"))) == 1
        return
    stores = {side: read_store(f"file:{folder / 'mlruns'}") for side, folder in folders.items()}
    assert len(stores["original"].metrics) >= 20
    comparison = compare_runs(stores["original"], stores["migrated"], store_rows=True)
    assert comparison.exit_code == 0, comparison


def _prepare(tmp_path: Path, script: str) -> dict[str, Path]:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SCRIPTS / script, folder / script)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", "lightning", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert totals["files_written"] == 1
    assert totals["sites_left"] == totals["sites_held"] == 0
    return folders


def _run(tmp_path: Path, folders: dict[str, Path], script: str, args: list[str]) -> None:
    # MLFlowLogger's default store is file:./mlruns, which MLflow 3 refuses unless allowed
    extra = {"MLFLOW_ALLOW_FILE_STORE": "true"}
    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env", args=args, **extra)
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")


@pytest.mark.slow
@pytest.mark.parametrize("logger_name", ["wandb", "mlflow"])
def test_helper_returned_logger_logs_the_same_run(tmp_path: Path, logger_name: str) -> None:
    script = "litgpt_choose_logger.py"
    folders = _prepare(tmp_path, script)
    migrated_code = (folders["migrated"] / script).read_text()
    assert migrated_code.count("return False") == 2

    _run(tmp_path, folders, script, ["--logger_name", logger_name])
    location = "wandb" if logger_name == "wandb" else "mlruns"
    prefix = "" if logger_name == "wandb" else "file:"
    stores = {side: read_store(f"{prefix}{folder / location}") for side, folder in folders.items()}
    assert len(stores["original"].metrics) >= 20
    comparison = compare_runs(stores["original"], stores["migrated"], store_rows=True)
    assert comparison.exit_code == 0, comparison
