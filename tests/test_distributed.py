"""Distributed training on the CPU (gloo on 127.0.0.1): who delivers, and into which run.

Each job runs in its own processes, started from the test with a timeout: Lightning's
own DDP launcher, ``torchrun``, and ``torch.multiprocessing.spawn`` around a plain
``init_process_group``. Every rank writes down what it logged; the stores are read back.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tracelet.backends import clearml as clearml_backend
from tracelet.backends import mlflow as mlflow_backend
from tracelet.backends import wandb as wandb_backend

pytestmark = pytest.mark.slow

TRACKERS = ["mlflow", "wandb", "clearml"]

LIGHTNING_DDP = """
import json, sys
import torch
import lightning.pytorch as pl
import tracelet
from lightning.pytorch.trainer import trainer as trainer_module

class Model(pl.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(4, 1)
        self.losses = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = ((self.layer(x) - y) ** 2).mean()
        self.log("train/loss", loss)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

if __name__ == "__main__":
    experiment = tracelet.start_logging(
        exp_name="ddp", project="proj", backend=sys.argv[1].split(","), ranks=sys.argv[2]
    )
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64, 1))
    model = Model()
    trainer = pl.Trainer(
        max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", logger=False,
        log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, default_root_dir=".",
    )
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    patched = hasattr(trainer_module._LoggerConnector.log_metrics, "__wrapped__")
    report = tracelet.stop_logging()
    with open(f"rank{trainer.global_rank}.json", "w") as out:
        json.dump({"losses": model.losses, "delivers": experiment.run_dir is not None,
                   "patched": patched, "complete": report.complete}, out)
"""

SPAWNED_DDP = """
import json, sys
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.tensorboard import SummaryWriter
import tracelet

def worker(rank, port, ranks):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    experiment = tracelet.start_logging(exp_name="spawned", project="proj", backend="mlflow",
                                        ranks=ranks)
    torch.manual_seed(rank)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = SummaryWriter(f"tb-rank{rank}")
    losses = []
    for step in range(16):
        loss = ((model(torch.randn(8, 4)) - torch.randn(8, 1)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
        losses.append(loss.item())
    writer.close()
    report = tracelet.stop_logging()
    with open(f"rank{rank}.json", "w") as out:
        json.dump({"losses": losses, "delivers": experiment.run_dir is not None,
                   "complete": report.complete}, out)
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(worker, args=(int(sys.argv[1]), sys.argv[2]), nprocs=2)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(cwd: Path, script: str, *args: str, launcher: list[str] | None = None) -> list[dict]:
    """Run ``script`` (under ``launcher``), return what ranks 0 and 1 wrote down."""
    path = cwd / "job.py"
    path.write_text(script)
    command = [*(launcher or [sys.executable]), str(path), *args]
    result = subprocess.run(
        command, cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((cwd / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def mlflow_runs(cwd: Path) -> dict[str, str]:
    """Run name -> run id of every run in the MLflow store."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{cwd}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_name: r.info.run_id for r in client.search_runs(experiments)}


def runs_in(name: str, cwd: Path) -> list:
    """Every run the tracker's store holds, read back."""
    if name == "mlflow":
        return [
            mlflow_backend.read_run(f"sqlite:///{cwd}/mlflow.db", run)
            for run in mlflow_runs(cwd).values()
        ]
    if name == "wandb":
        paths = (Path(os.environ["WANDB_DIR"]) / "wandb").glob("offline-run-*")
        return [wandb_backend.read_run(str(path)) for path in paths]
    paths = (Path(os.environ["CLEARML_CACHE_DIR"]) / "offline").glob("offline-*.zip")
    return [clearml_backend.read_run(str(path)) for path in paths]


def losses(tables) -> list[tuple[int, float]]:
    metrics = tables.metrics[tables.metrics.key == "train/loss"]
    return list(zip(metrics.step.tolist(), metrics.value.tolist(), strict=True))


def test_lightning_ddp_rank_zero_delivers_once_to_every_tracker(isolated: Path):
    rank0, rank1 = run_job(isolated, LIGHTNING_DDP, ",".join(TRACKERS), "zero")
    assert rank0["delivers"] and rank0["patched"] and rank0["complete"]
    assert not rank1["delivers"] and not rank1["patched"]
    assert len(list((isolated / "env" / "tracelet" / "runs").iterdir())) == 1
    assert rank0["losses"] != rank1["losses"]  # each rank saw its own half of the data
    for name in TRACKERS:
        (tables,) = runs_in(name, isolated)
        assert losses(tables) == list(enumerate(rank0["losses"])), name
        assert dict(zip(tables.params.key, tables.params.value, strict=True)) == {"lr": "0.05"}


def test_lightning_ddp_under_torchrun_with_ranks_all_gives_one_run_per_rank(isolated: Path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2"]
    launcher += ["--master-addr=127.0.0.1", f"--master-port={free_port()}"]
    ranks = run_job(isolated, LIGHTNING_DDP, ",".join(TRACKERS), "all", launcher=launcher)
    assert all(r["delivers"] and r["patched"] and r["complete"] for r in ranks)
    assert sorted(mlflow_runs(isolated)) == ["ddp-rank0", "ddp-rank1"]
    for name in TRACKERS:
        got = sorted(losses(tables) for tables in runs_in(name, isolated))
        assert got == sorted(list(enumerate(r["losses"])) for r in ranks), name


@pytest.mark.parametrize("ranks", ["zero", "all"])
def test_spawned_process_group_logs_per_rank_mode(isolated: Path, ranks: str):
    rank0, rank1 = run_job(isolated, SPAWNED_DDP, str(free_port()), ranks)
    runs = mlflow_runs(isolated)
    if ranks == "zero":
        assert rank0["delivers"] and not rank1["delivers"]
        assert list(runs) == ["spawned"]
        (tables,) = runs_in("mlflow", isolated)
        assert losses(tables) == list(enumerate(rank0["losses"]))
    else:
        assert sorted(runs) == ["spawned-rank0", "spawned-rank1"]
        for rank, seen in enumerate((rank0, rank1)):
            tables = mlflow_backend.read_run("sqlite:///mlflow.db", f"spawned-rank{rank}")
            assert losses(tables) == list(enumerate(seen["losses"]))
