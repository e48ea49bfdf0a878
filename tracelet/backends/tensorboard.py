"""TensorBoard: write event files from the delivery agent, and read a logdir back.

Writing (:class:`TensorboardBackend`)
-------------------------------------

For users who log through ``experiment.log_metrics`` or Lightning and have no
``SummaryWriter`` of their own. Events go through the ``tensorboard`` package's own
``EventFileWriter`` (no torch import) into option ``log_dir`` (default
``<run_dir>/tensorboard``), flushed after every call so a delivered point is on disk.

* scalars: one event per point, at the point's step and ``wall_time``, as a
  **double-precision** tensor with the ``scalars`` plugin metadata (what
  ``add_scalar(..., new_style=True, double_precision=True)`` writes): the values
  read back exactly, where ``SummaryWriter.add_scalar`` rounds to float32.
* images (PNG), histograms and text: TensorBoard's image, histogram and text summaries.
* params: an HParams ``session_start_info`` (the HPARAMS tab) holding every param
  logged so far, each value as its tracelet string (:func:`tracelet.tables.param_value`)
  so it reads back exactly.
* tags: TensorBoard has none. They are written as a JSON object in a text summary
  under the reserved tag ``tracelet/tags`` (visible in the TEXT tab).
* summary: TensorBoard has none. The whole current summary (``experiment.summary`` and
  the ``define_metric`` aggregates the agent computes) is written again after each
  change, as a JSON object in a text summary under the reserved tag
  ``tracelet/summary`` (TEXT tab), so a changed or deleted value reads back as it ended.
* artifacts: copied to ``<log_dir>/tracelet-artifacts/<name>`` (a file is stored under
  the artifact's name, a folder's files under ``<name>/``).
* status: TensorBoard has none; ``close()`` flushes and closes the file.

Reading (:func:`read_run`)
--------------------------

``read_run(logdir)`` reads every event file under ``logdir`` (``run`` narrows it to one
sub-directory). A file in a sub-directory gets that directory as a key prefix
(``train/loss`` for tag ``loss`` in ``logdir/train``), as TensorBoard and W&B show
several writers; ``add_scalars`` writers (``logdir/<tag>_<name>``) appear that way
too. Point ``read_run`` at a writer's own folder to get bare tags.

* metrics: every scalar (``simple_value``, and tensors of the ``scalars`` plugin) as
  float64, every event kept, in file order. ``SummaryWriter`` and ``tensorboardX``
  store float32 by default: then ``encodings`` holds :data:`FLOAT32_ENCODING` (the
  values are the float32 ones, widened exactly), else ``notes`` holds
  ``precision:float64``; when a logdir mixes both, a ``float32_keys [...]`` note lists
  the float32 keys.
* params: HParams ``session_start_info`` values (numbers that are whole read back
  without ``.0``, as TensorBoard stores every number as a double).
* tags: the last ``tracelet/tags`` text summary.
* summary: the last ``tracelet/summary`` text summary.
* artifacts: the files under ``tracelet-artifacts/``, named by their path there (as
  :func:`tracelet.tables.artifact_rows` names them).
* notes: one ``media {...}`` JSON line per image / text / histogram / audio key with its
  steps, plus counts of what was skipped (other plugins, a torn last record).
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tracelet.backends.base import Backend, RefusedError, existing_file
from tracelet.events import Point
from tracelet.tables import (
    Encoding,
    RunTables,
    artifact_rows,
    artifacts_frame,
    histogram_content,
    image_content,
    media_frame,
    metrics_from_columns,
    param_value,
    params_frame,
    summary_frame,
    tags_frame,
)

TAGS_TAG = "tracelet/tags"
"""The text summary tag the tags are written under (reserved)."""
SUMMARY_TAG = "tracelet/summary"
"""The text summary tag the run summary is written under (reserved)."""
ARTIFACTS_DIR = "tracelet-artifacts"
"""The sub-directory of the logdir artifacts are copied into."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> TensorBoard colorspace (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA)
_PNG_COLORSPACE = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# media listed in notes: legacy summary fields, and tensor summaries by plugin
_MEDIA_FIELDS = {"image": "image", "histo": "histogram", "audio": "audio"}
_MEDIA_PLUGINS = {"images": "image", "histograms": "histogram", "text": "text", "audio": "audio"}


