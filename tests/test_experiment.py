"""The runtime core against a real MLflow store: everything logged is read back."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tests.waiting import delivery_state, wait_until
from tracelet.backends.mlflow import mlflow_key, read_run
from tracelet.journal import iter_events

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_20k_points_params_and_artifact_reach_mlflow(isolated: Path):
    experiment = tracelet.start_logging(
        exp_name="experiment_1", project="my_project", backend="mlflow", config={"lr": 0.01}
    )
    writer = SummaryWriter(str(isolated / "runs"))
    values = np.random.default_rng(0).standard_normal(20_000).tolist()
    for step, value in enumerate(values):
        writer.add_scalar("Loss/Train", value, step)
    experiment.log_params({"batch_size": 32})
    (isolated / "model.pth").write_bytes(b"weights" * 1000)
    experiment.log_artifact("model.pth")
    writer.close()
    report = tracelet.stop_logging()

    assert report.complete, report.summary()
    tables = read_run("sqlite:///mlflow.db", "experiment_1")
    metrics = tables.metrics
    assert len(metrics) == 20_000
    assert metrics["key"].unique().tolist() == ["Loss/Train"]
    assert metrics["step"].tolist() == list(range(20_000))
    assert [bits(v) for v in metrics["value"]] == [bits(v) for v in values]
    assert dict(zip(tables.params.key, tables.params.value, strict=True)) == {
        "lr": "0.01",
        "batch_size": "32",
    }
    artifact = tables.artifacts.set_index("name").loc["model.pth"]
    assert artifact["size"] == 7000


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_run_lands_in_project_experiment_with_exp_name(isolated: Path):
    from mlflow import MlflowClient

    with tracelet.start_logging(exp_name="run-a", project="proj-x", backend="mlflow"):
        SummaryWriter(str(isolated / "runs")).add_scalar("a", 1.0, 0)
    client = MlflowClient(f"sqlite:///{isolated}/mlflow.db")
    experiment = client.get_experiment_by_name("proj-x")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run-a"
    assert run.info.status == "FINISHED"


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_value_types_land_as_documented(isolated: Path):
    writer = SummaryWriter(str(isolated / "runs"))
    cases = {
        "python_float": (0.1, 0.1),
        "python_int": (3, 3.0),
        "bool": (True, 1.0),
        "np_float32": (np.float32(0.1), float(np.float32(0.1))),
        "np_float16": (np.float16(0.5), 0.5),
        "np_int64": (np.int64(2**40), float(2**40)),
        "np_float64": (np.float64(1 / 3), 1 / 3),
        "tensor_0d": (torch.tensor(0.25), 0.25),
        "tensor_grad": (torch.tensor(1.5, requires_grad=True) * 2, 3.0),
        "tensor_1elem": (torch.tensor([7.0]), 7.0),
        "nan": (float("nan"), float("nan")),
        "inf": (float("inf"), 1.7976931348623157e308),  # MLflow's SQL stores keep inf as max
        "neg_inf": (float("-inf"), -1.7976931348623157e308),
    }
    with tracelet.start_logging(exp_name="types", project="p", backend="mlflow"):
        for key, (value, _) in cases.items():
            writer.add_scalar(key, value, 5)
    metrics = read_run("sqlite:///mlflow.db").metrics.set_index("key")
    for key, (_, expected) in cases.items():
        got = metrics.loc[key, "value"]
        assert metrics.loc[key, "step"] == 5
        if np.isnan(expected):
            assert np.isnan(got), key
        else:
            assert bits(got) == bits(expected), (key, got, expected)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_non_scalar_raises_what_tensorboard_raises(isolated: Path):
    plain = SummaryWriter(str(isolated / "plain"))
    plain_errors = []
    for bad in ("abc", None, [1.0, 2.0]):
        with pytest.raises(Exception) as plain_error:
            plain.add_scalar("x", bad, 0)
        plain_errors.append((bad, plain_error.value))
    with tracelet.start_logging(exp_name="bad", project="p", backend="mlflow"):  # one run
        routed = SummaryWriter(str(isolated / "routed"))
        for bad, error in plain_errors:
            with pytest.raises(type(error)) as routed_error:
                routed.add_scalar("x", bad, 0)
            assert str(routed_error.value) == str(error), bad


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_numeric_string_is_recorded_as_torch_records_it(isolated: Path):
    with tracelet.start_logging(exp_name="str", project="p", backend="mlflow"):
        SummaryWriter(str(isolated / "runs")).add_scalar("from_string", "0.5", 1)
    assert read_run("sqlite:///mlflow.db").metrics["value"].tolist() == [0.5]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_global_step_none_is_step_zero_like_tensorboard(isolated: Path):
    with tracelet.start_logging(exp_name="nostep", project="p", backend="mlflow"):
        writer = SummaryWriter(str(isolated / "runs"))
        for value in (1.0, 2.0, 3.0):
            writer.add_scalar("no_step", value)
    metrics = read_run("sqlite:///mlflow.db").metrics
    assert metrics["step"].tolist() == [0, 0, 0]
    assert metrics["value"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_every_summary_writer_method_is_captured(isolated: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with tracelet.start_logging(exp_name="media", project="p", backend="mlflow"):
        writer = SummaryWriter(str(isolated / "runs"))
        writer.add_scalars("loss", {"train": 1.0, "val": 2.0}, 3)
        writer.add_histogram("weights", np.arange(100.0), 4)
        writer.add_image("image", np.zeros((3, 8, 8)), 5)
        writer.add_images("batch", np.zeros((2, 3, 8, 8)), 6)
        figure = plt.figure()
        plt.plot([1, 2, 3])
        writer.add_figure("figure", figure, 7)
        writer.add_text("notes", "hello *world*", 8)
        writer.add_hparams({"lr": 0.1, "opt": "adam"}, {"hparam/acc": 0.9})
        writer.close()
    tables = read_run("sqlite:///mlflow.db")
    metrics = {(k, s): v for k, s, v in tables.metrics[["key", "step", "value"]].values}
    assert metrics == {("loss/train", 3): 1.0, ("loss/val", 3): 2.0, ("hparam/acc", 0): 0.9}
    assert dict(zip(tables.params.key, tables.params.value, strict=True)) == {
        "lr": "0.1",
        "opt": "adam",
    }
    names = tables.artifacts["name"].tolist()
    assert "histograms/weights/step_4.json" in names
    assert "text/notes/step_8.txt" in names
    for key, step in (("image", 5), ("batch", 6), ("figure", 7)):
        assert any(n.startswith(f"images/{key}+step+{step}+") for n in names), (key, names)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_tensorboardx_writer_is_captured(isolated: Path):
    from tensorboardX import SummaryWriter as XWriter

    with tracelet.start_logging(exp_name="tbx", project="p", backend="mlflow"):
        writer = XWriter(str(isolated / "tbx"))
        for step in range(100):
            writer.add_scalar("tbx/loss", step / 10, step)
        writer.add_scalars("grp", {"a": 1.0, "b": 2.0}, 1)
        writer.close()
    metrics = read_run("sqlite:///mlflow.db").metrics
    loss = metrics[metrics.key == "tbx/loss"]
    assert loss["step"].tolist() == list(range(100))
    assert loss["value"].tolist() == [s / 10 for s in range(100)]
    assert sorted(metrics[metrics.key.str.startswith("grp")].key) == ["grp/a", "grp/b"]


def test_writer_still_writes_its_event_files(isolated: Path):
    from tracelet.backends.tensorboard import read_run as read_tensorboard

    with tracelet.start_logging(exp_name="tb", project="p", backend="mlflow"):
        writer = SummaryWriter(str(isolated / "runs"))
        for step in range(10):
            writer.add_scalar("x", step * 0.5, step)
        writer.close()
    events = read_tensorboard(str(isolated / "runs")).metrics
    assert events["step"].tolist() == list(range(10))
    assert events["value"].tolist() == [s * 0.5 for s in range(10)]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_stop_removes_patches_and_second_start_ends_first(isolated: Path):
    original = SummaryWriter.add_scalar
    first = tracelet.start_logging(exp_name="first", project="p", backend="mlflow")
    assert SummaryWriter.add_scalar is not original
    patched = SummaryWriter.add_scalar
    second = tracelet.start_logging(exp_name="second", project="p", backend="mlflow")
    assert first.report is not None and first.report.complete
    assert SummaryWriter.add_scalar is patched or SummaryWriter.add_scalar.__wrapped__ is original
    SummaryWriter(str(isolated / "runs")).add_scalar("only_second", 1.0, 0)
    tracelet.stop_logging()
    assert SummaryWriter.add_scalar is original
    assert tracelet.get_active_experiment() is None
    assert read_run("sqlite:///mlflow.db", "first").metrics.empty
    assert read_run("sqlite:///mlflow.db", "second").metrics["key"].tolist() == ["only_second"]
    assert second.report.complete


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_context_manager_marks_failed_run(isolated: Path):
    from mlflow import MlflowClient

    with pytest.raises(ZeroDivisionError), tracelet.start_logging(exp_name="crash", project="p"):
        SummaryWriter(str(isolated / "runs")).add_scalar("before_crash", 1.0, 0)
        1 / 0  # noqa: B018
    (run,) = MlflowClient(f"sqlite:///{isolated}/mlflow.db").search_runs(["0", "1"])
    assert run.info.status == "FAILED"
    assert read_run("sqlite:///mlflow.db").metrics["key"].tolist() == ["before_crash"]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_experiment_api_logs_metrics_tags_text_and_folders(isolated: Path):
    folder = isolated / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a" * 10)
    (folder / "sub" / "b.bin").write_bytes(b"b" * 20)
    with tracelet.start_logging(exp_name="api", project="p", tags={"team": "vision"}) as exp:
        exp.log_metric("acc", 0.5, step=2)
        exp.log_metrics({"m1": 1.0, "m2": 2.0}, step=3)
        exp.log_metric("no_step", 9.0)
        exp.set_tags({"stage": "dev"})
        exp.log_artifact(folder)
        exp.log_text("log", "line", step=1)
    tables = read_run("sqlite:///mlflow.db")
    rows = set(map(tuple, tables.metrics[["key", "step", "value"]].values.tolist()))
    assert rows == {("acc", 2, 0.5), ("m1", 3, 1.0), ("m2", 3, 2.0), ("no_step", 0, 9.0)}
    assert dict(zip(tables.tags.key, tables.tags.value, strict=True)) == {
        "team": "vision",
        "stage": "dev",
    }
    names = set(tables.artifacts["name"])
    assert {"ckpt/a.bin", "ckpt/sub/b.bin", "text/log/step_1.txt"} <= names


def run_tags(store: Path) -> dict[str, str]:
    """The tags of the store's one run, as the MLflow UI gets them. An absolute URI: MLflow
    caches stores by URI, so a relative one would reach an earlier test's store."""
    (run,) = mlflow.MlflowClient(f"sqlite:///{store}").search_runs(["1"])
    return run.data.tags


