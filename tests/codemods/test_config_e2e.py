"""A migrated script that reads its hyper-parameters through ``wandb.config`` and saves its
model into ``wandb.run.dir`` logs what the original logged: W&B's example
``pytorch-cnn-fashion`` reduced
(``tests/fixtures/vocabulary_e2e/wandb_fashion_config.py``), migrated with ``--write``, both
copies run into W&B offline stores, read back with tracelet's W&B reader and compared as
``tracelet validate`` compares them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.codemods.test_vocabulary_e2e import assert_same_tables, migrate_and_run


@pytest.mark.slow
def test_wandb_config_reads_in_a_model_and_a_loop(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "wandb_fashion_config.py")
    assert "config = tracelet.get_active_experiment().config" in source
    assert "out_channels=config.channels_one" in source and "import wandb" not in source
    assert 'os.path.join(tracelet.get_active_experiment().dir, "model.pt")' in source
    columns = ["name", "size", "sha256"]
    assert list(original.artifacts["name"]) == ["model.pt"]
    assert original.artifacts[columns].equals(migrated.artifacts[columns])
    params = dict(zip(original.params["key"], original.params["value"], strict=True))
    assert params == {
        "dropout": "0.5",
        "channels_one": "4",
        "channels_two": "8",
        "batch_size": "10",
        "learning_rate": "0.001",
        "epochs": "2",
    }
    assert len(original.metrics[original.metrics["key"] == "loss"]) == 4
    assert_same_tables(original, migrated)
