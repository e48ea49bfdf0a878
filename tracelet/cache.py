"""tracelet's cache folder: files tracelet makes once and reuses (never run data)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CACHE_VARIABLE = "TRACELET_CACHE_DIR"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$TRACELET_CACHE_DIR``, else ``$XDG_CACHE_HOME/tracelet``, else
    ``~/.cache/tracelet`` (it may not exist yet), in ``environ`` (default: ours)."""
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE])
    home = environ.get("HOME") or str(Path.home())
    return Path(environ.get("XDG_CACHE_HOME") or Path(home, ".cache")) / "tracelet"
