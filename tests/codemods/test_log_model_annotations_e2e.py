"""Migrated ``mlflow.<flavor>.log_model(input_example=, metadata=)`` calls store in MLflow
what the originals stored.

Each script in ``tests/fixtures/vocabulary_e2e`` is a reduction of an LPvdT/mlflow-3-tutorials
program. One copy is migrated with ``--write``; both run into their own
``sqlite:///mlflow.db`` and the runs are compared as ``tracelet validate`` compares them:
metrics, params, tags and every file of the logged model (``MLmodel`` without its ids,
``input_example.json``, ``serving_input_example.json``, the model, the environment). The
logged models' own params, tags and linked metrics are compared with MLflow's client.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.codemods.test_examples_e2e import start_script, wait
from tests.codemods.test_xgboost_e2e import run_ids
from tracelet.backends.mlflow import read_run
from tracelet.cli import main
from tracelet.validators.compare import compare_runs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vocabulary_e2e"
CASES = {
    "mlflow_log_model_visualizations.py": (
        "Visualizations Demo",
        'log_model(  # type: ignore\n            model, name="model", input_example=X_test\n',
    ),
    "mlflow_log_model_tuning.py": (
        "Apples Demand",
        "input_example=train_x.iloc[[0]],  # type: ignore\n"
        '            metadata={"model_data_version": 1},\n',
    ),
}


def logged_model(uri: str, run_id: str) -> dict:
    """What MLflow keeps of the run's one logged model besides its files."""
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    return {
        "name": model.name,
        "status": str(model.status),
        "params": model.params,
        "tags": {k: v for k, v in model.tags.items() if not k.startswith("mlflow.")},
        "steps": [o.step for o in run.outputs.model_outputs],
        "metrics": sorted((m.key, m.value, m.step) for m in model.metrics or []),
    }


@pytest.mark.slow
@pytest.mark.parametrize("script", CASES)
def test_migrated_log_model_with_an_input_example_stores_what_the_original_stored(
    tmp_path: Path, script: str
) -> None:
    experiment, migrated_call = CASES[script]
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(FIXTURES / script, folder / script)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", "mlflow", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert (totals["files_written"], totals["sites_left"], totals["sites_held"]) == (1, 0, 0)
    assert migrated_call in (folders["migrated"] / script).read_text()

    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")

    uris = {side: f"sqlite:///{folder / 'mlflow.db'}" for side, folder in folders.items()}
    [(original_id, migrated_id)] = zip(
        *(run_ids(uri, experiment) for uri in uris.values()), strict=True
    )
    original = read_run(uris["original"], original_id)
    migrated = read_run(uris["migrated"], migrated_id)
    examples = {f"models:/model/{e}_example.json" for e in ("input", "serving_input")}
    assert examples <= set(migrated.artifacts["name"])
    assert sorted(original.artifacts["name"]) == sorted(migrated.artifacts["name"])
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison
    assert comparison.artifacts.matched == len(original.artifacts)
    assert logged_model(uris["original"], original_id) == logged_model(
        uris["migrated"], migrated_id
    )
