"""Lightning loggers given to ``Fabric(loggers=...)`` (``LT008``/``LT009``), end to end.

``tests/fixtures/lightning_e2e/tinyllama_fabric.py`` reduces TinyLlama's pretraining
script (tracker code verbatim: the module-level ``WandbLogger()``, ``L.Fabric(loggers=[
logger, wandb_logger])``, ``fabric.log_dict(metrics, step)``). It is copied twice, one
copy migrated with ``tracelet migrate --from lightning --write``, both run at once in
their own isolated environments (W&B offline), and the W&B runs are read back from each
copy's ``wandb`` folder with tracelet's own ``.wandb`` reader and compared row by row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.codemods.test_lightning_follow_e2e import _prepare, _run
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs


@pytest.mark.slow
def test_fabric_wandb_logger_logs_the_same_run(tmp_path: Path) -> None:
    script = "tinyllama_fabric.py"
    folders = _prepare(tmp_path, script)
    migrated_code = (folders["migrated"] / script).read_text()
    assert "wandb_logger = WandbLogger()" not in migrated_code
    assert "loggers=[logger])" in migrated_code

    _run(tmp_path, folders, script, [])
    stores = {side: read_store(str(folder / "wandb")) for side, folder in folders.items()}
    original, migrated = stores["original"], stores["migrated"]
    # the monitor logs every iteration, validation twice every third optimizer step
    assert len(original.history) == 24 + 2 * 4
    assert "trainer/global_step" in original.history.columns
    comparison = compare_runs(original, migrated, store_rows=True)
    assert comparison.exit_code == 0, comparison
    assert comparison.history.renamed_steps == (("trainer/global_step", "tracelet/step"),)
    # the CSV logger kept on Fabric wrote the same file in both copies
    csv = [
        folder / "out" / "tinyllama_tiny" / "version_0" / "metrics.csv"
        for folder in folders.values()
    ]
    assert csv[0].read_text() == csv[1].read_text()


@pytest.mark.slow
def test_fabric_mlflow_logger_logs_the_same_run(tmp_path: Path) -> None:
    script = "tinyllama_fabric_mlflow.py"
    folders = _prepare(tmp_path, script)
    assert (
        'mlflow_logger = MLFlowLogger(experiment_name="tinyllama")'
        not in (folders["migrated"] / script).read_text()
    )

    _run(tmp_path, folders, script, [])
    stores = {side: read_store(f"file:{folder / 'mlruns'}") for side, folder in folders.items()}
    assert len(stores["original"].metrics) == 2 * 24 + 4 * 4
    comparison = compare_runs(stores["original"], stores["migrated"], store_rows=True)
    assert comparison.exit_code == 0, comparison
