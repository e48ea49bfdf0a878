"""The shared data model: the tidy tables that every store reads back into.

Events written by the runtime and tables read by the validators are the same facts:

=========  ==========================================================================
table      columns
=========  ==========================================================================
metrics    ``key`` str, ``step`` int64, ``value`` float64, ``wall_time`` float64 (s)
params     ``key`` str, ``value`` str
tags       ``key`` str, ``value`` str
artifacts  ``name`` str, ``path`` str, ``size`` int64, ``sha256`` str
summary    ``key`` str, ``value`` str
media      ``key`` str, ``step`` int64, ``kind`` str, ``size`` int64, ``sha256`` str,
           ``content`` str
=========  ==========================================================================

The summary holds the run's summary values (``experiment.summary``, W&B's run summary,
ClearML's single values) and its ``define_metric`` aggregates, flattened with ``.``
(``val/loss.min``), each value in the one string form of
:func:`tracelet.summaries.summary_value` (numbers as float64 ``repr``). W&B's automatic
last value of every logged key is not part of it.

A media row is one logged image, histogram, table or text at a step. ``size`` and
``sha256`` describe the file the store holds (``-1`` / ``""`` when the store keeps no
file, as for a W&B histogram); ``content`` is what was logged, in a form that does not
depend on the tracker's encoding, so two trackers' media compare:

* image: ``"<width>x<height> <mode> <sha256 of the decoded pixels>"``;
* histogram: JSON ``{"counts": [...], "limits": [...]}`` (right bucket edges);
* table: JSON ``{"columns": [...], "data": [[...], ...]}``;
* text: the text.

A reader that does not read media leaves ``RunTables.media`` as ``None`` and a
comparison leaves media out.

Besides these, a run read back carries its system metrics (``system``, metrics columns)
and where its code came from (``origin``), which are not part of a comparison, and the
columns a writer added to the store that are not metrics of the user's
(``added_columns``, for example W&B's ``tracelet/step``), which are compared.

pandas is imported lazily so that ``import tracelet`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

METRIC_COLUMNS = {"key": "object", "step": "int64", "value": "float64", "wall_time": "float64"}
PARAM_COLUMNS = {"key": "object", "value": "object"}
TAG_COLUMNS = {"key": "object", "value": "object"}
ARTIFACT_COLUMNS = {"name": "object", "path": "object", "size": "int64", "sha256": "object"}
SUMMARY_COLUMNS = {"key": "object", "value": "object"}
MEDIA_COLUMNS = {
    "key": "object",
    "step": "int64",
    "kind": "object",
    "size": "int64",
    "sha256": "object",
    "content": "object",
}


def _frame(rows: Iterable[tuple] | None, columns: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows or []), columns=list(columns))
    return frame.astype(columns)


def metrics_frame(rows: Iterable[tuple] | None = None) -> pd.DataFrame:
    """Build a metrics table from ``(key, step, value, wall_time)`` rows."""
    return _frame(rows, METRIC_COLUMNS)


def metrics_from_columns(
    keys: Sequence[str], steps: Sequence[int], values: Sequence[float], walls: Sequence[float]
) -> pd.DataFrame:
    """Build a metrics table from four equal-length columns (faster than rows)."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=object),
            "step": np.asarray(steps, dtype=np.int64),
            "value": np.asarray(values, dtype=np.float64),
            "wall_time": np.asarray(walls, dtype=np.float64),
        }
    ).astype(METRIC_COLUMNS)


