"""The watchdog that stands in for wall-clock timeouts in tests that run scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_python

pytestmark = pytest.mark.slow


def test_a_script_that_makes_no_progress_is_killed(isolated: Path):
    with pytest.raises(AssertionError, match="no progress for 2 s"):
        run_python("import time\ntime.sleep(600)\n", isolated, stall=2)


def test_a_script_that_keeps_working_runs_past_the_stall_limit(isolated: Path):
    code = "import time\nend = time.monotonic() + 12\nwhile time.monotonic() < end:\n    pass\n"
    assert run_python(code, isolated, stall=2).returncode == 0
