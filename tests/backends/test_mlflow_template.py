"""New MLflow sqlite stores copied from a template: the store MLflow itself creates,
read back with MLflow's own client, and MLflow's own creation whenever there is no
template to copy."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from tracelet.backends import mlflow_template
from tracelet.backends.mlflow import _create_store


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRACELET_CACHE_DIR", str(cache))
    return cache


def _mlflow_refuses_to_create(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.store.tracking import sqlalchemy_store

    def refuse(*args, **kwargs):
        raise AssertionError("MLflow was asked to create the store")

    monkeypatch.setattr(sqlalchemy_store.SqlAlchemyStore, "__init__", refuse)


def _contents(db: Path) -> dict[str, object]:
    """Schema and every row of every table, by table. A table's definition is compared
    line by line in any order: two stores MLflow creates itself may list a table's
    constraints in different orders."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        schema = sorted(
            (kind, name, sorted((sql or "").replace(",", "").splitlines()))
            for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master")
        )
        tables = [name for kind, name, _ in schema if kind == "table"]
        rows = {t: sorted(connection.execute(f'SELECT * FROM "{t}"'), key=repr) for t in tables}
    return {"schema": schema, **rows}


@pytest.mark.slow  # MLflow creates stores itself (4 s each)
def test_a_copied_store_is_the_store_mlflow_creates(tmp_path: Path, empty_cache: Path, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    first, copied, native = (tmp_path / name / "mlflow.db" for name in ("a", "b", "c"))
    for db in (first, copied, native):
        db.parent.mkdir()
    _create_store(str(first))  # MLflow creates it, and it becomes the template
    assert mlflow_template.template_path().is_file()
    with monkeypatch.context() as patched:
        SqlAlchemyStore(f"sqlite:///{native}", str(native.parent / "mlruns"))  # MLflow's own
        _mlflow_refuses_to_create(patched)
        before = int(time.time() * 1000)
        _create_store(str(copied))

    copy, original = _contents(copied), _contents(native)
    (default,) = copy.pop("experiments")
    (native_default,) = original.pop("experiments")
    assert copy == original  # schema, revision, default workspace: all the same
    experiment_id, name, location, stage, created, updated, workspace = default
    assert (experiment_id, name, stage, workspace) == (0, "Default", "active", "default")
    assert (experiment_id, name, stage, workspace) == tuple(native_default[i] for i in (0, 1, 3, 6))
    assert location == str(copied.parent / "mlruns" / "0")  # as MLflow puts it for this store
    assert created == updated >= before

    client = MlflowClient(f"sqlite:///{copied}")
    assert client.get_experiment("0").artifact_location == location
    run = client.create_run(client.create_experiment("p"))
    client.log_metric(run.info.run_id, "loss", 0.5, step=3)
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (0.5, 3)
    ]


@pytest.mark.slow  # MLflow creates stores itself (4 s each)
def test_a_store_with_runs_is_not_kept_as_the_template(tmp_path: Path, empty_cache: Path):
    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").create_experiment("p")  # created elsewhere, then used
    mlflow_template.save(db)
    assert not mlflow_template.template_path().exists()


@pytest.mark.parametrize("why", ["switched off", "cache not writable"])
@pytest.mark.slow  # MLflow creates stores itself (4 s each)
def test_without_a_template_mlflow_creates_every_store(
    tmp_path: Path, empty_cache: Path, why, monkeypatch
):
    if why == "switched off":
        monkeypatch.setenv("TRACELET_MLFLOW_STORE_TEMPLATE", "0")
    else:
        empty_cache.write_text("a file where the folder should be")
    for name in ("a", "b"):
        db = tmp_path / name / "mlflow.db"
        db.parent.mkdir()
        _create_store(str(db))
        assert mlflow_template.copy_into(db) is False  # nothing to copy
        with contextlib.closing(sqlite3.connect(db)) as connection:
            assert connection.execute("SELECT name FROM experiments").fetchall() == [("Default",)]
    assert not list(tmp_path.rglob("*-store.db"))


def test_the_agent_creates_a_new_store_from_the_template(
    isolated: Path, empty_cache: Path, _mlflow_store_template: Path
):
    from mlflow import MlflowClient
    from torch.utils.tensorboard import SummaryWriter

    import tracelet

    template = mlflow_template.template_path()
    template.parent.mkdir(parents=True)
    shutil.copyfile(_mlflow_store_template, template)  # a store MLflow created
    with contextlib.closing(sqlite3.connect(mlflow_template.template_path())) as template:
        template.execute("CREATE TABLE copied_from_the_template (x)")  # a mark to find

    with tracelet.start_logging(exp_name="run", project="p", backend="mlflow"):
        SummaryWriter(str(isolated / "runs")).add_scalar("loss", 0.25, 7)

    store = isolated / "mlflow.db"  # MLflow's default store, new
    with contextlib.closing(sqlite3.connect(store)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "copied_from_the_template" in tables
    client = MlflowClient(f"sqlite:///{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("p").experiment_id])
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (0.25, 7)
    ]
    assert client.get_experiment("0").artifact_location == str(isolated / "mlruns" / "0")


def test_an_existing_file_is_never_replaced(
    tmp_path: Path, empty_cache: Path, _mlflow_store_template: Path
):
    template = mlflow_template.template_path()
    template.parent.mkdir(parents=True)
    shutil.copyfile(_mlflow_store_template, template)
    db = tmp_path / "mlflow.db"
    db.touch()  # another process may be about to create the store in it
    assert mlflow_template.copy_into(db) is False
    assert db.stat().st_size == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
