"""Run files: ``experiment.save(glob, base_path, policy)``, W&B's ``wandb.save``.

A saved file is stored with the run under its path relative to ``base_path``, the name
``wandb.save`` gives it among the run's files: a relative glob keeps its path from the
working directory (``"ckpt/*.pt"`` -> ``ckpt/a.pt``), an absolute one without
``base_path`` keeps one folder level (``/mnt/run/a.pt`` -> ``run/a.pt``). The glob is
expanded when ``save`` is called (files created later are not picked up), as W&B does.

The file is captured (copied into the run folder, under ``files/<name>``) according to
``policy``:

* ``"now"``: at the call;
* ``"live"`` (the default): at the call and again when the run stops, so the run keeps
  the file's last version, as W&B keeps the last upload of a live file (offline, the run
  folder links to the file, whose content at the end is what ``wandb sync`` uploads);
* ``"end"``: when the run stops.

A file deleted before the stop keeps its earlier capture (an ``"end"`` file then has none).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePath

from tracelet.events import FILE
from tracelet.tables import file_sha256

FILES_DIR = "files"
POLICIES = ("live", "now", "end")


class RunFiles:
    """The files saved with one run, captured into ``<run_dir>/files``."""

    def __init__(self, run_dir: Path | None, emit: Callable[[tuple], None]):
        self._root = run_dir / FILES_DIR if run_dir is not None else None
        self._emit = emit
        # name -> (source, policy) of the files captured again at stop
        self._at_stop: dict[str, tuple[Path, str]] = {}

    def save(
        self, glob_or_path: str | os.PathLike, base_path: str | os.PathLike | None, policy: str
    ) -> list[str]:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
        matches = matched_files(glob_or_path, base_path)
        for name, source in matches:
            if policy in ("now", "live"):
                self._capture(name, source, policy)
            if policy in ("live", "end"):
                self._at_stop[name] = (source, policy)
        return [name for name, _ in matches]

    def capture_at_stop(self) -> None:
        """Capture every ``"live"`` and ``"end"`` file once more (unless unchanged)."""
        for name, (source, policy) in self._at_stop.items():
            if source.is_file():
                self._capture(name, source, policy)
        self._at_stop.clear()

    def _capture(self, name: str, source: Path, policy: str) -> None:
        if self._root is None:
            return
        target = self._root / name
        if target.is_file() and file_sha256(target) == file_sha256(source):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        # copied aside and renamed, so the agent reading an earlier capture never sees
        # half a file
        partial = target.with_name(f".{target.name}.partial")
        shutil.copy2(source, partial)
        os.replace(partial, target)
        self._emit((FILE, name, str(target), policy))


def matched_files(
    glob_or_path: str | os.PathLike, base_path: str | os.PathLike | None = None
) -> list[tuple[str, Path]]:
    """``(name, file)`` for each file the glob matches now, named as ``wandb.save``
    names it (see the module docstring)."""
    pattern = PurePath(glob_or_path)
    absolute = PurePath(os.path.abspath(pattern))
    if base_path is not None:
        base = PurePath(os.path.abspath(base_path))
    elif not pattern.is_absolute():
        base = PurePath(os.path.abspath("."))
    else:
        base = absolute.parent.parent
    if not absolute.is_relative_to(base):
        raise ValueError(f"save: {glob_or_path} is not inside base_path {base_path}")
    found = []
    for match in sorted(glob.glob(str(absolute))):
        source = Path(match).absolute()
        if source.is_file():
            found.append((PurePath(*source.parts[len(base.parts) :]).as_posix(), source))
    return found
