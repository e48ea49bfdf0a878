"""``experiment.save`` (``wandb.save``) and W&B artifacts of one file or folder, read back
from real stores next to a twin run that calls W&B itself.

The shapes are DALLE-pytorch's (lucidrains/DALLE-pytorch, train_vae.py and
train_dalle.py): ``wandb.save("./vae.pt")`` called before the checkpoint exists and again
after every save, ``wandb.save`` of the final checkpoint, and a ``wandb.Artifact`` of
type ``model`` holding the checkpoint, logged at every epoch's end; yolov5's
``add_file(path, name="last.pt")`` and ConvNeXt's ``add_dir`` with aliases.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import tracelet
from tracelet.backends.wandb import read_run
from tracelet.backends.wandb.logfile import decode, payloads
from tracelet.journal import read_run as read_journal
from tracelet.readers import read_store

CONFIG = {"num_tokens": 16, "kl_loss_weight": 0.0}


def write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def dalle_shapes(save: Callable, log_artifact: Callable) -> None:
    """What the DALLE scripts do with run files and artifacts, through either API."""
    save("./vae.pt")  # before the first checkpoint: matches nothing
    for epoch in range(2):
        write("vae.pt", f"weights of epoch {epoch}")
        save("./vae.pt")
        log_artifact("trained-vae", "vae.pt")
    write("vae.pt", "weights after the last epoch")  # the live file changes once more
    write("vae-final.pt", "final weights")
    save("./vae-final.pt")
    write("ckpt/a.pt", "a")
    write("ckpt/b.pt", "b")
    save("ckpt/*.pt", policy="now")
    write("ckpt/a.pt", "a, changed after a save with policy now")
    write("out/deep/notes.txt", "notes")
    save(os.path.abspath("out/deep/notes.txt"))  # absolute: one folder level kept
    write("out/end.txt", "written before the end")
    save("out/end.txt", base_path="out", policy="end")
    write("out/end.txt", "as it is at the end")


def wandb_twin(folder: Path) -> Path:
    import wandb

    folder.mkdir()
    os.chdir(folder)
    run = wandb.init(project="dalle_train_vae", job_type="train_model", config=CONFIG)

    def log_artifact(name: str, path: str) -> None:
        artifact = wandb.Artifact(name, type="model", metadata=dict(CONFIG))
        artifact.add_file(path)
        run.log_artifact(artifact)

    dalle_shapes(wandb.save, log_artifact)
    write("runs/last.pt", "yolo")
    artifact = wandb.Artifact("run_x_model", type="model")
    artifact.add_file(str(Path("runs") / "last.pt"), name="last.pt")
    run.log_artifact(artifact, aliases=["latest", "last"])
    write("output/checkpoint.pth", "convnext")
    write("output/log.txt", "log")
    artifact = wandb.Artifact("x_model", type="model")
    artifact.add_dir("output")
    run.log_artifact(artifact, aliases=["latest", "best"])
    run_dir = Path(run.dir).parent
    wandb.finish()
    return run_dir


def tracelet_run(folder: Path) -> Path:
    folder.mkdir()
    os.chdir(folder)
    with tracelet.start_logging(project="dalle_train_vae", config=CONFIG, backend="wandb") as run:

        def log_artifact(name: str, path: str) -> None:
            run.log_artifact(path, name=f"{name}/vae.pt", type="model", metadata=dict(CONFIG))

        dalle_shapes(run.save, log_artifact)
        write("runs/last.pt", "yolo")
        run.log_artifact(
            str(Path("runs") / "last.pt"), name="run_x_model/last.pt", type="model",
            aliases=["latest", "last"],
        )  # fmt: skip
        write("output/checkpoint.pth", "convnext")
        write("output/log.txt", "log")
        run.log_artifact("output", name="x_model", type="model", aliases=["latest", "best"])
    assert run.report.complete, run.report.summary()
    return Path(run.urls["wandb"])


def saved_files(run_dir: Path) -> list[tuple[str, int]]:
    """``(path, policy)`` of every file record a ``run.save`` wrote, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    [sync_file] = run_dir.glob("*.wandb")
    found = []
    for payload in payloads(sync_file.read_bytes(), []):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "files":
            found.extend(
                (item.path, item.policy)
                for item in record.files.files
                if item.type != pb.FilesItem.WANDB and not item.path.startswith("media/")
            )
    return found


