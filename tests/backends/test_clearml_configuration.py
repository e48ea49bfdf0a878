"""``experiment.log_configuration`` stores what ClearML's own ``connect_configuration`` stores.

A script calls ``Task.connect_configuration`` directly with a nested dict (the
configuration of allegroai/clearml's examples/reporting/hyper_parameters.py, tuple
included) and with a YAML file; tracelet logs the same two with ``log_configuration`` to
its ClearML backend. ClearML's own record of both offline sessions (``task.json``
configuration objects: name, type, description, text) is equal, and so are the reader's
rows. MLflow keeps the same configurations as artifact files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import tracelet
from tests.conftest import run_python
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs

CONFIG = """
config = {
    "list_of_dicts": [{"a": 1, "b": 2}, {"c": 3, "d": 4}],
    "nested_dicts": {"nested": {"key": "value", "extra": "value"}, "number": 42},
    "tuple": (1, 2, 3),
    "float": 2.2,
    "string": "additional string",
}
"""
YAML = "lr: 0.01\nlayers: [64, 32]\n"
ORIGINAL = f"""
{CONFIG}
from clearml import Task

task = Task.init(project_name="examples", task_name="configuration")
returned = task.connect_configuration(config, name="configuration dictionary")
assert returned == config
assert task.connect_configuration("model.yaml", name="model", description="layers") == "model.yaml"
task.close()
"""


def _configurations(session: Path) -> dict:
    return json.loads((session / "task.json").read_text())["configuration"]


@pytest.mark.slow
def test_configurations_are_stored_as_clearml_stores_them(isolated: Path) -> None:
    (isolated / "model.yaml").write_text(YAML)
    result = run_python(ORIGINAL, isolated)
    assert result.returncode == 0, result.stderr
    [original_session] = [p for p in (Path(os.environ["CLEARML_CACHE_DIR"]) / "offline").iterdir()
                          if p.is_dir()]  # fmt: skip
    namespace: dict = {}
    exec(CONFIG, namespace)
    config = namespace["config"]
    start = {"exp_name": "configuration", "project": "examples", "backend": "clearml"}
    with tracelet.start_logging(**start) as run:
        assert run.log_configuration("configuration dictionary", config) is config
        run.log_configuration("model", "model.yaml", description="layers")
    assert run.report.complete, run.report.summary()

    stored = _configurations(Path(run.urls["clearml"]))
    assert stored == _configurations(original_session)
    assert stored["model"] == {
        "name": "model", "type": "yaml", "description": "layers", "value": YAML
    }  # fmt: skip
    assert stored["configuration dictionary"]["type"] == "dictionary"
    assert "tuple = [1, 2, 3]" in stored["configuration dictionary"]["value"]
    original, migrated = read_store(str(original_session)), read_store(run.urls["clearml"])
    names = sorted(migrated.artifacts["name"])
    assert names == ["configuration:configuration dictionary", "configuration:model"]
    assert compare_runs(original, migrated).exit_code == 0


@pytest.mark.slow
def test_other_trackers_keep_the_configuration_as_a_file(isolated: Path) -> None:
    (isolated / "model.yaml").write_text(YAML)
    with tracelet.start_logging(exp_name="configuration", backend="mlflow") as run:
        run.log_configuration("data", {"splits": (0.8, 0.2), "seed": 1})
        run.log_configuration("model", Path("model.yaml"))
        with pytest.raises(FileNotFoundError, match=r"missing\.yaml is not a file"):
            run.log_configuration("missing", "missing.yaml")
    assert run.report.complete, run.report.summary()
    stored = read_store(run.urls["mlflow"])
    assert stored.tags[stored.tags["key"] == "tracelet.artifact_info"].empty
    names, paths = stored.artifacts["name"], stored.artifacts["path"]
    files = {name: Path(path) for name, path in zip(names, paths, strict=True)}
    assert sorted(files) == ["data.json", "model.yaml"]
    assert json.loads(files["data.json"].read_text()) == {"splits": [0.8, 0.2], "seed": 1}
    assert files["model.yaml"].read_text() == YAML
