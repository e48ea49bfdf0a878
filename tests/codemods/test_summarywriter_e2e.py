"""``--style summarywriter`` and the tracker side effects, end to end on real-code reductions.

Each script in ``tests/fixtures/shape_e2e`` (reduced from a public training script, named
in its docstring) is copied twice; one copy is migrated with ``tracelet migrate --write``
(the default style). Both run at once in isolated environments (as in
``test_examples_e2e``), and the original run, read from the tracker's own store, is
compared with the migrated run, read from where tracelet delivered it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import original_store, start_script, tracelet_run, wait
from tracelet.cli import main
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "shape_e2e"
POINTS = ["key", "step", "value"]


def migrate_and_run(tmp_path: Path, script: str, source: str):
    """Both runs' tables and the migrated source."""
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SCRIPTS / script, folder / script)
    report = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", source, "--write"]
    assert main([*argv, "--report", str(report), "--no-progress"]) == 0
    totals = json.loads(report.read_text())["totals"]
    assert totals["sites_left"] == totals["sites_held"] == 0, totals
    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(original_store(source, folders["original"], envs["original"]))
    migrated_run = tracelet_run(envs["migrated"])
    migrated = read_store(delivered_store(migrated_run, source, envs["migrated"]))
    return original, migrated, (folders["migrated"] / script).read_text()


def points(tables) -> list[tuple]:
    return tables.metrics[POINTS].sort_values(POINTS).to_records(index=False).tolist()


@pytest.mark.slow
def test_mlflow_metrics_with_a_step_through_a_summarywriter_store_the_same(tmp_path: Path):
    original, migrated, code = migrate_and_run(tmp_path, "mlflow_hpo_trial.py", "mlflow")

    assert "writer = SummaryWriter()" in code
    assert 'writer.add_scalar("train_loss", loss.item(), epoch)' in code
    assert 'writer.add_scalar("accuracy", accuracy, epoch)' in code
    assert "mlflow." not in code
    assert len(original.metrics) == 36
    assert points(original) == points(migrated)
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison


@pytest.mark.slow
def test_clearml_seeding_at_task_init_is_kept_so_the_losses_are_the_same(tmp_path: Path):
    original, migrated, code = migrate_and_run(tmp_path, "clearml_mnist_seeded.py", "clearml")

    assert "torch.manual_seed(1337)" in code
    assert "global writer" in code
    assert 'writer.add_scalar("train/loss", loss.item(), (epoch * 3 + batch_idx))' in code
    assert sorted(set(original.metrics["key"])) == ["test/loss", "train/loss"]
    assert len(original.metrics) == 16
    assert points(original) == points(migrated)  # the same weights: the same seed
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison


@pytest.mark.slow
def test_a_value_logged_to_the_writer_and_to_mlflow_is_stored_once(tmp_path: Path):
    original, migrated, code = migrate_and_run(tmp_path, "mlflow_tensorboard_twin.py", "mlflow")

    assert "mlflow.log_metric" not in code
    # MLflow stored log_metric(name, value) at step 0; once routed, the writer's step is kept
    assert len(original.metrics) == len(migrated.metrics) == 15
    assert set(original.metrics["step"]) == {0}
    assert sorted(migrated.metrics["step"]) == list(range(5, 20))
    assert sorted(original.metrics["value"]) == sorted(migrated.metrics["value"])
