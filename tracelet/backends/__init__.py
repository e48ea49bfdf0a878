"""Tracker backends, imported only when a run uses them."""

from __future__ import annotations

import importlib

from tracelet.backends.base import (
    Backend,
    BackendNotInstalled,
    BackendUnavailable,
    RefusedError,
    RunInfo,
)

# name -> (module, class, pip extra, client library module)
_REGISTRY: dict[str, tuple[str, str, str, str]] = {
    "mlflow": ("tracelet.backends.mlflow", "MlflowBackend", "mlflow", "mlflow"),
    "wandb": ("tracelet.backends.wandb", "WandbBackend", "wandb", "wandb"),
    "clearml": ("tracelet.backends.clearml", "ClearmlBackend", "clearml", "clearml"),
    "tensorboard": (
        "tracelet.backends.tensorboard",
        "TensorboardBackend",
        "tensorboard",
        "tensorboard",
    ),
}

BACKEND_NAMES = tuple(_REGISTRY)


def normalize_backends(backend: str | list[str] | tuple[str, ...]) -> list[str]:
    """``"mlflow"``, ``"mlflow,wandb"`` or ``["mlflow", "wandb"]`` -> a checked list."""
    names = backend.split(",") if isinstance(backend, str) else list(backend)
    names = [n.strip().lower() for n in names if n and n.strip()]
    if not names:
        raise ValueError(f"no backend given; choose from {', '.join(BACKEND_NAMES)}")
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        names_text = ", ".join(map(repr, unknown))
        raise ValueError(f"unknown backend {names_text}; choose from {', '.join(BACKEND_NAMES)}")
    return list(dict.fromkeys(names))


def ensure_installed(name: str) -> None:
    """Raise :class:`BackendNotInstalled` naming the extra if the client library is missing."""
    import importlib.util

    _, _, extra, library = _REGISTRY[name]
    if importlib.util.find_spec(library) is None:
        raise BackendNotInstalled(f"{library} is not installed: pip install 'tracelet[{extra}]'")


def backend_module(name: str):
    ensure_installed(name)
    module_name = _REGISTRY[name][0]
    return importlib.import_module(module_name)


def load_backend(name: str) -> type[Backend]:
    """The backend class for ``name``; imports the tracker."""
    return getattr(backend_module(name), _REGISTRY[name][1])


__all__ = [
    "BACKEND_NAMES",
    "Backend",
    "BackendNotInstalled",
    "BackendUnavailable",
    "RefusedError",
    "RunInfo",
    "ensure_installed",
    "load_backend",
    "normalize_backends",
]
