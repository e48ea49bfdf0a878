"""``mlflow.set_tracking_uri`` in the flow function, the run started in the task it calls:
the migrated program sets the store with ``tracelet.set_backend_options`` and imports no
MLflow, and its run lands in the same store and experiment as the original's, equal.

``tests/fixtures/tracking_uri_e2e/orchestrate.py`` is a reduction of DataTalksClub/
mlops-zoomcamp's ``cohorts/2023/03-orchestration/prefect/3.4/orchestrate.py``. One copy is
migrated with ``--write``; each copy runs in its own folder with MLflow's default store
elsewhere (``MLFLOW_TRACKING_URI`` pointing away), so only the URI the program sets brings
the run to ``orchestrate.db``. Both stores are read back with MLflow's own client.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.codemods.test_examples_e2e import start_script, wait
from tracelet.backends.mlflow import read_run
from tracelet.cli import main
from tracelet.validators.compare import compare_runs

SCRIPT = "orchestrate.py"
SOURCE = Path(__file__).resolve().parents[1] / "fixtures" / "tracking_uri_e2e" / SCRIPT
EXPERIMENT = "nyc-taxi-experiment"


@pytest.mark.slow
def test_tracking_uri_set_in_the_flow_reaches_the_run_started_in_its_task(tmp_path: Path):
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SOURCE, folder / SCRIPT)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / SCRIPT), "--from", "mlflow", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    report = json.loads(report_path.read_text())
    assert (report["totals"]["sites_left"], report["totals"]["sites_held"]) == (0, 0)
    [entry] = [e for f in report["files"] for e in f["entries"] if e["rule"] == "ML020"]
    assert entry["action"] == "rewritten"
    source = (folders["migrated"] / SCRIPT).read_text()
    assert 'tracelet.set_backend_options("mlflow", url="sqlite:///orchestrate.db")' in source
    tree = ast.parse(source)
    assert not [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "mlflow"]
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert "mlflow" not in imported

    started = {
        side: start_script(
            folder,
            SCRIPT,
            tmp_path / f"{side}-env",
            MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / f'{side}-default.db'}",
        )
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{SCRIPT}")

    runs = {}
    for side, folder in folders.items():
        assert not (tmp_path / f"{side}-default.db").exists(), side
        uri = f"sqlite:///{folder / 'orchestrate.db'}"
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        [run] = client.search_runs([experiment.experiment_id])
        assert run.data.metrics.keys() == {"rmse"}
        runs[side] = (uri, run.info.run_id)
    original, migrated = (read_run(uri, run_id) for uri, run_id in runs.values())
    for table in ("params", "tags"):
        assert getattr(original, table).equals(getattr(migrated, table)), table
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison
    assert {"preprocessor/preprocessor.b", "models:/models_mlflow/model.ubj"} <= set(
        migrated.artifacts["name"]
    )
