"""A migrated xgboost training script stores in MLflow what the original stored.

``tests/fixtures/vocabulary_e2e/mlflow_xgboost_model_training.py`` (a reduction of
DataTalksClub/mlops-zoomcamp's ``model_training.py``) opens two runs one after the other,
the second logging a pickled preprocessor and ``mlflow.xgboost.log_model``. One copy is
migrated with ``--write``; both run into their own ``sqlite:///mlflow.db`` (the script sets
it), and the runs of the two stores, paired in the order they started, are read back with
tracelet's MLflow reader and compared as ``tracelet validate`` compares them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest
import xgboost as xgb
from mlflow import MlflowClient

from tests.codemods.test_examples_e2e import start_script, wait
from tracelet.backends.mlflow import read_run
from tracelet.cli import main
from tracelet.validators.compare import compare_runs

SCRIPT = "mlflow_xgboost_model_training.py"
SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "vocabulary_e2e" / SCRIPT
EXPERIMENT = "nyc-taxi-experiment"


def run_ids(uri: str, experiment_name: str = EXPERIMENT) -> list[str]:
    """The store's runs of that experiment, in the order they started."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    return [run.info.run_id for run in runs]


@pytest.mark.slow
def test_migrated_xgboost_runs_store_what_the_original_stored(tmp_path: Path) -> None:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SOURCE, folder / SCRIPT)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / SCRIPT), "--from", "mlflow", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert (totals["files_written"], totals["sites_left"], totals["sites_held"]) == (1, 0, 0)
    source = (folders["migrated"] / SCRIPT).read_text()
    assert 'experiment.log_model(booster, name="models_mlflow")' in source

    started = {
        side: start_script(folder, SCRIPT, tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{SCRIPT}")

    uris = {side: f"sqlite:///{folder / 'mlflow.db'}" for side, folder in folders.items()}
    pairs = list(zip(*(run_ids(uri) for uri in uris.values()), strict=True))
    assert len(pairs) == 2
    for original_id, migrated_id in pairs:
        original = read_run(uris["original"], original_id)
        migrated = read_run(uris["migrated"], migrated_id)
        points = ["key", "step", "value"]
        assert (
            original.metrics[points].to_records(index=False).tolist()
            == migrated.metrics[points].to_records(index=False).tolist()
        )
        for table in ("params", "tags"):
            assert getattr(original, table).equals(getattr(migrated, table)), table
        assert sorted(original.artifacts["name"]) == sorted(migrated.artifacts["name"])
        comparison = compare_runs(original, migrated)
        assert comparison.exit_code == 0, comparison
    best = read_run(uris["migrated"], pairs[1][1])
    assert {"preprocessor/preprocessor.b", "models:/models_mlflow/model.ubj"} <= set(
        best.artifacts["name"]
    )

    # loaded last: a models:/ load writes registered_model_meta into the store it reads
    client = MlflowClient(uris["migrated"])
    [model] = client.search_logged_models(
        [client.get_experiment_by_name(EXPERIMENT).experiment_id],
        filter_string=f"source_run_id = '{pairs[1][1]}'",
    )
    mlflow.set_tracking_uri(uris["migrated"])
    assert isinstance(mlflow.xgboost.load_model(f"models:/{model.model_id}"), xgb.Booster)