def params_frame(params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Build a params table from a flat mapping; values go through :func:`param_value`."""
    rows = sorted((str(k), param_value(v)) for k, v in (params or {}).items())
    return _frame(rows, PARAM_COLUMNS)


def tags_frame(tags: Mapping[str, Any] | None = None) -> pd.DataFrame:
    rows = sorted((str(k), str(v)) for k, v in (tags or {}).items())
    return _frame(rows, TAG_COLUMNS)


def summary_frame(summary: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Build a summary table from a (possibly nested) mapping of summary values."""
    from tracelet.summaries import flatten_summary, summary_value

    rows = sorted((k, summary_value(v)) for k, v in flatten_summary(summary or {}).items())
    return _frame(rows, SUMMARY_COLUMNS)


def artifacts_frame(rows: Iterable[tuple] | None = None) -> pd.DataFrame:
    """Build an artifacts table from ``(name, path, size, sha256)`` rows, sorted by name;
    rows of one name (versions of an artifact) stay in the order given, since their paths
    are often temporary names that would order them at random."""
    return _frame(sorted(rows or [], key=lambda row: row[0]), ARTIFACT_COLUMNS)


def media_frame(rows: Iterable[tuple] | None = None) -> pd.DataFrame:
    """Build a media table from ``(key, step, kind, size, sha256, content)`` rows, kept
    in the order logged."""
    return _frame(rows, MEDIA_COLUMNS)


def image_content(image: str | Path | bytes | Any) -> str:
    """An image's ``content`` (a file, its bytes or a PIL image): size, mode and a digest
    of its decoded pixels; ``""`` for a file that is not an image PIL can read."""
    import io

    from PIL import Image

    if isinstance(image, str | Path | bytes):
        source = io.BytesIO(image) if isinstance(image, bytes) else image
        try:
            with Image.open(source) as opened:
                opened.load()
                return image_content(opened)
        except OSError:  # not an image (PIL.UnidentifiedImageError), or a truncated one
            return ""
    pixels = hashlib.sha256(image.tobytes()).hexdigest()
    return f"{image.width}x{image.height} {image.mode} {pixels}"


def histogram_content(counts: Sequence[float], limits: Sequence[float]) -> str:
    """A histogram's ``content``: its counts and the right edge of each bucket (what
    every tracker keeps; ClearML drops the left edge of the first)."""
    return json.dumps({"counts": [float(c) for c in counts], "limits": [float(x) for x in limits]})


def table_content(columns: Sequence[Any], data: Sequence[Sequence[Any]]) -> str:
    return json.dumps({"columns": [str(c) for c in columns], "data": [list(r) for r in data]})


def media_file_row(key: str, step: int, kind: str, path: str | Path, content: str) -> tuple:
    """A media row for a file the store holds."""
    path = Path(path)
    return (key, int(step), kind, path.stat().st_size, file_sha256(path), content)


def param_value(value: Any) -> str:
    """The one string form of a parameter value, used by every writer and reader.

    Strings stay as they are, ``bool``/``int``/``float`` use ``str()`` (as MLflow's own
    ``log_param`` does), anything else (lists, ``None``) is JSON with sorted keys.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return str(value) if math.isfinite(value) else repr(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def flatten_params(params: Mapping[str, Any], sep: str = "/") -> dict[str, Any]:
    """Flatten nested mappings into ``outer/inner`` keys (ClearML's and tracelet's form).

    >>> flatten_params({"optim": {"lr": 0.1}, "bs": 32})
    {'optim/lr': 0.1, 'bs': 32}
    """
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            for inner, inner_value in flatten_params(value, sep).items():
                flat[f"{key}{sep}{inner}"] = inner_value
        else:
            flat[str(key)] = value
    return flat


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_rows(path: str | Path, name: str | None = None) -> list[tuple[str, str, int, str]]:
    """Rows for an artifact: a file is one row named ``name`` (default: its file name);
    a folder gives one row per file, named ``<name>/<relative path>`` (default name: the
    folder's name). This is how ``Experiment.log_artifact`` names what it stores."""
    path = Path(path)
    name = name or path.name
    if path.is_file():
        return [(name, str(path), path.stat().st_size, file_sha256(path))]
    return [
        (
            f"{name}/{file.relative_to(path).as_posix()}",
            str(file),
            file.stat().st_size,
            file_sha256(file),
        )
        for file in sorted(p for p in path.rglob("*") if p.is_file())
    ]


@dataclass(frozen=True)
class Encoding:
    """A store's known lossy encoding of metric values, declared by its reader.

    A reader lists the encodings its store applied in :attr:`RunTables.encodings`; the
    validators apply ``apply`` to both sides of a comparison, lower ``rank`` first.
    """

    name: str
    description: str
    apply: Callable[[np.ndarray], np.ndarray]
    rank: int


@dataclass
class RunTables:
    """One run read back from a store, as the four tables of the data model."""

    metrics: pd.DataFrame
    params: pd.DataFrame = field(default_factory=params_frame)
    tags: pd.DataFrame = field(default_factory=tags_frame)
    artifacts: pd.DataFrame = field(default_factory=artifacts_frame)
    summary: pd.DataFrame = field(default_factory=summary_frame)
    source: str = ""
    notes: list[str] = field(default_factory=list)
    encodings: tuple[Encoding, ...] = ()
    """The lossy encodings the store applied to metric values (see :class:`Encoding`)."""
    #: system metrics under the tracker's own names (metrics columns); ``validate``
    #: leaves them out unless asked, as they differ from run to run
    system: pd.DataFrame = field(default_factory=metrics_frame)
    #: the store's own rows, every column as the tracker keeps it (raw JSON text, ``None``
    #: where a row has no value), for stores that keep more than the metric table shows
    #: (W&B history: ``_step``, step-metric columns, media); ``None`` for the others.
    #: Wall-clock columns are left out, as ``wall_time`` is never compared
    history: pd.DataFrame | None = None
    #: where the code came from, as the tracker recorded it: ``program``, ``user``,
    #: ``git.commit``, ``git.branch``, ``git.remote``, ``git.dirty`` (those present)
    origin: dict[str, str] = field(default_factory=dict)
    #: columns the store holds that a writer added itself and that are therefore not in
    #: ``metrics`` (W&B's ``tracelet/step``): column -> who added it, what it holds
    added_columns: dict[str, str] = field(default_factory=dict)
    #: images, histograms, tables and texts (see the module docstring), or None when the
    #: store's reader does not read media
    media: pd.DataFrame | None = None

    def with_system_metrics(self) -> RunTables:
        """A copy whose metrics include the system metrics: pass two of these to
        :func:`tracelet.validators.compare.compare_runs` to compare those too."""
        import dataclasses

        import pandas as pd

        metrics = pd.concat([self.metrics, self.system], ignore_index=True)
        return dataclasses.replace(self, metrics=metrics.astype(METRIC_COLUMNS))

    @classmethod
    def empty(cls, source: str = "") -> RunTables:
        return cls(metrics=metrics_frame(), source=source)