def test_keys_mlflow_refuses_are_mapped_and_read_back_as_written(isolated: Path):
    keys = ["loss (train)", "acc@top1", "a//b", "ünïcode/κλειδί", "x" * 300, "../up"]
    with tracelet.start_logging(exp_name="keys", project="p"):
        writer = SummaryWriter(str(isolated / "runs"))
        for i, key in enumerate(keys):
            writer.add_scalar(key, float(i), i)
    metrics = read_run("sqlite:///mlflow.db").metrics
    assert sorted(metrics["key"]) == sorted(keys)
    # What the MLflow UI lists: one readable tag for the renamed keys, no tag per key.
    tags = run_tags(isolated / "mlflow.db")
    shown = {k: v for k, v in tags.items() if not k.startswith("mlflow.")}
    assert shown.keys() == {"tracelet.run_id", "tracelet.renamed_keys"}
    renamed = {mlflow_key(key): key for key in keys if mlflow_key(key) != key}
    assert json.loads(shown["tracelet.renamed_keys"]) == renamed
    assert '"acc_top1": "acc@top1"' in shown["tracelet.renamed_keys"]


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_renamed_keys_past_one_tag_value_spill_into_numbered_tags(isolated: Path):
    keys = [f"{'k' * 200}@{i}" for i in range(60)]  # ~25,000 characters of mapping
    with tracelet.start_logging(exp_name="many", project="p"):
        writer = SummaryWriter(str(isolated / "runs"))
        for i, key in enumerate(keys):
            writer.add_scalar(key, float(i), i)
    tags = run_tags(isolated / "mlflow.db")
    keymap_tags = sorted(k for k in tags if k.startswith("tracelet.renamed_keys"))
    assert keymap_tags == [f"tracelet.renamed_keys{n}" for n in ("", ".2", ".3", ".4")]
    assert all(len(tags[k]) <= 8000 for k in keymap_tags)
    metrics = read_run("sqlite:///mlflow.db").metrics
    logged = sorted((key, float(i)) for i, key in enumerate(keys))
    assert sorted(zip(metrics["key"], metrics["value"], strict=True)) == logged


