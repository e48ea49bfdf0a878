"""The promise of ``tracelet migrate``: the migrated script logs what the original logged.

Each example in ``examples/migration`` is copied twice into the test folder; one copy
goes through ``tracelet migrate --from <source> --write``. Both copies run as scripts at
once, each in its own isolated environment (``tests.conftest.isolated_environ``: W&B and
ClearML offline, MLflow's default store in the working directory). The original run is
read back from the tracker's own store, the migrated run from where its tracelet run
delivered, and the two are compared: metric points (key, step, value), params, tags and
artifacts.

The Lightning examples log through ``MLFlowLogger`` and ``WandbLogger``, which put their
stores in the script's folder (``file:./mlruns``, ``./wandb``); the migrated run must land
in the same place in its own folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.conftest import isolated_environ
from tracelet.cli import main
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "migration"
# case -> (--from, script, the tracker both runs are read from)
CASES = {
    "wandb": ("wandb", "wandb_train.py", "wandb"),
    "mlflow": ("mlflow", "mlflow_train.py", "mlflow"),
    "clearml": ("clearml", "clearml_train.py", "clearml"),
    "lightning-mlflow": ("lightning", "lightning_train.py", "mlflow"),
    "lightning-wandb": ("lightning", "lightning_wandb_train.py", "wandb"),
}
TRACKER_PREFIXES = ("MLFLOW_", "WANDB_", "CLEARML_", "TRACELET_")


def start_script(
    folder: Path, script: str, env_root: Path, args: Sequence[str] = (), **extra: str
) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(TRACKER_PREFIXES)}
    env.update(isolated_environ(env_root), **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, script, *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, env


def wait(process: subprocess.Popen, name: str) -> None:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, f"{name} failed:\n{stdout}\n{stderr}"


def original_store(case: str, folder: Path, env: dict[str, str]) -> str:
    return {
        "wandb": str(Path(env["WANDB_DIR"]) / "wandb"),
        "mlflow": f"sqlite:///{folder / 'mlflow.db'}",
        "clearml": str(Path(env["CLEARML_CACHE_DIR"]) / "offline"),
        "lightning-mlflow": f"file:{folder / 'mlruns'}",
        "lightning-wandb": str(folder / "wandb"),
    }[case]


def tracelet_run(env: dict[str, str]) -> Path:
    runs = sorted(p.parent for p in Path(env["TRACELET_DIR"]).glob("runs/*/run.json"))
    assert len(runs) == 1, f"expected one tracelet run, found {runs}"
    return runs[0]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_migrated_example_logs_the_same_tables(tmp_path: Path, case: str) -> None:
    source, script, tracker = CASES[case]
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(EXAMPLES / script, folder / script)

    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", source, "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    report = json.loads(report_path.read_text())
    assert report["totals"]["files_written"] == 1
    assert report["totals"]["sites_left"] == report["totals"]["sites_held"] == 0
    assert "tracelet.start_logging(" in (folders["migrated"] / script).read_text()

    # MLFlowLogger's default store is file:./mlruns, which MLflow 3 refuses unless allowed
    extra = {"MLFLOW_ALLOW_FILE_STORE": "true"} if case == "lightning-mlflow" else {}
    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env", **extra)
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(original_store(case, folders["original"], envs["original"]))
    if source == "lightning":  # the logger's store, in the migrated script's own folder
        location = original_store(case, folders["migrated"], envs["migrated"])
    else:
        location = delivered_store(tracelet_run(envs["migrated"]), tracker, envs["migrated"])
    migrated = read_store(location)

    assert len(original.metrics) >= 20
    points = ["key", "step", "value"]
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    # as `tracelet validate SCRIPT` compares: every column of the stores' own rows, where a
    # step column under each writer's own name (Lightning's trainer/global_step, tracelet's
    # tracelet/step) holding the same cells in every row is a rename, shown, not a difference
    comparison = compare_runs(original, migrated, store_rows=True)
    assert comparison.exit_code == 0, comparison


def test_clearml_title_equal_to_series_reads_back_as_one_key(tmp_path: Path) -> None:
    """``report_scalar("lr", "lr", ...)`` is ClearML's ``lr``; the migration keeps the key."""
    script = tmp_path / "clearml_train.py"
    shutil.copy2(EXAMPLES / "clearml_train.py", script)
    assert 'report_scalar("lr", "lr",' in script.read_text()

    assert main(["migrate", str(script), "--from", "clearml", "--write", "--no-progress"]) == 0

    assert 'logger.log_metric("lr", cfg["lr"], step=epoch)' in script.read_text()
