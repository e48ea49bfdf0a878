"""The promise of ``tracelet migrate``: the migrated script logs what the original logged.

Each example in ``examples/migration`` is copied twice into the test folder; one copy
goes through ``tracelet migrate --from <tracker> --write``. Both copies run as scripts,
each in its own isolated environment (``tests.conftest.isolated_environ``: W&B and
ClearML offline, MLflow's default sqlite store in the working directory). The original
run is read back from the tracker's own store, the migrated run from where its tracelet
run delivered, and the two are compared: metric points (key, step, value), params,
tags and artifacts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import isolated_environ
from tracelet.cli import main
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "migration"
SCRIPTS = {"wandb": "wandb_train.py", "mlflow": "mlflow_train.py", "clearml": "clearml_train.py"}
TRACKER_PREFIXES = ("MLFLOW_", "WANDB_", "CLEARML_", "TRACELET_")


def run_script(folder: Path, script: str, env_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(TRACKER_PREFIXES)}
    env.update(isolated_environ(env_root))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, script], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{folder.name}/{script} failed:\n{done.stdout}\n{done.stderr}"
    return env


def original_store(tracker: str, folder: Path, env: dict[str, str]) -> str:
    return {
        "wandb": str(Path(env["WANDB_DIR"]) / "wandb"),
        "mlflow": f"sqlite:///{folder / 'mlflow.db'}",
        "clearml": str(Path(env["CLEARML_CACHE_DIR"]) / "offline"),
    }[tracker]


def tracelet_run(env: dict[str, str]) -> Path:
    runs = sorted(p.parent for p in Path(env["TRACELET_DIR"]).glob("runs/*/run.json"))
    assert len(runs) == 1, f"expected one tracelet run, found {runs}"
    return runs[0]


@pytest.mark.parametrize("tracker", sorted(SCRIPTS))
def test_migrated_example_logs_the_same_tables(tmp_path: Path, tracker: str) -> None:
    script = SCRIPTS[tracker]
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(EXAMPLES / script, folder / script)

    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", tracker, "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    report = json.loads(report_path.read_text())
    assert report["totals"]["files_written"] == 1
    assert report["totals"]["sites_left"] == report["totals"]["sites_held"] == 0
    assert "tracelet.start_logging(" in (folders["migrated"] / script).read_text()

    envs = {side: run_script(folder, script, tmp_path / f"{side}-env") for side, folder in
            folders.items()}  # fmt: skip
    original = read_store(original_store(tracker, folders["original"], envs["original"]))
    migrated = read_store(
        delivered_store(tracelet_run(envs["migrated"]), tracker, envs["migrated"])
    )

    assert len(original.metrics) > 20
    points = ["key", "step", "value"]
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison
