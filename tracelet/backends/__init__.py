"""Tracker backends, imported only when a run uses them (the entries: :mod:`.registry`)."""

from __future__ import annotations

from types import ModuleType

from tracelet.backends.base import (
    Backend,
    BackendNotInstalled,
    BackendUnavailable,
    RefusedError,
    RunInfo,
)
from tracelet.backends.registry import TRACKERS, Tracker

BACKEND_NAMES = tuple(TRACKERS)


def normalize_backends(backend: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"mlflow"``, ``"mlflow,wandb"`` or ``["mlflow", "wandb"]`` -> a checked list."""
    names = backend.split(",") if isinstance(backend, str) else list(backend)
    names = [n.strip().lower() for n in names if n and n.strip()]
    if not names:
        raise ValueError(f"no backend given; choose from {', '.join(BACKEND_NAMES)}")
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        names_text = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown backend {names_text}; choose from {', '.join(BACKEND_NAMES)}")
    return list(dict.fromkeys(names))


def ensure_installed(name: str) -> None:
    """Raise :class:`BackendNotInstalled` naming the extra if the client library is missing."""
    TRACKERS[name].ensure_installed()


def backend_module(name: str) -> ModuleType:
    ensure_installed(name)
    return TRACKERS[name].module


def load_backend(name: str) -> type[Backend]:
    """The backend class for ``name``; imports the tracker."""
    return getattr(backend_module(name), TRACKERS[name].backend_class)


__all__ = [
    "BACKEND_NAMES",
    "TRACKERS",
    "Backend",
    "BackendNotInstalled",
    "BackendUnavailable",
    "RefusedError",
    "RunInfo",
    "Tracker",
    "ensure_installed",
    "load_backend",
    "normalize_backends",
]
