"""The ClearML backend against real ClearML offline sessions, read back from disk.

Each test drives :class:`ClearmlBackend` as the delivery agent does (open, batches of
points, media, close), then reads the session under ``$CLEARML_CACHE_DIR/offline`` with
:func:`read_run` and checks exact keys, steps, values, params, tags and artifacts.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_python
from tracelet.backends.base import RefusedError, RunInfo
from tracelet.backends.clearml import ZERO_ENCODING, ClearmlBackend, read_run
from tracelet.events import Point

WALL = 1_700_000_000.0
HISTOGRAM = {
    "bucket_limits": [0.5, 1.0, 1.5],
    "bucket_counts": [2.0, 0.0, 5.0],
    "min": 0.0,
    "max": 1.5,
    "num": 7.0,
    "sum": 8.0,
    "sum_squares": 11.0,
}


def _backend(tmp_path: Path, state: dict | None = None, name: str = "exp one") -> ClearmlBackend:
    info = RunInfo(
        run_id="20250101-120000-abcd",
        exp_name=name,
        project="tracelet tests",
        run_dir=str(tmp_path / "run"),
        created=WALL,
    )
    return ClearmlBackend(info, {}, {} if state is None else state)


def _offline() -> Path:
    return Path(os.environ["CLEARML_CACHE_DIR"]) / "offline"


def _triples(frame) -> list[tuple[str, int, str]]:
    """(key, step, value bits) in reader order; ``float.hex`` is exact."""
    return [
        (k, int(s), float(v).hex())
        for k, s, v in zip(frame["key"], frame["step"], frame["value"], strict=True)
    ]


def _stored(points: list[Point]) -> list[tuple[str, int, str]]:
    """What ClearML keeps: the float64 value, NaN and ±inf replaced by 0.0."""
    return [(p.key, p.step, (p.value if math.isfinite(p.value) else 0.0).hex()) for p in points]


def _deliver(backend: ClearmlBackend, points: list[Point], batch: int = 1000) -> None:
    for start in range(0, len(points), batch):
        backend.log_metrics(points[start : start + batch])


def _story_points() -> list[Point]:
    """20,550 interleaved points at three rates, then the awkward cases."""
    points = []
    for step in range(5000):
        wall = WALL + step
        points.append(Point("train/loss", 1.0 / (step + 1), step, wall))
        points.append(Point("train/acc", step * 1e-4, step, wall))
        points.append(Point("grad/norm/layer 1", step * 0.1, step, wall))
        points.append(Point("with space/x y", -step / 3.0, step, wall))
        if step % 10 == 0:
            points.append(Point("val/acc", step / 7.0, step, wall))
        if step % 100 == 0:
            points.append(Point("lr", 0.1**step if step < 300 else 1e-300, step, wall))
    points += [
        Point("train/loss", 42.0, 100, WALL),  # the step goes backwards
        Point("rep", 1.0, 0, WALL),
        Point("rep", 2.0, 0, WALL),
        Point("rep", 3.0, 0, WALL),  # step 0 three times
        Point("bad", math.nan, 0, WALL),
        Point("bad", math.inf, 1, WALL),
        Point("bad", -math.inf, 2, WALL),
        Point("exact", 0.1 + 0.2, 2**40, WALL),
        Point("exact", 2.0**53 + 2, 2**40 + 1, WALL),
        Point("exact", 1e-300, 2**62, WALL),
        Point("exact", -0.0, 3, WALL),
        Point("ünï/ключ/鍵", 1.5, 1, WALL),
        Point("noslash", 2.5, 1, WALL),
        Point("x/x", 3.5, 1, WALL),
        Point("/lead", 4.5, 1, WALL),
        Point("trail/", 5.5, 1, WALL),
        Point("a/b/c/d", 6.5, 1, WALL),
    ]
    return points


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", (6, 4), color).save(path)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _new_threads(before: set[threading.Thread]) -> list[str]:
    """Threads started since ``before`` that are still alive (waits up to 10 s for them)."""
    for _ in range(100):
        extra = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            return []
        time.sleep(0.1)
    return extra


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_a_full_run_reads_back_exactly(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    hooks_before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    environ_before = {k: v for k, v in os.environ.items() if k.endswith("_PROC_MASTER_ID")}
    state: dict = {}
    backend = _backend(tmp_path, state)
    backend.open()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == hooks_before
    points = _story_points()
    assert len(points) >= 20_000
    _deliver(backend, points)
    backend.log_params({"lr": 0.001, "batch size": 32, "flag": True, "opt": "adam"})
    backend.log_params({"opt": "sgd", "layers": [64, 32], "ünï": "ü"})
    backend.set_tags({"stage": "dev", "baseline": "", "note": " spaced value "})
    backend.set_tags({"stage": "prod"})
    media = tmp_path / "media"
    media.mkdir()
    backend.log_image("samples/img", 0, WALL, str(_png(media / "a.png", (255, 0, 0))))
    backend.log_image("samples/img", 5, WALL, str(_png(media / "b.png", (0, 0, 255))))
    backend.log_histogram("weights/fc", 3, WALL, HISTOGRAM)
    backend.log_text("notes", 1, WALL, "first ü")
    backend.log_text("notes", 2, WALL, "second")
    (media / "folder" / "sub").mkdir(parents=True)
    (media / "folder" / "a.txt").write_text("aaa")
    (media / "folder" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    backend.log_artifact("model.pt", str(_png(media / "weights.png", (1, 2, 3))))
    backend.log_artifact("outputs", str(media / "folder"))
    with pytest.raises(RefusedError):
        backend.log_artifact("missing", str(media / "nope.bin"))
    with pytest.raises(RefusedError):
        backend.log_image("samples/img", 9, WALL, str(media / "nope.png"))
    with pytest.raises(RefusedError):
        backend.log_histogram("weights/fc", 9, WALL, {"bucket_limits": [1.0], "bucket_counts": []})
    backend.close("FINISHED")

    assert _new_threads(threads_before) == []
    assert {k: v for k, v in os.environ.items() if k.endswith("_PROC_MASTER_ID")} == environ_before
    assert multiprocessing.active_children() == []
    task_id = state["task_id"]
    session = _offline() / task_id
    assert state["session"] == str(session)
    assert backend.describe() == f"clearml offline session {session}"
    assert (_offline() / f"{task_id}.zip").is_file()
    allowed = (media, _offline().parent, Path(os.environ["HOME"]), tmp_path / "env/clearml.conf")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in written if not any(p.is_relative_to(a) for a in allowed)] == []

    tables = read_run(str(session))
    assert _triples(tables.metrics) == _stored(points)
    assert (tables.metrics["wall_time"] > WALL).all()  # ClearML stamps delivery time
    assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
        "lr": "0.001",
        "batch size": "32",
        "flag": "True",
        "opt": "sgd",
        "layers": "[64, 32]",
        "ünï": "ü",
    }
    assert dict(zip(tables.tags["key"], tables.tags["value"], strict=True)) == {
        "stage": "prod",
        "baseline": "",
        "note": " spaced value ",
    }
    task_json = json.loads((session / "task.json").read_text())
    assert sorted(task_json["tags"]) == ["baseline", "note: spaced value ", "stage:prod"]

    artifacts = {row.name: row for row in tables.artifacts.itertuples()}
    assert sorted(artifacts) == ["model.pt", "outputs/a.txt", "outputs/sub/b.bin"]
    assert artifacts["model.pt"].sha256 == _sha(media / "weights.png")
    assert artifacts["model.pt"].size == (media / "weights.png").stat().st_size
    assert Path(artifacts["model.pt"].path).read_bytes() == (media / "weights.png").read_bytes()
    assert artifacts["outputs/sub/b.bin"].sha256 == _sha(media / "folder" / "sub" / "b.bin")
    assert artifacts["outputs/a.txt"].size == 3
    assert artifacts["outputs/a.txt"].path.endswith(".zip!/a.txt")

    media_notes = [json.loads(n[len("media ") :]) for n in tables.notes if n.startswith("media ")]
    assert media_notes == [
        {"kind": "histogram", "key": "weights/fc", "steps": [3]},
        {"kind": "image", "key": "samples/img", "steps": [0, 5]},
        {"kind": "text", "key": "notes", "steps": [1, 2]},
    ]
    assert "precision:float64" in tables.notes
    assert tables.encodings == (ZERO_ENCODING,)
    assert not any(n.startswith("incomplete") for n in tables.notes)
    stored_images = sorted(session.glob("data/*/*/metrics/samples/img/*.png"))
    assert [p.read_bytes() for p in stored_images] == [
        (media / "a.png").read_bytes(),
        (media / "b.png").read_bytes(),
    ]
    texts = sorted(p.read_text() for p in session.glob("data/*/*/metrics/notes/notes/*.txt"))
    assert texts == ["first ü", "second"]

    from_zip = read_run(str(_offline() / f"{task_id}.zip"))
    assert _triples(from_zip.metrics) == _triples(tables.metrics)
    assert from_zip.params.equals(tables.params) and from_zip.tags.equals(tables.tags)
    assert list(from_zip.artifacts["sha256"]) == list(tables.artifacts["sha256"])
    assert from_zip.artifacts["path"].str.contains(".zip!/data/").all()
    for location, run in (
        (_offline(), None),
        (_offline().parent, task_id.removeprefix("offline-")),
    ):
        again = read_run(str(location), run=run)
        assert again.source == str(session)
        assert _triples(again.metrics) == _triples(tables.metrics)


def test_option_task_type_is_the_task_type_clearml_stores(tmp_path: Path) -> None:
    state: dict = {}
    info = RunInfo(run_id="r", exp_name="typed", project="p", run_dir=str(tmp_path), created=WALL)
    backend = ClearmlBackend(info, {"task_type": "testing"}, state)
    backend.open()
    backend.close("FINISHED")
    task_json = json.loads((Path(state["session"]) / "task.json").read_text())
    assert task_json["type"] == "testing"


def test_a_crashed_agent_leaves_a_readable_session(tmp_path: Path) -> None:
    code = f"""
