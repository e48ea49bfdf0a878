"""The run folder on a tiny filesystem: training goes on, the journal stays whole, and
``stop_logging`` says what was lost and why."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracelet
from tracelet.backends.mlflow import read_run
from tracelet.journal import ReadStats, count_events, iter_records

pytestmark = pytest.mark.slow  # 200,000 points through a 2 MiB filesystem

POINTS = 200_000


@pytest.fixture
def small_disk(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real 2 MiB filesystem (tmpfs) holding the run folders; MLflow stays outside."""
    mount_point = isolated / "small"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], check=True)
    monkeypatch.setenv("TRACELET_DIR", str(mount_point))
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def journal_is_whole(run_dir: Path) -> int:
    """Every record complete and checksummed; returns the number of metric events."""
    journal = run_dir / "journal.tlj"
    assert journal.read_bytes().endswith(b"\n")
    stats = ReadStats()
    for _ in iter_records(journal, 0, stats):
        pass
    assert stats.corrupt_records == 0
    return count_events(journal)


def mlflow_status(name: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{Path('mlflow.db').resolve()}")
    (run,) = client.search_runs([client.get_experiment_by_name("p").experiment_id])
    assert run.info.run_name == name
    return run.info.status


def test_a_full_disk_loses_events_honestly_and_never_crashes(small_disk: Path):
    experiment = tracelet.start_logging(exp_name="full", project="p", backend="mlflow")
    for step in range(POINTS):
        experiment.log_metric("loss", float(step), step)
    report = tracelet.stop_logging(timeout=60)

    assert report is not None and not report.complete
    assert report.journal_lost > 0
    assert "No space left on device" in report.journal_error
    assert f"{report.journal_lost} events lost" in report.summary()
    (mlflow,) = report.backends
    in_journal = journal_is_whole(experiment.run_dir)
    assert in_journal + report.journal_lost == POINTS
    assert mlflow.complete and mlflow.delivered["metrics"] == in_journal
    assert mlflow_status("full") == "FAILED"  # not FINISHED: the run misses points

    metrics = read_run(f"sqlite:///{Path('mlflow.db').resolve()}", "full").metrics
    assert len(metrics) == in_journal
    assert metrics["step"].is_unique
    assert (metrics["value"] == metrics["step"].astype(float)).all()
    assert not list(experiment.run_dir.rglob("*.tmp"))


def test_space_coming_back_mid_run_loses_nothing(small_disk: Path):
    ballast = small_disk / "ballast"
    with open(ballast, "wb") as handle:  # fill the filesystem
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    free = ballast.stat().st_size
    ballast.write_bytes(b"\0" * (free - 400 * 1024))  # room for the run folder, little more
    experiment = tracelet.start_logging(exp_name="back", project="p", backend="mlflow")
    router = experiment._router
    logged = 0

    def log(n: int) -> None:
        nonlocal logged
        for step in range(logged, logged + n):
            experiment.log_metric("loss", float(step), step)
        logged += n

    log(10_000)
    deadline = time.time() + 60
    while router.journal_error is None:  # wait until the journal is refused
        assert time.time() < deadline, "the journal never filled up"
        log(1000)
        time.sleep(0.05)
    ballast.unlink()  # space comes back
    log(10_000)
    report = tracelet.stop_logging(timeout=60)

    assert report.complete, report.summary()
    assert report.journal_lost == 0
    assert journal_is_whole(experiment.run_dir) == logged
    assert report.backends[0].delivered["metrics"] == logged
    metrics = read_run(f"sqlite:///{Path('mlflow.db').resolve()}", "back").metrics
    assert metrics["step"].tolist() == list(range(logged))
    assert mlflow_status("back") == "FINISHED"
    assert not list(experiment.run_dir.rglob("*.tmp"))


def test_a_write_that_fails_part_way_is_cut_back_to_whole_records(small_disk: Path):
    from tracelet.journal import JournalWriter

    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 300 * 1024)
    path = small_disk / "journal.tlj"
    writer = JournalWriter(path, "run")
    batch = [["m", "loss", 0.5, step, 1.0] for step in range(3000)]  # ~100 KB a record
    written = 0
    with pytest.raises(OSError) as failure:
        while True:
            writer.append(batch, keep_free=0)  # no margin: the filesystem itself refuses
            written += 1
    assert failure.value.errno == 28
    assert journal_is_whole(small_disk) == written * len(batch)  # the torn part is gone

    ballast.unlink()  # space comes back: the next record follows the last whole one
    writer.append(batch, keep_free=0)
    writer.close()
    assert journal_is_whole(small_disk) == (written + 1) * len(batch)
