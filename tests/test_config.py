"""``experiment.config``: reads give back what the program set, writes land as W&B's
``wandb.config`` stores them (the run's config records) and as params elsewhere."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

import tracelet
from tracelet.backends.wandb.logfile import decode, wait_for_exit_record
from tracelet.config import RunConfig
from tracelet.readers import delivered_store, read_store

START = {"lr": 0.01, "epochs": 2, "optimizer": "adam"}


def set_and_read(config, error: type[Exception] = ValueError) -> dict:
    """The same calls on ``wandb.config`` and ``experiment.config``; what they read back
    (a changed value raises: W&B's ``ConfigError``, tracelet's ``ValueError``)."""
    config.dropout = 0.5
    config["channels"] = np.int64(16)  # W&B and tracelet store the plain int
    config.update(argparse.Namespace(batch_size=100, seed=7))
    config.update({"--momentum": 0.9})  # W&B strips the dashes of a key
    config.update({"lr": 0.02}, allow_val_change=True)
    config.epochs = 2  # the same value again is no change
    with pytest.raises(error, match='change value of key "epochs"'):
        config.epochs = 3
    config.layers = (64, 32)
    return {
        "attr": (config.lr, config.dropout, config.channels, config.momentum),
        "item": (config["batch_size"], config["optimizer"]),
        "get": (config.get("seed"), config.get("missing"), config.get("missing", "d")),
        "in": ("seed" in config, "missing" in config),
        "keys": sorted(config.keys()),
        "items": sorted(config.items(), key=lambda kv: kv[0]),
        "dict": dict(config),
        "unpacked": (lambda **values: values)(**config) == {**config} == dict(config),
        "getattr": (getattr(config, "missing", "d"), hasattr(config, "seed")),
        "layers": config.layers,
    }


READS = {
    "attr": (0.02, 0.5, 16, 0.9),
    "item": (100, "adam"),
    "get": (7, None, "d"),
    "in": (True, False),
    "unpacked": True,
    "getattr": ("d", True),
}
STORED = {
    "lr": 0.02,
    "epochs": 2,
    "optimizer": "adam",
    "dropout": 0.5,
    "channels": 16,
    "batch_size": 100,
    "seed": 7,
    "momentum": 0.9,
    "layers": [64, 32],
}


def test_the_view_reads_what_was_set_and_logs_each_change():
    logged: list[dict] = []
    config = RunConfig(logged.append)
    config.update(START)
    reads = set_and_read(config)
    assert {k: reads[k] for k in READS} == READS
    assert reads["dict"] == STORED and reads["keys"] == sorted(STORED)
    assert reads["items"] == sorted(STORED.items())
    assert logged[1:] == [
        {"dropout": 0.5},
        {"channels": 16},
        {"batch_size": 100, "seed": 7},
        {"momentum": 0.9},
        {"lr": 0.02},
        {"epochs": 2},
        {"layers": [64, 32]},
    ]
    with pytest.raises(AttributeError, match="no key 'missing'"):
        _ = config.missing
    with pytest.raises(TypeError):
        config.update(3)


def wandb_config_records(sync_file: Path) -> dict:
    config = decode(sync_file).config
    return {k: v for k, v in config.items() if not k.startswith("_")}


@pytest.mark.slow
def test_wandb_stores_the_config_as_wandb_config_does(isolated: Path):
    import wandb
    from wandb.sdk.lib.config_util import ConfigError

    run = wandb.init(project="config", config=dict(START))
    original_reads = set_and_read(wandb.config, ConfigError)
    run.finish()
    wait_for_exit_record(Path(run.settings.sync_file), 0, 60)
    original = wandb_config_records(Path(run.settings.sync_file))
    wandb.teardown()

    experiment = tracelet.start_logging(project="config", backend="wandb", config=dict(START))
    reads = set_and_read(experiment.config)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    store = delivered_store(experiment.run_dir, "wandb")
    root, _, run_id = store.partition("#")
    (sync_file,) = Path(root).glob(f"*run-*-{run_id}/run-*.wandb")

    assert original == STORED
    assert wandb_config_records(sync_file) == original
    assert reads == original_reads


@pytest.mark.slow
def test_mlflow_receives_the_config_as_params(isolated: Path, mlflow_db: Path):
    experiment = tracelet.start_logging(project="config", backend="mlflow", config=dict(START))
    set_and_read(experiment.config)
    experiment.log_params({"weight_decay": 0.1})  # log_params is seen by the view too
    assert experiment.config.weight_decay == 0.1
    with pytest.warns(UserWarning, match="refused by the tracker"):
        report = tracelet.stop_logging()
    (backend,) = report.backends
    assert backend.refused == {"params": 1}, report.summary()  # MLflow keeps a param's first value

    tables = read_store(delivered_store(experiment.run_dir, "mlflow"))
    params = dict(zip(tables.params["key"], tables.params["value"], strict=True))
    expected = {k: str(v) for k, v in STORED.items()} | {"lr": "0.01", "weight_decay": "0.1"}
    assert params == expected
