"""A fork while another thread is importing a module: the child must not hang.

The child gets a copy of the module's import lock, held by a thread that does not exist
in the child; its first import of that module would wait forever. tracelet's fork hook
waits for the import to finish first (tracelet/lifecycle.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_python

SCRIPT = """
import os, sys, threading, time
import tracelet  # installs the fork hooks

started, release = threading.Event(), threading.Event()
sys._fork_test_events = (started, release)
sys.path.insert(0, os.getcwd())
with open("slow_module.py", "w") as f:
    f.write("import sys\\nstarted, release = sys._fork_test_events\\n"
            "started.set()\\nrelease.wait()\\nVALUE = 1\\n")

importer = threading.Thread(target=lambda: __import__("slow_module"))
importer.start()
started.wait()
threading.Timer(0.3, release.set).start()
pid = os.fork()
if pid == 0:
    import slow_module
    os._exit(0 if slow_module.VALUE == 1 else 3)
deadline = time.monotonic() + CHILD_SECONDS
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child exit", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child hung")
importer.join()
"""


def test_a_fork_during_another_threads_import_does_not_hang_the_child(isolated: Path):
    result = run_python(SCRIPT.replace("CHILD_SECONDS", "60"), isolated)
    assert result.stdout.strip() == "child exit 0", result.stdout + result.stderr


@pytest.mark.slow
def test_the_wait_is_bounded_when_the_import_never_ends(isolated: Path):
    code = (
        SCRIPT.replace("threading.Timer(0.3, release.set).start()", "")
        .replace(
            "import tracelet  # installs the fork hooks",
            "import tracelet\nfrom tracelet import lifecycle\n"
            "lifecycle.FORK_IMPORT_WAIT_SECONDS = 0.5",
        )
        .replace("CHILD_SECONDS", "5")
        .replace("importer.join()", "release.set(); importer.join()")
    )
    result = run_python(code, isolated)
    # Without the wait the child hangs on the lock, as it would with no hook at all:
    # this is the failure the first test guards against.
    assert result.stdout.strip() == "child hung", result.stdout + result.stderr
