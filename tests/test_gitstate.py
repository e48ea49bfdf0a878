"""Git state: read with git itself in the training process, shown where each tracker does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

import tracelet
from tracelet.backends.clearml import read_run as read_clearml
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.wandb import read_run as read_wandb
from tracelet.gitstate import MAX_DIFF_BYTES, read_git_state, strip_credentials

pytestmark = pytest.mark.usefixtures("mlflow_db")  # a ready MLflow store (conftest)

REMOTE = "https://user:token@example.com/team/repo.git"
CLEAN_REMOTE = "https://example.com/team/repo.git"


def git(cwd: Path, *args: str) -> str:
    command = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture(autouse=True)
def tracker_defaults(monkeypatch) -> None:
    """The test environment switches both off (as ``validate``'s sandbox does): undo it."""
    monkeypatch.delenv("TRACELET_TRACK_GIT", raising=False)
    monkeypatch.delenv("TRACELET_TRACK_SYSTEM", raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on branch ``main``, a remote with credentials and
    one tracked file changed since (dirty)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('v1')\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", REMOTE)
    (root / "train.py").write_text("print('v2')\n")
    return root


def program() -> str:
    return str(Path(sys.modules["__main__"].__file__).resolve())


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        (REMOTE, CLEAN_REMOTE),
        ("https://token@example.com:8443/repo.git", "https://example.com:8443/repo.git"),
        ("ssh://git@example.com/repo.git", "ssh://example.com/repo.git"),
        ("git@example.com:team/repo.git", "git@example.com:team/repo.git"),
        (CLEAN_REMOTE, CLEAN_REMOTE),
    ],
)
def test_credentials_are_stripped_from_remote_urls(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean


def test_git_state_of_a_dirty_repository(repo: Path, tmp_path: Path) -> None:
    state = read_git_state(str(repo), tmp_path)

    assert state["commit"] == head(repo)
    assert state["branch"] == "main"
    assert state["remote"] == CLEAN_REMOTE
    assert state["root"] == str(repo)
    assert state["dirty"] is True
    diff = Path(state["diff"]).read_text()
    assert "-print('v1')" in diff and "+print('v2')" in diff
    assert state["diff_truncated"] is False


def test_a_clean_tree_has_no_diff_and_a_huge_diff_is_capped(repo: Path, tmp_path: Path) -> None:
    git(repo, "commit", "-q", "-am", "second")
    assert read_git_state(str(repo), tmp_path) == {
        "commit": head(repo),
        "root": str(repo),
        "branch": "main",
        "remote": CLEAN_REMOTE,
        "dirty": False,
    }
    (repo / "train.py").write_text("x = 1\n" * (MAX_DIFF_BYTES // 4))
    state = read_git_state(str(repo), tmp_path)
    assert state["diff_truncated"] is True
    assert Path(state["diff"]).stat().st_size == MAX_DIFF_BYTES


def test_outside_a_repository_one_quiet_note(tmp_path: Path, capsys) -> None:
    assert read_git_state(str(tmp_path), tmp_path) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in a git repository" in err


def _run_in(repo: Path, monkeypatch, backend: str, **kwargs) -> tracelet.Experiment:
    monkeypatch.chdir(repo)
    experiment = tracelet.start_logging(exp_name="git", project="p", backend=backend, **kwargs)
    experiment.log_metric("loss", 0.5, step=1)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    return experiment


def _assert_mlflow_source(uri: str, repo: Path) -> None:
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("p").experiment_id])
    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == head(repo)
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["mlflow.source.git.repoURL"] == CLEAN_REMOTE
    assert tags["mlflow.source.type"] == "LOCAL"
    assert tags["mlflow.source.name"] == program()
    assert tags["mlflow.user"]
    assert "token" not in repr(tags)
    (artifact,) = client.list_artifacts(run.info.run_id)
    assert artifact.path == "git.diff"
    diff = Path(client.download_artifacts(run.info.run_id, "git.diff", str(repo.parent)))
    assert "+print('v2')" in diff.read_text()
    tables = read_mlflow(uri)
    assert tables.origin["git.commit"] == head(repo)
    assert tables.origin["git.dirty"] == "true"
    assert tables.tags.empty  # the source tags are not user tags


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_mlflow_sqlite_records_git_by_default(repo: Path, monkeypatch) -> None:
    uri = f"sqlite:///{repo.parent / 'mlflow.db'}"
    _run_in(repo, monkeypatch, "mlflow", backend_url=uri)
    _assert_mlflow_source(uri, repo)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_mlflow_server_records_git(repo: Path, monkeypatch, mlflow_server) -> None:
    experiment = f"git-{repo.parent.name}"
    monkeypatch.chdir(repo)
    tracelet.start_logging(exp_name="git", project=experiment, backend_url=mlflow_server.url)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()
    client = MlflowClient(tracking_uri=mlflow_server.url)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.data.tags["mlflow.source.git.commit"] == head(repo)
    assert run.data.tags["mlflow.source.git.repoURL"] == CLEAN_REMOTE
    assert run.data.tags["mlflow.source.type"] == "LOCAL"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["git.diff"]


def test_track_git_in_config_is_a_switch_not_a_param(repo: Path, monkeypatch) -> None:
    uri = f"sqlite:///{repo.parent / 'mlflow.db'}"
    _run_in(repo, monkeypatch, "mlflow", backend_url=uri, config={"lr": 0.1, "track_git": False})
    tables = read_mlflow(uri)
    assert dict(zip(tables.params.key, tables.params.value, strict=True)) == {"lr": "0.1"}
    assert "git.commit" not in tables.origin
    assert tables.origin["user"]  # program and user are always recorded
    assert tables.artifacts.empty


@pytest.mark.slow  # fast: the same switch from config, above
def test_environment_switches_git_off(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACELET_TRACK_GIT", "off")
    uri = f"sqlite:///{repo.parent / 'mlflow.db'}"
    _run_in(repo, monkeypatch, "mlflow", backend_url=uri)
    assert "git.commit" not in read_mlflow(uri).origin


def test_wandb_run_metadata_and_diff_patch(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACELET_TRACK_SYSTEM", "0")
    experiment = _run_in(repo, monkeypatch, "wandb", track_git=True)
    root = Path(experiment.report.backends[0].location.split(" in ")[1].split(" (")[0])
    tables = read_wandb(str(root))
    assert tables.origin["git.commit"] == head(repo)
    assert tables.origin["git.remote"] == CLEAN_REMOTE
    assert "+print('v2')" in (root / "files" / "diff.patch").read_text()


def test_clearml_script_information(repo: Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACELET_TRACK_SYSTEM", "0")
    experiment = _run_in(repo, monkeypatch, "clearml", track_git=True)
    session = experiment.report.backends[0].location.rpartition(" ")[2]
    tables = read_clearml(session)
    assert tables.origin == {
        "program": Path(program()).name,  # the entry point, relative to the repository
        "git.commit": head(repo),
        "git.branch": "main",
        "git.remote": CLEAN_REMOTE,
        "git.dirty": "true",
    }
