"""`make demo` without a terminal (CI logs, `| tee`): the command and the run's address it
tells the user to copy come out whole on one line each, at any width."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))
from demo import ui_command  # noqa: E402

pytestmark = pytest.mark.slow  # the whole demo in a subprocess


def test_demo_prints_the_ui_command_on_one_line(tmp_path: Path) -> None:
    output = tmp_path / "a-folder-name-long-enough-to-push-the-command-past-80-columns"
    # 80 columns is also rich's width when no terminal is attached and COLUMNS is unset.
    env = {**os.environ, "COLUMNS": "80"}
    env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), env.get("PYTHONPATH", "")])
    demo = subprocess.run(  # stdout is a pipe: no terminal, as in CI
        [
            sys.executable,
            "-c",
            f"import demo, pathlib; demo.main(pathlib.Path({str(output)!r}), epochs=1)",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stderr
    command = ui_command(output / "mlflow.db")
    assert len(command) > 80
    assert f"  {command}\n" in demo.stdout
    page = (
        r"http://127\.0\.0\.1:5000/#/experiments/1/runs/[0-9a-f]{32}\?workflowType=machine_learning"
    )
    assert re.search(rf"^then browse {page}$", demo.stdout, re.MULTILINE)
    summary = next(line for line in demo.stdout.splitlines() if line.startswith("tracelet: "))
    store = re.escape(f"sqlite:///{output}/mlflow.db")
    run = r"\(experiment 'tracelet-demo', run [0-9a-f]{32}\)"
    assert re.fullmatch(rf"tracelet: mlflow: 17 points, complete -> {store} {run}", summary)