import os, signal, json
from tracelet.backends.base import RunInfo
from tracelet.backends.clearml import ClearmlBackend
from tracelet.events import Point
state = {{}}
info = RunInfo("r", "crash", "tracelet tests", {str(tmp_path)!r}, 0.0)
backend = ClearmlBackend(info, {{}}, state)
backend.open()
backend.log_metrics([Point("loss", i / 7.0, i, 1.0) for i in range(1000)])
backend.log_params({{"lr": 0.5}})
backend.set_tags({{"kind": "crash"}})
print(json.dumps(state), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = run_python(code, tmp_path)
    assert result.returncode == -9, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert not (_offline() / f"{state['task_id']}.zip").exists()

    tables = read_run(str(_offline()))
    assert tables.source == state["session"]
    assert _triples(tables.metrics) == [("loss", i, (i / 7.0).hex()) for i in range(1000)]
    assert list(tables.params.itertuples(index=False)) == [("lr", "0.5")]
    assert list(tables.tags.itertuples(index=False)) == [("kind", "crash")]
    assert any(n.startswith("incomplete") for n in tables.notes)


def test_sync_continues_the_same_task_and_steps(tmp_path: Path) -> None:
    state: dict = {}
    first = _backend(tmp_path, state)
    first.open()
    first.log_metrics([Point("loss", float(i), i, WALL) for i in range(5)])
    first.set_tags({"phase": "live"})
    first.close("KILLED")
    task_id = state["task_id"]

    resumed = _backend(tmp_path, state)
    resumed.open()
    assert state["task_id"] == task_id
    resumed.log_metrics([Point("loss", float(i), i, WALL) for i in range(5, 8)])
    resumed.set_tags({"phase": "synced"})
    resumed.close("FAILED")

    tables = read_run(str(_offline()), run=task_id)
    assert _triples(tables.metrics) == [("loss", i, float(i).hex()) for i in range(8)]
    assert list(tables.tags.itertuples(index=False)) == [("phase", "synced")]
    task_json = json.loads((_offline() / task_id / "task.json").read_text())
    assert task_json["tags"] == ["phase:synced"]


def test_the_newest_session_is_read_unless_one_is_named(tmp_path: Path) -> None:
    older, newer = {}, {}
    for state, name, value in ((older, "older", 1.0), (newer, "newer", 2.0)):
        backend = _backend(tmp_path, state, name=name)
        backend.open()
        backend.log_metrics([Point("m", value, 0, WALL)])
        backend.close("FINISHED")
    assert list(read_run(str(_offline())).metrics["value"]) == [2.0]
    assert list(read_run(str(_offline()), run=older["task_id"]).metrics["value"]) == [1.0]
    with pytest.raises(FileNotFoundError):
        read_run(str(_offline()), run="offline-0000")
    with pytest.raises(FileNotFoundError):
        read_run(str(tmp_path / "run"))


def test_sessions_written_by_clearml_itself_read_as_documented(tmp_path: Path) -> None:
    code = """
from clearml import Task
task = Task.init(project_name="direct", task_name="direct", auto_connect_frameworks=False,
                 auto_resource_monitoring=False, auto_connect_streams=False)
task.connect({"lr": 0.1, "nested": {"depth": 3}})
task.connect({"seed": 7}, name="Extra")
task.add_tags(["baseline"])
logger = task.get_logger()
logger.report_scalar("train", "loss", 0.25, 3)
logger.report_scalar("acc", "acc", 0.5, 4)
logger.report_single_value("best", 0.75)
task.close()
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    tables = read_run(str(_offline()))
    assert _triples(tables.metrics) == [("train/loss", 3, (0.25).hex()), ("acc", 4, (0.5).hex())]
    assert dict(zip(tables.summary["key"], tables.summary["value"], strict=True)) == {
        "best": "0.75"
    }
    assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
        "lr": "0.1",
        "nested/depth": "3",
        "Extra/seed": "7",
    }
    assert list(tables.tags.itertuples(index=False)) == [("baseline", "")]


def test_without_a_clearml_config_file_reports_run_in_threads(tmp_path: Path) -> None:
    code = """
import json, multiprocessing, threading
from tracelet.backends.base import RunInfo
from tracelet.backends.clearml import ClearmlBackend
from tracelet.events import Point
before = set(threading.enumerate())
backend = ClearmlBackend(RunInfo("r", "e", "p", ".", 0.0), {}, {})
backend.open()
backend.log_metrics([Point("a", 1.0, i, 0.0) for i in range(100)])
children = [p.name for p in multiprocessing.active_children()]
backend.close("FINISHED")
left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
print(json.dumps({"children": children, "threads_left": left}))
"""
    env = {k: v for k, v in os.environ.items() if k != "CLEARML_CONFIG_FILE"}
    script = tmp_path / "no_config.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"children": [], "threads_left": []}
    assert len(read_run(str(_offline())).metrics) == 100
