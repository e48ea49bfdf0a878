"""``mlflow.pytorch.autolog()`` with a Lightning Trainer, migrated to ``tracelet.autolog()``,
stores in MLflow what MLflow's autologging stored.

Two scripts in ``tests/fixtures/lightning_autolog_e2e/`` reduce the two corpus files of
PacktPublishing/Practical-Deep-Learning-at-Scale-with-MLFlow (chapter02 and chapter04) to
Lightning's own Trainer and a tiny stand-in of lightning-flash's text classifier; a third
(``early_stopping.py``) takes autologging's checkpoint and early-stopping paths on
``pytorch_lightning``. One copy
of each is migrated with ``--write``; the original and the migrated copy run into their own
sqlite store, and both runs are read back with tracelet's MLflow reader (compared as
``tracelet validate`` compares them) and with MLflow's own client: metric histories with
their steps, params, tags, artifacts, and the logged models with their metrics. The
Trainer's default TensorBoardLogger receives Lightning's ``self.log`` points in both
programs; neither MLflow run holds them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from tests.codemods.test_examples_e2e import start_script, wait
from tracelet.backends.mlflow import read_run
from tracelet.cli import main
from tracelet.validators.compare import compare_runs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lightning_autolog_e2e"
HELPER = "tiny_text.py"
# script -> (experiment, the tags and params that name the script's own run or file)
CASES = {
    "first_dl_with_mlflow.py": ("dl_model_chapter02", (), ()),
    "fine_tuning_model.py": ("Default", ("pipeline_step",), ("fine_tuning_mlflow_run_id",)),
}
#: What MLflow's autologging stores for a fit of TextClassifier (Adam) and a test.
AUTOLOG_PARAMS = {"epochs": "3", "optimizer_name": "Adam", "lr": "0.001", "betas": "(0.9, 0.999)"}
EPOCH_KEYS = {
    "train_cross_entropy", "train_cross_entropy_step", "train_cross_entropy_epoch",
    "train_accuracy", "train_accuracy_step", "train_accuracy_epoch",
    "val_cross_entropy", "val_accuracy",
}  # fmt: skip
TEST_KEYS = {"test_cross_entropy", "test_accuracy"}
# the store's own record of who wrote the run and from which file
SOURCE_TAGS = ("mlflow.source.name", "tracelet.run_id")


def only_run(client: MlflowClient, experiment: str):
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def histories(client: MlflowClient, run) -> dict[str, list[tuple[int, float]]]:
    return {
        key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        for key in run.data.metrics
    }


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    paths = []
    for item in client.list_artifacts(run_id, path):
        paths += artifact_paths(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(paths)


def logged_model(client: MlflowClient, run) -> dict:
    [model] = client.search_logged_models(
        [run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
    )
    [output] = run.outputs.model_outputs
    assert output.model_id == model.model_id
    files = {}
    for item in client.list_logged_model_artifacts(model.model_id):
        files[item.path] = item.is_dir
    return {
        "name": model.name,
        "status": str(model.status),
        "params": model.params,
        "tags": without_source_tags(model.tags),
        "model_type": model.model_type,
        "output_step": output.step,
        "metrics": sorted((m.key, m.step, m.value) for m in model.metrics or []),
        "files": files,
    }


def migrate_and_run(tmp_path: Path, script: str, *helpers: str) -> tuple[dict, dict]:
    """The script's folders and sqlite URIs, once the original and the migrated copy ran."""
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        for name in (script, *helpers):
            shutil.copy2(FIXTURES / name, folder / name)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / script), "--from", "mlflow", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert (totals["files_written"], totals["sites_left"], totals["sites_held"]) == (1, 0, 0)
    migrated_source = (folders["migrated"] / script).read_text()
    assert "tracelet.autolog()" in migrated_source
    assert "mlflow.pytorch.autolog" not in migrated_source

    uris = {side: f"sqlite:///{folder / 'mlflow.db'}" for side, folder in folders.items()}
    started = {
        side: start_script(folder, script, tmp_path / f"{side}-env", MLFLOW_TRACKING_URI=uris[side])
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/{script}")
    return folders, uris


def without_source_tags(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k not in SOURCE_TAGS}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_migrated_lightning_autolog_stores_what_mlflow_autolog_stored(
    tmp_path: Path, script: str
) -> None:
    experiment, own_tags, own_params = CASES[script]
    folders, uris = migrate_and_run(tmp_path, script, HELPER)
    # the default TensorBoardLogger kept Lightning's own points in both programs
    for folder in folders.values():
        assert list((folder / "lightning_logs" / "version_0").glob("events.out.tfevents.*"))

    clients = {side: MlflowClient(uri) for side, uri in uris.items()}
    runs = {side: only_run(client, experiment) for side, client in clients.items()}
    original, migrated = runs["original"], runs["migrated"]

    # metrics: each epoch's callback_metrics at step = epoch, the test's at step 0
    expected = histories(clients["original"], original)
    assert set(expected) == EPOCH_KEYS | TEST_KEYS
    assert all([s for s, _ in expected[k]] == [0, 1, 2] for k in EPOCH_KEYS)
    assert all([s for s, _ in expected[k]] == [0] for k in TEST_KEYS)
    assert histories(clients["migrated"], migrated) == expected

    for side, run in runs.items():
        for key in own_params:
            assert run.data.params.pop(key) == run.info.run_id, side
        for key in own_tags:
            assert run.data.tags.pop(key) == str(folders[side] / script), side
    assert AUTOLOG_PARAMS.items() <= original.data.params.items()
    assert migrated.data.params == original.data.params
    assert original.data.tags["Mode"] == "testing"
    assert without_source_tags(migrated.data.tags) == without_source_tags(original.data.tags)

    assert artifact_paths(clients["original"], original.info.run_id) == ["model_summary.txt"]
    assert artifact_paths(clients["migrated"], migrated.info.run_id) == ["model_summary.txt"]
    summaries = {
        side: Path(
            client.download_artifacts(
                runs[side].info.run_id, "model_summary.txt", str(tmp_path / side / "dl")
            )
        ).read_text()
        for side, client in clients.items()
    }
    assert "TextClassifier" not in summaries["original"] and "head" in summaries["original"]
    assert summaries["migrated"] == summaries["original"]

    models = {side: logged_model(clients[side], runs[side]) for side in runs}
    assert models["original"]["params"] == {}
    assert {k for k, _, _ in models["original"]["metrics"]} == EPOCH_KEYS | TEST_KEYS
    assert models["migrated"] == models["original"]

    # tracelet's own reader and comparison: metrics, params, tags, artifacts (the logged
    # model's files with their digests) equal
    tables = {side: read_run(uris[side], runs[side].info.run_id) for side in runs}
    comparison = compare_runs(tables["original"], tables["migrated"], skip=("params", "tags"))
    assert comparison.exit_code == 0, comparison
    names = set(tables["migrated"].artifacts["name"])
    assert {"model_summary.txt", "models:/model/data/model.pth", "models:/model/MLmodel"} <= names


@pytest.mark.slow
def test_migrated_autolog_checkpoints_and_early_stop_as_mlflow_autolog(tmp_path: Path) -> None:
    _, uris = migrate_and_run(tmp_path, "early_stopping.py")
    clients = {side: MlflowClient(uri) for side, uri in uris.items()}
    runs = {side: only_run(client, "Default") for side, client in clients.items()}
    original, migrated = runs["original"], runs["migrated"]

    expected = histories(clients["original"], original)
    assert expected["stopped_epoch"] == [(0, 1.0)] and expected["wait_count"] == [(0, 1.0)]
    assert histories(clients["migrated"], migrated) == expected
    assert original.data.params["min_delta"] == "-10.0"  # EarlyStopping's own sign
    assert migrated.data.params == original.data.params
    assert original.data.tags["mlflow.latest_checkpoint_artifact"] == (
        "checkpoints/latest_checkpoint.pth"
    )
    assert without_source_tags(migrated.data.tags) == without_source_tags(original.data.tags)
    paths = artifact_paths(clients["original"], original.info.run_id)
    assert paths == [
        "checkpoints/latest_checkpoint.pth",
        "checkpoints/latest_checkpoint_metrics.json",
        "model_summary.txt",
        "restored_model_checkpoint/epoch=1-step=8.ckpt",
    ]
    assert artifact_paths(clients["migrated"], migrated.info.run_id) == paths

    def download(side: str, path: str) -> Path:
        run_id = runs[side].info.run_id
        return Path(clients[side].download_artifacts(run_id, path, str(tmp_path / side / "dl")))

    for path in ("checkpoints/latest_checkpoint_metrics.json", "model_summary.txt"):
        assert download("migrated", path).read_bytes() == download("original", path).read_bytes()
    # the checkpoints hold the folder they were written from: compare what they restore
    for path in ("checkpoints/latest_checkpoint.pth", paths[-1]):
        states = [torch.load(download(side, path), weights_only=False) for side in runs]
        assert states[0]["epoch"] == states[1]["epoch"] == 1
        for key, weights in states[0]["state_dict"].items():
            assert torch.equal(states[1]["state_dict"][key], weights), (path, key)

    models = {side: logged_model(clients[side], runs[side]) for side in runs}
    assert {k for k, _, _ in models["original"]["metrics"]} == set(expected)
    assert models["migrated"] == models["original"]
