"""A long run costs MLflow delivery the same per point at its end as at its start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tracelet.backends.base import RunInfo
from tracelet.backends.mlflow import MlflowBackend, read_run
from tracelet.events import Point

BATCH = 1000
BATCHES = 250  # 250,000 points: the de-dup table used to collapse past 100,000
WINDOW = 50  # batches compared at the start and at the end


@pytest.mark.slow
def test_per_point_cost_stays_flat_over_250k_points(isolated: Path):
    run = RunInfo(
        run_id="long", exp_name="long", project="p", run_dir=str(isolated), created=time.time()
    )
    backend = MlflowBackend(run, {"url": f"sqlite:///{isolated}/mlflow.db"}, {})
    backend.open()
    cpu_seconds = []
    for batch in range(BATCHES):
        first = batch * BATCH
        points = [
            Point(f"k{i % 10}", i * 0.5, i // 10, 1_700_000_000 + i * 1e-4)
            for i in range(first, first + BATCH)
        ]
        started = time.process_time()  # CPU time: the test's own cost, whatever the load
        backend.log_metrics(points)
        cpu_seconds.append(time.process_time() - started)
    backend.close("FINISHED")

    start, end = sum(cpu_seconds[:WINDOW]), sum(cpu_seconds[-WINDOW:])
    assert end < 2 * start, f"first {WINDOW}k points: {start:.2f} s CPU, last: {end:.2f} s"
    assert len(read_run(f"sqlite:///{isolated}/mlflow.db").metrics) == BATCH * BATCHES
