"""tracelet.set_backend_options: a backend's default options for the runs started later
(what mlflow.set_tracking_uri is for MLflow's own runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tracelet
from tracelet import experiment as experiment_module


@pytest.fixture(autouse=True)
def no_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiment_module, "_backend_defaults", {})


def started_options(**kwargs) -> dict:
    run = tracelet.start_logging(backend="mlflow", delivery="off", capture=False, **kwargs)
    try:
        return run._spec.backend_options["mlflow"]
    finally:
        tracelet.stop_logging()


def test_default_url_is_pinned_for_runs_started_later(isolated: Path):
    tracelet.set_backend_options("mlflow", url="sqlite:///runs.db")
    assert started_options()["url"] == f"sqlite:///{isolated / 'runs.db'}"
    tracelet.set_backend_options("mlflow", url="sqlite:///other.db")
    assert started_options()["url"] == f"sqlite:///{isolated / 'other.db'}"


def test_run_options_and_backend_url_win_key_by_key(isolated: Path):
    tracelet.set_backend_options("mlflow", url="sqlite:///default.db", extra=1)
    own = started_options(backend_options={"mlflow": {"url": "sqlite:///own.db"}})
    assert (own["url"], own["extra"]) == (f"sqlite:///{isolated / 'own.db'}", 1)
    assert started_options(backend_url="sqlite:///url.db")["url"] == (
        f"sqlite:///{isolated / 'url.db'}"
    )


def test_none_removes_a_default(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///env.db")
    tracelet.set_backend_options("mlflow", url="sqlite:///default.db")
    tracelet.set_backend_options("mlflow", url=None)
    assert started_options()["url"] == f"sqlite:///{isolated / 'env.db'}"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown backend 'mlfow'"):
        tracelet.set_backend_options("mlfow", url="sqlite:///x.db")
