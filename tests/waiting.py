"""Waiting on a condition instead of sleeping: tests must pass on a loaded machine."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 120) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail the
    test naming ``what`` when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def delivery_state(run_dir: str | Path, backend: str) -> dict[str, Any]:
    """The agent's ``delivery/<backend>.json`` of a run (empty before the agent wrote it)."""
    path = Path(run_dir) / "delivery" / f"{backend}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
