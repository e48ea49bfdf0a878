"""Whole-program decisions (``tracelet.codemods.program``): a run started in one module and
logged to in another is migrated in both modules or in neither.

The two-module program is timm's shape (huggingface/pytorch-image-models): ``train.py``
calls ``wandb.init`` and ``timm/utils/summary.py`` calls ``wandb.log`` from
``update_summary``, reached through ``from timm import utils`` and the package's
``from .summary import *``. The slow tests run the original and the migrated program
(W&B offline; MLflow's default sqlite store) and compare what the stores read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.codemods.test_examples_e2e import start_script, tracelet_run, wait
from tracelet.cli import main
from tracelet.codemods import program, runner
from tracelet.codemods.report import HELD, LEFT, REWRITTEN
from tracelet.readers import delivered_store, read_store
from tracelet.validators.compare import compare_runs

WANDB = runner.Options("wandb", ["wandb"])

SUMMARY = """\
import csv
from collections import OrderedDict

try:
    import wandb
except ImportError:
    wandb = None


def update_summary(epoch, train_metrics, eval_metrics, filename, log_wandb=False):
    rowd = OrderedDict(epoch=epoch)
    rowd.update([("train_" + k, v) for k, v in train_metrics.items()])
    rowd.update([("eval_" + k, v) for k, v in eval_metrics.items()])
    if log_wandb:
        wandb.log(rowd)
    with open(filename, mode="a") as cf:
        csv.DictWriter(cf, fieldnames=rowd.keys()).writerow(rowd)
"""

TRAIN = """\
import argparse

import wandb

from timm import utils


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--log-wandb", action="store_true", default={log_by_default})
    args = parser.parse_args()
    if args.log_wandb:
        wandb.init(project="timm-demo", config=vars(args)){dataset}
    for epoch in range(4):
        metrics = {{"loss": 1.0 / (epoch + 1)}}
        utils.update_summary(
            epoch, metrics, {{"top1": 10.0 * epoch}}, "summary.csv", log_wandb=args.log_wandb
        )
    if args.log_wandb:
        wandb.finish()


if __name__ == "__main__":
    main()
