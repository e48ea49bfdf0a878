"""Lightning Fabric's ``fabric.log`` / ``fabric.log_dict`` reach the trackers, one row per call.

Fabric keeps a ``TensorBoardLogger`` here, so the test also shows that the logger's
writer is not captured a second time; W&B and MLflow are read back from their stores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tracelet
from tests.agent.test_multi_backend import read_store
from tracelet.backends.tensorboard import read_run as read_tensorboard

CALLS = [  # (metrics, step) as the program hands them to fabric.log_dict
    ({"samples": 4, "train/loss": 0.5}, 1),
    ({"samples": 8, "train/loss": 0.25}, 1),
    ({"val/loss": 0.75, "total_tokens": 96}, 1),  # same step, other keys: its own row
    ({"val/ppl": 2.0, "total_tokens": 96}, 1),
]


@pytest.mark.slow  # 6-16 s: W&B and MLflow agents (tests/codemods/test_lightning_fabric_e2e.py too)
def test_log_dict_reaches_each_tracker_once_as_its_own_row(isolated: Path) -> None:
    import lightning as L
    import torch
    from lightning.fabric.loggers import TensorBoardLogger

    fabric = L.Fabric(accelerator="cpu", devices=1, loggers=[TensorBoardLogger(isolated / "tb")])
    with tracelet.start_logging(exp_name="fabric", project="proj", backend=["mlflow", "wandb"]):
        for metrics, step in CALLS:
            fabric.log_dict(metrics, step)
        fabric.log("lr", torch.tensor(0.125), step=2)
        fabric.log("no_step", 3.0)  # MLFlowLogger's `step or 0`
    fabric.logger.finalize("success")

    wandb_run = read_store("wandb", isolated)
    rows = wandb_run.history.drop(columns=["_runtime", "_timestamp"], errors="ignore")
    assert rows["_step"].tolist() == [str(i) for i in range(6)]
    assert rows["tracelet/step"].tolist() == ["1", "1", "1", "1", "2", "0"]
    assert rows["samples"].tolist() == ["4", "8", None, None, None, None]  # ints stay ints
    assert rows["total_tokens"].tolist() == [None, None, "96", "96", None, None]
    mlflow_run = read_store("mlflow", isolated)
    for tables in (wandb_run, mlflow_run):
        points = sorted(tables.metrics[["key", "step", "value"]].itertuples(index=False))
        expected = [(k, s, float(v)) for m, s in CALLS for k, v in m.items()]
        expected += [("lr", 2, 0.125), ("no_step", 0, 3.0)]
        assert [tuple(p) for p in points] == sorted(expected)
    # Fabric's own TensorBoard logger still has its points, and tracelet took them once
    tensorboard = read_tensorboard(str(isolated / "tb")).metrics
    assert len(tensorboard) == len(mlflow_run.metrics)