@pytest.mark.slow
def test_unreachable_tracker_never_blocks_training(isolated: Path):
    code = """
import json, time, warnings, tracelet
from torch.utils.tensorboard import SummaryWriter
t0 = time.perf_counter()
experiment = tracelet.start_logging(exp_name="down", project="p", backend="mlflow",
                                    backend_url="http://127.0.0.1:9")
print("start_s", time.perf_counter() - t0)
writer = SummaryWriter("runs")
t0 = time.perf_counter()
for step in range(20000):
    writer.add_scalar("loss", step * 0.5, step)
print("loop_s", time.perf_counter() - t0)
state = experiment.run_dir / "delivery" / "mlflow.json"
while not (state.exists() and json.loads(state.read_text())["errors"]):
    time.sleep(0.05)  # until the agent has tried the tracker and reported it down
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    report = tracelet.stop_logging(timeout=3)
print("pending", report.backends[0].pending)
print("run_dir", report.run_dir)
print("warning", " | ".join(str(w.message) for w in caught).replace(chr(10), " "))
"""
    from tests.conftest import run_python

    result = run_python(code, isolated)
    assert result.returncode == 0, result.stderr
    out = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert float(out["start_s"]) < 5
    assert int(out["pending"]) == 20_000
    assert "tracelet sync" in out["warning"]
    assert "mlflow: cannot open the run" in result.stderr
    assert "127.0.0.1:9" in result.stderr
    journal = Path(out["run_dir"]) / "journal.tlj"
    points = [e for e in iter_events(journal) if e[0] == "m"]
    assert [p[3] for p in points] == list(range(20_000))