"""
# a call that stays on W&B (it downloads what the run uses), so the run start is held
DATASET = '\n        wandb.use_artifact("imagenet:latest")'
LEFT_LINE = 14


def timm_program(
    root: Path, held: bool = False, summary: str = SUMMARY, log_by_default: bool = False
) -> Path:
    (root / "timm" / "utils").mkdir(parents=True)
    (root / "timm" / "__init__.py").write_text("")
    (root / "timm" / "utils" / "__init__.py").write_text("from .summary import *\n")
    (root / "timm" / "utils" / "summary.py").write_text(summary)
    train = TRAIN.format(dataset=DATASET if held else "", log_by_default=log_by_default)
    (root / "train.py").write_text(train)
    return root


def reports(outcome: runner.Outcome, root: Path) -> dict[str, object]:
    return {Path(f.path).relative_to(root).as_posix(): f for f in outcome.report.files}


def test_a_held_run_start_holds_the_module_that_logs_to_it(tmp_path: Path) -> None:
    root = timm_program(tmp_path, held=True)
    outcome = runner.migrate([root], WANDB, jobs=1)
    files = reports(outcome, root)
    train, summary = files["train.py"], files["timm/utils/summary.py"]
    assert train.held and [e.line for e in train.entries if e.action == LEFT] == [LEFT_LINE]
    assert summary.held and summary.held_by == [str(root / "train.py")]
    assert outcome.changes == [c for c in outcome.changes if c.path.name == "train.py"]
    (held,) = [e for e in summary.entries if e.action == HELD]
    assert held.line == 15
    assert held.reason == (
        f"held back: it logs to the W&B run that {root / 'train.py'} starts, and "
        f"{root / 'train.py'} keeps its calls until {root / 'train.py'}:{LEFT_LINE} is resolved"
    )
    assert f"  {summary.path}: {held.reason}" in outcome.report.summary()
    payload = json.loads(outcome.report.to_json())
    (entry,) = [f for f in payload["files"] if f["path"].endswith("summary.py")]
    assert entry["held_by"] == [str(root / "train.py")]


def test_a_program_without_a_left_call_is_migrated_in_every_module(tmp_path: Path) -> None:
    root = timm_program(tmp_path)
    outcome = runner.migrate([root], WANDB, jobs=1)
    files = reports(outcome, root)
    assert not files["train.py"].held and not files["timm/utils/summary.py"].held
    changed = {c.path.relative_to(root).as_posix(): c.new.decode() for c in outcome.changes}
    assert sorted(changed) == ["timm/utils/summary.py", "train.py"]
    assert "tracelet.log(rowd)" in changed["timm/utils/summary.py"]
    assert 'tracelet.start_logging(project="timm-demo"' in changed["train.py"]


def test_a_left_call_in_the_logging_module_holds_the_module_that_starts_the_run(
    tmp_path: Path,
) -> None:
    summary = SUMMARY.replace(
        "wandb.log(rowd)", "wandb.log(rowd)\n        wandb.run.use_artifact('eval:latest')"
    )
    root = timm_program(tmp_path, summary=summary)
    outcome = runner.migrate([root], WANDB, jobs=1)
    files = reports(outcome, root)
    train = files["train.py"]
    assert train.held and train.held_by == [str(root / "timm/utils/summary.py")]
    assert {e.action for e in train.entries} == {HELD}
    assert all(
        e.reason.startswith(
            f"held back: its W&B run is logged to from {root / 'timm/utils/summary.py'}"
        )
        for e in train.entries
    )
    assert [c.path.name for c in outcome.changes] == ["summary.py"]  # only its TODO comment
    assert "# TODO(tracelet):" in outcome.changes[0].new.decode()
    assert "tracelet." not in outcome.changes[0].new.decode().replace("TODO(tracelet)", "")


def test_programs_that_share_no_module_are_decided_apart(tmp_path: Path) -> None:
    (tmp_path / "held.py").write_text(
        'import wandb\nrun = wandb.init(project="a")\nrun.use_artifact("d:latest")\n'
        'wandb.log({"a": 1})\n'
    )
    (tmp_path / "clean.py").write_text(
        'import wandb\nwandb.init(project="b")\nwandb.log({"b": 1})\n'
    )
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    files = reports(outcome, tmp_path)
    assert files["held.py"].held and not files["clean.py"].held
    assert [e.action for e in files["clean.py"].entries] == [REWRITTEN, REWRITTEN]


def test_a_call_that_needs_no_run_holds_nothing_back(tmp_path: Path) -> None:
    root = timm_program(tmp_path)
    train = root / "train.py"
    train.write_text(
        train.read_text().replace(
            "    args = parser", "    assert hasattr(wandb, 'init')\n    args = parser"
        )
    )
    outcome = runner.migrate([root], WANDB, jobs=1)
    assert not any(f.held for f in outcome.report.files)
    assert len(outcome.changes) == 2


def test_the_import_graph_resolves_packages_relative_imports_and_script_folders(
    tmp_path: Path,
) -> None:
    files = {
        "train.py": b"from timm import utils\nimport model\n",
        "model.py": b"",
        "timm/__init__.py": b"",
        "timm/utils/__init__.py": b"from .summary import *\nfrom . import log\n",
        "timm/utils/summary.py": b"",
        "timm/utils/log.py": b"from ..utils.summary import update_summary\n",
        "scripts/tool.py": b"import timm.utils.log\n",
    }
    sources = {tmp_path / rel: data for rel, data in files.items()}
    graph = program.import_graph(sources, [tmp_path])
    edges = {
        tuple(sorted((a.relative_to(tmp_path).as_posix(), b.relative_to(tmp_path).as_posix())))
        for a, targets in graph.items()
        for b in targets
    }
    assert edges == {
        ("timm/__init__.py", "train.py"),
        ("timm/utils/__init__.py", "train.py"),
        ("model.py", "train.py"),
        ("timm/utils/__init__.py", "timm/utils/summary.py"),
        ("timm/utils/__init__.py", "timm/utils/log.py"),
        ("timm/utils/log.py", "timm/utils/summary.py"),
        ("scripts/tool.py", "timm/__init__.py"),
        ("scripts/tool.py", "timm/utils/__init__.py"),
        ("scripts/tool.py", "timm/utils/log.py"),
    }


def test_a_module_that_starts_a_run_ends_the_walk(tmp_path: Path) -> None:
    facts = {
        tmp_path / name: program.ModuleFacts(tmp_path / name, starts, uses, held)
        for name, starts, uses, held in [
            ("log.py", False, True, False),
            ("a.py", True, True, True),
            ("b.py", True, True, False),
        ]
    }
    # log.py <- a.py <- b.py: b's run is not the one log.py logs to
    graph = {
        tmp_path / "log.py": {tmp_path / "a.py"},
        tmp_path / "a.py": {tmp_path / "log.py", tmp_path / "b.py"},
        tmp_path / "b.py": {tmp_path / "a.py"},
    }
    groups = program.shared_runs(facts, graph)
    assert groups == [{tmp_path / "log.py", tmp_path / "a.py"}]


@pytest.mark.slow
def test_a_migrated_two_module_program_logs_what_the_original_logged(tmp_path: Path) -> None:
    folders = {
        side: timm_program(tmp_path / side, log_by_default=True)
        for side in ("original", "migrated")
    }
    argv = ["migrate", str(folders["migrated"]), "--from", "wandb", "--write", "--no-progress"]
    assert main([*argv, "--force"]) == 0
    assert "tracelet.log(rowd)" in (folders["migrated"] / "timm/utils/summary.py").read_text()
    started = {
        side: start_script(folder, "train.py", tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/train.py")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(str(Path(envs["original"]["WANDB_DIR"]) / "wandb"))
    migrated = read_store(
        delivered_store(tracelet_run(envs["migrated"]), "wandb", envs["migrated"])
    )
    points = ["key", "step", "value"]
    assert len(original.metrics) == 12  # epoch, train_loss, eval_top1 at 4 steps
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    assert compare_runs(original, migrated).exit_code == 0


def test_a_package_given_without_its_init_stands_for_every_module_in_it(tmp_path: Path) -> None:
    # the corpus copy of timm holds train.py and timm/utils/summary.py only
    root = timm_program(tmp_path, held=True)
    (root / "timm" / "utils" / "__init__.py").unlink()
    (root / "timm" / "__init__.py").unlink()
    outcome = runner.migrate([root], WANDB, jobs=1)
    assert reports(outcome, root)["timm/utils/summary.py"].held_by == [str(root / "train.py")]


def test_a_clearml_helper_reaching_the_task_through_current_logger_shares_its_run(
    tmp_path: Path,
) -> None:
    # ClearML's own examples report through Logger.current_logger() from helper functions
    (tmp_path / "reporting.py").write_text(
        "from clearml import Logger\n\n\n"
        "def report(name, value, step):\n"
        '    Logger.current_logger().report_scalar(name, "value", value=value, iteration=step)\n'
    )
    (tmp_path / "main.py").write_text(
        "from clearml import Task\n\nfrom reporting import report\n\n"
        'task = Task.init(project_name="p", task_name="t")\n'
        'task.execute_remotely(queue_name="default")\n'
        'report("loss", 0.5, 1)\n'
    )
    outcome = runner.migrate([tmp_path], runner.Options("clearml", ["clearml"]), jobs=1)
    files = reports(outcome, tmp_path)
    assert files["main.py"].held and not files["main.py"].held_by
    assert files["reporting.py"].held_by == [str(tmp_path / "main.py")]
    assert [c.path.name for c in outcome.changes] == ["main.py"]  # its TODO comment only


def test_imports_are_found_by_a_line_scan() -> None:
    code = (
        b"import a.b as c, d\nfrom . import (x,\n  y as z)\nfrom ..m.n import *\n"
        b"def f():\n    from q import r  # late\nx = 'no import here'\n"
    )
    assert list(program.imports_of(code)) == [
        (0, ["a", "b"], []),
        (0, ["d"], []),
        (1, [], ["x", "y"]),
        (2, ["m", "n"], []),
        (0, ["q"], ["r"]),
    ]


def test_a_module_that_cannot_be_parsed_holds_the_modules_that_log_to_its_run(
    tmp_path: Path,
) -> None:
    root = timm_program(tmp_path)
    train = root / "train.py"
    train.write_text(train.read_text() + "def broken(:\n")
    outcome = runner.migrate([root], WANDB, jobs=1)
    summary = reports(outcome, root)["timm/utils/summary.py"]
    assert summary.held_by == [str(train)]
    assert outcome.changes == []


MLFLOW_TRAIN = """\
import mlflow

