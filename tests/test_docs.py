"""The docs site builds with `mkdocs build --strict`, and its API reference shows every
public function and `Experiment` method with the example from its docstring."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import tracelet
from tracelet import log_steps

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_FUNCTIONS = [
    "start_logging",
    "stop_logging",
    "set_backend_options",
    "get_active_experiment",
    "log",
]
# An object's section of the reference page: from its heading to the next one.
SECTION = re.compile(r'<h\d id="(tracelet[\w.]*)"(.*?)(?=<h\d id="tracelet|\Z)', re.DOTALL)
EXAMPLE_CODE = re.compile(r"^\s*```python\n(.*?)^\s*```", re.DOTALL | re.MULTILINE)


def public_methods(cls: type) -> list[str]:
    return [name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"]


def documented_objects() -> dict[str, object]:
    objects = {f"tracelet.{name}": getattr(tracelet, name) for name in PUBLIC_FUNCTIONS}
    objects["tracelet.Experiment"] = tracelet.Experiment
    for name in ("Image", "Histogram", "Table"):
        objects[f"tracelet.{name}"] = getattr(tracelet, name)
    for name in public_methods(tracelet.Experiment):
        objects[f"tracelet.Experiment.{name}"] = getattr(tracelet.Experiment, name)
    objects["tracelet.log_steps"] = log_steps
    objects["tracelet.log_steps.WandbStyleLog"] = log_steps.WandbStyleLog
    for name in public_methods(log_steps.WandbStyleLog):
        objects[f"tracelet.log_steps.WandbStyleLog.{name}"] = getattr(log_steps.WandbStyleLog, name)
    return objects


def test_every_docstring_example_is_python() -> None:
    for path, obj in documented_objects().items():
        examples = EXAMPLE_CODE.findall(inspect.getdoc(obj) or "")
        assert examples, f"{path} has no ```python example in its docstring"
        for code in examples:
            ast.parse(inspect.cleandoc(code), filename=path)


def test_strict_build_lists_the_api_with_examples(tmp_path: Path) -> None:
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    page = (site / "reference" / "index.html").read_text()
    sections = dict(SECTION.findall(page))
    for path in documented_objects():
        assert path in sections, f"{path} is missing from the API reference"
        assert "<summary>Example</summary>" in sections[path], f"{path} shows no example"


def test_strict_build_fails_on_a_link_outside_docs(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("See [the code](../tracelet/experiment.py).\n")
    (tmp_path / "mkdocs.yml").write_text(
        (ROOT / "mkdocs.yml").read_text().split("\nplugins:")[0] + "\nnav:\n  - index.md\n"
    )
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    assert build.returncode == 1
    assert "'../tracelet/experiment.py'" in build.stderr
