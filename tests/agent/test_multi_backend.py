"""The runtime routed to W&B offline, ClearML offline and all three trackers at once."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tracelet.backends import clearml as clearml_backend
from tracelet.backends import mlflow as mlflow_backend
from tracelet.backends import wandb as wandb_backend

pytestmark = pytest.mark.slow


def read_store(name: str, isolated: Path, run: str | None = None):
    if name == "mlflow":
        return mlflow_backend.read_run("sqlite:///mlflow.db", run)
    if name == "wandb":
        return wandb_backend.read_run(os.path.join(os.environ["WANDB_DIR"], "wandb"), run)
    return clearml_backend.read_run(os.path.join(os.environ["CLEARML_CACHE_DIR"], "offline"), run)


def bits(values) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@pytest.mark.parametrize("backend", ["wandb", "clearml", ["mlflow", "wandb", "clearml"]])
def test_20k_points_reach_every_store(isolated: Path, backend):
    names = backend if isinstance(backend, list) else [backend]
    experiment = tracelet.start_logging(
        exp_name="fanout", project="proj", backend=backend, config={"lr": 0.01}
    )
    writer = SummaryWriter(str(isolated / "runs"))
    values = np.random.default_rng(1).standard_normal(20_000).tolist()
    for step, value in enumerate(values):
        writer.add_scalar("Loss/Train", value, step)
    experiment.log_params({"batch_size": 32})
    (isolated / "model.pth").write_bytes(b"w" * 123)
    experiment.log_artifact("model.pth")
    writer.close()
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    for name in names:
        tables = read_store(name, isolated)
        metrics = tables.metrics
        assert metrics["key"].unique().tolist() == ["Loss/Train"], name
        assert metrics["step"].tolist() == list(range(20_000)), name
        assert bits(metrics["value"]) == bits(values), name
        params = dict(zip(tables.params.key, tables.params.value, strict=True))
        assert params["lr"] == "0.01" and params["batch_size"] == "32", (name, params)
        artifact = tables.artifacts.set_index("name").loc["model.pth"]
        assert artifact["size"] == 123, name


@pytest.mark.parametrize("name", ["mlflow", "wandb", "clearml"])
def test_interleaved_rates_backwards_steps_and_no_step(isolated: Path, name):
    with tracelet.start_logging(exp_name="interleaved", project="proj", backend=name):
        writer = SummaryWriter(str(isolated / "runs"))
        expected = []
        for step in range(300):
            writer.add_scalar("train/loss", step * 0.5, step)
            expected.append(("train/loss", step, step * 0.5))
            if step % 100 == 99:
                writer.add_scalar("val/loss", step * 0.25, step)
                writer.add_scalars("grp", {"a": 1.0 * step, "b": 2.0 * step}, step)
                expected += [("val/loss", step, step * 0.25)]
                expected += [("grp/a", step, 1.0 * step), ("grp/b", step, 2.0 * step)]
        for step in (50, 10, 5):  # the step goes backwards
            writer.add_scalar("late", float(step), step)
            expected.append(("late", step, float(step)))
        for value in (1.0, 2.0):  # global_step=None twice: step 0 both times
            writer.add_scalar("no_step", value)
            expected.append(("no_step", 0, value))
        writer.close()
    metrics = read_store(name, isolated).metrics
    got = sorted(map(tuple, metrics[["key", "step", "value"]].values.tolist()))
    assert got == sorted(expected)
    late = metrics[metrics.key == "late"]
    assert late["step"].tolist() == [50, 10, 5]


def test_failing_tracker_does_not_starve_the_others(isolated: Path):
    experiment = tracelet.start_logging(
        exp_name="starve",
        project="proj",
        backend=["mlflow", "wandb"],
        backend_options={"mlflow": {"url": "http://127.0.0.1:9"}},
    )
    writer = SummaryWriter(str(isolated / "runs"))
    for step in range(2000):
        writer.add_scalar("loss", float(step), step)
    with pytest.warns(UserWarning, match="tracelet sync"):
        report = experiment.stop(timeout=15)
    by_name = {b.backend: b for b in report.backends}
    assert by_name["wandb"].complete
    assert by_name["mlflow"].pending == 2000
    assert read_store("wandb", isolated).metrics["step"].tolist() == list(range(2000))


def _processes_in(root: Path) -> list[str]:
    """Processes (other than this one) whose environment points into ``root``."""
    found = []
    marker = str(root).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes():
                found.append((proc / "comm").read_text().strip())
        except OSError:
            continue
    return found


def test_no_tracker_process_or_thread_left_after_stop(isolated: Path):
    import threading
    import time

    threads_before = {t.name for t in threading.enumerate()}
    tracelet.start_logging(exp_name="clean", project="proj", backend=["mlflow", "wandb", "clearml"])
    SummaryWriter(str(isolated / "runs")).add_scalar("x", 1.0, 0)
    assert tracelet.stop_logging().complete

    def ours() -> set[str]:
        names = {t.name for t in threading.enumerate()} - threads_before
        return {n for n in names if n.startswith("tracelet")}

    deadline = time.time() + 15  # wandb-core notices its parent is gone within ~3 s
    while (_processes_in(isolated) or ours()) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_in(isolated) == []
    assert ours() == set()  # the reaper thread ends when the agent has exited


def test_nothing_is_written_outside_the_configured_folders(isolated: Path):
    before = {p for p in isolated.rglob("*")}
    with tracelet.start_logging(
        exp_name="tidy", project="proj", backend=["mlflow", "wandb", "clearml"]
    ) as experiment:
        SummaryWriter(str(isolated / "runs")).add_scalar("x", 1.0, 0)
    # stop_logging returns once every tracker has the run; the agent then exits on its
    # own, and wandb-core removes its folder under TMPDIR as it goes. Everything the
    # run writes is written by the time the agent has exited.
    experiment._agent.process.wait(timeout=120)
    allowed = ("env", "runs", "mlflow.db", "mlruns")
    new = {p.relative_to(isolated).parts[0] for p in set(isolated.rglob("*")) - before}
    assert new <= set(allowed), new
