"""A Lightning logger handed to a function of another module that makes the Trainer
(``LT006``), and ``trainer.logger.log_hyperparams`` on the Trainer it returns (``LT007``).

The program is huggingface/transformers-research-projects' seq2seq-distillation shape:
``finetune.py`` picks ``True`` or a ``WandbLogger`` per ``--logger_name`` and passes it to
``lightning_base.generic_train``, which gives it to ``pl.Trainer.from_argparse_args(...,
logger=logger)`` (Lightning 1.x); ``tests/fixtures/lightning_e2e/seq2seq_program`` runs a
Lightning 2 reduction of it end to end (``test_lightning_program_e2e.py``).
"""

from __future__ import annotations

from pathlib import Path

from tracelet.codemods import runner
from tracelet.codemods.report import LEFT, REWRITTEN

LIGHTNING = runner.Options("lightning", [])

# seq2seq-distillation/lightning_base.py (generic_train and LoggingCallback, reduced)
BASE = """\
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_info


class LoggingCallback(pl.Callback):
    def on_validation_end(self, trainer, pl_module):
        metrics = trainer.callback_metrics
        for key in sorted(metrics):
            rank_zero_info("{} = {}".format(key, str(metrics[key])))
{extra_hook}

def generic_train(
    model,
    args,
    early_stopping_callback=None,
    logger=True,  # can pass WandbLogger() here
    extra_callbacks=[],
    checkpoint_callback=None,
    logging_callback=None,
    **extra_train_kwargs,
):
    pl.seed_everything(args.seed)
    if early_stopping_callback:
        extra_callbacks.append(early_stopping_callback)
    if logging_callback is None:
        logging_callback = LoggingCallback()
    trainer = pl.Trainer.from_argparse_args(
        args,
        weights_summary=None,
        callbacks=[logging_callback] + extra_callbacks,
        logger={logger_value},
        checkpoint_callback=checkpoint_callback,
    )
    if args.do_train:
        trainer.fit(model)
    return trainer
"""
# the real LoggingCallback also logs the learning rates through the Trainer's logger
ON_BATCH_END = """
    def on_batch_end(self, trainer, pl_module):
        lr_scheduler = trainer.lr_schedulers[0]["scheduler"]
        lrs = {f"lr_group_{i}": lr for i, lr in enumerate(lr_scheduler.get_lr())}
        pl_module.logger.log_metrics(lrs)
"""

# seq2seq-distillation/finetune.py, main (reduced)
FINETUNE = """\
import glob
import os
from pathlib import Path

import pytorch_lightning as pl
{imports}
from lightning_base import generic_train


def main(args, model):
    dataset = Path(args.data_dir).name
    if args.logger_name == "default" or args.fast_dev_run:
        logger = True  # don't pollute wandb logs unnecessarily
    elif args.logger_name == "wandb":
        from pytorch_lightning.loggers import WandbLogger

        project = os.environ.get("WANDB_PROJECT", dataset)
        logger = WandbLogger(name=model.output_dir.name, project=project)

    elif args.logger_name == "wandb_shared":
        from pytorch_lightning.loggers import WandbLogger

        logger = WandbLogger(name=model.output_dir.name, project=f"hf_{dataset}")

    trainer: pl.Trainer = generic_train(
        model,
        args,{arguments}
        logger=logger,
    )
    if not args.do_predict:
        return model

    checkpoints = sorted(glob.glob(os.path.join(args.output_dir, "*.ckpt"), recursive=True))
    if checkpoints:
        model.hparams.test_checkpoint = checkpoints[-1]
        trainer.resume_from_checkpoint = checkpoints[-1]
    trainer.logger.log_hyperparams(model.hparams){after}

    # test() without a model tests using the best checkpoint automatically
    trainer.test()
    return model
"""

LOGGERS = [18, 23]  # the lines of the two WandbLoggers in FINETUNE
HYPERPARAMS = 37


def program(
    tmp_path: Path,
    extra_hook: str = "",
    logger_value: str = "logger",
    imports: str = "",
    arguments: str = "",
    after: str = "",
) -> Path:
    root = tmp_path / "seq2seq"
    root.mkdir()
    base = BASE.replace("{extra_hook}", extra_hook).replace("{logger_value}", logger_value)
    (root / "lightning_base.py").write_text(base)
    finetune = FINETUNE
    for key, value in (("imports", imports), ("arguments", arguments), ("after", after)):
        finetune = finetune.replace("{" + key + "}", value)
    (root / "finetune.py").write_text(finetune)
    return root