from metrics import log_epoch


def main():
    mlflow.start_run(run_name="two-modules")
    mlflow.log_params({"lr": 0.1, "epochs": 4})
    for epoch in range(4):
        log_epoch({"loss": 1.0 / (epoch + 1), "acc": 0.25 * epoch}, epoch)
    mlflow.end_run()


if __name__ == "__main__":
    main()
"""
MLFLOW_METRICS = """\
import mlflow


def log_epoch(metrics, epoch):
    for key, value in metrics.items():
        mlflow.log_metric(key, value, step=epoch)
"""


@pytest.mark.slow
def test_a_migrated_two_module_mlflow_program_logs_what_the_original_logged(
    tmp_path: Path,
) -> None:
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "train.py").write_text(MLFLOW_TRAIN)
        (folder / "metrics.py").write_text(MLFLOW_METRICS)
    argv = ["migrate", str(folders["migrated"]), "--from", "mlflow", "--write", "--no-progress"]
    assert main([*argv, "--force"]) == 0
    assert "mlflow.log_metric" not in (folders["migrated"] / "metrics.py").read_text()
    started = {
        side: start_script(folder, "train.py", tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/train.py")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(f"sqlite:///{folders['original'] / 'mlflow.db'}")
    migrated_run = tracelet_run(envs["migrated"])
    migrated = read_store(delivered_store(migrated_run, "mlflow", envs["migrated"]))
    points = ["key", "step", "value"]
    assert len(original.metrics) == 8
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    assert compare_runs(original, migrated).exit_code == 0  # params, tags, artifacts too


# A run passed to a function of another module (wandb/examples' pytorch-ddp shape, split
# in two: train.py starts the run, helpers.py logs through the parameter it receives).
XM_TRAIN = """\
import wandb

