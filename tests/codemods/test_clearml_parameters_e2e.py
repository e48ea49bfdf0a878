"""``task.get_parameters()`` migrated: the migrated program reads back the dict ClearML
returns to the original, and its ClearML store holds the same hyperparameters.

The reduction (``tests/fixtures/vocabulary_e2e/clearml_get_parameters.py``, from
allegroai/clearml examples/reporting/hyper_parameters.py) runs as it is in ClearML
offline mode and, migrated, through tracelet to the ClearML backend offline.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import start_script, tracelet_run
from tests.codemods.test_vocabulary_e2e import SCRIPTS, assert_same_tables, original_location
from tracelet.cli import main
from tracelet.readers import delivered_store, read_store

SCRIPT = "clearml_get_parameters.py"
PRINTED = "Task parameters are: "


def _printed_parameters(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith(PRINTED)]
    assert len(lines) == 1, stdout
    return lines[0][len(PRINTED) :]


def _hyperparams(tables) -> dict:
    """ClearML's own task.json: ``{section: {name: (value, type)}}`` (descriptions
    aside: ClearML's argparse capture keeps the arguments' help texts)."""
    session = Path(tables.source)
    session = session if session.is_dir() else session.with_suffix("")
    task = json.loads((session / "task.json").read_text())
    return {
        section: {name: (item["value"], item.get("type")) for name, item in params.items()}
        for section, params in task["hyperparams"].items()
    }


@pytest.mark.slow
def test_get_parameters_returns_what_clearml_returns(tmp_path: Path) -> None:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        shutil.copy2(SCRIPTS / SCRIPT, folder / SCRIPT)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"] / SCRIPT), "--from", "clearml", "--write"]
    assert main([*argv, "--report", str(report_path), "--no-progress"]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert totals["sites_left"] == totals["sites_held"] == 0
    source = (folders["migrated"] / SCRIPT).read_text()
    assert "task_params = task.get_parameters()" in source and "Task.init(" not in source

    started = {
        side: start_script(folder, SCRIPT, tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    printed = {}
    for side, (process, _) in started.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{side}:\n{stdout}\n{stderr}"
        printed[side] = _printed_parameters(stdout)
    assert printed["migrated"] == printed["original"]  # same keys, values and order
    returned = ast.literal_eval(printed["original"])
    assert returned["General/IntEnumParam"] == "A" and returned["General/float"] == "9.9"
    assert returned["General/new_param"] == "this is new"
    assert returned["properties/custom2"] == "True" and returned["Args/argparser_int_value"] == "1"

    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(original_location("clearml", folders["original"], envs["original"]))
    migrated = read_store(
        delivered_store(tracelet_run(envs["migrated"]), "clearml", envs["migrated"])
    )
    assert_same_tables(original, migrated)
    hyperparams = _hyperparams(original)
    assert hyperparams["General"]["tuple"] == ("[1, 2, 3]", "tuple/int")
    assert hyperparams["General"]["StringEnumParam"] == ("C", "IntEnumClass")
    assert _hyperparams(migrated) == hyperparams