class TensorboardBackend(Backend):
    """Write a tracelet run as TensorBoard event files."""

    name = "tensorboard"

    @classmethod
    def pin_options(cls, options: dict[str, Any], cwd: str) -> dict[str, Any]:
        if options.get("log_dir"):
            return {**options, "log_dir": str(Path(cwd, options["log_dir"]).resolve())}
        return options

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writer: Any = None
        self._pb: Any = None
        self._params: dict[str, str] = dict(self.state.get("params", {}))
        self._tags: dict[str, str] = dict(self.state.get("tags", {}))
        self._summary: dict[str, Any] = dict(self.state.get("summary", {}))

    @property
    def log_dir(self) -> Path:
        return Path(self.options.get("log_dir") or Path(self.run.run_dir) / "tensorboard")

    def open(self) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._pb = _Protos()
        self._writer = EventFileWriter(str(self.log_dir), max_queue_size=1000)
        self.state["log_dir"] = str(self.log_dir)

    def run_ref(self) -> tuple[str, str]:
        """No run id; the URL is the log directory."""
        return "", str(self.log_dir)

    def log_metrics(self, points: Sequence[Point]) -> None:
        pb, add = self._pb, self._writer.add_event
        for key, value, step, wall_time in points:
            add(pb.event(wall_time, step, pb.scalar(key, value)))
        self._writer.flush()

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._params.update({str(k): param_value(v) for k, v in params.items()})
        self.state["params"] = dict(self._params)
        self._write(self.run.created, 0, self._pb.hparams(self._params))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._tags.update({str(k): str(v) for k, v in tags.items()})
        self.state["tags"] = dict(self._tags)
        text = json.dumps(self._tags, ensure_ascii=False, sort_keys=True)
        self._write(self.run.created, 0, self._pb.text(TAGS_TAG, text))

    def set_summary(self, values: Mapping[str, Any], removed: Sequence[str]) -> None:
        for key in removed:
            self._summary.pop(key, None)
        self._summary.update(values)
        self.state["summary"] = dict(self._summary)
        text = json.dumps(self._summary, ensure_ascii=False, sort_keys=True, allow_nan=True)
        self._write(self.run.created, 0, self._pb.text(SUMMARY_TAG, text))

    def log_artifact(self, name: str, path: str, info: Mapping[str, Any] | None = None) -> None:
        """A copy under ``<log_dir>/artifacts/<name>`` (TensorBoard has no artifacts, nor
        a place for ``info``)."""
        source = Path(path)
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts:
            raise RefusedError(f"artifact name {name!r} must be a relative path without '..'")
        existing_file(path, "artifact")
        target = self.log_dir / ARTIFACTS_DIR / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)

    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
        try:
            data = Path(png_path).read_bytes()
        except FileNotFoundError as exc:
            raise RefusedError(f"image file {png_path} does not exist") from exc
        self._write(wall_time, step, self._pb.image(key, data))

    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        self._write(wall_time, step, self._pb.histogram(key, histogram))

    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
        self._write(wall_time, step, self._pb.text(key, text))

    def log_table(
        self, key: str, step: int, wall_time: float, columns: list[str], data: list[list[Any]]
    ) -> None:
        """TensorBoard has no tables: a Markdown table in the text plugin, as TensorBoard
        renders ``add_text`` Markdown."""
        lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
        lines += [" | ".join(str(cell) for cell in row) for row in data]
        self.log_text(key, step, wall_time, "\n".join(lines))

    def close(self, status: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def describe(self) -> str:
        return f"tensorboard --logdir {self.log_dir}"

    def _write(self, wall_time: float, step: int, value: Any) -> None:
        self._writer.add_event(self._pb.event(wall_time, step, value))
        self._writer.flush()


class _Protos:
    """Builds TensorBoard summary protos (the protobuf modules are imported once)."""

    def __init__(self) -> None:
        from tensorboard.compat.proto import (
            event_pb2,
            histogram_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
        from tensorboard.plugins.hparams import metadata as hparams_metadata
        from tensorboard.plugins.hparams import plugin_data_pb2
        from tensorboard.plugins.scalar import metadata as scalar_metadata
        from tensorboard.plugins.text import metadata as text_metadata

        self.Event, self.Summary, self.Value = (
            event_pb2.Event,
            summary_pb2.Summary,
            summary_pb2.Summary.Value,
        )
        self.Tensor, self.Histogram = tensor_pb2.TensorProto, histogram_pb2.HistogramProto
        self.DT_DOUBLE, self.DT_STRING = types_pb2.DT_DOUBLE, types_pb2.DT_STRING
        self.scalar_meta = scalar_metadata.create_summary_metadata(display_name="", description="")
        self.text_meta = text_metadata.create_summary_metadata(display_name="", description="")
        self.vector = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
        )
        self._hparams_meta = hparams_metadata.create_summary_metadata
        self._hparams_tag = hparams_metadata.SESSION_START_INFO_TAG
        self._plugin_data = plugin_data_pb2

    def event(self, wall_time: float, step: int, value: Any) -> Any:
        return self.Event(wall_time=wall_time, step=step, summary=self.Summary(value=[value]))

    def scalar(self, key: str, value: float) -> Any:
        tensor = self.Tensor(dtype=self.DT_DOUBLE, double_val=[value])
        return self.Value(tag=key, tensor=tensor, metadata=self.scalar_meta)

    def text(self, key: str, text: str) -> Any:
        tensor = self.Tensor(
            dtype=self.DT_STRING, string_val=[text.encode("utf-8")], tensor_shape=self.vector
        )
        return self.Value(tag=key, tensor=tensor, metadata=self.text_meta)

    def image(self, key: str, png: bytes) -> Any:
        if not png.startswith(_PNG_SIGNATURE) or len(png) < 26:
            raise RefusedError(f"image {key!r} is not a PNG file")
        width, height = struct.unpack(">II", png[16:24])
        image = self.Summary.Image(
            height=height,
            width=width,
            colorspace=_PNG_COLORSPACE.get(png[25], 3),
            encoded_image_string=png,
        )
        return self.Value(tag=key, image=image)

    def histogram(self, key: str, histogram: Mapping[str, Any]) -> Any:
        limits, counts = histogram.get("bucket_limits"), histogram.get("bucket_counts")
        if not limits or not counts or len(limits) != len(counts):
            raise RefusedError(f"histogram {key!r} has no matching bucket_limits/bucket_counts")
        histo = self.Histogram(
            min=histogram.get("min", 0.0),
            max=histogram.get("max", 0.0),
            num=histogram.get("num", sum(counts)),
            sum=histogram.get("sum", 0.0),
            sum_squares=histogram.get("sum_squares", 0.0),
            bucket_limit=limits,
            bucket=counts,
        )
        return self.Value(tag=key, histo=histo)

    def hparams(self, params: Mapping[str, str]) -> Any:
        info = self._plugin_data.SessionStartInfo()
        for key, value in params.items():
            info.hparams[key].string_value = value
        data = self._plugin_data.HParamsPluginData(session_start_info=info)
        return self.Value(tag=self._hparams_tag, metadata=self._hparams_meta(data))


# -- reading -------------------------------------------------------------------------


def read_run(path: str, run: str | None = None) -> RunTables:
    """Read every event file under a TensorBoard logdir into the four tables.

    ``path`` is a logdir or one event file; ``run`` names a sub-directory of it to read
    alone.

    Example:
        ```python
        tables = read_run("runs/exp1")
        tables.metrics.query("key == 'Loss/Train'")
        ```
    """
    root = Path(path) / run if run else Path(path)
    if root.is_file():
        files, base = [root], root.parent
    else:
        files, base = _event_files(root), root
        if not files and not (root / ARTIFACTS_DIR).is_dir():
            raise FileNotFoundError(f"no TensorBoard event file under {root}")
    reader = _Reader()
    for file in files:
        prefix = file.parent.relative_to(base).as_posix()
        reader.read_file(file, "" if prefix == "." else prefix + "/")
    stored = sorted((root / ARTIFACTS_DIR).iterdir()) if (root / ARTIFACTS_DIR).is_dir() else []
    artifacts = [row for entry in stored for row in artifact_rows(entry, entry.name)]
    return RunTables(
        metrics=reader.metrics(),
        params=params_frame(reader.params),
        tags=tags_frame(reader.tags),
        summary=summary_frame(reader.summary),
        artifacts=artifacts_frame(artifacts),
        source=str(root),
        notes=reader.notes(),
        encodings=(FLOAT32_ENCODING,) if reader.float32_keys else (),
        media=media_frame(reader.media_rows),
    )


def _event_files(root: Path) -> list[Path]:
    files = [
        p
        for p in root.rglob("*tfevents*")
        if p.is_file() and ARTIFACTS_DIR not in p.relative_to(root).parts
    ]
    return sorted(files, key=lambda p: (p.parent.as_posix(), p.name))


def _records(data: bytes) -> Iterator[bytes]:
    """The records of a TFRecord file (the framing RawEventFileLoader reads), CRCs unchecked.

    Each record is ``length u64 | crc u32 | payload | crc u32``; a torn last record
    (a writer still running, or killed) ends the iteration.
    """
    pos, end = 0, len(data)
    unpack = struct.Struct("<Q").unpack_from
    while pos + 12 <= end:
        (length,) = unpack(data, pos)
        start = pos + 12
        if start + length + 4 > end:
            raise _TornRecord
        yield data[start : start + length]
        pos = start + length + 4
    if pos != end:
        raise _TornRecord


class _TornRecord(Exception):
    pass


class _Reader:
    """Accumulates what the event files of one logdir hold."""

    def __init__(self) -> None:
        from tensorboard.compat.proto import event_pb2, types_pb2
        from tensorboard.plugins.hparams import plugin_data_pb2

        self._parse = event_pb2.Event.FromString
        self._hparams = plugin_data_pb2.HParamsPluginData.FromString
        self._double, self._float = types_pb2.DT_DOUBLE, types_pb2.DT_FLOAT
        self.keys: list[str] = []
        self.steps: list[int] = []
        self.values: list[float] = []
        self.times: list[float] = []
        self.float32_keys: set[str] = set()
        self.float64_keys: set[str] = set()
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.summary: dict[str, Any] = {}
        self.media: dict[tuple[str, str], list[int]] = {}
        self.media_rows: list[tuple] = []
        self.skipped: dict[str, int] = {}

    def read_file(self, file: Path, prefix: str) -> None:
        plugins: dict[str, str] = {}
        keys, steps, values, times = self.keys, self.steps, self.values, self.times
        double, float32 = self._double, self._float
        float32_tags: set[str] = set()
        float64_tags: set[str] = set()
        try:
            for record in _records(file.read_bytes()):
                event = self._parse(record)
                if not event.HasField("summary"):
                    continue
                step, wall_time = event.step, event.wall_time
                for value in event.summary.value:
                    tag = value.tag
                    kind = value.WhichOneof("value")
                    if kind == "simple_value":
                        number = value.simple_value
                        float32_tags.add(tag)
                    else:
                        # the plugin is named on a tag's first value (TF2 writers), or on all
                        plugin = plugins.get(tag) or value.metadata.plugin_data.plugin_name
                        if plugin:
                            plugins[tag] = plugin
                        if kind != "tensor" or plugin != "scalars":
                            self._other(prefix + tag, kind, plugin, value, step)
                            continue
                        tensor = value.tensor
                        if tensor.dtype == double and tensor.double_val:
                            number = tensor.double_val[0]
                            float64_tags.add(tag)
                        elif tensor.dtype == float32 and tensor.float_val:
                            number = tensor.float_val[0]
                            float32_tags.add(tag)
                        else:
                            number = self._scalar(tensor, prefix + tag)
                    keys.append(prefix + tag)
                    steps.append(step)
                    values.append(number)
                    times.append(wall_time)
        except _TornRecord:
            self._skip(f"torn last record in {file.name}")
        self.float32_keys.update(prefix + tag for tag in float32_tags)
        self.float64_keys.update(prefix + tag for tag in float64_tags)

    def _scalar(self, tensor: Any, key: str) -> float:
        """A scalar tensor other than a filled ``double_val`` (float32, half, packed bytes)."""
        from tensorboard.util import tensor_util

        array = tensor_util.make_ndarray(tensor)
        (self.float64_keys if array.dtype.itemsize >= 8 else self.float32_keys).add(key)
        return float(array.reshape(-1)[0])

    def _other(self, key: str, kind: str | None, plugin: str, value: Any, step: int) -> None:
        if plugin == "hparams":
            data = self._hparams(value.metadata.plugin_data.content)
            if data.HasField("session_start_info"):
                hparams = data.session_start_info.hparams
                self.params.update({k: _hparam_string(v) for k, v in hparams.items()})
            return
        if plugin == "text" and value.tag == TAGS_TAG:
            self.tags.update(json.loads(value.tensor.string_val[0].decode("utf-8")))
            return
        if plugin == "text" and value.tag == SUMMARY_TAG:
            self.summary = json.loads(value.tensor.string_val[0].decode("utf-8"))
            return
        media = _MEDIA_PLUGINS.get(plugin) if kind == "tensor" else _MEDIA_FIELDS.get(kind or "")
        if media:
            self.media.setdefault((media, key), []).append(step)
            self.media_rows.append(_media_row(key, step, media, value))
        else:
            self._skip(f"{plugin or kind} values")

    def _skip(self, what: str) -> None:
        self.skipped[what] = self.skipped.get(what, 0) + 1

    def metrics(self) -> Any:

        return metrics_from_columns(self.keys, self.steps, self.values, self.times)

    def notes(self) -> list[str]:
        notes = []
        if self.float32_keys and self.float64_keys:
            notes.append("float32_keys " + json.dumps(sorted(self.float32_keys)))
        elif self.float64_keys:
            notes.append("precision:float64")
        notes += [
            "media "
            + json.dumps({"kind": kind, "key": key, "steps": sorted(s)}, ensure_ascii=False)
            for (kind, key), s in sorted(self.media.items())
        ]
        notes += [f"skipped {n} {what}" for what, n in sorted(self.skipped.items())]
        return notes


def _media_row(key: str, step: int, kind: str, value: Any) -> tuple:
    """A media table row (see :mod:`tracelet.tables`); the event file holds the bytes."""
    import hashlib

    data: bytes | None = None
    content = ""
    if value.HasField("image"):
        data = value.image.encoded_image_string
    elif kind == "image" and len(value.tensor.string_val) >= 3:  # TF2: width, height, PNG
        data = value.tensor.string_val[2]
    elif value.HasField("histo"):
        histo = value.histo
        content = histogram_content(list(histo.bucket), list(histo.bucket_limit))
    elif kind == "text" and value.tensor.string_val:
        content = value.tensor.string_val[0].decode("utf-8")
    if data is None:
        return (key, step, kind, -1, "", content)
    return (key, step, kind, len(data), hashlib.sha256(data).hexdigest(), image_content(data))


def _hparam_string(value: Any) -> str:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return param_value(number)
    if kind == "bool_value":
        return str(value.bool_value)
    if kind == "string_value":
        return value.string_value
    return ""


# -- recognising stores --------------------------------------------------------------------
STORE_LABEL = "a TensorBoard logdir"
STORE_HINT = "TensorBoard logdir (events.out.tfevents*)"


def _round_float32(values):
    import numpy as np

    with np.errstate(over="ignore"):
        return values.astype(np.float32).astype(np.float64)


FLOAT32_ENCODING = Encoding(
    "float32",
    "values rounded to float32 (TensorBoard's default SummaryWriter)",
    _round_float32,
    rank=0,
)
ENCODINGS = (FLOAT32_ENCODING,)


def claims_file(path: Path) -> bool:
    return "tfevents" in path.name


def holds_stores(path: Path) -> bool:
    """Event files of its own: those inside another tracker's run folder belong to that run
    (W&B's TensorBoard sync copies them into the run it writes)."""
    from tracelet.backends.registry import with_option

    others = [t.module for t in with_option("is_store_folder") if t.module is not _THIS_MODULE]
    for events in path.rglob("*tfevents*"):
        folders = [path / p for p in events.relative_to(path).parents if p != Path(".")]
        if not any(other.is_store_folder(folder) for folder in folders for other in others):
            return True
    return False


def delivered_location(
    state: Mapping[str, Any], options: Mapping[str, Any], cwd: str, environ: Mapping[str, str]
) -> str | None:
    return str(state["log_dir"]) if state.get("log_dir") else None


_THIS_MODULE = sys.modules[__name__]
