"""One entry point for every store tracelet can read: :func:`read_store`.

``read_store(location)`` looks at a path or URI, picks the reader, and returns the run
as :class:`~tracelet.tables.RunTables`. What it recognises, in this order:

========================================  ===============================================
location                                  read as
========================================  ===============================================
``sqlite:///x.db``, ``http(s)://host``,   MLflow tracking URI (any ``scheme://``, and
``file:./mlruns``, ``postgresql://...``   ``file:``)
a ``.db`` / ``.sqlite`` file              MLflow sqlite store
a ``mlruns`` folder (``meta.yaml``)       MLflow file store
``journal.tlj`` or a folder holding it    tracelet run folder (its journal)
a ``.wandb`` file, a folder holding one   W&B run (``offline-run-*`` / ``run-*``), or a
or ``run-*`` folders, or a ``wandb/``     ``wandb/`` folder of runs (default: its
child holding them                        ``latest-run``)
a ``.zip`` or folder with ``task.json``   ClearML offline session, or a folder of
/ ``metrics.jsonl``; ``offline-*``        sessions (ClearML's ``offline/`` folder or its
children; an ``offline/`` child           cache dir; default: the newest session)
``events.out.tfevents*`` (a file, or      TensorBoard logdir (a file in a sub-folder
any below a folder)                       gets that sub-folder as key prefix)
a ``.csv`` / ``.parquet`` file            a metrics table (see below)
========================================  ===============================================

``#RUN`` at the end selects one run where a store holds several: an MLflow run id or
run name (``sqlite:///mlflow.db#3f2a...``), a W&B run id (``wandb#abc123``), a ClearML
task id (``offline#5c1e...``) or a TensorBoard sub-folder (``runs#train``). A path that
exists with its ``#`` is taken as it is. A folder that matches several kinds (a
project folder holding ``wandb/`` and TensorBoard ``runs/``) is refused with the list
of what it holds: name the store itself.

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

>>> tables = read_store("sqlite:///mlflow.db#baseline")  # doctest: +SKIP
>>> tables.metrics.groupby("key").size()  # doctest: +SKIP
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracelet.tables import (
    METRIC_COLUMNS,
    RunTables,
    artifacts_frame,
    params_frame,
    tags_frame,
)

if TYPE_CHECKING:
    import pandas as pd

MLFLOW = "mlflow"
WANDB = "wandb"
CLEARML = "clearml"
TENSORBOARD = "tensorboard"
JOURNAL = "journal"
TABLE = "table"

TABLE_SUFFIXES = (".csv", ".parquet")
SIBLING_TABLES = ("params", "tags")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
_TRIED = (
    "MLflow (URI, .db file, mlruns folder), tracelet run folder or journal.tlj, "
    "W&B run (.wandb file, run folder, wandb/ folder), ClearML offline session "
    "(folder, .zip, offline/ folder), TensorBoard logdir (events.out.tfevents*), "
    "metrics table (.csv, .parquet)"
)


@dataclass(frozen=True)
class Store:
    """A resolved location: which reader, what to pass it, and which run."""

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
    if _is_uri(target):
        return Store(MLFLOW, target, run)
    path = Path(target).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{target}: no such file or folder")
    kind = _file_kind(path) if path.is_file() else _folder_kind(path)
    if kind is None:
        what = "file" if path.is_file() else "folder"
        raise ValueError(f"{target}: not a store tracelet can read ({what}); tried {_TRIED}")
    return Store(kind, str(path), run)


def read_resolved(store: Store) -> RunTables:
    """Read a :class:`Store`; reader errors become one :class:`ValueError`."""
    from tracelet.backends import BackendNotInstalled, ensure_installed

    reader = _READERS[store.kind]
    if store.kind in (MLFLOW, WANDB, CLEARML, TENSORBOARD):
        ensure_installed(store.kind)
    try:
        return reader(store.target, store.run)
    except (FileNotFoundError, BackendNotInstalled):
        raise
    except (ValueError, LookupError) as exc:
        raise ValueError(f"cannot read {store} as {_LABELS[store.kind]}: {_one_line(exc)}") from exc
    except Exception as exc:
        raise ValueError(
            f"cannot read {store} as {_LABELS[store.kind]}: {type(exc).__name__}: {_one_line(exc)}"
        ) from exc


def delivered_store(
    run_dir: str | Path, backend: str, environ: Mapping[str, str] | None = None
) -> str:
    """Where a tracelet run delivered to ``backend``, as a :func:`read_store` location.

    Read from the run folder: ``run.json`` and ``delivery/<backend>.json`` (the tracker
    state the backend kept). ``environ`` is the environment the run had (default: this
    process's): W&B puts its run folder under ``$WANDB_DIR``, else the run's working
    directory. Raises :class:`ValueError` when the run cannot be read back from this
    machine (nothing delivered, or a ClearML task on a server).
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
    environ = os.environ if environ is None else environ
    location = None
    if backend == MLFLOW and state.get("tracking_uri") and state.get("run_id"):
        location = f"{state['tracking_uri']}#{state['run_id']}"
    elif backend == WANDB and state.get("wandb_run_id"):
        root = Path(
            state.get("wandb_root")
            or Path(spec.cwd, environ.get("WANDB_DIR") or ".", "wandb").resolve()
        )
        location = f"{root}#{state['wandb_run_id']}" if root.is_dir() else None
    elif backend == CLEARML and state.get("session"):
        location = str(state["session"])
    elif backend == TENSORBOARD and state.get("log_dir"):
        location = str(state["log_dir"])
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
def _is_uri(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return (bool(sep) and scheme.replace("+", "").isalnum()) or text.startswith("file:")


def _split_run(location: str) -> tuple[str, str | None]:
    if "#" not in location or (not _is_uri(location) and Path(location).exists()):
        return location, None
    target, _, run = location.rpartition("#")
    return target, run or None


def _file_kind(path: Path) -> str | None:
    name, suffix = path.name, path.suffix.lower()
    if suffix == ".tlj":
        return JOURNAL
    if suffix == ".wandb":
        return WANDB
    if suffix in TABLE_SUFFIXES:
        return TABLE
    if "tfevents" in name:
        return TENSORBOARD
    if suffix == ".zip":
        return CLEARML if _is_clearml_zip(path) else None
    if suffix in (".db", ".sqlite") or _head(path, len(_SQLITE_MAGIC)) == _SQLITE_MAGIC:
        return MLFLOW
    return None


def _folder_kind(path: Path) -> str | None:
    """A folder that *is* one store wins; else what it holds, if that is one kind only."""
    from tracelet.rundir import JOURNAL_FILE

    if (path / JOURNAL_FILE).is_file():
        return JOURNAL
    if any(path.glob("*.wandb")):
        return WANDB
    if (path / "task.json").is_file() or (path / "metrics.jsonl").is_file():
        return CLEARML
    if _is_mlruns(path):
        return MLFLOW
    found = [kind for kind, test in _CONTAINERS if test(path)]
    if len(found) > 1:
        raise ValueError(
            f"{path} holds several kinds of store ({', '.join(_LABELS[k] for k in found)}): "
            "name the store itself"
        )
    return found[0] if found else None


def _holds_wandb_runs(path: Path) -> bool:
    return any(path.glob("*run-*/run-*.wandb")) or any(path.glob("wandb/*run-*/run-*.wandb"))


def _holds_clearml_sessions(path: Path) -> bool:
    return any(_is_session(p) for p in path.glob("offline-*")) or any(
        _is_session(p) for p in path.glob("offline/offline-*")
    )


def _holds_event_files(path: Path) -> bool:
    return next(path.rglob("*tfevents*"), None) is not None


_CONTAINERS: tuple[tuple[str, Callable[[Path], bool]], ...] = (
    (WANDB, _holds_wandb_runs),
    (CLEARML, _holds_clearml_sessions),
    (TENSORBOARD, _holds_event_files),
)


def _is_session(path: Path) -> bool:
    if path.is_dir():
        return (path / "task.json").is_file() or (path / "metrics.jsonl").is_file()
    return path.suffix == ".zip" and _is_clearml_zip(path)


def _is_clearml_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names & {"task.json", "metrics.jsonl"})


def _is_mlruns(path: Path) -> bool:
    return path.name == "mlruns" or any(path.glob("[0-9]*/meta.yaml"))


def _head(path: Path, size: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- readers ---------------------------------------------------------------------------------
def _read_mlflow(target: str, run: str | None) -> RunTables:
    import os

    from tracelet.backends.mlflow import read_run

    if target.startswith("file:") or Path(target).is_dir():
        # MLflow 3 refuses its file store unless told otherwise; reading changes nothing.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if target.startswith(("http://", "https://")):
        # MLflow's defaults retry an unreachable server for about four minutes.
        for name, value in _MLFLOW_HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    return read_run(target, run)


def _read_wandb(target: str, run: str | None) -> RunTables:
    from tracelet.backends.wandb import read_run

    return read_run(target, run)


def _read_clearml(target: str, run: str | None) -> RunTables:
    from tracelet.backends.clearml import read_run

    return read_run(target, run)


def _read_tensorboard(target: str, run: str | None) -> RunTables:
    from tracelet.backends.tensorboard import read_run

    return read_run(target, run)


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


_READERS: dict[str, Callable[[str, str | None], RunTables]] = {
    MLFLOW: _read_mlflow,
    WANDB: _read_wandb,
    CLEARML: _read_clearml,
    TENSORBOARD: _read_tensorboard,
    JOURNAL: _read_journal,
    TABLE: _read_table,
}

_LABELS = {
    MLFLOW: "an MLflow store",
    WANDB: "a W&B run",
    CLEARML: "a ClearML offline session",
    TENSORBOARD: "a TensorBoard logdir",
    JOURNAL: "a tracelet journal",
    TABLE: "a metrics table",
}