def test_import_tracelet_imports_no_torch_and_no_tracker():
    code = (
        "import sys, tracelet\n"
        "heavy = {'torch', 'mlflow', 'wandb', 'clearml', 'tensorboardX', 'lightning', 'pandas'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.slow
def test_patching_waits_for_torch_import(isolated: Path):
    from tests.conftest import run_python

    code = """
import sys, tracelet
tracelet.start_logging(exp_name="late", project="p")
assert "torch" not in sys.modules
from torch.utils.tensorboard import SummaryWriter
SummaryWriter("runs").add_scalar("late_import", 1.0, 1)
print(tracelet.stop_logging().backends[0].delivered)
"""
    result = run_python(code, isolated)
    assert result.returncode == 0, result.stderr
    assert "'metrics': 1" in result.stdout


@pytest.mark.slow
def test_remote_tracking_server(isolated: Path, mlflow_server):
    with tracelet.start_logging(exp_name="remote", project="srv", backend_url=mlflow_server.url):
        writer = SummaryWriter(str(isolated / "runs"))
        for step in range(2500):
            writer.add_scalar("remote/loss", step / 7, step)
    tables = read_run(mlflow_server.url, "remote")
    assert tables.metrics["step"].tolist() == list(range(2500))
    assert tables.metrics["value"].tolist() == [s / 7 for s in range(2500)]


@pytest.mark.slow
def test_server_restart_mid_run_loses_nothing(isolated: Path, tmp_path_factory):
    from tests.mlflow_server import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("restart")).start()
    try:
        experiment = tracelet.start_logging(
            exp_name="restart", project="srv", backend_url=server.url
        )
        writer = SummaryWriter(str(isolated / "runs"))
        for step in range(3000):
            writer.add_scalar("loss", float(step), step)
        experiment.flush()

        def state() -> dict:
            return delivery_state(experiment.run_dir, "mlflow")

        wait_until(lambda: state().get("delivered", {}).get("metrics"), "a first delivery")
        server.stop()
        for step in range(3000, 6000):
            writer.add_scalar("loss", float(step), step)
        wait_until(lambda: state()["errors"], "the agent to find the server down")
        server.start()
        report = tracelet.stop_logging(timeout=120)
        assert report.complete, report.summary()
        metrics = read_run(server.url, "restart").metrics
        assert sorted(metrics["step"]) == list(range(6000))
    finally:
        server.stop()


@pytest.mark.slow
def test_identical_points_in_one_millisecond_are_all_kept(isolated: Path):
    with tracelet.start_logging(exp_name="dups", project="p") as experiment:
        for _ in range(3):  # as Lightning logs `epoch` more than once at one step
            experiment.log_metric("epoch", 0.0, step=7)
        experiment.log_metrics({"epoch": 0.0}, step=7)
    metrics = read_run("sqlite:///mlflow.db").metrics
    assert metrics[["key", "step", "value"]].values.tolist() == [["epoch", 7, 0.0]] * 4


@pytest.mark.slow
def test_artifact_is_captured_when_logged_not_when_delivered(isolated: Path):
    checkpoint = isolated / "ckpt.pt"
    with tracelet.start_logging(exp_name="ckpt", project="p") as experiment:
        for epoch in range(3):
            with open(checkpoint, "wb") as handle:  # rewritten in place, as torch.save does
                handle.write(bytes([epoch]) * (epoch + 1))
            experiment.log_artifact(checkpoint, name=f"epoch{epoch}/ckpt.pt")
        checkpoint.unlink()
    artifacts = read_run("sqlite:///mlflow.db").artifacts.set_index("name")
    for epoch in range(3):
        path = Path(artifacts.loc[f"epoch{epoch}/ckpt.pt", "path"])
        assert path.read_bytes() == bytes([epoch]) * (epoch + 1)
