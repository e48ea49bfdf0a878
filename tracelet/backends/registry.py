"""The trackers tracelet knows: one :class:`Tracker` entry each, and what their modules hold.

An entry names the tracker and where its module is; the module (imported on first use,
and importing no tracker library itself) holds everything about the tracker. The
readers, the validators and the codemods' file pre-filter loop over :data:`TRACKERS`
and ask each module, so none of them names a tracker. Adding a tracker is one module
and one entry here (see ``docs/adding-a-tracker.md``).

A tracker module provides (a missing optional name means "not supported"):

========================  ==========================================================
name                      what it is
========================  ==========================================================
``<Backend class>``       the :class:`~tracelet.backends.base.Backend` subclass
``read_run(target, run)`` the store read back into :class:`~tracelet.tables.RunTables`
``STORE_LABEL``           "an MLflow store": how errors name one of its stores
``STORE_HINT``            what :func:`~tracelet.readers.read_store` recognises, for errors
``claims_uri(text)``      True for a URI only this tracker reads
``claims_file(path)``     True for a file that is one of its stores
``is_store_folder(path)`` True for a folder that *is* one of its stores
``holds_stores(path)``    True for a folder that holds its stores (a container); the
                          four tests are optional: define the ones that apply
``delivered_location``    ``(state, options, cwd, environ)`` -> where a tracelet run
                          delivered to it (a read location), or None
``MENTION``               bytes regex: a source file that may call this tracker
                          (for a tracker ``tracelet migrate --from`` takes)
``ENCODINGS``             its lossy :class:`~tracelet.tables.Encoding` s (may be empty)
``SANDBOX``               optional :class:`SandboxLayout`: how a child process writes
                          to it offline, inside one folder
``REPLAY``                optional :class:`DirectReplay`: its own API's writer and
                          the rules for what it stores
========================  ==========================================================
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class SandboxLayout:
    """How a tracker used by a child process stays inside one sandbox folder.

    ``environ(root)`` gives the variables that send it there (offline); ``prepare(root)``
    creates what must exist first; ``store(root)`` is where a script using the tracker
    directly leaves its runs (a read location); ``local_stores(folder)`` the stores a
    script writes into its own folder (``(path, location)`` pairs), and ``outputs`` the
    file and folder names of such stores (not copied with a script).
    """

    prefixes: tuple[str, ...]
    environ: Callable[[Path], dict[str, str]]
    store: Callable[[Path], str]
    prepare: Callable[[Path], None] = lambda root: None
    local_stores: Callable[[Path], list[tuple[Path, str]]] = lambda folder: []
    outputs: frozenset[str] = field(default_factory=frozenset)


Row = tuple[str, int, float, float]
"""A recorded point as replay hands it to a writer: key, step, value, wall_time."""


@dataclass(frozen=True)
class ImposedRule:
    """Points a tracker stores differently from what it was given: which rule, why."""

    rule: str
    text: str
    mask: np.ndarray


@dataclass(frozen=True)
class DirectReplay:
    """What ``tracelet validate --replay`` needs from a tracker.

    ``write(rows, params, tags, project, name)`` logs a run with the tracker's own API the
    way its documentation recommends, in a sandboxed child process, and returns the names
    the tracker refused (``{"kind", "key", "message"}``). ``stored(values)`` is what the
    store keeps of metric values on either path, with the rules that changed some;
    ``direct(keys, steps)`` which points the direct writer's calls keep (a mask), with the
    rules that dropped the others. ``kept_name(kind, key)`` says how tracelet stores a
    name the tracker's API refused.
    """

    api: str
    write: Callable[..., list[dict[str, Any]]]
    stored: Callable[[np.ndarray], tuple[np.ndarray, list[ImposedRule]]] = lambda v: (v, [])
    direct: Callable[[list[str], list[int]], tuple[np.ndarray, list[ImposedRule]]] | None = None
    kept_name: Callable[[str, str], str] = lambda kind, key: "tracelet stores it as given"


@dataclass(frozen=True)
class Tracker:
    """One tracker: its names, its pip extra, and its module (imported on first use)."""

    name: str
    label: str
    module_name: str
    backend_class: str
    extra: str
    library: str

    @property
    def module(self) -> ModuleType:
        """The tracker's module (cheap: it imports the tracker library only when used)."""
        return importlib.import_module(self.module_name)

    def option(self, name: str, default: Any = None) -> Any:
        """An optional name of the tracker's module (see the module docstring)."""
        return getattr(self.module, name, default)

    def ensure_installed(self) -> None:
        """Raise :class:`~tracelet.backends.base.BackendNotInstalled` naming the extra."""
        from tracelet.backends.base import BackendNotInstalled

        if importlib.util.find_spec(self.library) is None:
            raise BackendNotInstalled(
                f"{self.library} is not installed: pip install 'tracelet[{self.extra}]'"
            )


TRACKERS: dict[str, Tracker] = {
    tracker.name: tracker
    for tracker in (
        Tracker(
            "mlflow", "MLflow", "tracelet.backends.mlflow", "MlflowBackend", "mlflow", "mlflow"
        ),
        Tracker("wandb", "W&B", "tracelet.backends.wandb", "WandbBackend", "wandb", "wandb"),
        Tracker(
            "clearml",
            "ClearML",
            "tracelet.backends.clearml",
            "ClearmlBackend",
            "clearml",
            "clearml",
        ),
        Tracker(
            "tensorboard",
            "TensorBoard",
            "tracelet.backends.tensorboard",
            "TensorboardBackend",
            "tensorboard",
            "tensorboard",
        ),
    )
}


def with_option(name: str) -> Iterator[Tracker]:
    """The trackers whose module provides the optional ``name``."""
    return (t for t in TRACKERS.values() if t.option(name) is not None)
