"""The ``track_system`` / ``track_git`` / ``track_console`` switches: which backend
records what.

Each switch is taken, first found, from the ``start_logging`` argument, the same key
in ``config`` (as the migration guide writes it; the key is then not a param), the
environment (``$TRACELET_TRACK_SYSTEM``, ``$TRACELET_TRACK_GIT``,
``$TRACELET_TRACK_CONSOLE``: ``1/true/yes/on`` or ``0/false/no/off``), else each
backend's own default, which is what that tracker's users get without tracelet
(``Backend.tracks_system_by_default`` / ``tracks_git_by_default`` /
``tracks_console_by_default``).
``$TRACELET_SYSTEM_INTERVAL`` sets the sampling interval (seconds, default 10).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

SWITCHES = ("track_system", "track_git", "track_console")
DEFAULT_SYSTEM_INTERVAL = 10.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def pop_switches(config: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``config`` into (params to log, switches found in it)."""
    params = dict(config or {})
    found = {name: params.pop(name) for name in SWITCHES if name in params}
    return params, found


def resolve(name: str, argument: bool | None, from_config: Mapping[str, Any]) -> bool | None:
    """The user's choice for switch ``name``, or None to use each backend's default."""
    if argument is not None:
        return bool(argument)
    if name in from_config:
        return _as_bool(name, from_config[name])
    raw = os.environ.get(f"TRACELET_{name.upper()}")
    return None if raw is None else _as_bool(f"$TRACELET_{name.upper()}", raw)


def system_interval(argument: float | None) -> float:
    value = argument if argument is not None else os.environ.get("TRACELET_SYSTEM_INTERVAL")
    interval = DEFAULT_SYSTEM_INTERVAL if value in (None, "") else float(value)
    if interval <= 0:
        raise ValueError(f"system_interval must be positive, got {interval}")
    return interval


def enable_system_metrics() -> None:
    """System metrics for every run started later in this process, whatever the backend
    (``$TRACELET_TRACK_SYSTEM=1``): what ``mlflow.enable_system_metrics_logging()``
    becomes when a script is migrated.

    Example:
        ```python
        import tracelet

        tracelet.tracking.enable_system_metrics()
        ```
    """
    os.environ["TRACELET_TRACK_SYSTEM"] = "1"


def _as_bool(what: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{what} must be true or false, got {value!r}")
