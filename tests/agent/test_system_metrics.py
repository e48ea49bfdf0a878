"""System metrics: sampled in the delivery agent, stored under each tracker's own names."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

import tracelet
from tracelet.agent.delivery import BackendWorker, DeliveryState
from tracelet.agent.system_metrics import SamplingThread, SystemSampler, _Gpus
from tracelet.backends.clearml import read_run as read_clearml
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.wandb import read_run as read_wandb
from tracelet.rundir import read_spec
from tracelet.tables import RunTables

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)

# what each tracker's own monitor calls CPU utilisation and memory
NATIVE_CPU_AND_MEMORY = {
    "mlflow": ("system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"),
    "wandb": ("cpu", "proc.memory.rssMB"),
    "clearml": (":monitor:machine/cpu_usage", ":monitor:machine/memory_used_gb"),
}


@pytest.fixture(autouse=True)
def tracker_defaults(monkeypatch) -> None:
    """The test environment switches both off (as ``validate``'s sandbox does): undo it."""
    monkeypatch.delenv("TRACELET_TRACK_GIT", raising=False)
    monkeypatch.delenv("TRACELET_TRACK_SYSTEM", raising=False)


@pytest.fixture(autouse=True)
def short_tmpdir(monkeypatch):
    """wandb-core's system monitor records nothing, silently, when ``$TMPDIR`` is as
    long as a test's own folder (seen: stats with ``test_dbg0``, none with this module's
    test names), so W&B gets a short one, as a user's ``/tmp`` is."""
    with tempfile.TemporaryDirectory(prefix="tl-", dir="/tmp") as short:
        monkeypatch.setenv("TMPDIR", short)
        yield


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_a_sample_describes_the_training_process_and_the_machine() -> None:
    sampler = SystemSampler(os.getpid())
    values = sampler.sample()
    rss = psutil.Process().memory_info().rss / 1e6
    assert 0.5 * rss < values["process_rss_megabytes"] < 2 * rss
    assert 0 <= values["cpu_utilization_percentage"] <= 100
    memory = psutil.virtual_memory()
    assert values["system_memory_usage_percentage"] == pytest.approx(
        memory.used / memory.total * 100, abs=5
    )
    assert {"disk_usage_percentage", "network_receive_megabytes"} <= set(values)
    assert not any(name.startswith("gpu_") for name in values)  # no GPU on this machine


def test_a_vanished_process_leaves_only_machine_metrics() -> None:
    sampler = SystemSampler(2**22 + 12345)  # no such pid
    values = sampler.sample()
    assert "process_rss_megabytes" not in values
    assert "cpu_utilization_percentage" in values


def test_gpu_sensors_are_skipped_on_nvml_error() -> None:
    """The GPU path runs against NVML itself: on a machine without the NVIDIA driver,
    nvmlInit raises NVML's own error and the sampler reports no GPU metric."""
    import pynvml

    gpus = _Gpus()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        assert isinstance(
            error, pynvml.NVMLError_LibraryNotFound | pynvml.NVMLError_DriverNotLoaded
        )
        assert gpus.handles == []
        assert list(gpus.read()) == []
        return
    pytest.skip("an NVIDIA driver is present: see test_gpu_metrics_on_a_gpu")


def test_gpu_metrics_on_a_gpu() -> None:
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        pytest.skip(f"not run: no NVIDIA GPU ({error})")
    values = dict(_Gpus().read())
    assert values["gpu_0_memory_usage_megabytes"] > 0
    assert 0 <= values["gpu_0_utilization_percentage"] <= 100


def test_the_sampling_thread_keeps_its_interval() -> None:
    samples = []
    sampling = SamplingThread(os.getpid(), 0.2, samples.append)
    sampling.start()
    wait_for(lambda: len(samples) >= 3, timeout=30)
    sampling.stop()
    assert [s.index for s in samples[:3]] == [0, 1, 2]
    assert samples[1].elapsed >= 0.4 - 0.01


def _location(run_dir: Path, backend: str) -> str:
    tracker = DeliveryState.load(run_dir, backend).tracker
    return {
        "mlflow": lambda: tracker["tracking_uri"],
        "wandb": lambda: tracker["wandb_root"],
        "clearml": lambda: tracker["session"],
    }[backend]()


def _read(backend: str, location: str) -> RunTables:
    reader = {"mlflow": read_mlflow, "wandb": read_wandb, "clearml": read_clearml}[backend]
    return reader(location)


def _samples(backend: str, location: str) -> dict[str, int]:
    system = _read(backend, location).system
    return system.groupby("key").size().to_dict()


def _has_two_samples(backend: str, run_dir: Path) -> Callable[[], bool]:
    def check() -> bool:
        state = DeliveryState.load(run_dir, backend)
        if not state.location:
            return False
        counts = _samples(backend, _location(run_dir, backend))
        return all(counts.get(name, 0) >= 2 for name in NATIVE_CPU_AND_MEMORY[backend])

    return check


def _assert_native(backend: str, location: str) -> None:
    tables = _read(backend, location)
    counts = tables.system.groupby("key").size().to_dict()
    for name in NATIVE_CPU_AND_MEMORY[backend]:
        assert counts.get(name, 0) >= 2, (name, counts)
    assert tables.metrics.key.tolist() == ["loss"]  # system metrics are not user metrics
    if backend == "wandb":  # wandb samples the pid it was given: this process
        rss = tables.system[tables.system.key == "proc.memory.rssMB"].value.iloc[-1]
        assert 0.5 < rss / (psutil.Process().memory_info().rss / 2**20) < 2


# wandb-core writes its stats records to the .wandb file in buffered blocks: live, they
# show after about 15 s on a quiet machine, minutes on a loaded one (slow tier).
@pytest.mark.parametrize(
    "backend", ["mlflow", pytest.param("wandb", marks=pytest.mark.slow), "clearml"]
)
@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_two_samples_at_a_one_second_interval(backend: str, isolated: Path) -> None:
    experiment = tracelet.start_logging(
        exp_name="sys", project="p", backend=backend, track_system=True, system_interval=1.0
    )
    experiment.log_metric("loss", 0.5, step=1)
    experiment.flush()
    wait_for(_has_two_samples(backend, experiment.run_dir))
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    _assert_native(backend, _location(experiment.run_dir, backend))


@pytest.mark.slow  # fast: the same backend code on sqlite ([mlflow] above)
def test_mlflow_server_gets_system_metrics_as_mlflow_names_them(mlflow_server) -> None:
    project = f"sys-{time.time_ns()}"
    experiment = tracelet.start_logging(
        exp_name="sys",
        project=project,
        backend_url=mlflow_server.url,
        config={"track_system": True},
        system_interval=1.0,
    )
    experiment.log_metric("loss", 0.5, step=1)
    client = MlflowClient(tracking_uri=mlflow_server.url)

    def history(key: str) -> list:
        run_id = DeliveryState.load(experiment.run_dir, "mlflow").tracker.get("run_id")
        return client.get_metric_history(run_id, key) if run_id else []

    wait_for(lambda: len(history("system/system_memory_usage_megabytes")) >= 2)
    tracelet.stop_logging()
    cpu = history("system/cpu_utilization_percentage")
    assert [m.step for m in cpu[:2]] == [0, 1]  # as MLflow's own monitor: step = sample
    run = client.get_run(DeliveryState.load(experiment.run_dir, "mlflow").tracker["run_id"])
    assert "track_system" not in run.data.params


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_defaults_follow_each_tracker(isolated: Path) -> None:
    """MLflow: git yes, system metrics only on request; W&B and ClearML: both."""
    experiment = tracelet.start_logging(exp_name="d", project="p", backend=["mlflow", "clearml"])
    tracelet.stop_logging()
    spec = read_spec(experiment.run_dir)
    assert spec.tracking == {
        "mlflow": {"system": False, "git": True, "console": False},
        "clearml": {"system": True, "git": True, "console": True},
    }
    workers = {
        name: BackendWorker(experiment.run_dir, spec, name, print, bool) for name in spec.backends
    }
    assert not workers["mlflow"].wants_system_samples()
    assert workers["clearml"].wants_system_samples()


@pytest.mark.slow
def test_a_25_second_run_at_the_default_interval(isolated: Path) -> None:
    backends = ["mlflow", "wandb", "clearml"]
    experiment = tracelet.start_logging(
        exp_name="sys25", project="p", backend=backends, track_system=True
    )
    experiment.log_metric("loss", 0.5, step=1)
    # the 25 s start when every tracker has its run (wandb samples from wandb.init on)
    wait_for(lambda: all(DeliveryState.load(experiment.run_dir, b).location for b in backends))
    time.sleep(25)  # the run's length is what is under test
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    for backend in backends:
        _assert_native(backend, _location(experiment.run_dir, backend))


def test_validate_leaves_system_metrics_out_unless_asked() -> None:
    from tracelet.tables import metrics_frame
    from tracelet.validators.compare import compare_runs

    def run(cpu: float) -> RunTables:
        return RunTables(
            metrics=metrics_frame([("loss", 1, 0.5, 1.0)]),
            system=metrics_frame([("system/cpu_utilization_percentage", 0, cpu, 1.0)]),
        )

    assert compare_runs(run(10.0), run(90.0)).equal
    assert not compare_runs(run(10.0).with_system_metrics(), run(90.0).with_system_metrics()).equal


@pytest.mark.slow  # fast: compare_runs above
def test_validate_compares_system_metrics_only_with_the_system_flag(
    isolated: Path, capsys: pytest.CaptureFixture
) -> None:
    from tracelet.cli import main

    stores = []
    for name, track in (("sampled", True), ("unsampled", False)):
        experiment = tracelet.start_logging(
            exp_name=name, project="p", backend="mlflow", track_system=track, system_interval=1.0
        )
        experiment.log_metric("loss", 0.5, step=1)
        experiment.flush()
        if track:
            wait_for(_has_two_samples("mlflow", experiment.run_dir))
        assert tracelet.stop_logging().complete
        stores.append(f"{_location(experiment.run_dir, 'mlflow')}#{name}")

    assert main(["validate", *stores]) == 0  # the user's metrics are equal
    assert main(["validate", *stores, "--system"]) == 1
    out = capsys.readouterr().out
    assert "system/cpu_utilization_percentage" in out