from helpers import log_epoch


def main():
    run = wandb.init(project="xm")
    for epoch in range(3):
        log_epoch(run, {{"loss": 1.0 / (epoch + 1)}}, epoch)
    log_epoch({other}, {{"loss": 0.0}}, 3)
    run.finish()


if __name__ == "__main__":
    main()
"""
XM_HELPERS = """\
def log_epoch(run, metrics, step):
    if run is not None:
        run.log(metrics, step=step)
"""


def cross_module_program(root: Path, other: str = "None") -> Path:
    root.mkdir(exist_ok=True)
    (root / "train.py").write_text(XM_TRAIN.format(other=other))
    (root / "helpers.py").write_text(XM_HELPERS)
    return root


def test_a_run_passed_to_a_function_of_another_module_is_followed_into_it(
    tmp_path: Path,
) -> None:
    root = cross_module_program(tmp_path)
    outcome = runner.migrate([root], WANDB, jobs=1)
    changed = {c.path.name: c.new.decode() for c in outcome.changes}
    assert sorted(changed) == ["helpers.py", "train.py"]
    assert "        tracelet.log(metrics, step=step)\n" in changed["helpers.py"]
    assert changed["helpers.py"].startswith("import tracelet\n")
    assert "log_epoch(run, " in changed["train.py"]
    assert not any(f.held for f in outcome.report.files)


def test_a_call_passing_something_else_keeps_both_modules(tmp_path: Path) -> None:
    root = cross_module_program(tmp_path, other="object()")
    outcome = runner.migrate([root], WANDB, jobs=1)
    files = reports(outcome, root)
    assert [e.rule for e in files["train.py"].entries if e.action == LEFT] == ["TL001"]
    assert files["helpers.py"].held_by == [str(root / "train.py")]
    assert [c.path.name for c in outcome.changes] == ["train.py"]  # its TODO comment only


def test_a_function_another_module_also_names_is_not_followed(tmp_path: Path) -> None:
    root = cross_module_program(tmp_path)
    (root / "replay.py").write_text("from helpers import log_epoch\n\nlog_epoch(print, {}, 0)\n")
    outcome = runner.migrate([root], WANDB, jobs=1)
    assert reports(outcome, root)["train.py"].held
    assert [c.path.name for c in outcome.changes] == ["train.py"]


@pytest.mark.slow
def test_a_migrated_program_passing_its_run_between_modules_logs_the_same(
    tmp_path: Path,
) -> None:
    folders = {side: cross_module_program(tmp_path / side) for side in ("original", "migrated")}
    argv = ["migrate", str(folders["migrated"]), "--from", "wandb", "--write", "--no-progress"]
    assert main([*argv, "--force"]) == 0
    assert "tracelet.log(metrics" in (folders["migrated"] / "helpers.py").read_text()
    started = {
        side: start_script(folder, "train.py", tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/train.py")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(str(Path(envs["original"]["WANDB_DIR"]) / "wandb"))
    migrated = read_store(
        delivered_store(tracelet_run(envs["migrated"]), "wandb", envs["migrated"])
    )
    assert sorted(original.metrics[["key", "step"]].to_records(index=False).tolist()) == [
        ("loss", 0), ("loss", 1), ("loss", 2)
    ]  # fmt: skip
    assert compare_runs(original, migrated).exit_code == 0


CONVNEXT_LOGGER = """\
class WandbLogger(object):
    def __init__(self, args):
        try:
            import wandb
            self._wandb = wandb
        except ImportError:
            raise ImportError("To use the Weights and Biases Logger please install wandb.")
        if self._wandb.run is None:
            self._wandb.init(project=args.project, config=args)

    def log_epoch_metrics(self, metrics, commit=True):
        self._wandb.log({"epoch": metrics.get("epoch")}, commit=False)
