"""One entry point for every store tracelet can read: :func:`read_store`.

``read_store(location)`` looks at a path or URI, picks the reader, and returns the run
as :class:`~tracelet.tables.RunTables`. tracelet's own stores are recognised here: a
``journal.tlj`` or a folder holding it (a tracelet run folder), and a ``.csv`` /
``.parquet`` metrics table (see below). Every tracker's stores are recognised by the
tracker's module in :data:`tracelet.backends.registry.TRACKERS` (its ``claims_uri``,
``claims_file``, ``is_store_folder`` and ``holds_stores``; the list for users is in
``docs/validate.md``), in this order: a URI a tracker claims; a file (journal, table,
then the first tracker that claims it); a folder that *is* one store; a folder that
holds the stores of exactly one tracker.

``#RUN`` at the end selects one run where a store holds several (a run id or name, a
task id, a sub-folder: each tracker's reader says). A path that exists with its ``#``
is taken as it is. A folder that holds stores of several trackers is refused with the
list of what it holds: name the store itself.

Metrics tables (``.csv`` / ``.parquet``) have the columns of the data model: ``key``,
``step``, ``value`` and, optionally, ``wall_time`` (NaN when absent); other columns are
ignored. In CSV, values are read exactly (shortest round-trip form, ``nan``, ``inf``,
``-inf``; an empty value is NaN) and keys are never turned into NaN. Params and tags
are optional sibling files in the same format, ``<stem>.params.<ext>`` and
``<stem>.tags.<ext>`` with columns ``key`` and ``value`` (what ``tracelet export``
writes); without them the params and tags tables are empty. Artifacts are never in a
table file.

Errors: a location that does not exist raises :class:`FileNotFoundError`; one that no
reader recognises, or that its reader cannot read, raises :class:`ValueError` naming
what was tried. A tracker that is not installed raises
:class:`~tracelet.backends.BackendNotInstalled` naming the pip extra.

Example:
    ```python
    tables = read_store("runs/exp1#train")
    tables.metrics.groupby("key").size()
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracelet.backends.registry import TRACKERS, with_option
from tracelet.errors import first_line
from tracelet.tables import (
    METRIC_COLUMNS,
    RunTables,
    artifacts_frame,
    params_frame,
    tags_frame,
)

if TYPE_CHECKING:
    import pandas as pd

JOURNAL = "journal"
TABLE = "table"

TABLE_SUFFIXES = (".csv", ".parquet")
SIBLING_TABLES = ("params", "tags")


@dataclass(frozen=True)
class Store:
    """A resolved location: which reader (a tracker name, ``journal`` or ``table``), what
    to pass it, and which run."""

    kind: str
    target: str
    run: str | None = None

    def __str__(self) -> str:
        return f"{self.target}#{self.run}" if self.run else self.target


def read_store(location: str) -> RunTables:
    """Read the run at ``location`` (a path or URI, optionally ``#RUN``).

    See the module docstring for what is recognised. Raises
    :class:`FileNotFoundError` or :class:`ValueError` with one clear message.
    """
    return read_resolved(resolve_store(location))


def resolve_store(location: str) -> Store:
    """Which reader reads ``location``, without reading it."""
    location = str(location).strip()
    if not location:
        raise ValueError("empty store location")
    target, run = _split_run(location)
    uri_kind = _uri_kind(target)
    if uri_kind:
        return Store(uri_kind, target, run)
    path = Path(target).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{target}: no such file or folder")
    kind = _file_kind(path) if path.is_file() else _folder_kind(path)
    if kind is None:
        what = "file" if path.is_file() else "folder"
        raise ValueError(f"{target}: not a store tracelet can read ({what}); tried {_tried()}")
    return Store(kind, str(path), run)


def read_resolved(store: Store) -> RunTables:
    """Read a :class:`Store`; reader errors become one :class:`ValueError`."""
    from tracelet.backends import BackendNotInstalled

    tracker = TRACKERS.get(store.kind)
    if tracker is not None:
        tracker.ensure_installed()
        reader = tracker.module.read_run
    else:
        reader = _OWN_READERS[store.kind]
    try:
        return reader(store.target, store.run)
    except (FileNotFoundError, BackendNotInstalled):
        raise
    except (ValueError, LookupError) as exc:
        raise ValueError(f"cannot read {store} as {_label(store.kind)}: {_one_line(exc)}") from exc
    except Exception as exc:
        raise ValueError(
            f"cannot read {store} as {_label(store.kind)}: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc


def delivered_store(
    run_dir: str | Path, backend: str, environ: Mapping[str, str] | None = None
) -> str:
    """Where a tracelet run delivered to ``backend``, as a :func:`read_store` location.

    Read from the run folder: ``run.json`` and ``delivery/<backend>.json`` (the tracker
    state the backend kept); the backend's module says where that is. ``environ`` is the
    environment the run had (default: this process's), for trackers whose store a
    variable moves. Raises :class:`ValueError` when the run cannot be read back from this
    machine (nothing delivered, or stored only on a server).
    """
    import os

    from tracelet.agent.delivery import DeliveryState
    from tracelet.rundir import read_spec

    run_dir = Path(run_dir)
    spec = read_spec(run_dir)
    if backend not in spec.backends:
        raise ValueError(
            f"the tracelet run {run_dir.name} logged to {', '.join(spec.backends)}, not {backend}"
        )
    state = DeliveryState.load(run_dir, backend).tracker
    options = spec.backend_options.get(backend, {})
    environ = os.environ if environ is None else environ
    location = TRACKERS[backend].module.delivered_location(state, options, spec.cwd, environ)
    if location is None:
        raise ValueError(
            f"cannot read back what the tracelet run {run_dir} delivered to {backend} "
            "(nothing delivered, or stored only on a server)"
        )
    return location


def sibling_path(table_path: str | Path, table: str) -> Path:
    """The params or tags file that goes with a metrics table: ``<stem>.<table><ext>``."""
    path = Path(table_path)
    return path.with_name(f"{path.stem}.{table}{path.suffix}")


# -- recognising a location ----------------------------------------------------------------
def _uri_kind(text: str) -> str | None:
    return next((t.name for t in with_option("claims_uri") if t.module.claims_uri(text)), None)


def _split_run(location: str) -> tuple[str, str | None]:
    if "#" not in location or (not _uri_kind(location) and Path(location).exists()):
        return location, None
    target, _, run = location.rpartition("#")
    return target, run or None


def _file_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix == ".tlj":
        return JOURNAL
    if suffix in TABLE_SUFFIXES:
        return TABLE
    return next((t.name for t in with_option("claims_file") if t.module.claims_file(path)), None)


def _folder_kind(path: Path) -> str | None:
    """A folder that *is* one store wins; else what it holds, if that is one kind only."""
    from tracelet.rundir import JOURNAL_FILE

    if (path / JOURNAL_FILE).is_file():
        return JOURNAL
    for tracker in with_option("is_store_folder"):
        if tracker.module.is_store_folder(path):
            return tracker.name
    found = [t.name for t in with_option("holds_stores") if t.module.holds_stores(path)]
    if len(found) > 1:
        raise ValueError(
            f"{path} holds several kinds of store ({', '.join(_label(k) for k in found)}): "
            "name the store itself"
        )
    return found[0] if found else None


def _label(kind: str) -> str:
    return TRACKERS[kind].module.STORE_LABEL if kind in TRACKERS else _OWN_LABELS[kind]


def _tried() -> str:
    hints = [t.module.STORE_HINT for t in TRACKERS.values()]
    return ", ".join(
        [*hints, "tracelet run folder or journal.tlj", "metrics table (.csv, .parquet)"]
    )


def _one_line(exc: BaseException) -> str:
    return first_line(exc) or type(exc).__name__


# -- readers ---------------------------------------------------------------------------------
def _read_journal(target: str, run: str | None) -> RunTables:
    from tracelet.journal import read_run

    if run:
        raise ValueError("a tracelet journal holds one run: drop the #RUN")
    return read_run(target)


def _read_table(target: str, run: str | None) -> RunTables:
    if run:
        raise ValueError("a metrics table holds one run: drop the #RUN")
    path = Path(target)
    frame = _load_table(path, METRIC_COLUMNS)
    missing = [c for c in ("key", "step", "value") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"missing column(s) {missing}; a metrics table has key, step, value[, wall_time]"
        )
    siblings = {
        name: _load_table(sibling_path(path, name), {"key": "object", "value": "object"})
        for name in SIBLING_TABLES
        if sibling_path(path, name).is_file()
    }
    return RunTables(
        metrics=_metrics_from(frame),
        params=params_frame(_mapping(siblings.get("params"))),
        tags=tags_frame(_mapping(siblings.get("tags"))),
        artifacts=artifacts_frame(),
        source=str(path),
    )


def _load_table(path: Path, columns: dict[str, str]) -> pd.DataFrame:
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise ValueError(f"reading parquet needs pyarrow: pip install pyarrow ({exc})") from exc
    # Everything as text first: keys stay keys ("nan", "") and floats parse exactly below.
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)


def _metrics_from(frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    def floats(column: pd.Series) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(column):
            return column.to_numpy(dtype=np.float64)
        return np.array([text or "nan" for text in column.astype(str)], dtype=np.float64)

    n = len(frame)
    wall = floats(frame["wall_time"]) if "wall_time" in frame.columns else np.full(n, np.nan)
    metrics = pd.DataFrame(
        {
            "key": frame["key"].astype(str).astype(object),
            "step": frame["step"].to_numpy().astype(np.int64),
            "value": floats(frame["value"]),
            "wall_time": wall,
        }
    )
    return metrics.astype(METRIC_COLUMNS).reset_index(drop=True)


def _mapping(frame: pd.DataFrame | None) -> dict[str, str]:
    if frame is None:
        return {}
    return {
        str(k): "" if v is None else str(v)
        for k, v in zip(frame["key"], frame["value"], strict=True)
    }


_OWN_READERS: dict[str, Callable[[str, str | None], RunTables]] = {
    JOURNAL: _read_journal,
    TABLE: _read_table,
}

_OWN_LABELS = {JOURNAL: "a tracelet journal", TABLE: "a metrics table"}
