"""experiment.watch: wandb.watch's histograms, from torch hooks, delivered to every tracker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import tracelet
from tracelet.events import HISTOGRAM
from tracelet.journal import iter_events
from tracelet.readers import delivered_store
from tracelet.watch import Watcher, tensor_histogram

KEYS = {"gradients/0.weight", "gradients/0.bias", "gradients/2.weight", "gradients/2.bias"}


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))


def train(model: torch.nn.Module, steps: int, log) -> None:
    """Forward, backward, then log the loss (a new row), as a wandb training loop does."""
    inputs = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        model.zero_grad()
        loss = model(inputs).pow(2).mean()
        loss.backward()
        log({"loss": loss.item()})


def histograms(run_dir: Path) -> list[tuple[str, int, dict]]:
    return [(e[1], e[2], e[4]) for e in iter_events(run_dir / "journal.tlj") if e[0] == HISTOGRAM]


def test_hooks_follow_wandb_watch_names_and_log_freq():
    events: list[tuple] = []
    model = make_model()
    watcher = Watcher(events.append, step_of=lambda calls: calls, joins_rows=lambda: False)
    watcher.watch(model, log="all", log_freq=2)
    train(model, 5, lambda row: None)
    keys = {(e[1], e[2]) for e in events}
    names = [n for n, _ in model.named_parameters()]
    assert keys == {(f"{kind}/{n}", step) for kind in ("gradients", "parameters") for n in names
                    for step in (2, 4)}  # fmt: skip

    second = make_model()
    watcher.watch(second, log="parameters", log_freq=1)
    watcher.unwatch(model)
    events.clear()
    train(model, 2, lambda row: None)
    assert events == []
    train(second, 1, lambda row: None)  # named as wandb.watch names a second model
    assert {e[1] for e in events} == {f"parameters/graph_1{n}" for n in names}
    watcher.unwatch()
    events.clear()
    train(second, 1, lambda row: None)
    assert events == []

    weight = model[0].weight.detach()
    histogram = tensor_histogram(weight)
    assert histogram["bucket_counts"] == weight.reshape(-1).histc(64, *weight.aminmax()).tolist()
    assert histogram["num"] == 32 and len(histogram["bucket_limits"]) == 64
    assert (histogram["min"], histogram["max"]) == tuple(weight.aminmax()[i].item() for i in (0, 1))
    assert histogram["sum"] == pytest.approx(weight.sum().item())
    assert tensor_histogram(torch.full((3,), 2.0)) == {
        "min": 2.0, "max": 2.0, "num": 3, "sum": 6.0, "sum_squares": 12.0,
        "bucket_limits": [2.0], "bucket_counts": [3.0],
    }  # fmt: skip
    assert tensor_histogram(torch.tensor([float("nan"), float("inf")])) is None
    with_nan = torch.tensor([float("nan"), 1.0, float("-inf"), 3.0, 2.0])
    assert tensor_histogram(with_nan) == tensor_histogram(torch.tensor([1.0, 3.0, 2.0]))
    assert tensor_histogram(torch.tensor([1, 2], dtype=torch.int64))["num"] == 2
    with pytest.raises(ValueError):
        watcher.watch(model, log="weights")
    with pytest.raises(TypeError):
        watcher.watch(object())


def test_watch_histograms_reach_tensorboard(isolated: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    experiment = tracelet.start_logging(exp_name="watch", project="p", backend="tensorboard")
    model = make_model()
    experiment.watch(model, log_freq=2)
    train(model, 4, tracelet.log)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    logged = histograms(experiment.run_dir)
    assert {(key, step) for key, step, _ in logged} == {(k, s) for k in KEYS for s in (1, 3)}
    events = EventAccumulator(
        delivered_store(experiment.run_dir, "tensorboard"), size_guidance={"histograms": 0}
    )
    events.Reload()
    assert set(events.Tags()["histograms"]) == KEYS
    for key, step, histogram in logged:
        (stored,) = [h for h in events.Histograms(key) if h.step == step]
        assert list(stored.histogram_value.bucket) == histogram["bucket_counts"]
        assert list(stored.histogram_value.bucket_limit) == pytest.approx(
            histogram["bucket_limits"]
        )


@pytest.mark.slow
def test_watch_stores_what_wandb_watch_stores(isolated: Path):
    import wandb

    from tracelet.backends.wandb import read_media

    run = wandb.init(project="direct", mode="offline", settings=wandb.Settings(console="off"))
    model = make_model()
    wandb.watch(model, log="all", log_freq=2)
    train(model, 4, run.log)
    for _ in range(2):  # the 6th forward pass, after the last row, logs the parameters:
        model(torch.ones(1, 4))  # W&B's finish commits them
    direct_dir = Path(run.settings.sync_dir)
    run.finish()

    experiment = tracelet.start_logging(exp_name="watch", project="p", backend="wandb")
    model = make_model()
    experiment.watch(model, log="all", log_freq=2)
    train(model, 4, tracelet.log)
    for _ in range(2):
        model(torch.ones(1, 4))
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    def by_key(frame):
        rows = frame[frame["kind"] == "histogram"]
        return {(k, s): v for k, s, v in zip(rows["key"], rows["step"], rows["value"], strict=True)}

    from tests.waiting import wait_until

    direct = wait_until(lambda: by_key(read_media(str(direct_dir))), "wandb.watch's rows")
    root, _, run_id = delivered_store(experiment.run_dir, "wandb").rpartition("#")
    routed = by_key(read_media(root, run_id))
    assert len(direct) == 20
    assert routed == direct
    # the histograms joined the loss rows, as wandb.watch's commit=False log does
    from tracelet.backends.wandb.logfile import decode

    def history(sync_file: Path) -> list[tuple]:
        rows = decode(sync_file).rows
        return [(row["_step"], sorted(k for k in row if not k.startswith("_"))) for row in rows]

    (routed_file,) = Path(root).rglob(f"run-{run_id}.wandb")
    direct_rows = history(next(direct_dir.glob("*.wandb")))
    assert len(direct_rows) == 5 and history(routed_file) == direct_rows


@pytest.mark.slow
def test_watch_histograms_reach_mlflow_and_clearml(isolated: Path):
    from mlflow import MlflowClient

    experiment = tracelet.start_logging(
        exp_name="watch", project="p", backend=["mlflow", "clearml"]
    )
    model = make_model()
    experiment.watch(model, log="parameters", log_freq=3)
    train(model, 3, lambda row: None)  # no tracelet.log: the step is the forward pass count
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    logged = {key: histogram for key, step, histogram in histograms(experiment.run_dir)}
    assert set(logged) == {k.replace("gradients", "parameters") for k in KEYS}

    store = delivered_store(experiment.run_dir, "mlflow")
    uri, _, run_id = store.rpartition("#")  # absolute: MLflow caches stores by URI
    client = MlflowClient(uri)
    for key, histogram in logged.items():
        path = client.download_artifacts(run_id, f"histograms/{key}/step_3.json", str(isolated))
        stored = json.loads(Path(path).read_text())
        assert stored["bucket_counts"] == histogram["bucket_counts"]
        assert stored["bucket_limits"] == histogram["bucket_limits"]

    session = Path(delivered_store(experiment.run_dir, "clearml"))
    plots = {
        (event["metric"], event["variant"]): (event["iter"], json.loads(event["plot_str"]))
        for line in (session / "metrics.jsonl").read_text().splitlines()
        for event in json.loads(line)
        if event.get("type") == "plot"
    }
    assert set(plots) == {("parameters", k.removeprefix("parameters/")) for k in logged}
    for key, histogram in logged.items():
        step, plot = plots[("parameters", key.removeprefix("parameters/"))]
        assert step == 3
        assert plot["data"][0]["y"] == histogram["bucket_counts"]


def test_import_tracelet_and_watch_module_import_no_torch():
    import subprocess
    import sys

    code = "import sys, tracelet, tracelet.watch; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
