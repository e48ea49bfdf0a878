"""A fresh MLflow sqlite store: which experiment a run lands in, and creating the store
safely when the agent is stopped inside the creation or another process creates it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

import tracelet
from tests.conftest import run_python
from tracelet.agent import priority
from tracelet.backends.mlflow import read_run
from tracelet.cli import main as cli_main

pytestmark = pytest.mark.slow  # store creation in child processes, paused on purpose


@pytest.fixture(autouse=True)
def _mlflow_creates_the_store(monkeypatch: pytest.MonkeyPatch):
    """These tests pause and break MLflow's own store creation: no template copy."""
    monkeypatch.setenv("TRACELET_MLFLOW_STORE_TEMPLATE", "0")


def _being_created(db: Path) -> bool:
    """MLflow has begun creating the store's tables and not finished."""
    try:
        with sqlite3.connect(db, timeout=30) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
            if not tables:
                return False
            if "alembic_version" not in tables:
                return True
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return False
    from mlflow.store.db.utils import _get_latest_schema_revision

    return row is None or row[0] != _get_latest_schema_revision()


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def test_a_run_with_no_project_lands_in_mlflows_default_experiment(isolated: Path):
    import mlflow
    from mlflow import MlflowClient

    tracelet.start_logging(exp_name="routed", backend="mlflow")
    SummaryWriter("runs").add_scalar("loss", 1.0, 0)
    assert tracelet.stop_logging(timeout=60).complete
    with mlflow.start_run(run_name="direct"):
        mlflow.log_metric("loss", 2.0)
    client = MlflowClient(f"sqlite:///{isolated}/mlflow.db")
    assert [e.name for e in client.search_experiments()] == ["Default"]
    runs = client.search_runs(["0"])
    assert sorted(r.info.run_name for r in runs) == ["direct", "routed"]


PAUSED_IN_STORE_CREATION = """
import os, signal, time, tracelet
from pathlib import Path
from tests.backends.test_mlflow_store import _being_created
from torch.utils.tensorboard import SummaryWriter
experiment = tracelet.start_logging(exp_name="fresh", project="p", backend="mlflow")
while not _being_created(Path("mlflow.db")):
    time.sleep(0.005)
os.kill(experiment._agent.process.pid, signal.SIGSTOP)
writer = SummaryWriter("runs")
for step in range(100):
    writer.add_scalar("loss", step * 0.5, step)
report = tracelet.stop_logging(timeout=0.5)  # the agent is killed at this deadline
assert not report.complete
print(experiment.run_dir)
"""


STORE_CREATION_AT_LOW_PRIORITY = """
import json, os, sys
from pathlib import Path
from tracelet.agent import priority
from tracelet.backends import mlflow
priority.set_level(os.getpid(), priority.LOW)  # an agent in its cold window
db = Path(sys.argv[1])
creating = mlflow._start_store_creation(db)
child = creating[0].pid
group = int(Path(f"/proc/{child}/autogroup").read_text().split()[-1])
seen = [os.getsid(child) == child, group]
mlflow._finish_store_creation(creating, db, str(db.parent))
seen.append(mlflow._sqlite_revision(db) == mlflow._latest_revision())
print(json.dumps(seen))
"""


def test_the_store_is_created_in_a_session_of_its_own_at_the_agents_priority(tmp_path: Path):
    result = subprocess.run(  # in a session of its own, as the agent
        [sys.executable, "-c", STORE_CREATION_AT_LOW_PRIORITY, str(tmp_path / "mlflow.db")],
        capture_output=True,
        text=True,
        start_new_session=True,
    )
    assert result.returncode == 0, result.stderr
    own_session, group_nice, created = json.loads(result.stdout.splitlines()[-1])
    assert own_session  # it finishes the store even when the agent is killed
    assert group_nice == priority.LOW  # from its start, not the agent's next check
    assert created


def test_a_stop_deadline_inside_store_creation_leaves_a_usable_store(isolated: Path):
    from mlflow import MlflowClient

    repo = str(Path(__file__).resolve().parents[2])
    result = run_python(PAUSED_IN_STORE_CREATION, isolated, PYTHONPATH=repo)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.split()[-1])

    assert cli_main(["sync", str(run_dir)]) == 0
    assert read_run("sqlite:///mlflow.db").metrics["step"].tolist() == list(range(100))
    client = MlflowClient(f"sqlite:///{isolated}/mlflow.db")
    assert client.create_run(client.get_experiment_by_name("p").experiment_id)


def test_a_broken_store_is_reported_with_the_way_out(isolated: Path, monkeypatch):
    monkeypatch.setenv("TRACELET_MLFLOW_STORE_STILL", "0.5")
    with sqlite3.connect("mlflow.db") as connection:  # what a process killed early leaves
        connection.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT)")
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("INSERT INTO alembic_version VALUES ('451aebb31d03')")
    experiment = tracelet.start_logging(exp_name="broken", project="p", backend="mlflow")
    SummaryWriter("runs").add_scalar("loss", 1.0, 0)
    run_dir = experiment.run_dir
    state_file = run_dir / "delivery" / "mlflow.json"
    _wait_for(state_file.exists, "the agent's first attempt")
    tracelet.stop_logging(timeout=0)
    state = json.loads(state_file.read_text())
    db = isolated / "mlflow.db"
    assert any(
        f"mv {db} {db}.broken" in error and f"tracelet sync {run_dir}" in error
        for error in state["errors"]
    ), state["errors"]


DIRECT_MLFLOW = """
import mlflow
with mlflow.start_run(run_name="direct"):
    mlflow.log_metric("loss", 2.0)
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def test_mlflow_and_tracelet_creating_one_store_side_by_side(isolated: Path, capfd):
    script = isolated / "direct.py"
    script.write_text(DIRECT_MLFLOW)
    direct = subprocess.Popen(
        [sys.executable, str(script)], cwd=isolated, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: _being_created(isolated / "mlflow.db"), "MLflow creating the store")
    os.kill(direct.pid, signal.SIGSTOP)  # MLflow, called directly, is inside the creation
    try:
        experiment = tracelet.start_logging(exp_name="routed", backend="mlflow")
        run_dir = experiment.run_dir
        state_file = run_dir / "delivery" / "mlflow.json"
        _wait_for(
            lambda: _children(experiment._agent.process.pid) or state_file.exists(),
            "the agent opening the store",
        )
    finally:
        os.kill(direct.pid, signal.SIGCONT)
    _, direct_err = direct.communicate(timeout=120)
    assert direct.returncode == 0, direct_err
    SummaryWriter("runs").add_scalar("loss", 1.0, 0)
    report = tracelet.stop_logging(timeout=120)
    assert report.complete, report.summary()
    assert "already exists" not in capfd.readouterr().err
    assert "already exists" not in (run_dir / "agent.log").read_text()
    assert read_run("sqlite:///mlflow.db", "routed").metrics["value"].tolist() == [1.0]
    assert read_run("sqlite:///mlflow.db", "direct").metrics["value"].tolist() == [2.0]
