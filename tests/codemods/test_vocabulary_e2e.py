"""Migrated scripts that use the run vocabulary log what the originals logged.

Each script in ``tests/fixtures/vocabulary_e2e`` is a runnable reduction of public training
code (the source is named in its docstring) whose tracker calls need issue 11's API: media
values, summaries, ``watch``, ``define_metric``, artifacts of files and objects, models,
run ids, parameter sections. One copy is migrated with ``--write``; both run into offline
stores (see ``tests.codemods.test_examples_e2e``), are read back with tracelet's readers
and compared with ``tracelet validate``'s comparison.

A W&B artifact built with ``add_file`` migrates to
``log_artifact(path, name="<artifact>/<file>")``, which W&B stores as the same artifact
holding the same entry (checked before the comparison).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import start_script, tracelet_run, wait
from tracelet.cli import main
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

SCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "vocabulary_e2e"


def original_location(tracker: str, folder: Path, env: dict[str, str]) -> str:
    return {
        "wandb": str(Path(env["WANDB_DIR"]) / "wandb"),
        "mlflow": f"sqlite:///{folder / 'mlflow.db'}",
        "clearml": str(Path(env["CLEARML_CACHE_DIR"]) / "offline"),
    }[tracker]


def migrate_and_run(tmp_path: Path, script: str):
    """Both runs read back: ``(original, migrated, migrated source)``."""
    tracker = script.split("_", 1)[0]
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SCRIPTS / script, folder / script)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", tracker, "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert totals["files_written"] == 1
    assert totals["sites_left"] == totals["sites_held"] == 0
    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(original_location(tracker, folders["original"], envs["original"]))
    run_dir = tracelet_run(envs["migrated"])
    migrated = read_store(delivered_store(run_dir, tracker, envs["migrated"]))
    return original, migrated, (folders["migrated"] / script).read_text()


def assert_same_tables(original, migrated) -> None:
    points = ["key", "step", "value"]
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    for table in ("params", "tags"):
        assert getattr(original, table).equals(getattr(migrated, table)), table
    names = sorted(original.artifacts["name"]), sorted(migrated.artifacts["name"])
    assert names[0] == names[1]
    comparison = compare_runs(original, migrated)
    assert comparison.exit_code == 0, comparison


@pytest.mark.slow
def test_wandb_media_summary_watch_and_artifact(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "wandb_open_clip_train.py")
    assert "tracelet.Image(" in source and ".summary[" in source and ".watch(model" in source
    assert set(original.metrics["key"]) >= {"train/loss", "val/loss"}
    assert list(original.artifacts["name"]) == ["model/checkpoint.pt"]
    columns = ["name", "size", "sha256"]
    assert original.artifacts[columns].equals(migrated.artifacts[columns])
    assert_same_tables(original, migrated)


@pytest.mark.slow
def test_mlflow_sklearn_model_dict_and_run_id(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "mlflow_elasticnet_train.py")
    assert "log_model(lr" in source and 'ids["mlflow"]' in source
    assert {"models:/model/MLmodel", "evaluation.json"} <= set(original.artifacts["name"])
    assert_same_tables(original, migrated)


@pytest.mark.slow
def test_clearml_images_histograms_tables_single_values_and_objects(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "clearml_reporting_train.py")
    assert 'section="optimizer"' in source and "summary[" in source
    assert '"encode_images": True' in source  # ClearML encodes the reported arrays itself
    assert set(original.artifacts["name"]) >= {"Pandas", "dictionary", "Numpy Eye"}
    assert_same_tables(original, migrated)


@pytest.mark.slow
def test_mlflow_artifacts_with_fstring_paths_and_experiment_read_back(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "mlflow_shap_artifacts.py")
    assert "mlflow.set_experiment(EXPERIMENT_NAME)" in source
    assert "name=f'{artifact_root_path}/shap_values.npy'" in source
    assert "(artifact_file := write_summary(temp_dir_path))" in source
    expected = {
        f"model_explanations_shap/{name}"
        for name in ("shap_values.npy", "base_values.npy", "shap_bar_plot.png", "summary_0.txt")
    }
    assert set(original.artifacts["name"]) == expected
    assert_same_tables(original, migrated)


@pytest.mark.slow
def test_mlflow_figures_logged_as_files(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "mlflow_logging_visualizations.py")
    assert '.log_artifact(fig3, name="scatter_demand_price.png")' in source
    figures = {"scatter_demand_price.png", "residuals_plot.png", "corr_plot.png"}
    assert figures <= set(original.artifacts["name"])
    shas = [
        frame.set_index("name").loc[sorted(figures), "sha256"]
        for frame in (original.artifacts, migrated.artifacts)
    ]
    assert all(len(sha) == 64 for sha in shas[0]) and shas[0].tolist() == shas[1].tolist()
    assert_same_tables(original, migrated)


def _task_json(tables) -> dict:
    session = Path(tables.source)
    session = session if session.is_dir() else session.with_suffix("")
    return json.loads((session / "task.json").read_text())


@pytest.mark.slow
def test_clearml_object_wildcard_and_folder_artifacts_and_task_type(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "clearml_artifacts_example.py")
    assert 'name="pillow_image"' in source and '"task_type": "testing"' in source
    assert {"Pandas", "pillow_image", "seen", "train", "wildcard jpegs/more/small.jpg"} <= set(
        original.artifacts["name"]
    )
    assert 'task.register_artifact("train", df, metadata=' in source
    assert_same_tables(original, migrated)
    # ClearML's own record of the two tasks: the task type, artifact keys, types, files
    tasks = _task_json(original), _task_json(migrated)
    assert tasks[0]["type"] == tasks[1]["type"] == "testing"
    stored = [
        {a["key"]: (a["type"], a["uri"].rsplit("/", 1)[-1]) for a in t["execution"]["artifacts"]}
        for t in tasks
    ]
    assert stored[0] == stored[1]


@pytest.mark.slow
def test_clearml_task_parameters_class_user_properties_configuration_and_argparse(
    tmp_path: Path,
) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "clearml_hyper_parameters.py")
    assert "from clearml.task_parameters import TaskParameters" in source
    assert 'section="from TaskParameters-like object"' in source
    params = dict(zip(original.params["key"], original.params["value"], strict=True))
    assert params["from TaskParameters-like object/iterations"] == "1000"
    assert params["Args/argparser_int_value"] == "1"
    assert 'log_configuration(\n    "configuration dictionary", complex_nested' in source
    assert "configuration:configuration dictionary" in set(original.artifacts["name"])
    assert_same_tables(original, migrated)
    configurations = [_task_json(tables)["configuration"] for tables in (original, migrated)]
    assert configurations[0] == configurations[1]
    assert configurations[0]["configuration dictionary"]["type"] == "dictionary"


@pytest.mark.slow
def test_wandb_run_files_and_a_model_artifact_every_epoch(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "wandb_dalle_train_vae.py")
    assert 'experiment().save("./vae.pt")' in source
    assert 'name="trained-vae/vae.pt"' in source and "Artifact" not in source
    # the run files, and one entry per logged version of the artifact (two epochs + final)
    assert sorted(original.artifacts["name"]) == [
        "trained-vae/vae-final.pt", "trained-vae/vae.pt", "trained-vae/vae.pt",
        "vae-final.pt", "vae.pt",
    ]  # fmt: skip
    assert_same_tables(original, migrated)