"""
CONVNEXT_ENGINE = """\
def train_one_epoch(model, wandb_logger=None):
    if wandb_logger:
        wandb_logger._wandb.log({"Rank-0 Batch Wise/train_loss": 0.5}, commit=False)
"""


def test_a_module_reaching_the_wandb_module_stored_on_self_is_migrated_with_it(
    tmp_path: Path,
) -> None:
    """facebookresearch/ConvNeXt: utils.py keeps the module as ``self._wandb``, engine.py
    logs with ``wandb_logger._wandb.log(...)``: both are migrated (``wandb.log`` would find
    no W&B run once ``self._wandb.init`` became ``tracelet.start_logging``), or neither."""
    (tmp_path / "utils.py").write_text(CONVNEXT_LOGGER)
    (tmp_path / "engine.py").write_text(CONVNEXT_ENGINE)
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    changed = {c.path.name: c.new.decode() for c in outcome.changes}
    assert "tracelet.start_logging(" in changed["utils.py"]
    assert (
        'tracelet.log({"Rank-0 Batch Wise/train_loss": 0.5}, commit=False)' in changed["engine.py"]
    )
    assert "import tracelet" in changed["engine.py"]

    left = (
        CONVNEXT_ENGINE
        + "        wandb_logger._wandb.log({'clip': wandb_logger._wandb.Video(v)})\n"
    )
    (tmp_path / "engine.py").write_text(left)
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    logger = reports(outcome, tmp_path)["utils.py"]
    assert logger.held and [c.path.name for c in outcome.changes] == ["engine.py"]
    engine = outcome.changes[0].new.decode()
    assert "wandb_logger._wandb.log({" in engine and "import tracelet" not in engine
    assert {e.action for e in logger.entries if e.line > 5} == {HELD}
    assert logger.entries[-1].reason == (
        f"held back: {tmp_path / 'engine.py'}:3 calls wandb_logger._wandb.log on the W&B "
        f"module stored at {tmp_path / 'utils.py'}:5, which keeps its calls: they would "
        "find no run"
    )


CONVNEXT_MAIN = """\
import argparse

