"""TensorBoard event files written by tracelet, torch and tensorboardX, read back exactly."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from tracelet.backends.base import RefusedError, RunInfo
from tracelet.backends.tensorboard import (
    ARTIFACTS_DIR,
    FLOAT32_ENCODING,
    TAGS_TAG,
    TensorboardBackend,
    read_run,
)
from tracelet.events import Point

WALL = 1_700_000_000.25
HISTOGRAM = {
    "bucket_limits": [0.5, 1.0, 1.5],
    "bucket_counts": [2.0, 0.0, 5.0],
    "min": 0.0,
    "max": 1.5,
    "num": 7.0,
    "sum": 8.0,
    "sum_squares": 11.0,
}


def _backend(tmp_path: Path, state: dict | None = None, **options) -> TensorboardBackend:
    info = RunInfo(
        run_id="20250101-120000-abcd",
        exp_name="exp one",
        project="tracelet tests",
        run_dir=str(tmp_path / "run"),
        created=WALL,
    )
    return TensorboardBackend(info, options, {} if state is None else state)


def _rows(frame) -> list[tuple[str, int, str, float]]:
    """(key, step, value bits, wall_time) in reader order; ``float.hex`` is exact."""
    return [
        (k, int(s), float(v).hex(), float(w))
        for k, s, v, w in zip(
            frame["key"], frame["step"], frame["value"], frame["wall_time"], strict=True
        )
    ]


def _triples(frame) -> list[tuple[str, int, str]]:
    return [row[:3] for row in _rows(frame)]


def _f32(value: float) -> str:
    return float(np.float32(value)).hex()


def _media(notes: list[str]) -> list[dict]:
    return [json.loads(n[len("media ") :]) for n in notes if n.startswith("media ")]


def _story_points() -> list[Point]:
    points = []
    for step in range(5000):
        wall = WALL + step / 8
        points.append(Point("train/loss", 1.0 / (step + 1), step, wall))
        points.append(Point("train/acc", step * 1e-4, step, wall))
        points.append(Point("grad/norm/layer 1", step * 0.1, step, wall))
        points.append(Point("with space", -step / 3.0, step, wall))
        if step % 10 == 0:
            points.append(Point("val/acc", step / 7.0, step, wall))
        if step % 100 == 0:
            points.append(Point("lr", 0.1**step if step < 300 else 1e-300, step, wall))
    points += [
        Point("train/loss", 42.0, 100, WALL),  # the step goes backwards
        Point("rep", 1.0, 0, WALL),
        Point("rep", 2.0, 0, WALL),
        Point("rep", 3.0, 0, WALL),
        Point("bad", math.nan, 0, WALL),
        Point("bad", math.inf, 1, WALL),
        Point("bad", -math.inf, 2, WALL),
        Point("exact", 0.1 + 0.2, 2**40, WALL),
        Point("exact", 2.0**53 + 2, 2**40 + 1, WALL),
        Point("exact", 1e-300, 2**62, WALL),
        Point("exact", -0.0, -5, WALL),
        Point("ünï/ключ/鍵", 1.5, 1, WALL),
        Point("a/b/c/d", 6.5, 1, WALL),
        Point("/lead", 4.5, 1, WALL),
        Point("trail/", 5.5, 1, WALL),
    ]
    return points


def _png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGBA", (6, 4), (10, 20, 30, 40)).save(path)
    return path


def test_the_backend_writes_double_precision_that_reads_back_exactly(tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    state: dict = {}
    backend = _backend(tmp_path, state)
    backend.open()
    points = _story_points()
    assert len(points) >= 20_000
    for start in range(0, len(points), 1000):
        backend.log_metrics(points[start : start + 1000])
    backend.log_params({"lr": 0.001, "batch size": 32, "flag": True, "layers": [64, 32]})
    backend.log_params({"lr": 0.01, "ünï": "ü"})
    backend.set_tags({"stage": "dev", "empty": ""})
    backend.set_tags({"stage": "prod"})
    png = _png(tmp_path / "img.png")
    backend.log_image("samples/img", 3, WALL, str(png))
    backend.log_image("samples/img", 7, WALL, str(png))
    backend.log_histogram("weights/fc", 2, WALL, HISTOGRAM)
    backend.log_text("notes", 1, WALL, "hello ü")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("aaa")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)))
    backend.log_artifact("model.pt", str(png))
    backend.log_artifact("outputs", str(folder))
    with pytest.raises(RefusedError):
        backend.log_artifact("../escape", str(png))
    with pytest.raises(RefusedError):
        backend.log_artifact("missing", str(tmp_path / "nope"))
    with pytest.raises(RefusedError):
        backend.log_image("samples/img", 9, WALL, str(tmp_path / "folder" / "a.txt"))
    with pytest.raises(RefusedError):
        backend.log_image("samples/img", 9, WALL, str(tmp_path / "nope.png"))
    with pytest.raises(RefusedError):
        backend.log_histogram("weights/fc", 9, WALL, {"bucket_limits": [1.0], "bucket_counts": []})
    backend.close("FINISHED")

    log_dir = tmp_path / "run" / "tensorboard"
    assert state["log_dir"] == str(log_dir)
    assert backend.describe() == f"tensorboard --logdir {log_dir}"
    assert [t for t in threading.enumerate() if t not in threads_before] == []

    tables = read_run(str(log_dir))
    assert _rows(tables.metrics) == [(p.key, p.step, p.value.hex(), p.wall_time) for p in points]
    assert tables.notes[0] == "precision:float64"
    assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
        "lr": "0.01",
        "batch size": "32",
        "flag": "True",
        "layers": "[64, 32]",
        "ünï": "ü",
    }
    assert dict(zip(tables.tags["key"], tables.tags["value"], strict=True)) == {
        "stage": "prod",
        "empty": "",
    }
    assert _media(tables.notes) == [
        {"kind": "histogram", "key": "weights/fc", "steps": [2]},
        {"kind": "image", "key": "samples/img", "steps": [3, 7]},
        {"kind": "text", "key": "notes", "steps": [1]},
    ]
    artifacts = {row.name: row for row in tables.artifacts.itertuples()}
    assert sorted(artifacts) == ["model.pt", "outputs/a.txt", "outputs/sub/b.bin"]
    assert Path(artifacts["model.pt"].path) == log_dir / ARTIFACTS_DIR / "model.pt"
    assert Path(artifacts["model.pt"].path).read_bytes() == png.read_bytes()
    assert artifacts["outputs/sub/b.bin"].size == 256


def test_media_read_back_through_tensorboard_itself(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    backend = _backend(tmp_path, log_dir=str(tmp_path / "tb"))
    backend.open()
    png = _png(tmp_path / "img.png")
    backend.log_image("img", 3, WALL, str(png))
    backend.log_histogram("hist", 2, WALL, HISTOGRAM)
    backend.log_text("txt", 1, WALL, "hello ü")
    backend.set_tags({"k": "v"})
    backend.log_metrics([Point("loss", 0.1, 5, WALL)])
    backend.close("FINISHED")

    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"tensors": 0}).Reload()
    image = events.Images("img")[0]
    assert (image.step, image.width, image.height) == (3, 6, 4)
    assert image.encoded_image_string == png.read_bytes()
    histogram = events.Histograms("hist")[0].histogram_value
    assert list(histogram.bucket_limit) == HISTOGRAM["bucket_limits"]
    assert list(histogram.bucket) == HISTOGRAM["bucket_counts"]
    text = events.Tensors("txt")[0].tensor_proto.string_val[0].decode()
    assert text == "hello ü"
    assert json.loads(events.Tensors(TAGS_TAG)[0].tensor_proto.string_val[0]) == {"k": "v"}
    scalar = events.Tensors("loss")[0]
    assert (scalar.step, scalar.tensor_proto.double_val[0]) == (5, 0.1)


def test_a_resumed_backend_keeps_writing_the_same_logdir(tmp_path: Path) -> None:
    state: dict = {}
    first = _backend(tmp_path, state)
    first.open()
    first.log_metrics([Point("loss", 1.0, 0, WALL)])
    first.log_params({"a": 1})
    first.close("KILLED")
    resumed = _backend(tmp_path, state)
    resumed.open()
    resumed.log_metrics([Point("loss", 2.0, 1, WALL + 1)])
    resumed.log_params({"b": 2})
    resumed.close("FINISHED")

    tables = read_run(state["log_dir"])
    assert _triples(tables.metrics) == [("loss", 0, (1.0).hex()), ("loss", 1, (2.0).hex())]
    assert list(tables.params.itertuples(index=False)) == [("a", "1"), ("b", "2")]


def test_torch_summary_writer_float32_and_double_precision(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    values = [0.1, 0.1 + 0.2, 1e-300, 2.0**40 + 1, -1 / 3, math.nan, math.inf]
    steps = [0, 1, 2, 2**40, 2**40 + 7, 5, 6]
    writer = SummaryWriter(str(tmp_path / "torch"))
    for value, step in zip(values, steps, strict=True):
        writer.add_scalar("Loss/Train", value, step)
        writer.add_scalar("new/float", value, step, new_style=True)
        writer.add_scalar("new/double", value, step, new_style=True, double_precision=True)
    writer.add_scalar("rep", 1.0, 0)
    writer.add_scalar("rep", 2.0, 0)
    writer.add_scalars("grp", {"x": 1.0, "y": 2.0}, 7)
    writer.add_text("note", "hi", 1)
    writer.add_histogram("weights", np.arange(10.0), 2)
    writer.add_image("image", np.zeros((3, 4, 4)), 3)
    writer.add_hparams({"lr": 0.1, "bs": 32, "opt": "adam"}, {"hp/metric": 1.0}, run_name="hp")
    writer.close()

    tables = read_run(str(tmp_path / "torch"))
    triples = _triples(tables.metrics)
    by_key: dict[str, list] = {}
    for key, step, value in triples:
        by_key.setdefault(key, []).append((step, value))
    float32 = [(s, _f32(v)) for v, s in zip(values, steps, strict=True)]
    assert by_key["Loss/Train"] == float32
    assert by_key["new/float"] == float32
    assert by_key["new/double"] == [(s, v.hex()) for v, s in zip(values, steps, strict=True)]
    assert by_key["rep"] == [(0, (1.0).hex()), (0, (2.0).hex())]
    assert by_key["grp_x/grp"] == [(7, (1.0).hex())]
    assert by_key["grp_y/grp"] == [(7, (2.0).hex())]
    assert by_key["hp/hp/metric"] == [(0, (1.0).hex())]
    assert tables.encodings == (FLOAT32_ENCODING,)
    float32_keys = json.loads(tables.notes[0].removeprefix("float32_keys "))
    assert "new/double" not in float32_keys and "Loss/Train" in float32_keys
    assert dict(zip(tables.params["key"], tables.params["value"], strict=True)) == {
        "lr": "0.1",
        "bs": "32",
        "opt": "adam",
    }
    assert _media(tables.notes) == [
        {"kind": "histogram", "key": "weights", "steps": [2]},
        {"kind": "image", "key": "image", "steps": [3]},
        {"kind": "text", "key": "note/text_summary", "steps": [1]},
    ]


def test_tensorboardx_writer_is_read_as_float32(tmp_path: Path) -> None:
    import tensorboardX

    writer = tensorboardX.SummaryWriter(str(tmp_path / "tbx"))
    for step in range(1000):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        if step % 100 == 0:
            writer.add_scalar("val/acc", step / 3.0, step * 2**30)
    writer.add_text("note", "hi", 1)
    writer.close()

    tables = read_run(str(tmp_path / "tbx"))
    expected = []
    for step in range(1000):
        expected.append(("loss", step, _f32(1.0 / (step + 1))))
        if step % 100 == 0:
            expected.append(("val/acc", step * 2**30, _f32(step / 3.0)))
    assert _triples(tables.metrics) == expected
    assert tables.encodings == (FLOAT32_ENCODING,)
    assert {"kind": "text", "key": "note/text_summary", "steps": [1]} in _media(tables.notes)


def test_several_writers_become_key_prefixes(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for name, value in (("train", 0.5), ("val", 0.25)):
        with SummaryWriter(str(tmp_path / "runs" / name)) as writer:
            writer.add_scalar("loss", value, 1)
    backend = _backend(tmp_path, log_dir=str(tmp_path / "runs" / "tracelet"))
    backend.open()
    backend.log_metrics([Point("loss", 0.125, 1, WALL)])
    backend.close("FINISHED")

    tables = read_run(str(tmp_path / "runs"))
    assert sorted(_triples(tables.metrics)) == [
        ("tracelet/loss", 1, (0.125).hex()),
        ("train/loss", 1, (0.5).hex()),
        ("val/loss", 1, (0.25).hex()),
    ]
    assert _triples(read_run(str(tmp_path / "runs"), run="val").metrics) == [
        ("loss", 1, (0.25).hex())
    ]
    with pytest.raises(FileNotFoundError):
        read_run(str(tmp_path / "empty"))


def test_a_torn_last_record_is_skipped_and_noted(tmp_path: Path) -> None:
    backend = _backend(tmp_path, log_dir=str(tmp_path / "tb"))
    backend.open()
    backend.log_metrics([Point("loss", float(i), i, WALL) for i in range(10)])
    backend.close("FINISHED")
    (event_file,) = (tmp_path / "tb").glob("*tfevents*")
    event_file.write_bytes(event_file.read_bytes()[:-7])

    tables = read_run(str(event_file))
    assert _triples(tables.metrics) == [("loss", i, float(i).hex()) for i in range(9)]
    assert f"skipped 1 torn last record in {event_file.name}" in tables.notes
