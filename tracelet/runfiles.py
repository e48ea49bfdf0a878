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

The capture folder is also the run's own files folder, ``experiment.dir`` (W&B's
``run.dir``): whatever the program writes into it is kept when the run stops, every file
under it (recursively) named by its path in the folder, as W&B uploads the files of
``run.dir`` at the end of the run. Those files are sent with the policy ``"dir"``: W&B's
backend puts them in its run's folder as a program writing into ``run.dir`` does; the
other trackers store them as ``"end"`` files. A file the program also saved is sent once.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePath

from tracelet.events import FILE
from tracelet.tables import file_sha256

FILES_DIR = "files"
POLICIES = ("live", "now", "end")
DIR_POLICY = "dir"  # a file the program wrote into experiment.dir


class RunFiles:
    """The files saved with one run, captured into ``<run_dir>/files``."""

    def __init__(self, run_dir: Path | None, emit: Callable[[tuple], None]):
        self._root = run_dir / FILES_DIR if run_dir is not None else None
        self._emit = emit
        # name -> (source, policy) of the files captured again at stop
        self._at_stop: dict[str, tuple[Path, str]] = {}
        self._sent: dict[str, str] = {}  # name -> sha256 of the capture last sent
        self._folder: Path | None = None

    def folder(self) -> Path:
        """The run's files folder (``experiment.dir``), created now; a run that delivers
        nothing (a non-zero rank) gets a temporary folder, kept by no tracker."""
        if self._folder is None:
            if self._root is None:
                self._folder = Path(tempfile.mkdtemp(prefix="tracelet-dir-"))
            else:
                self._root.mkdir(parents=True, exist_ok=True)
                self._folder = self._root
        return self._folder

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
        """Capture every ``"live"`` and ``"end"`` file once more (unless unchanged), then
        every file written into :meth:`folder` not sent as it is."""
        for name, (source, policy) in self._at_stop.items():
            if source.is_file():
                self._capture(name, source, policy)
        self._at_stop.clear()
        if self._folder is not None and self._root is not None:
            for name, source in matched_files(self._root / "**", self._root, recursive=True):
                self._capture(name, source, DIR_POLICY)

    def _capture(self, name: str, source: Path, policy: str) -> None:
        if self._root is None:
            return
        digest = file_sha256(source)
        if self._sent.get(name) == digest:
            return
        target = self._root / name
        if target != source:  # else a file written into the folder: it is the capture
            target.parent.mkdir(parents=True, exist_ok=True)
            # copied aside and renamed, so the agent reading an earlier capture never
            # sees half a file
            partial = target.with_name(f".{target.name}.partial")
            shutil.copy2(source, partial)
            os.replace(partial, target)
        self._sent[name] = digest
        self._emit((FILE, name, str(target), policy))


def matched_files(
    glob_or_path: str | os.PathLike,
    base_path: str | os.PathLike | None = None,
    recursive: bool = False,
) -> list[tuple[str, Path]]:
    """``(name, file)`` for each file the glob matches now, named as ``wandb.save``
    names it (see the module docstring); ``recursive``: ``**`` spans folders."""
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
    for match in sorted(glob.glob(str(absolute), recursive=recursive)):
        source = Path(match).absolute()
        if source.is_file():
            found.append((PurePath(*source.parts[len(base.parts) :]).as_posix(), source))
    return found