def artifacts(run_dir: Path) -> list[tuple]:
    [sync_file] = run_dir.glob("*.wandb")
    return [
        (a.name, a.type, sorted(e.path for e in a.manifest.contents), sorted(a.aliases))
        for a in decode(sync_file).artifacts
        if a.type == "model"
    ]


def test_run_files_and_artifacts_read_back_as_wandb_stores_them(tmp_path: Path) -> None:
    original = wandb_twin(tmp_path / "original")
    migrated = tracelet_run(tmp_path / "migrated")

    names = {path for path, _ in saved_files(original)}
    assert names == {
        "vae.pt", "vae-final.pt", "ckpt/a.pt", "ckpt/b.pt", "deep/notes.txt", "end.txt",
    }  # fmt: skip
    assert set(saved_files(migrated)) == set(saved_files(original))
    # offline, W&B links each run file to the user's file: what it holds at the end is
    # what `wandb sync` uploads; a "now" file is what W&B online uploads at the call
    for name in names - {"ckpt/a.pt"}:
        original_bytes = (original / "files" / name).read_bytes()
        assert (migrated / "files" / name).read_bytes() == original_bytes, name
    assert (migrated / "files" / "ckpt" / "a.pt").read_text() == "a"
    assert (migrated / "files" / "vae.pt").read_text() == "weights after the last epoch"
    assert (migrated / "files" / "end.txt").read_text() == "as it is at the end"

    assert artifacts(migrated) == artifacts(original)
    assert [name for name, *_ in artifacts(original)] == [
        "trained-vae", "trained-vae", "run_x_model", "x_model",
    ]  # fmt: skip

    columns = ["name", "size", "sha256"]
    tables = read_run(str(original)), read_run(str(migrated))
    rows = [
        sorted(row for row in t.artifacts[columns].itertuples(index=False) if row[0] != "ckpt/a.pt")
        for t in tables
    ]
    assert rows[1] == rows[0]
    assert {name for name, *_ in rows[0]} >= {
        "trained-vae/vae.pt", "run_x_model/last.pt", "x_model/checkpoint.pth", "ckpt/b.pt",
    }  # fmt: skip


@pytest.mark.slow
def test_run_files_are_mlflow_artifacts_at_the_same_paths(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    with tracelet.start_logging(project="dalle", backend="mlflow") as run:
        dalle_shapes(run.save, lambda name, path: None)
    assert run.report.complete, run.report.summary()
    client = MlflowClient(uri)

    def listing(path: str | None = None) -> list[str]:
        found = []
        for info in client.list_artifacts(run.ids["mlflow"], path):
            found.extend(listing(info.path) if info.is_dir else [info.path])
        return found

    files = set(listing()) - {"console.log"}
    assert files == {
        "vae.pt", "vae-final.pt", "ckpt/a.pt", "ckpt/b.pt", "deep/notes.txt", "end.txt",
    }  # fmt: skip
    local = Path(client.download_artifacts(run.ids["mlflow"], "", str(tmp_path / "dl")))
    assert (local / "vae.pt").read_text() == "weights after the last epoch"
    assert (local / "ckpt" / "a.pt").read_text() == "a"
    assert (local / "end.txt").read_text() == "as it is at the end"
    journal = read_journal(run.run_dir)
    assert sorted(journal.artifacts["name"]) == sorted(files)


@pytest.mark.slow
def test_run_files_are_clearml_artifacts_and_tensorboard_files_named_by_path(
    tmp_path: Path,
) -> None:
    backends = ["clearml", "tensorboard"]
    with tracelet.start_logging(project="dalle", backend=backends) as run:
        dalle_shapes(run.save, lambda name, path: None)
    assert run.report.complete, run.report.summary()
    names = {"vae.pt", "vae-final.pt", "ckpt/a.pt", "ckpt/b.pt", "deep/notes.txt", "end.txt"}
    journal = read_journal(run.run_dir).artifacts.set_index("name")
    for backend in backends:
        stored = read_store(run.urls[backend]).artifacts.set_index("name")
        assert set(stored.index) == names, backend
        assert stored.loc[sorted(names), "sha256"].equals(journal.loc[sorted(names), "sha256"])
