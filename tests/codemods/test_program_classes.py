"""A W&B run handed to a class of another module of the program and used as
``self.<field>.log(...)`` there: both modules are migrated, or neither.

The shape is huggingface/transformers-research-projects' jax-projects/big_bird:
``train.py`` passes what ``wandb.init`` returned to ``Trainer(..., logger=logger)``, a
``@dataclass`` of ``bigbird_flax.py`` whose field is annotated ``logger: wandb`` and whose
train loop calls ``self.logger.log(logging_dict, commit=True)``.
``tests/fixtures/programs/wandb_run_on_a_dataclass_of_another_module`` holds the real files
(before / after / report); ``tests/fixtures/program_e2e/big_bird`` a runnable reduction of
them (numpy stand-ins for jax, the W&B code verbatim), run before and after the migration.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import start_script, tracelet_run, wait
from tracelet.cli import main
from tracelet.codemods import runner
from tracelet.codemods.report import LEFT
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

WANDB = runner.Options("wandb", ["wandb"])
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "programs" / "wandb_run_on_a_dataclass_of_another_module"
REDUCTION = FIXTURES / "program_e2e" / "big_bird"

TRAIN = """\
import wandb
from trainer import Trainer

run = wandb.init(project="p")
trainer = Trainer({passed})
trainer.train(){extra}
"""
DATACLASS = """\
from dataclasses import dataclass

import wandb


@dataclass
class Trainer:
    epochs: int
    logger: wandb

    def train(self):
        for epoch in range(self.epochs):
            self.logger.log({"epoch": epoch}, commit=True)
"""
INIT = """\
class Trainer:
    def __init__(self, epochs, logger=None):
        self.epochs = epochs
        self.run = logger

    def train(self):
        if self.run is not None:
            self.run.log({"epochs": self.epochs})
"""


def program(root: Path, trainer: str, passed: str = "3, logger=run", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "trainer.py").write_text(trainer)
    (root / "train.py").write_text(TRAIN.format(passed=passed, extra=extra))
    return root


def migrated(root: Path) -> tuple[dict[str, str], dict[str, object]]:
    outcome = runner.migrate([root], WANDB, jobs=1)
    changed = {c.path.name: c.new.decode() for c in outcome.changes}
    return changed, {Path(f.path).name: f for f in outcome.report.files}


def test_the_real_files_migrate_as_the_fixture_shows(tmp_path: Path) -> None:
    root = tmp_path / "big_bird"
    shutil.copytree(FIXTURE / "before", root)
    outcome = runner.migrate([root], WANDB, jobs=1)
    changed = {c.path.name: c.new.decode() for c in outcome.changes}
    assert sorted(changed) == ["bigbird_flax.py", "train.py"]
    for name, new in changed.items():
        assert new == (FIXTURE / "after" / name).read_text(), name
    lines = [
        f"{Path(f.path).name}:{entry.short()}" for f in outcome.report.files for entry in f.entries
    ]
    assert lines == (FIXTURE / "report.txt").read_text().splitlines()
    for change in outcome.changes:
        change.path.write_bytes(change.new)
    assert runner.migrate([root], WANDB, jobs=1).changes == []  # idempotent


def test_a_run_given_to_a_dataclass_field_is_followed_into_its_methods(tmp_path: Path) -> None:
    changed, files = migrated(program(tmp_path, DATACLASS))
    assert '            tracelet.log({"epoch": epoch}, commit=True)\n' in changed["trainer.py"]
    assert "    logger: tracelet.Experiment\n" in changed["trainer.py"]
    assert "import wandb" not in changed["trainer.py"]  # the annotation needed it, nothing else
    assert "Trainer(3, logger=run)" in changed["train.py"]
    assert not any(f.held for f in files.values())


def test_a_run_given_positionally_to_an_init_stored_on_self_is_followed(tmp_path: Path) -> None:
    changed, files = migrated(program(tmp_path, INIT, passed="3, run"))
    assert '            tracelet.log({"epochs": self.epochs})\n' in changed["trainer.py"]
    assert "tracelet.start_logging(" in changed["train.py"]
    assert not any(f.held for f in files.values())


def test_the_field_read_on_the_object_elsewhere_keeps_both_modules(tmp_path: Path) -> None:
    """``trainer.logger.watch(m)`` in train.py reaches the field from outside the class:
    the run is not followed: train.py's ``Trainer(logger=run)`` is left, which keeps its
    run on W&B, and the Trainer's calls stay W&B calls."""
    root = program(tmp_path, DATACLASS, extra="\ntrainer.logger.watch(None)")
    changed, files = migrated(root)
    assert [e.rule for e in files["train.py"].entries if e.action == LEFT] == ["TL001"]
    assert files["train.py"].held
    assert sorted(changed) == ["train.py"]  # its TODO comment only


@pytest.mark.parametrize(
    "trainer",
    [
        DATACLASS.replace("@dataclass\n", "@dataclass\n@functools.total_ordering\n"),
        DATACLASS.replace("@dataclass\n", "@dataclass(init=False)\n"),
        DATACLASS.replace("class Trainer:", "class Trainer(Base):"),
        DATACLASS.replace("@dataclass\n", ""),
        DATACLASS + "\n\nDEFAULT = Trainer(1, None)\n",
    ],
    ids=["other-decorator", "init-false", "inherited-fields", "plain-class", "called-there"],
)
def test_a_class_whose_call_may_bind_otherwise_is_not_followed(
    tmp_path: Path, trainer: str
) -> None:
    changed, files = migrated(program(tmp_path, trainer))
    assert files["train.py"].held
    assert "self.logger.log(" in changed.get("trainer.py", trainer)
    assert "tracelet" not in changed.get("trainer.py", "")


@pytest.mark.slow
def test_the_migrated_big_bird_reduction_logs_the_same_run(tmp_path: Path) -> None:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        shutil.copytree(REDUCTION, folder)
    report_path = tmp_path / "migration.json"
    argv = ["migrate", str(folders["migrated"]), "--from", "wandb", "--write", "--no-progress"]
    assert main([*argv, "--report", str(report_path)]) == 0
    totals = json.loads(report_path.read_text())["totals"]
    assert totals["files_written"] == 2
    assert totals["sites_left"] == totals["sites_held"] == 0
    trainer = (folders["migrated"] / "bigbird_flax.py").read_text()
    assert "tracelet.log(logging_dict, commit=True)" in trainer
    assert "    logger: tracelet.Experiment\n" in trainer and "import wandb" not in trainer
    started = {
        side: start_script(folder, "train.py", tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/train.py")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(str(Path(envs["original"]["WANDB_DIR"]) / "wandb"))
    migrated_run = read_store(
        delivered_store(tracelet_run(envs["migrated"]), "wandb", envs["migrated"])
    )
    rows = original.metrics[original.metrics["key"] == "step"]
    assert rows[["step", "value"]].to_records(index=False).tolist() == [
        (row, 4.0 * (row + 1)) for row in range(9)
    ]  # one row per logging step, the W&B step counting rows, "step" a column of its own
    params = dict(zip(original.params["key"], original.params["value"], strict=True))
    assert params["batch_size"] == "2" and params["warmup_steps"] == "6"
    comparison = compare_runs(original, migrated_run, store_rows=True)
    assert comparison.exit_code == 0, comparison
