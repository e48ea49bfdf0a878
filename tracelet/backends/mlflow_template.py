"""New MLflow sqlite stores as copies of one MLflow made, kept per MLflow schema.

MLflow creates a sqlite store in about seventy schema migrations: with ``import
mlflow``, 3 to 5 s of CPU on a 2-core machine, paid by the first run of every new store
(and, right after ``start_logging``, next to the training loop). The first store
tracelet has MLflow create for a schema is kept, before anything is logged to it, in
tracelet's cache folder; every later new store is a copy of it, with the two values
MLflow writes per store set as MLflow sets them: the default experiment's artifact
folder and its creation time. Everything else in a new store is the same for every
store (the tables, the schema revision, the default workspace).

The template is named after the installed MLflow's version and its migration scripts,
so another MLflow never gets it. ``TRACELET_MLFLOW_STORE_TEMPLATE=0`` has MLflow create
every store itself. The template is in :func:`tracelet.cache.cache_dir`; a folder that
cannot be written only means no template.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
import time
from pathlib import Path

from tracelet.cache import cache_dir

SWITCH_VARIABLE = "TRACELET_MLFLOW_STORE_TEMPLATE"
DEFAULT_EXPERIMENT = "0"


def template_path() -> Path | None:
    """The template for the installed MLflow (found without importing it), or None."""
    if os.environ.get(SWITCH_VARIABLE, "1") == "0":
        return None
    spec = importlib.util.find_spec("mlflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    migrations = Path(next(iter(spec.submodule_search_locations)), "store/db_migrations/versions")
    scripts = sorted(p.name for p in migrations.glob("*.py"))
    if not scripts:
        return None
    version = _mlflow_version()
    digest = hashlib.sha256("\n".join([version, *scripts]).encode()).hexdigest()[:12]
    return cache_dir() / f"mlflow-{version}-{digest}-store.db"


def copy_into(db_path: Path) -> bool:
    """Create the store ``db_path`` as a copy of the template; False when there is no
    template, or when ``db_path`` exists already (even empty: another process may be
    creating it, and MLflow's own creation waits for that). The file appears whole or
    not at all."""
    template = template_path()
    if template is None or not template.is_file() or db_path.exists():
        return False
    partial = db_path.with_name(f".{db_path.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(template, partial)
        now = int(time.time() * 1000)
        with contextlib.closing(sqlite3.connect(partial)) as connection, connection:
            connection.execute(
                "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
                "last_update_time = ? WHERE experiment_id = ?",
                (_default_artifact_location(db_path), now, now, int(DEFAULT_EXPERIMENT)),
            )
        os.link(partial, db_path)  # fails if the file has appeared meanwhile
    except (OSError, sqlite3.Error):
        return False
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return True


def save(db_path: Path) -> None:
    """Keep ``db_path``, a store MLflow has just created, as the template, provided
    nothing is in it yet but what MLflow puts in every new store."""
    template = template_path()
    if template is None or template.is_file() or not _pristine(db_path):
        return
    partial = template.with_name(f".{template.name}.{os.getpid()}.partial")
    with contextlib.suppress(OSError, sqlite3.Error):
        template.parent.mkdir(parents=True, exist_ok=True)
        with (
            contextlib.closing(sqlite3.connect(db_path)) as source,
            contextlib.closing(sqlite3.connect(partial)) as target,
        ):
            source.backup(target)
        os.replace(partial, template)
    with contextlib.suppress(OSError):
        partial.unlink()


def _pristine(db_path: Path) -> bool:
    """One experiment (the default one, where the store creation put its folder) and
    no run: the store as MLflow creates it."""
    try:
        with contextlib.closing(sqlite3.connect(db_path)) as connection:
            experiments = connection.execute(
                "SELECT experiment_id, artifact_location FROM experiments"
            ).fetchall()
            runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    except sqlite3.Error:
        return False
    expected = [(int(DEFAULT_EXPERIMENT), _default_artifact_location(db_path))]
    return runs == 0 and experiments == expected


def _default_artifact_location(db_path: Path) -> str:
    """What MLflow stores for the default experiment of a store created with the
    artifact root tracelet gives it (``mlruns`` beside the database)."""
    return str(db_path.parent / "mlruns" / DEFAULT_EXPERIMENT)


def _mlflow_version() -> str:
    for distribution in ("mlflow", "mlflow-skinny"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(distribution)
    return "unknown"
