"""What stop_logging prints while it waits on delivery (off a terminal)."""

from __future__ import annotations

import io
import time

from tracelet.agent.delivery import DeliveryState
from tracelet.agent.stop_progress import StopProgress


def test_a_plain_line_every_few_seconds_with_points_per_tracker():
    stream = io.StringIO()
    progress = StopProgress(points_logged=5000, deadline=time.time() + 60, stream=stream)
    mlflow = DeliveryState("mlflow", location="sqlite:///mlflow.db", delivered={"metrics": 1000})
    wandb = DeliveryState("wandb", errors=["ConnectionError: refused"])
    clearml = DeliveryState("clearml", done=True, status="FINISHED", delivered={"metrics": 5000})

    progress.show([mlflow, wandb, clearml])
    assert stream.getvalue() == ""  # a stop that is over within a second shows nothing

    progress.started -= 2
    progress.show([mlflow, wandb, clearml])
    progress.show([mlflow, wandb, clearml])
    (line,) = stream.getvalue().splitlines()
    assert line.startswith("tracelet: delivering, ")
    assert line.endswith(
        "mlflow 1,000 of 5,000 points; wandb no answer yet (ConnectionError: refused); "
        "clearml 5,000 points, done"
    )
    progress.close()
