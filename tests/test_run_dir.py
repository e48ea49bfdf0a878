"""``experiment.dir`` (W&B's ``run.dir``): files a program writes into the run's files
folder are kept with the run when it stops, read back from real stores next to a twin run
that writes into W&B's own ``run.dir``.

The shape is W&B's example pytorch-cnn-fashion (wandb/examples,
examples/pytorch/pytorch-cnn-fashion/train.py): ``torch.save(model.state_dict(),
os.path.join(wandb.run.dir, "model.pt"))`` at the end of training; with a file in a
sub-folder, a file also given to ``save`` (with ``base_path`` the folder, and as an
absolute path, which W&B names ``files/<name>``) and a file rewritten after that ``save``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import tracelet
from tests.test_run_files import saved_files, write
from tracelet.backends.wandb import read_run
from tracelet.events import FILE
from tracelet.journal import iter_events
from tracelet.journal import read_run as read_journal
from tracelet.readers import read_store
from tracelet.rundir import JOURNAL_FILE

WRITTEN = {"model.pt", "sub/deep/notes.txt", "best.pt", "files/model.pt"}


def fashion_shapes(folder: str, save: Callable) -> None:
    """What a program does with its run's files folder, through either API."""
    write(os.path.join(folder, "best.pt"), "best of epoch 0")
    save(os.path.join(folder, "best.pt"), base_path=folder)  # live, named best.pt
    write(os.path.join(folder, "best.pt"), "best of epoch 1")  # rewritten after the save
    write(os.path.join(folder, "sub", "deep", "notes.txt"), "notes")
    write(os.path.join(folder, "model.pt"), "state dict")
    save(os.path.join(folder, "model.pt"))  # absolute: W&B names it files/model.pt


def wandb_twin(folder: Path) -> Path:
    import wandb

    folder.mkdir()
    os.chdir(folder)
    run = wandb.init(project="pytorch-cnn-fashion")
    fashion_shapes(wandb.run.dir, wandb.save)
    run_dir = Path(run.dir).parent
    wandb.finish()
    return run_dir


def tracelet_run(folder: Path, backend: str | list[str]) -> tracelet.Experiment:
    folder.mkdir()
    os.chdir(folder)
    with tracelet.start_logging(project="pytorch-cnn-fashion", backend=backend) as run:
        files = run.dir
        assert Path(files).is_dir() and run.dir == files  # one folder, made at first use
        fashion_shapes(run.dir, run.save)
        write(os.path.join(run.dir, "after.txt"), "written after the last save")
    assert run.report.complete, run.report.summary()
    return run


def test_run_dir_files_are_the_wandb_run_files_run_dir_makes(tmp_path: Path) -> None:
    original = wandb_twin(tmp_path / "original")
    run = tracelet_run(tmp_path / "migrated", "wandb")
    migrated = Path(run.urls["wandb"])

    # W&B records a files entry only for what save() was given; the files written into
    # run.dir are uploaded with the folder at the end
    assert set(saved_files(original)) == {("best.pt", 2), ("files/model.pt", 2)}  # LIVE
    assert set(saved_files(migrated)) == set(saved_files(original))
    for name in WRITTEN:
        original_bytes = (original / "files" / name).read_bytes()
        assert (migrated / "files" / name).read_bytes() == original_bytes, name
    assert (migrated / "files" / "best.pt").read_text() == "best of epoch 1"
    assert (migrated / "files" / "after.txt").read_text() == "written after the last save"

    columns = ["name", "size", "sha256"]
    rows = [
        sorted(read_run(str(path)).artifacts[columns].itertuples(index=False))
        for path in (original, migrated)
    ]
    assert [row for row in rows[1] if row[0] != "after.txt"] == rows[0]
    assert {name for name, *_ in rows[0]} == WRITTEN

    # each capture is sent once: again only when the file changed
    sent = [
        (event[1], event[3])
        for event in iter_events(run.run_dir / JOURNAL_FILE)
        if event[0] == FILE
    ]
    assert sorted(sent) == [
        ("after.txt", "dir"),
        ("best.pt", "live"),
        ("best.pt", "live"),
        ("files/model.pt", "live"),
        ("model.pt", "dir"),
        ("sub/deep/notes.txt", "dir"),
    ]


@pytest.mark.slow
def test_run_dir_files_are_mlflow_artifacts_at_their_paths(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    run = tracelet_run(tmp_path / "migrated", "mlflow")
    client = MlflowClient(uri)

    def listing(path: str | None = None) -> list[str]:
        found = []
        for info in client.list_artifacts(run.ids["mlflow"], path):
            found.extend(listing(info.path) if info.is_dir else [info.path])
        return found

    assert set(listing()) - {"console.log"} == WRITTEN | {"after.txt"}
    local = Path(client.download_artifacts(run.ids["mlflow"], "", str(tmp_path / "dl")))
    assert (local / "best.pt").read_text() == "best of epoch 1"
    assert (local / "model.pt").read_text() == "state dict"
    assert (local / "files" / "model.pt").read_text() == "state dict"
    assert (local / "sub" / "deep" / "notes.txt").read_text() == "notes"


def test_run_dir_of_a_run_that_delivers_nothing_is_a_folder_of_its_own() -> None:
    run = tracelet.Experiment("x", "p", ["mlflow"], {}, delivery="off")
    folder = run.dir
    assert Path(folder).is_dir() and run.dir == folder
    write(os.path.join(run.dir, "model.pt"), "state dict")
    run.stop()


@pytest.mark.slow
def test_run_dir_files_are_clearml_artifacts_and_tensorboard_files(tmp_path: Path) -> None:
    backends = ["clearml", "tensorboard"]
    run = tracelet_run(tmp_path / "migrated", backends)
    names = WRITTEN | {"after.txt"}
    journal = read_journal(run.run_dir).artifacts.set_index("name")
    assert set(journal.index) == names
    for backend in backends:
        stored = read_store(run.urls[backend]).artifacts.set_index("name")
        assert set(stored.index) == names, backend
        assert stored.loc[sorted(names), "sha256"].equals(journal.loc[sorted(names), "sha256"])
