"""Where a run's local files live, and the small JSON files the two processes share.

Every run gets its own folder (documented in ``docs/runtime.md``)::

    $TRACELET_DIR (default ./.tracelet)/runs/<YYYYmmdd-HHMMSS>-<exp_name>-<id8>/
        run.json                 what the run is: names, backends and their options
        journal.tlj              append-only event journal (tracelet.journal)
        media/                   PNG files referenced by image events
        console.jsonl            what the training process printed (track_console)
        delivery/<backend>.json  per backend: journal offset delivered, tracker state, errors
        agent.log                the delivery agent's log

``run.json`` is written once by the training process; each ``delivery/<backend>.json``
is written only by the process delivering to that backend (atomically, by rename).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RUN_FILE = "run.json"
JOURNAL_FILE = "journal.tlj"
MEDIA_DIR = "media"
CONSOLE_FILE = "console.jsonl"
DELIVERY_DIR = "delivery"
AGENT_LOG = "agent.log"


def tracelet_home() -> Path:
    """The root folder for run folders: ``$TRACELET_DIR`` or ``./.tracelet``."""
    return Path(os.environ.get("TRACELET_DIR") or ".tracelet").resolve()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


@dataclass
class RunSpec:
    """The content of ``run.json``."""

    run_id: str
    exp_name: str
    project: str
    backends: list[str]
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: float = 0.0
    pid: int = 0
    cwd: str = ""
    # program, user and git state (tracelet.gitstate.read_source)
    source: dict[str, Any] = field(default_factory=dict)
    # per backend: {"system": bool, "git": bool} (tracelet.tracking)
    tracking: dict[str, dict[str, bool]] = field(default_factory=dict)
    system_interval: float = 10.0

    @classmethod
    def new(
        cls,
        exp_name: str,
        project: str,
        backends: list[str],
        backend_options: dict[str, dict[str, Any]],
    ) -> RunSpec:
        return cls(
            run_id=uuid.uuid4().hex,
            exp_name=exp_name,
            project=project,
            backends=backends,
            backend_options=backend_options,
            created=time.time(),
            pid=os.getpid(),
            cwd=os.getcwd(),
        )


def create_run_dir(spec: RunSpec, root: Path | None = None) -> Path:
    root = root or tracelet_home()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(spec.created))
    run_dir = root / "runs" / f"{stamp}-{_slug(spec.exp_name)}-{spec.run_id[:8]}"
    (run_dir / MEDIA_DIR).mkdir(parents=True)
    (run_dir / DELIVERY_DIR).mkdir()
    write_spec(run_dir, spec)
    return run_dir


def write_spec(run_dir: Path, spec: RunSpec) -> None:
    write_json(Path(run_dir) / RUN_FILE, asdict(spec))


def read_spec(run_dir: Path) -> RunSpec:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a tracelet run folder (no {RUN_FILE})")
    return RunSpec(**json.loads(path.read_text()))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, allow_nan=True))
        os.replace(tmp, path)
    except OSError:  # disk full, say: leave the previous version and no stray file
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default


def delivery_file(run_dir: Path, backend: str) -> Path:
    return Path(run_dir) / DELIVERY_DIR / f"{backend}.json"
