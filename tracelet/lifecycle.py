"""How a run ends when the program does not call ``stop_logging``.

* interpreter exit stops the active run (status FINISHED, or FAILED / KILLED when an
  uncaught exception or Ctrl-C ended the program);
* SIGTERM stops it as KILLED within a bounded time, then lets the signal kill the
  process as it would have;
* in a forked child (DataLoader workers) the parent's run is dropped: a child logs
  nothing and never touches the parent's journal;
* a fork waits (boundedly) for imports other threads are in the middle of: a child forked
  while a delivery thread imports a module finds that module's import lock held by a
  thread it does not have, and hangs at its first import of it (seen with
  ``delivery="thread"`` and DataLoader workers importing ``numpy.random``).

The hooks are installed once, by the first ``start_logging``; they look the active run
up when they fire, so a run started later is covered too.
"""

from __future__ import annotations

import atexit
import importlib._bootstrap
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracelet.experiment import Experiment

SIGTERM_STOP_SECONDS = 10.0
FORK_IMPORT_WAIT_SECONDS = 10.0

_active: Callable[[], Experiment | None] = lambda: None  # noqa: E731
_hooks_installed = False
_crash_status: str | None = None
_previous_excepthook = sys.excepthook


def install_exit_hooks(active: Callable[[], Experiment | None]) -> None:
    """Stop whatever run ``active()`` returns at exit, on a crash and on SIGTERM."""
    global _active, _hooks_installed, _previous_excepthook
    _active = active
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def on_fork_in_child(drop: Callable[[], None]) -> None:
    """Call ``drop`` in every forked child, before it runs any code of its own; a fork
    first waits for the imports other threads have in flight."""
    os.register_at_fork(before=wait_for_imports_in_flight, after_in_child=drop)


def wait_for_imports_in_flight() -> None:
    """Return once no other thread holds a module's import lock, or after
    ``FORK_IMPORT_WAIT_SECONDS``."""
    deadline = time.monotonic() + FORK_IMPORT_WAIT_SECONDS
    while _imports_in_other_threads() and time.monotonic() < deadline:
        time.sleep(0.001)


def _imports_in_other_threads() -> bool:
    me = threading.get_ident()
    for ref in list(importlib._bootstrap._module_locks.values()):
        lock = ref()
        if lock is not None and lock.count and lock.owner not in (None, me):
            return True
    return False


def _excepthook(exc_type, exc, tb) -> None:
    global _crash_status
    _crash_status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
    _previous_excepthook(exc_type, exc, tb)


def _at_exit() -> None:
    experiment = _active()
    if experiment is not None:
        experiment.stop(status=_crash_status or "FINISHED")


def _on_sigterm(signum, frame) -> None:
    experiment = _active()
    if experiment is not None:
        experiment.stop(status="KILLED", timeout=min(experiment.stop_timeout, SIGTERM_STOP_SECONDS))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