import utils
from engine import train_one_epoch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="convnext")
    parser.add_argument("--enable_wandb", default=True)
    args = parser.parse_args()
    wandb_logger = utils.WandbLogger(args) if args.enable_wandb else None
    for epoch in range(3):
        if wandb_logger:
            wandb_logger.set_steps()
        train_one_epoch(epoch, wandb_logger=wandb_logger)
        if wandb_logger:
            wandb_logger.log_epoch_metrics({"epoch": epoch, "train_loss": 1.0 / (epoch + 1)})
    if wandb_logger:
        wandb_logger.finish()


if __name__ == "__main__":
    main()
"""
CONVNEXT_UTILS = """\
class WandbLogger(object):
    def __init__(self, args):
        self.args = args
        try:
            import wandb
            self._wandb = wandb
        except ImportError:
            raise ImportError("To use the Weights and Biases Logger please install wandb.")
        if self._wandb.run is None:
            self._wandb.init(project=args.project, config=args)

    def log_epoch_metrics(self, metrics, commit=True):
        self._wandb.log({"epoch": metrics.get("epoch")}, commit=False)
        for k, v in metrics.items():
            if "train" in k:
                self._wandb.log({f"Global Train/{k}": v}, commit=False)
        self._wandb.log({})

    def set_steps(self):
        batch_step = "Rank-0 Batch Wise/global_train_step"
        self._wandb.define_metric("Rank-0 Batch Wise/*", step_metric=batch_step)
        self._wandb.define_metric("Global Train/*", step_metric="epoch")

    def finish(self):
        self._wandb.finish()
"""
CONVNEXT_TRAIN_ONE_EPOCH = """\
def train_one_epoch(epoch, wandb_logger=None):
    for it in range(epoch * 2, epoch * 2 + 2):
        loss_value = 1.0 / (it + 1)
        if wandb_logger:
            wandb_logger._wandb.log({
                "Rank-0 Batch Wise/train_loss": loss_value,
                "Rank-0 Batch Wise/train_max_lr": 0.1,
            }, commit=False)
            wandb_logger._wandb.log({"Rank-0 Batch Wise/global_train_step": it})
"""


@pytest.mark.slow
def test_a_migrated_convnext_program_logs_what_the_original_logged(tmp_path: Path) -> None:
    """A reduction of facebookresearch/ConvNeXt (main.py, utils.py's WandbLogger,
    engine.py's train_one_epoch): the module stored on ``self._wandb`` is reached from
    engine.py; the original and the migrated program store the same W&B run."""
    folders = {side: tmp_path / side for side in ("original", "migrated")}
    for folder in folders.values():
        folder.mkdir()
        (folder / "main.py").write_text(CONVNEXT_MAIN)
        (folder / "utils.py").write_text(CONVNEXT_UTILS)
        (folder / "engine.py").write_text(CONVNEXT_TRAIN_ONE_EPOCH)
    argv = ["migrate", str(folders["migrated"]), "--from", "wandb", "--write", "--no-progress"]
    assert main([*argv, "--force"]) == 0
    engine = (folders["migrated"] / "engine.py").read_text()
    assert "_wandb" not in engine and "tracelet.log({" in engine
    started = {
        side: start_script(folder, "main.py", tmp_path / f"{side}-env")
        for side, folder in folders.items()
    }
    for side, (process, _) in started.items():
        wait(process, f"{side}/main.py")
    envs = {side: env for side, (_, env) in started.items()}
    original = read_store(str(Path(envs["original"]["WANDB_DIR"]) / "wandb"))
    migrated = read_store(
        delivered_store(tracelet_run(envs["migrated"]), "wandb", envs["migrated"])
    )
    points = ["key", "step", "value"]
    assert "Rank-0 Batch Wise/train_loss" in set(original.metrics["key"])
    assert (
        original.metrics[points].sort_values(points).to_records(index=False).tolist()
        == migrated.metrics[points].sort_values(points).to_records(index=False).tolist()
    )
    assert compare_runs(original, migrated).exit_code == 0
