"""Forked DataLoader workers run while the main process logs: no hang, every point once.

The job runs in its own interpreter with a timeout, so a deadlock fails the test instead
of hanging it. Workers are forked again every epoch while the flusher thread is busy
writing the journal (a short flush interval and many points per batch); with
``delivery="thread"`` the tracker clients (MLflow, W&B, ClearML) live in the forking
process too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.agent.test_multi_backend import read_store
from tests.conftest import run_python
from tracelet.journal import iter_events

pytestmark = pytest.mark.slow

EPOCHS, ITEMS, BATCH_SIZE, POINTS_PER_BATCH = 12, 64, 4, 50

JOB = f"""
import json
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter
import tracelet

experiment = tracelet.start_logging(exp_name="fork", project="proj",
                                    backend=["mlflow", "wandb", "clearml"],
                                    delivery=DELIVERY, flush_interval=0.005)

class Items(Dataset):
    def __len__(self):
        return {ITEMS}

    def __getitem__(self, index):
        # A worker that logs reaches nothing and blocks on nothing.
        experiment.log_metric("worker/item", float(index), index)
        return torch.tensor([float(index)])

writer = SummaryWriter("runs")
step, seen = 0, []
for epoch in range({EPOCHS}):
    loader = DataLoader(Items(), batch_size={BATCH_SIZE}, num_workers=2,
                        multiprocessing_context="fork")
    for batch in loader:
        seen += batch.flatten().tolist()
        for _ in range({POINTS_PER_BATCH}):
            writer.add_scalar("main/loss", step * 0.5, step)
            experiment.log_metric("main/direct", step * 0.25, step)
            step += 1
writer.close()
report = tracelet.stop_logging()
json.dump({{"steps": step, "seen": seen, "complete": report.complete,
           "run_dir": str(experiment.run_dir)}}, open("result.json", "w"))
"""


# No wall-clock limit: under load the thread variant alone can take minutes, and a hang
# is what run_python's watchdog detects (under 1% of a core used for 120 s).
@pytest.mark.timeout(0)
@pytest.mark.parametrize("delivery", ["process", "thread"])
def test_dataloader_workers_while_logging_deliver_every_point_once(isolated: Path, delivery):
    code = JOB.replace("DELIVERY", repr(delivery))
    result = run_python(code, isolated, TRACELET_STOP_TIMEOUT="60")
    assert result.returncode == 0, result.stderr[-3000:]
    job = json.loads((isolated / "result.json").read_text())
    steps = EPOCHS * ITEMS // BATCH_SIZE * POINTS_PER_BATCH
    assert job["steps"] == steps and job["complete"]
    assert sorted(job["seen"]) == sorted(float(i) for i in range(ITEMS) for _ in range(EPOCHS))

    journal = [e for e in iter_events(Path(job["run_dir"]) / "journal.tlj") if e[0] == "m"]
    assert len(journal) == 2 * steps
    for name in ("mlflow", "wandb", "clearml"):
        metrics = read_store(name, isolated).metrics
        assert set(metrics.key) == {"main/loss", "main/direct"}, name
        for key, factor in (("main/loss", 0.5), ("main/direct", 0.25)):
            points = metrics[metrics.key == key]
            assert points.step.tolist() == list(range(steps)), (name, key)
            assert points.value.tolist() == [s * factor for s in range(steps)], (name, key)
