"""Which files ``tracelet migrate`` looks at, and the byte-level pre-filter.

Folders are walked for ``*.py`` files, skipping version-control folders, virtualenvs
(any folder holding a ``pyvenv.cfg``), caches and build output. ``--exclude`` globs are
matched against the path relative to the argument it was found under (``tests/*``,
``legacy/**``) and, without a ``/``, against each path component (``vendored``). Files
named explicitly are taken whatever their extension, unless excluded.

Only files whose bytes mention the source are parsed (parsing costs about a thousand
times more than the search): for a tracker, the ``MENTION`` pattern of its module in
:data:`tracelet.backends.registry.TRACKERS` (its name as a word, or an import of a
former name); for ``--from lightning``, ``\\blightning\\b`` or
``\\bpytorch_lightning\\b``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tracelet.backends.registry import TRACKERS

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "build", "dist",
    "site-packages", "node_modules", ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".ipynb_checkpoints", ".direnv",
})  # fmt: skip

LIGHTNING_PATTERN = re.compile(rb"\b(?:pytorch_)?lightning\b")


def mentions(source: str, data: bytes) -> bool:
    """True if ``data`` may use the ``source`` tracker (cheap, may over-match)."""
    return _pattern(source).search(data) is not None


def _pattern(source: str) -> re.Pattern[bytes]:
    tracker = TRACKERS.get(source)
    return LIGHTNING_PATTERN if tracker is None else tracker.module.MENTION


def discover(paths: Iterable[str | Path], exclude: Iterable[str] = ()) -> list[Path]:
    """Python files under ``paths``, sorted and without duplicates."""
    patterns = [p.rstrip("/") for p in exclude if p.strip()]
    found: dict[Path, None] = {}
    for raw in paths:
        base = Path(raw)
        if base.is_file():
            if not _excluded(base.as_posix(), patterns):
                found[base] = None
            continue
        for path in _walk(base):
            rel = path.relative_to(base).as_posix()
            if not _excluded(rel, patterns):
                found[path] = None
    return sorted(found)


def _walk(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and not os.path.exists(os.path.join(current, d, "pyvenv.cfg"))
        )
        for name in files:
            if name.endswith(".py"):
                yield Path(current, name)


def _excluded(rel: str, patterns: list[str]) -> bool:
    if not patterns:
        return False
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if "/" not in pattern and any(fnmatch.fnmatchcase(part, pattern) for part in parts):
            return True
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            return True
        if pattern.endswith("/**") and any(
            prefix == pattern[:-3] or fnmatch.fnmatchcase(prefix, pattern[:-3])
            for prefix in prefixes[:-1]
        ):
            return True
    return False
