"""Where a run's code came from: the program, the user, and the git state.

Read once by ``start_logging`` in the training process with the ``git`` command itself
(no GitPython), and stored in the run's ``run.json`` as ``source``; each backend shows
it where its tracker does (MLflow ``mlflow.source.*`` tags, W&B run metadata, ClearML
script information).

The uncommitted diff (``git diff HEAD``: staged and unstaged changes to tracked files)
is saved in the run folder as ``git.diff`` when the tree is dirty, cut at
:data:`MAX_DIFF_BYTES`. Outside a git repository, or without ``git`` installed, one
quiet note goes to stderr and the run records no git state.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_DIFF_BYTES = 1 << 20
DIFF_FILE = "git.diff"
_GIT_TIMEOUT = 10.0


def strip_credentials(url: str) -> str:
    """``https://user:token@host/repo.git`` -> ``https://host/repo.git``.

    scp-like remotes (``git@host:repo.git``) name an ssh user, not a secret: kept.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _git(cwd: str, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        timeout=_GIT_TIMEOUT,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout.decode("utf-8", "replace").strip()


def read_git_state(cwd: str, diff_dir: Path | None = None) -> dict[str, Any] | None:
    """The git state of the repository holding ``cwd``, or None (with one note) when
    there is none. Keys: ``commit``, ``branch`` (``""`` on a detached HEAD), ``remote``
    (``origin``'s URL without credentials, ``""`` if no remote), ``dirty``, ``root``,
    and ``diff`` (the path of the saved diff) with ``diff_truncated`` when dirty and
    ``diff_dir`` is given."""
    try:
        root = _git(cwd, "rev-parse", "--show-toplevel")
        commit = _git(cwd, "rev-parse", "HEAD")
    except FileNotFoundError:
        _note("git is not installed; no git state recorded")
        return None
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        _note(f"{cwd} is not in a git repository with a commit; no git state recorded")
        return None
    state: dict[str, Any] = {"commit": commit, "root": root}
    state["branch"] = _optional(cwd, "symbolic-ref", "--short", "-q", "HEAD")
    state["remote"] = strip_credentials(_optional(cwd, "remote", "get-url", "origin"))
    state["dirty"] = bool(_optional(cwd, "status", "--porcelain", "--untracked-files=no"))
    if state["dirty"] and diff_dir is not None:
        state.update(_save_diff(root, Path(diff_dir)))
    return state


def _optional(cwd: str, *args: str) -> str:
    try:
        return _git(cwd, *args)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return ""


def _save_diff(root: str, diff_dir: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["git", "diff", "HEAD", "--no-color", "--no-ext-diff"],
        cwd=root,
        capture_output=True,
        timeout=_GIT_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    diff = result.stdout
    path = diff_dir / DIFF_FILE
    path.write_bytes(diff[:MAX_DIFF_BYTES])
    return {"diff": str(path), "diff_truncated": len(diff) > MAX_DIFF_BYTES}


def read_source(cwd: str, track_git: bool, diff_dir: Path | None = None) -> dict[str, Any]:
    """What ``run.json`` records as ``source``: ``program`` (the script's path, or the
    interpreter's command line), ``user`` and ``git`` (None when not tracked or absent)."""
    main = sys.modules.get("__main__")
    program = getattr(main, "__file__", None)
    return {
        "program": str(Path(program).resolve()) if program else " ".join(sys.argv) or "python",
        "user": _user(),
        "git": read_git_state(cwd, diff_dir) if track_git else None,
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def _note(message: str) -> None:
    print(f"tracelet: {message}", file=sys.stderr)
