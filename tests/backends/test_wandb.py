"""The W&B backend against real W&B offline runs (wandb-core included), read back from disk.

Each test drives :class:`WandbBackend` as the delivery agent does, then reads the
offline run under ``$WANDB_DIR`` with :func:`read_run` and checks exact keys, steps and
bit-exact values.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tests.conftest import isolated_environ, run_python
from tracelet import tables
from tracelet.backends.base import RefusedError, RunInfo
from tracelet.backends.wandb import (
    STEP_KEY,
    WandbBackend,
    _np_histogram,
    _rows,
    read_media,
    read_run,
)
from tracelet.backends.wandb.logfile import decode, wait_for_exit_record
from tracelet.events import Point

WALL = 1_700_000_000.0


@pytest.fixture(autouse=True)
def fresh_wandb():
    """W&B keeps one process-wide setup (and its WANDB_DIR) from the first ``init``."""
    import wandb

    wandb.teardown()
    yield
    wandb.teardown()


def _backend(tmp_path: Path, state: dict | None = None, **options) -> WandbBackend:
    info = RunInfo(
        run_id="20250101-120000-abcd",
        exp_name="exp one",
        project="tracelet-tests",
        run_dir=str(tmp_path / "run"),
        created=WALL,
    )
    return WandbBackend(info, options, {} if state is None else state)


def _wandb_root() -> Path:
    return Path(os.environ["WANDB_DIR"]) / "wandb"


def _run_dir() -> Path:
    return _wandb_root() / "latest-run"


def _triples(frame) -> list[tuple[str, int, str]]:
    """(key, step, value bits) in reader order; ``float.hex`` is exact, NaN included."""
    return [
        (k, int(s), float(v).hex())
        for k, s, v in zip(frame["key"], frame["step"], frame["value"], strict=True)
    ]


def _expected(points) -> list[tuple[str, int, str]]:
    return [(p.key, p.step, float(p.value).hex()) for p in points]


def _by_key(triples):
    grouped: dict[str, list] = {}
    for key, step, value in triples:
        grouped.setdefault(key, []).append((step, value))
    return grouped


def test_points_are_grouped_into_one_row_per_step():
    points = [
        Point("a", 1.0, 0, WALL),
        Point("b", 2.0, 0, WALL + 1),
        Point("a", 3.0, 0, WALL + 2),  # same key again at step 0: a second row
        Point("a", 4.0, 1, WALL + 3),
        Point("val", 5.0, 0, WALL + 4),  # step goes back: its own row
        Point(STEP_KEY, 6.0, 0, WALL + 5),
        Point("", 7.0, 0, WALL + 6),
    ]
    refused: list[str] = []
    rows = list(_rows(points, refused))
    assert rows == [
        (0, WALL, {"a": 1.0, "b": 2.0}),
        (0, WALL + 2, {"a": 3.0}),
        (1, WALL + 3, {"a": 4.0}),
        (0, WALL + 4, {"val": 5.0}),
    ]
    assert len(refused) == 2


def test_histograms_above_512_buckets_are_merged():
    limits = [float(i + 1) for i in range(1030)]
    counts, edges = _np_histogram(
        {"min": 0.0, "bucket_limits": limits, "bucket_counts": [1.0] * 1030}
    )
    assert len(counts) == 344 and len(edges) == 345
    assert sum(counts) == 1030 and edges[0] == 0.0 and edges[-1] == 1030.0
    assert edges == sorted(edges)


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_twenty_thousand_points_read_back_exactly(tmp_path):
    rng = random.Random(7)
    points = []
    for step in range(10_000):
        points.append(Point("train/loss", rng.uniform(-1e3, 1e3), step, WALL + step))
        points.append(Point("train/acc", rng.random(), step, WALL + step + 0.25))
        if step % 100 == 1:  # validation of the previous step, logged after it
            points.append(Point("val/loss", rng.gauss(0, 1), step - 1, WALL + step + 0.5))
    backend = _backend(tmp_path)
    backend.open()
    for start in range(0, len(points), 4096):
        backend.log_metrics(points[start : start + 4096])
    backend.close("FINISHED")

    run = read_run(str(_run_dir()))

    assert len(points) == 20_100
    assert sorted(_triples(run.metrics)) == sorted(_expected(points))
    assert _by_key(_triples(run.metrics)) == _by_key(_expected(points))
    wall = {(p.key, p.step): p.wall_time for p in points if p.key != "train/acc"}
    read_wall = zip(run.metrics["key"], run.metrics["step"], run.metrics["wall_time"], strict=True)
    assert all(wall[(k, s)] == w for k, s, w in read_wall if k != "train/acc")
    # one wandb.log per step, plus one per out-of-order validation point and at most
    # one where a batch boundary cuts a step in two
    batches = -(-len(points) // 4096)
    assert 10_100 <= backend.state["wandb_next_step"] <= 10_100 + batches - 1
    assert run.metrics.dtypes.astype(str).to_dict() == tables.METRIC_COLUMNS
    assert run.notes == []


def test_out_of_order_repeated_and_special_values_survive(tmp_path):
    specials = [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308]
    points = [Point("loss", 0.5, 10, WALL), Point("loss", 0.25, 11, WALL + 1)]
    points += [Point("loss", 0.75, 3, WALL + 2)]  # a step that goes backwards
    points += [Point("no step", float(i), 0, WALL + 3 + i) for i in range(50)]  # step=None
    points += [Point("dup", 1.0, 5, WALL + 60), Point("dup", 2.0, 5, WALL + 61)]
    odd_key = "spécial/ключ с пробелом/a/b"
    points += [Point(odd_key, v, i, WALL + 70) for i, v in enumerate(specials)]
    points += [Point("a.b", 0.1 + 0.2, 2, WALL + 80), Point("_private", 3.0, 2, WALL + 80)]
    backend = _backend(tmp_path)
    backend.open()
    backend.log_metrics(points)
    with pytest.raises(RefusedError, match="tracelet/step") as refused:
        backend.log_metrics([Point(STEP_KEY, 1.0, 1, WALL), Point("after", 1.0, 1, WALL)])
    assert refused.value.count == 1
    backend.close("FINISHED")

    run = read_run(str(_run_dir()))

    delivered = [*points, Point("after", 1.0, 1, WALL)]
    assert sorted(_triples(run.metrics)) == sorted(_expected(delivered))
    assert _by_key(_triples(run.metrics)) == _by_key(_expected(delivered))


def test_params_tags_and_artifacts_read_back(tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(os.urandom(2048))
    (folder / "sub" / "notes.txt").write_text("épique\n")
    single = tmp_path / "config.yaml"
    single.write_text("lr: 0.1\n")
    params = {"lr": 0.001, "bs": 32, "optim/name": "adam", "flag": True, "sizes": [1, 2], "x": None}
    tags = {"host": "gpu-01", "empty": "", "url": "http://a:b/c", "k:colon": "v", "long": "z" * 90}
    backend = _backend(tmp_path)
    backend.open()
    backend.log_params(params)
    backend.log_params({"lr": 0.002})  # a changed value is kept, not refused
    backend.set_tags({"host": "old"})
    backend.set_tags(tags)
    backend.log_artifact("best model/v1", str(folder))
    backend.log_artifact("config", str(single))
    with pytest.raises(RefusedError):
        backend.log_artifact("missing", str(tmp_path / "nope"))
    backend.close("FINISHED")

    run = read_run(str(_run_dir()))

    expected_params = {**params, "lr": 0.002}
    assert dict(zip(run.params["key"], run.params["value"], strict=True)) == {
        k: tables.param_value(v) for k, v in expected_params.items()
    }
    assert dict(zip(run.tags["key"], run.tags["value"], strict=True)) == tags
    expected_files = tables.artifact_rows(folder, "best model/v1") + tables.artifact_rows(
        single, "config"
    )
    assert sorted((n, s, h) for n, _, s, h in expected_files) == sorted(
        zip(run.artifacts["name"], run.artifacts["size"], run.artifacts["sha256"], strict=True)
    )
    assert run.metrics.empty and run.notes == []
    wandb_tags = decode(next(_run_dir().glob("*.wandb"))).tags
    assert "host:gpu-01" in wandb_tags and "empty" in wandb_tags
    assert max(len(t) for t in wandb_tags) <= 64


def test_options_are_passed_and_read_run_accepts_each_path_form(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    backend = _backend(tmp_path, dir=str(elsewhere), settings={"x_disable_stats": True})
    backend.open()
    backend.log_metrics([Point("m", 1.5, 3, WALL)])
    backend.close("KILLED")
    wandb_root = elsewhere / "wandb"
    run_dir = (wandb_root / "latest-run").resolve()
    run_id = backend.state["wandb_run_id"]

    assert not _wandb_root().exists()
    for path, run in [
        (run_dir, None),
        (next(run_dir.glob("*.wandb")), None),
        (wandb_root, None),
        (wandb_root, run_id),
        (elsewhere, None),
    ]:
        tables_ = read_run(str(path), run)
        assert _triples(tables_.metrics) == [("m", 3, (1.5).hex())]
        assert tables_.notes == [f"run-{run_id}.wandb: exit code 255"]
    with pytest.raises(FileNotFoundError):
        read_run(str(wandb_root), "no-such-run")


def test_media_are_logged_and_readable(tmp_path):
    from PIL import Image

    png = tmp_path / "img.png"
    Image.new("RGB", (6, 4), (200, 10, 30)).save(png)
    histogram = {
        "min": -1.0,
        "max": 2.0,
        "num": 6,
        "sum": 3.0,
        "sum_squares": 7.0,
        "bucket_limits": [0.0, 1.0, 2.0],
        "bucket_counts": [1.0, 2.0, 3.0],
    }
    text = "# Title\n<b>not bold</b> & ünïcode\n\ttabbed"
    backend = _backend(tmp_path)
    backend.open()
    backend.log_image("samples/img one", 4, WALL, str(png))
    backend.log_histogram("weights/w", 5, WALL + 1, histogram)
    backend.log_text("notes", 6, WALL + 2, text)
    with pytest.raises(RefusedError):
        backend.log_image("broken", 7, WALL, str(tmp_path / "missing.png"))
    backend.close("FAILED")

    run = read_run(str(_run_dir()))
    media = read_media(str(_run_dir()))

    assert run.metrics.empty
    assert run.notes == [f"run-{backend.state['wandb_run_id']}.wandb: exit code 1"]
    rows = {key: (step, kind, value) for key, step, kind, _, value in media.itertuples(index=False)}
    assert set(rows) == {"samples/img one", "weights/w", "notes"}
    step, kind, image_path = rows["samples/img one"]
    assert (step, kind) == (4, "image")
    assert Path(image_path).read_bytes() == png.read_bytes()
    assert rows["weights/w"] == (
        5,
        "histogram",
        {"bins": [-1.0, 0.0, 1.0, 2.0], "values": [1.0, 2.0, 3.0]},
    )
    assert rows["notes"] == (6, "text", text)


def test_a_cut_or_corrupt_file_still_reads_its_complete_records(tmp_path):
    points = [Point("loss", i / 7, i, WALL + i) for i in range(400)]
    backend = _backend(tmp_path)
    backend.open()
    for point in points:
        backend.log_metrics([point])
    backend.close("FINISHED")
    sync_file = next(_run_dir().glob("*.wandb"))
    data = sync_file.read_bytes()

    cut_end = tmp_path / "cut_end.wandb"
    cut_end.write_bytes(data[:-5])
    run = read_run(str(cut_end))
    assert _triples(run.metrics) == _expected(points)
    assert any("ends inside a record" in note for note in run.notes)

    half = tmp_path / "half.wandb"
    half.write_bytes(data[: len(data) // 2])
    run = read_run(str(half))
    read = _triples(run.metrics)
    assert 0 < len(read) < len(points) and read == _expected(points)[: len(read)]
    assert any("no exit record" in note for note in run.notes)

    corrupt = bytearray(data)
    corrupt[40_000] ^= 0xFF  # inside the second 32 KiB block
    broken = tmp_path / "corrupt.wandb"
    broken.write_bytes(bytes(corrupt))
    run = read_run(str(broken))
    read = _triples(run.metrics)
    assert len(points) - 150 < len(read) < len(points)
    assert set(read) < set(_expected(points))
    assert any("corrupt record" in note for note in run.notes)


def test_a_resumed_delivery_continues_the_same_run(tmp_path):
    state: dict = {}
    first = _backend(tmp_path, state)
    first.open()
    first.log_metrics([Point("loss", 1.0, 0, WALL), Point("loss", 2.0, 1, WALL + 1)])
    first.set_tags({"phase": "live"})
    first.close("KILLED")

    saved = json.loads(json.dumps(state))  # the agent persists state as JSON
    second = _backend(tmp_path, saved)
    second.open()
    second.log_metrics([Point("loss", 3.0, 2, WALL + 2)])
    second.close("FINISHED")

    assert saved["wandb_run_id"] == state["wandb_run_id"]
    run = read_run(str(_wandb_root()))
    expected = [("loss", step, float(value).hex()) for step, value in [(0, 1), (1, 2), (2, 3)]]
    assert _triples(run.metrics) == expected
    assert dict(zip(run.tags["key"], run.tags["value"], strict=True)) == {"phase": "live"}
    assert any("resumed" in note for note in run.notes)
    assert saved["wandb_next_step"] == 3


def test_an_ordinary_wandb_run_reads_with_its_own_steps():
    import wandb

    run = wandb.init(project="plain", config={"model": {"depth": 4}}, tags=["baseline"])
    run.define_metric("val/*", step_metric="epoch")
    run.log({"loss": 0.5})
    run.log({"train": {"loss": 0.25}}, step=10)
    run.log({"val/acc": 0.9, "epoch": 1}, step=11)
    run.log({"late": 1.0}, step=5)  # W&B drops a lower step
    run.finish()
    wait_for_exit_record(Path(run.settings.sync_file), 0, 60)  # wandb-core flushes late

    tables_ = read_run(str(_wandb_root()))

    assert sorted(_triples(tables_.metrics)) == sorted(
        [
            ("loss", 0, (0.5).hex()),
            ("train.loss", 10, (0.25).hex()),
            ("val/acc", 1, (0.9).hex()),
            ("epoch", 11, (1.0).hex()),
        ]
    )
    assert dict(zip(tables_.params["key"], tables_.params["value"], strict=True)) == {
        "model/depth": "4"
    }
    assert dict(zip(tables_.tags["key"], tables_.tags["value"], strict=True)) == {"baseline": ""}


_CHILD = """
import json, os, time
from tracelet.backends.base import RunInfo
from tracelet.backends.wandb import WandbBackend
from tracelet.events import Point

backend = WandbBackend(RunInfo("r1", "e", "p", "RUN_DIR", time.time()), {}, {})
backend.open()
backend.log_metrics([Point("m", 1.0, 0, time.time())])
backend.close("FINISHED")
pid = os.getpid()
children = []
for task in os.listdir(f"/proc/{pid}/task"):
    children += open(f"/proc/{pid}/task/{task}/children").read().split()
cores = [c for c in children if "wandb-core" in open(f"/proc/{c}/cmdline").read()]
print(json.dumps(cores))
"""


def _alive(pid: str) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_wandb_core_is_gone_once_the_agent_process_exits(tmp_path):
    child = tmp_path / "child"
    done = run_python(
        _CHILD.replace("RUN_DIR", str(tmp_path / "run")), tmp_path, **isolated_environ(child)
    )
    assert done.returncode == 0, done.stderr
    cores = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(cores) == 1
    deadline = time.monotonic() + 30
    while _alive(cores[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(cores[0])
    runs = list((child / "wandb" / "wandb").glob("offline-run-*"))
    assert _triples(read_run(str(runs[0])).metrics) == [("m", 0, (1.0).hex())]
