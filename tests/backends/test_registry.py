"""The tracker registry: tracker knowledge lives in the tracker modules, nowhere else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tracelet.backends import BACKEND_NAMES, Backend, RefusedError, RunInfo, load_backend
from tracelet.backends.registry import TRACKERS

ROOT = Path(__file__).resolve().parents[2]
TRACKER_NEUTRAL = [
    ROOT / "tracelet" / "readers.py",
    ROOT / "tracelet" / "codemods" / "discovery.py",
    *sorted((ROOT / "tracelet" / "validators").glob("*.py")),
]
TRACKER_WORDS = re.compile(r"mlflow|wandb|clearml|tensorboard|MLFLOW_|WANDB_|CLEARML_", re.I)
# The routed replay writer uses torch's SummaryWriter: the API tracelet routes, not a tracker.
ALLOWED = {"from torch.utils.tensorboard import SummaryWriter"}


@pytest.mark.parametrize("path", TRACKER_NEUTRAL, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_tracker_neutral_modules_name_no_tracker(path: Path) -> None:
    hits = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TRACKER_WORDS.search(line) and line.strip() not in ALLOWED
    ]
    assert hits == []


def test_every_backend_has_an_entry_whose_module_holds_its_protocol() -> None:
    assert BACKEND_NAMES == tuple(TRACKERS) == ("mlflow", "wandb", "clearml", "tensorboard")
    for tracker in TRACKERS.values():
        module = tracker.module
        assert issubclass(load_backend(tracker.name), Backend)
        assert module.STORE_LABEL and module.STORE_HINT
        assert callable(module.read_run) and callable(module.delivered_location)
        assert any(hasattr(module, test) for test in ("claims_file", "is_store_folder"))


def test_importing_the_registry_and_tracker_modules_imports_no_tracker() -> None:
    code = (
        "import sys, tracelet.backends.registry as r\n"
        "[t.module for t in r.TRACKERS.values()]\n"
        "import tracelet.readers, tracelet.validators.compare, tracelet.codemods.discovery\n"
        "print(sorted(m for m in ('mlflow', 'wandb', 'clearml', 'tensorboard', 'torch')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


class _ScalarsOnly(Backend):
    name = "scalars-only"

    def open(self) -> None: ...
    def log_metrics(self, points) -> None: ...
    def log_params(self, params) -> None: ...
    def set_tags(self, tags) -> None: ...
    def log_artifact(self, name: str, path: str) -> None: ...
    def close(self, status: str) -> None: ...


def test_media_is_optional_and_refused_by_name_and_kind() -> None:
    backend = _ScalarsOnly(RunInfo("r", "e", "p", "/tmp", 0.0), {}, {})
    calls = {
        "image": lambda: backend.log_image("img", 0, 0.0, "x.png"),
        "histogram": lambda: backend.log_histogram("h", 0, 0.0, {}),
        "text": lambda: backend.log_text("t", 0, 0.0, "hi"),
    }
    for kind, call in calls.items():
        with pytest.raises(RefusedError, match=f"the scalars-only backend does not store {kind}s"):
            call()
