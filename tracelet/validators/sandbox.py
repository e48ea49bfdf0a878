"""A sandbox for one child process: every tracker store, cache and temp folder in one folder.

``tracelet validate`` runs user scripts and replay writers in child processes. Each gets
its own :class:`Sandbox`, so nothing it logs reaches the user's real trackers and two
children never share a store::

    <root>/
      home/             HOME and XDG_CACHE_HOME/CONFIG_HOME/DATA_HOME under it
      tmp/              TMPDIR
      tracelet/         TRACELET_DIR (tracelet run folders); TRACELET_TRACK_SYSTEM=0
                        and TRACELET_TRACK_GIT=0 (system metrics and git state differ
                        from run to run and are not what a comparison is about)
      ...               each tracker's store, caches and configuration, offline: the
                        tracker module's ``SANDBOX`` layout (its variables and folders)
      stdout.log, stderr.log   what the child printed

The child's environment is the caller's minus every ``TRACELET_*`` variable and every
variable of a tracker's prefixes (so an API key or a tracking server of the user's never
applies), plus the variables above. Because ``HOME`` moves, anything a script expects
under ``~`` (a dataset cache) is not there: pass such paths as arguments.

Example:
    ```python
    box = Sandbox.create(tmp / "box")
    outcome = box.start([sys.executable, "train.py"], cwd=tmp).wait()
    read_store(box.store(tracker))
    ```
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracelet.backends.registry import TRACKERS, SandboxLayout, with_option
from tracelet.cache import CACHE_VARIABLE, cache_dir

KILL_GRACE = 15.0
"""Seconds a child gets after SIGTERM (tracelet's own stop waits up to 10 s) before SIGKILL."""
GROUP_EXIT_SECONDS = 30.0
"""Seconds to wait, after the child exits, for the rest of its process group."""
_FOLDERS = ("home", "tmp", "tracelet")


@dataclass(frozen=True)
class Outcome:
    """How a child process ended, and where its output is."""

    returncode: int | None
    timed_out: bool
    stdout: Path
    stderr: Path
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def last_error_line(self) -> str:
        """The last line the child wrote to stderr that says something (an exception)."""
        return _last_line(self.stderr) or _last_line(self.stdout)


class Child:
    """A started child process; :meth:`wait` ends it at its deadline."""

    def __init__(self, process: subprocess.Popen, sandbox: Sandbox, timeout: float | None):
        self.process = process
        self.sandbox = sandbox
        self.started = time.monotonic()
        self.deadline = None if timeout is None else self.started + timeout

    def wait(self) -> Outcome:
        timed_out = False
        try:
            left = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            self.process.wait(left)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill()
        self._wait_for_group()
        return Outcome(
            self.process.returncode,
            timed_out,
            self.sandbox.stdout,
            self.sandbox.stderr,
            time.monotonic() - self.started,
        )

    def _wait_for_group(self, timeout: float = GROUP_EXIT_SECONDS) -> None:
        """Wait for the rest of the child's process group: a tracker's service process
        (W&B's) may still be writing the run's last records after the child exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    def kill(self, grace: float = KILL_GRACE) -> None:
        """End the child's process group (it has its own, see :meth:`Sandbox.start`):
        SIGTERM first, so a tracelet run in it stops cleanly with its delivery agent,
        then SIGKILL after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class Sandbox:
    """One isolated folder for one child process (see the module docstring)."""

    root: Path

    @classmethod
    def create(cls, root: str | Path) -> Sandbox:
        """Create the folders (``root`` may exist) and return the sandbox."""
        root = Path(root).resolve()
        for name in _FOLDERS:
            (root / name).mkdir(parents=True, exist_ok=True)
        for layout in _layouts():
            layout.prepare(root)
        return cls(root)

    @property
    def tracelet_dir(self) -> Path:
        return self.root / "tracelet"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.log"

    def environ(self, base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
        """The child's environment: ``base`` (default ``os.environ``) without tracker
        variables, plus the sandbox's, plus ``extra``."""
        base = os.environ if base is None else base
        stripped = ("TRACELET_", *(prefix for layout in _layouts() for prefix in layout.prefixes))
        env = {k: v for k, v in base.items() if not k.startswith(stripped)}
        root = self.root
        env.update(
            {
                "HOME": str(root / "home"),
                "XDG_CACHE_HOME": str(root / "home" / ".cache"),
                "XDG_CONFIG_HOME": str(root / "home" / ".config"),
                "XDG_DATA_HOME": str(root / "home" / ".local" / "share"),
                "TMPDIR": str(root / "tmp"),
                "TRACELET_DIR": str(self.tracelet_dir),
                # tracelet's own cache (no run data) is shared: HOME moves, it does not
                CACHE_VARIABLE: str(cache_dir(base)),
                # a comparison is about logged data; system metrics and git state differ
                "TRACELET_TRACK_SYSTEM": "0",
                "TRACELET_TRACK_GIT": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for layout in _layouts():
            env.update(layout.environ(root))
        env.update(extra)
        return env

    def store(self, tracker: str) -> str:
        """Where ``tracker``, used directly by the child, stores its runs (a
        :func:`tracelet.readers.read_store` location)."""
        choices = sorted(t.name for t in with_option("SANDBOX"))
        if tracker not in choices:
            raise ValueError(f"no sandbox store for {tracker!r}; choose from {choices}")
        return TRACKERS[tracker].module.SANDBOX.store(self.root)

    def tracelet_run(self) -> Path:
        """The one tracelet run folder the child created (:class:`ValueError` otherwise)."""
        runs = sorted(p.parent for p in (self.tracelet_dir / "runs").glob("*/run.json"))
        if len(runs) != 1:
            found = "none" if not runs else f"{len(runs)}"
            raise ValueError(f"expected one tracelet run in {self.tracelet_dir}, found {found}")
        return runs[0]

    def delivered_store(self, backend: str) -> str:
        """Where the child's one tracelet run delivered to ``backend`` (a read location)."""
        from tracelet.readers import delivered_store

        return delivered_store(self.tracelet_run(), backend, self.environ())

    def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        """Start ``argv`` in its own process group with the sandbox environment
        (``env`` replaces it when given); output goes to ``stdout.log``/``stderr.log``."""
        with open(self.stdout, "ab") as out, open(self.stderr, "ab") as err:
            process = subprocess.Popen(
                list(argv),
                cwd=str(cwd),
                env=dict(self.environ() if env is None else env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        return Child(process, self, timeout)


def _last_line(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback (")), default=None)
    if start is not None:  # the exception line ends the last traceback's indented frames
        for line in lines[start + 1 :]:
            if not line.startswith(" "):
                return line.strip()
    # tracelet's own stop messages come after the error; they are not the error
    said = [line.strip() for line in lines if not line.startswith("tracelet: ")]
    return (said or lines or [""])[-1].strip()


def _layouts() -> list[SandboxLayout]:
    return [t.module.SANDBOX for t in with_option("SANDBOX")]
