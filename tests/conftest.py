"""Every test runs in its own temporary folder with every tracker store inside it.

Trackers read their locations from the environment, so the isolation is done there:
MLflow's default sqlite store lands in the working directory, W&B runs offline into
``WANDB_DIR``, ClearML runs offline into ``CLEARML_CACHE_DIR`` with no update check,
and tracelet's own run folders go to ``TRACELET_DIR``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest


def isolated_environ(root: Path) -> dict[str, str]:
    """Environment variables that keep every store and cache under ``root``: the ones
    ``tracelet validate`` gives its sandboxed children, except MLflow's store, which
    stays MLflow's own default (``mlflow.db`` in the test's working directory)."""
    from tracelet.validators.sandbox import Sandbox

    env = Sandbox.create(root).environ(base={})
    del env["MLFLOW_TRACKING_URI"]
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    return env


@pytest.fixture(scope="session")
def tracelet_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tracelet's cache folder for the whole session (its MLflow store template:
    tracelet/backends/mlflow_template.py), so that a new MLflow store costs its
    migrations once per session, not once per test."""
    return tmp_path_factory.mktemp("tracelet-cache")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracelet_cache: Path):
    """Run the test in ``tmp_path`` with all tracker stores redirected inside it."""
    for key in list(os.environ):
        if key.startswith(("MLFLOW_", "WANDB_", "CLEARML_", "TRAINS_", "TRACELET_")):
            monkeypatch.delenv(key, raising=False)
    for key, value in isolated_environ(tmp_path / "env").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRACELET_CACHE_DIR", str(tracelet_cache))
    # Agents at normal priority: on a machine loaded by other work a low-priority agent
    # waits out its whole cold window before it starts (tests/agent/test_agent_priority.py
    # tests the window itself).
    monkeypatch.setenv("TRACELET_AGENT_COLD_SECONDS", "0")
    monkeypatch.chdir(tmp_path)
    if "mlflow" in sys.modules:  # a tracking URI set by an earlier test (MLFlowLogger sets one)
        monkeypatch.setattr(
            sys.modules["mlflow"].tracking._tracking_service.utils, "_tracking_uri", None
        )
    _teardown_wandb()  # W&B keeps one setup per process, with the first run's WANDB_DIR
    yield tmp_path
    _teardown_wandb()


def _teardown_wandb() -> None:
    teardown = getattr(sys.modules.get("wandb"), "teardown", None)
    if teardown is not None:
        teardown()


@pytest.fixture(scope="session")
def _mlflow_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One MLflow sqlite store as MLflow itself creates it (no template copy), for the
    tests of the store template (tests/backends/test_mlflow_template.py)."""
    from tracelet.backends.mlflow import _create_store

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("TRACELET_MLFLOW_STORE_TEMPLATE", "0")
        _create_store(str(path))
    return path


@pytest.fixture
def mlflow_db(isolated: Path) -> Path:
    """MLflow's default store (``mlflow.db`` in the test's folder) with its tables
    already created, by tracelet's own store creation (the agent's child process runs the
    same function): a copy of the session's store template once the first one exists.
    Tests of store creation itself (tests/backends/test_mlflow_store.py) do not use this."""
    from tracelet.backends.mlflow import _create_store

    target = isolated / "mlflow.db"
    _create_store(str(target))
    return target


# .ci/run starts a server before the session; `make test` alone starts one on demand.
CI_MLFLOW_URL = os.environ.get("TRACELET_TEST_MLFLOW_URL")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """A real ``mlflow server`` on 127.0.0.1 (one per test session); has ``.url``."""
    from tests.mlflow_server import MlflowServer

    if CI_MLFLOW_URL:
        yield SimpleNamespace(url=CI_MLFLOW_URL)
        return
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


def run_python(code: str, cwd: Path, stall: float = 120, **env: str):
    """Run ``code`` in a fresh interpreter with the test's isolated environment.

    A hang fails the test: the script is killed once its process tree has used less than
    1% of a core over the last ``stall`` seconds (a tracker's service ticking in the
    background uses less), so a script that is only slow because the machine is loaded
    runs to its end."""
    import subprocess

    script = cwd / f"script_{abs(hash(code)) % 10**8}.py"
    script.write_text(code)
    with subprocess.Popen(
        [sys.executable, str(script)],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        progress = _CpuProgress(child.pid, window=stall)
        while True:
            try:
                stdout, stderr = child.communicate(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if progress.stalled():
                    _kill_tree(child.pid)
                    stdout, stderr = child.communicate()
                    raise AssertionError(
                        f"script made no progress for {stall:.0f} s (killed)\n{stderr[-3000:]}"
                    ) from None
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


class _CpuProgress:
    """Whether a process tree used less than 1% of a core over the last ``window`` s."""

    def __init__(self, pid: int, window: float) -> None:
        import time

        self._pid, self._window = pid, window
        self._samples = [(time.monotonic(), 0.0)]

    def stalled(self) -> bool:
        import time

        now = time.monotonic()
        self._samples.append((now, self._cpu()))
        while len(self._samples) > 1 and self._samples[1][0] <= now - self._window:
            self._samples.pop(0)
        start, used = self._samples[0]
        return now - start >= self._window and self._samples[-1][1] - used < 0.01 * self._window

    def _cpu(self) -> float:
        import psutil

        total = 0.0
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self._pid)
            for process in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system
        return total


def _kill_tree(pid: int) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for process in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.Error):
                process.kill()