def entries(outcome: runner.Outcome, name: str) -> list[tuple[int, str, str | None]]:
    (found,) = [f for f in outcome.report.files if Path(f.path).name == name]
    return [(e.line, e.action, e.rule) for e in found.entries if e.action in (REWRITTEN, LEFT)]


def test_a_logger_handed_to_another_modules_trainer_starts_the_run_where_it_is_made(
    tmp_path: Path,
) -> None:
    root = program(tmp_path)
    outcome = runner.migrate([root], LIGHTNING, jobs=1)
    assert entries(outcome, "finetune.py") == [
        (LOGGERS[0], REWRITTEN, "LT006"),
        (LOGGERS[1], REWRITTEN, "LT006"),
        (HYPERPARAMS, REWRITTEN, "LT007"),
    ]
    assert entries(outcome, "lightning_base.py") == []
    (change,) = outcome.changes
    new = change.new.decode()
    assert change.path.name == "finetune.py"
    assert "WandbLogger" not in new
    assert new.count("        logger = False\n") == 2
    assert (
        "        tracelet.start_logging(exp_name=model.output_dir.name, project=project or " in new
    )
    assert (
        "    if trainer.logger is None:\n"
        "        tracelet.get_active_experiment().config.update(model.hparams, "
        "allow_val_change=True)\n"
        "    else:\n"
        "        trainer.logger.log_hyperparams(model.hparams)\n"
    ) in new
    (report,) = [f for f in outcome.report.files if f.path.endswith("finetune.py")]
    (reason,) = {e.reason for e in report.entries if e.rule == "LT006" and e.action == REWRITTEN}
    assert reason == (
        "tracelet.start_logging; logger = False to lightning_base.generic_train() (line 25), "
        "which gives it to its Trainer"
    )

    (root / "finetune.py").write_bytes(change.new)  # migrating again changes nothing
    assert runner.migrate([root], LIGHTNING, jobs=1).changes == []


def test_a_left_logger_read_in_the_trainers_module_keeps_the_loggers(tmp_path: Path) -> None:
    root = program(tmp_path, extra_hook=ON_BATCH_END)
    outcome = runner.migrate([root], LIGHTNING, jobs=1)
    assert entries(outcome, "lightning_base.py") == [(14, LEFT, "LT100")]
    assert entries(outcome, "finetune.py") == [
        (LOGGERS[0], LEFT, "TL001"),
        (LOGGERS[1], LEFT, "TL001"),
    ]


def test_a_callback_of_a_module_not_given_keeps_the_loggers(tmp_path: Path) -> None:
    # finetune.py passes callbacks.Seq2SeqLoggingCallback(), whose on_batch_end calls
    # pl_module.logger.log_metrics(lrs): callbacks.py is not given to migrate here
    root = program(
        tmp_path,
        imports="from callbacks import Seq2SeqLoggingCallback",
        arguments="\n        logging_callback=Seq2SeqLoggingCallback(),",
    )
    outcome = runner.migrate([root], LIGHTNING, jobs=1)
    found = entries(outcome, "finetune.py")
    assert [rule for _, _, rule in found] == ["TL001", "TL001"]
    (report,) = [f for f in outcome.report.files if f.path.endswith("finetune.py")]
    assert "callbacks.Seq2SeqLoggingCallback" in report.entries[0].reason


def test_a_parameter_that_goes_elsewhere_too_keeps_the_loggers(tmp_path: Path) -> None:
    root = program(tmp_path, logger_value="logger or print(logger)")
    outcome = runner.migrate([root], LIGHTNING, jobs=1)
    assert [rule for *_, rule in entries(outcome, "finetune.py")] == ["TL001", "TL001"]
    assert outcome.changes == [c for c in outcome.changes if c.path.name == "finetune.py"]


def test_another_read_of_the_returned_trainers_logger_keeps_the_loggers(tmp_path: Path) -> None:
    root = program(tmp_path, after="\n    print(trainer.logger.version)")
    outcome = runner.migrate([root], LIGHTNING, jobs=1)
    assert [rule for *_, rule in entries(outcome, "finetune.py")] == ["TL001", "TL001"]
