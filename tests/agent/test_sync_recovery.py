"""`tracelet sync RUN_DIR`, with no options, delivers what a stopped run left behind.

The stop report of an incomplete run prints exactly this command; the original run's
stop deadline (long past) must play no part in it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import run_python
from tests.loopback_proxy import LoopbackProxy
from tests.mlflow_server import free_port
from tracelet.backends.mlflow import read_run
from tracelet.backends.wandb import read_run as read_wandb
from tracelet.cli import main as cli_main
from tracelet.cli import sync as sync_command
from tracelet.journal import iter_records

pytestmark = pytest.mark.slow  # each case runs a training process and then tracelet sync

POINTS = 3000

# The agent is paused once its trackers are open, so stop_logging leaves events pending.
STOP_WITH_EVENTS_PENDING = """
import json, os, signal, time, tracelet
from pathlib import Path
from torch.utils.tensorboard import SummaryWriter

experiment = tracelet.start_logging(exp_name="pending", project="p", backend={backends!r},
                                    backend_options={options!r})
run_dir = Path(experiment.run_dir)
def delivery_state(name):
    path = run_dir / "delivery" / f"{{name}}.json"
    return json.loads(path.read_text()) if path.exists() else {{}}
if {pause_agent}:
    while not all(delivery_state(name).get("location") for name in {backends!r}):
        time.sleep(0.05)
    os.kill(experiment._agent.process.pid, signal.SIGSTOP)
else:  # the tracker is down: the agent has tried it (on a loaded machine its imports
    # alone can outlast the stop below)
    while not all(delivery_state(name).get("errors") for name in {backends!r}):
        time.sleep(0.05)
writer = SummaryWriter("runs")
for step in range({points}):
    writer.add_scalar("loss", step * 0.5, step)
    if step == {points} // 2:
        experiment.flush()  # at least two journal records
experiment.log_params({{"lr": 0.1}})
report = tracelet.stop_logging(timeout=1)
assert not report.complete, report.summary()
experiment._agent.process.kill()
print(run_dir)
"""


def _stop_with_events_pending(
    cwd: Path, backends: list[str], options: dict | None = None, pause_agent: bool = True
) -> Path:
    code = STOP_WITH_EVENTS_PENDING.format(
        backends=backends, options=options or {}, pause_agent=pause_agent, points=POINTS
    )
    result = run_python(code, cwd)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.split()[-1])


def _mlflow_state(run_dir: Path) -> dict:
    return json.loads((run_dir / "delivery" / "mlflow.json").read_text())


def _wandb_run_folders(cwd: Path) -> list[Path]:
    return sorted((cwd / "env").rglob("offline-run-*"))


def test_sync_delivers_a_run_stopped_with_events_pending(isolated: Path, capsys, monkeypatch):
    run_dir = _stop_with_events_pending(isolated, ["mlflow", "wandb"])
    assert len(_wandb_run_folders(isolated)) == 1

    # A try whose deadline has passed before its workers start, however fast the machine
    # (CI once opened both trackers inside a 0.001 s timeout).
    an_hour_ago = SimpleNamespace(time=lambda: time.time() - 3600, monotonic=time.monotonic)
    with monkeypatch.context() as patch:
        patch.setattr(sync_command, "time", an_hour_ago)
        assert cli_main(["sync", "--timeout", "1", str(run_dir)]) == 1  # a failed try
    assert len(_wandb_run_folders(isolated)) == 1  # ... opens no tracker: no W&B run folder

    capsys.readouterr()
    assert cli_main(["sync", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert f"mlflow: {POINTS} points in total, complete" in err
    assert f"wandb: {POINTS} points in total, complete" in err
    tables = read_run("sqlite:///mlflow.db")
    assert tables.metrics["step"].tolist() == list(range(POINTS))
    assert tables.metrics["value"].tolist() == [step * 0.5 for step in range(POINTS)]
    assert tables.params.to_dict("records") == [{"key": "lr", "value": "0.1"}]
    assert _mlflow_state(run_dir)["status"] == "FINISHED"
    folders = _wandb_run_folders(isolated)
    assert len(folders) == 2  # the live agent's, and the sync's (a W&B resume)
    wandb_metrics = read_wandb(str(folders[0].parent)).metrics
    assert wandb_metrics["step"].tolist() == list(range(POINTS))


def test_sync_delivers_what_survives_a_journal_corruption(isolated: Path):
    run_dir = _stop_with_events_pending(isolated, ["mlflow"])
    journal = run_dir / "journal.tlj"
    records = [(end, payload) for end, payload in iter_records(journal)]
    metric_records = [
        (end, p) for end, p in records if isinstance(p, list) and p and p[0][0] == "m"
    ]
    assert len(metric_records) >= 2, "the test needs more than one record of points"
    end, lost = metric_records[len(metric_records) // 2]
    data = bytearray(journal.read_bytes())
    data[end - 10] ^= 0x01  # a bit flip in the middle of the journal
    journal.write_bytes(bytes(data))

    assert cli_main(["sync", str(run_dir)]) == 0
    lost_steps = {event[3] for event in lost if event[0] == "m"}  # a record may mix kinds
    expected = [step for step in range(POINTS) if step not in lost_steps]
    assert read_run("sqlite:///mlflow.db").metrics["step"].tolist() == expected
    state = _mlflow_state(run_dir)
    assert state["refused"] == {"journal records": 1}
    assert state["status"] == "FINISHED"


def test_sync_delivers_a_run_whose_tracker_was_unreachable(isolated: Path, mlflow_server):
    port = free_port()  # nothing listens here while the run trains
    options = {"mlflow": {"url": f"http://127.0.0.1:{port}"}}
    run_dir = _stop_with_events_pending(isolated, ["mlflow"], options, pause_agent=False)
    assert _mlflow_state(run_dir)["errors"]

    upstream = int(mlflow_server.url.rsplit(":", 1)[1])
    proxy = LoopbackProxy(upstream, port=port).start()
    try:
        assert cli_main(["sync", str(run_dir)]) == 0
    finally:
        proxy.stop()
    state = _mlflow_state(run_dir)
    tables = read_run(mlflow_server.url, state["tracker"]["run_id"])
    assert tables.metrics["step"].tolist() == list(range(POINTS))
    assert state["status"] == "FINISHED"
