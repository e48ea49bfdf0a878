"""Rule ids and safety levels of ``tracelet migrate``.

Every rewrite and every call site the codemods leave alone carries a rule. The safety
levels follow ruff's fix applicability:

``safe``
    Keeps what the tracker stores (metric table, params, tags, artifacts) exactly. Applied
    by default.
``unsafe``
    Changes something outside those tables (a W&B chart axis, gradient histograms, the
    place a file lands in the W&B UI). Applied only with ``--unsafe``; without it the call
    site is left with a ``# TODO(tracelet)`` comment naming the rule.
``manual``
    No faithful rewrite exists. The call site is always left, marked and reported.
``info``
    Not a logging call (``wandb.login``, ``mlflow.set_tracking_uri``): left as it is and
    listed in the report, never marked.

``--disable RULE`` (id or name) turns a rewrite off: its call sites are left as they are
and reported, and, like every call site that is left, they keep the rest of the file on
the source tracker (see :mod:`tracelet.codemods.base`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Safety(StrEnum):
    SAFE = "safe"
    UNSAFE = "unsafe"
    MANUAL = "manual"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    """One kind of call site, with what the codemod does about it."""

    id: str
    name: str
    tracker: str
    safety: Safety
    summary: str

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"


_RULES: tuple[Rule, ...] = (
    # shared by every source tracker
    Rule("TL001", "object-escapes", "any", Safety.MANUAL,
         "a run, task or logger is passed on or stored where the codemod cannot follow it"),
    Rule("TL002", "unsupported-call", "any", Safety.MANUAL,
         "a tracker call the codemod does not know, or whose arguments cannot be mapped: the "
         "reason says what to write (docs/migrate.md has the table)"),
    Rule("TL003", "left-as-is", "any", Safety.INFO,
         "a tracker call that needs no run (login, client, tracking URI); left unchanged"),
    Rule("TL004", "guarded-import-kept", "any", Safety.INFO,
         "an import inside try/except ImportError is kept: the guard depends on it"),
    # Weights & Biases
    Rule("WB001", "wandb-init", "wandb", Safety.SAFE,
         "wandb.init(...) -> tracelet.start_logging(...), also as a context manager; "
         "id= / resume= -> resume= / resume_mode="),
    Rule("WB002", "wandb-log", "wandb", Safety.SAFE,
         "wandb.log / run.log -> tracelet.log (same implicit step, step= and commit= rules)"),
    Rule("WB003", "wandb-finish", "wandb", Safety.SAFE,
         "wandb.finish() / run.finish() -> tracelet.stop_logging()"),
    Rule("WB004", "wandb-config", "wandb", Safety.SAFE,
         "wandb.config.update(d), config[k] = v, config.k = v -> the same on "
         "experiment.config, which logs the values as params"),
    Rule("WB005", "wandb-run-handle", "wandb", Safety.SAFE,
         "wandb.run as the run handle or checked for None -> tracelet.get_active_experiment()"),
    Rule("WB006", "wandb-tensorboard-sync", "wandb", Safety.SAFE,
         "wandb.tensorboard.patch() removed and sync_tensorboard= dropped: "
         "SummaryWriter calls reach the trackers natively"),
    Rule("WB007", "wandb-save", "wandb", Safety.SAFE,
         "wandb.save(glob, base_path=, policy=) -> experiment.save(...) (same run file "
         "names, globs and policy)"),
    Rule("WB008", "wandb-watch-define-metric", "wandb", Safety.SAFE,
         "wandb.watch / unwatch / define_metric -> experiment.watch / unwatch / define_metric"),
    Rule("WB009", "wandb-media-value", "wandb", Safety.SAFE,
         "wandb.Image / Histogram / Table -> tracelet.Image / Histogram / Table (same "
         "arguments), as values in tracelet.log"),
    Rule("WB010", "wandb-summary", "wandb", Safety.SAFE,
         "wandb.summary / run.summary[k] = v / .update(d) -> experiment.summary"),
    Rule("WB011", "wandb-run-identity", "wandb", Safety.SAFE,
         'run.id / run.url / run.name / run.project -> experiment.ids["wandb"] / '
         'urls["wandb"] / name / project'),
    Rule("WB012", "wandb-artifact", "wandb", Safety.SAFE,
         "wandb.Artifact + add_file / add_dir + log_artifact, log_artifact(path), log_model "
         "-> experiment.log_artifact(path, name=, type=, metadata=, aliases=)"),
    Rule("WB013", "wandb-resume", "wandb", Safety.MANUAL,
         "wandb.init(resume_from= / fork_from= / resume=True without id=): write "
         "start_logging(resume=<run id>, resume_mode='allow'|'must')"),
    Rule("WB014", "wandb-media-list", "wandb", Safety.SAFE,
         "a list of wandb.Image / Histogram / Table (literal, comprehension, or a local list "
         "filled with append) logged under one key -> a list of tracelet.Image / ... in "
         "tracelet.log"),
    Rule("WB016", "wandb-config-read", "wandb", Safety.SAFE,
         "reading wandb.config / run.config (attributes, keys, get, keys(), items(), in, "
         "dict()) -> experiment.config, which holds what the program set (no W&B sweeps)"),
    Rule("WB017", "wandb-run-dir", "wandb", Safety.SAFE,
         "wandb.run.dir / run.dir -> experiment.dir: the run's files folder, whose files "
         "are kept with the run when it stops (W&B: the same run files)"),
    Rule("WB018", "wandb-module-reference", "wandb", Safety.INFO,
         "the wandb module itself as a value (if wandb: ..., self._wandb = wandb): kept; "
         "its uses through the alias are migrated, the guard keeps its meaning"),
    Rule("WB019", "wandb-run-field-annotation", "wandb", Safety.SAFE,
         "the annotation of a class field that holds the W&B run (logger: wandb, given by "
         "another module of the program) -> logger: tracelet.Experiment"),
    Rule("WB100", "wandb-media", "wandb", Safety.MANUAL,
         "wandb.Video / Audio / plot / Html / Object3D ..., media with boxes or masks, lists "
         "of media that go elsewhere than wandb.log: the reason names the tracelet call to "
         "write"),
    Rule("WB102", "wandb-summary-other", "wandb", Safety.MANUAL,
         "a run summary used other than as a mapping: write experiment.summary[k] = v"),
    Rule("WB103", "wandb-artifact-other", "wandb", Safety.MANUAL,
         "use_artifact / link_model, artifacts of several files or references: write "
         "experiment.log_artifact(path, name=..., type=...)"),
    Rule("WB104", "wandb-sweep", "wandb", Safety.MANUAL,
         "wandb.sweep / wandb.agent: the sweep controller drives the run"),
    Rule("WB105", "wandb-run-field", "wandb", Safety.MANUAL,
         "run.entity / path / notes, or a run field that is set: the reason says what "
         "to read instead"),
    # MLflow
    Rule("ML001", "mlflow-start-run", "mlflow", Safety.SAFE,
         "mlflow.start_run(...) -> tracelet.start_logging(...), also as a context manager"),
    Rule("ML002", "mlflow-end-run", "mlflow", Safety.SAFE,
         "mlflow.end_run() -> tracelet.stop_logging()"),
    Rule("ML003", "mlflow-log-metric", "mlflow", Safety.SAFE,
         "mlflow.log_metric / log_metrics -> experiment.log_metric / log_metrics "
         "(no step means step 0, as in MLflow)"),
    Rule("ML004", "mlflow-params", "mlflow", Safety.SAFE,
         "mlflow.log_param / log_params -> experiment.log_params"),
    Rule("ML005", "mlflow-tags", "mlflow", Safety.SAFE,
         "mlflow.set_tag / set_tags -> experiment.set_tags"),
    Rule("ML006", "mlflow-artifact", "mlflow", Safety.SAFE,
         "mlflow.log_artifact / log_artifacts -> experiment.log_artifact with the same names"),
    Rule("ML007", "mlflow-active-run", "mlflow", Safety.SAFE,
         "mlflow.active_run() as a check -> tracelet.get_active_experiment()"),
    Rule("ML008", "mlflow-set-experiment", "mlflow", Safety.SAFE,
         "mlflow.set_experiment(name) carried into start_logging(project=name)"),
    Rule("ML009", "mlflow-system-metrics", "mlflow", Safety.SAFE,
         "mlflow.enable_system_metrics_logging() -> tracelet.tracking.enable_system_metrics()"),
    Rule("ML010", "mlflow-log-model", "mlflow", Safety.SAFE,
         "mlflow.pytorch / sklearn / xgboost .log_model -> experiment.log_model"),
    Rule("ML011", "mlflow-file-as-media", "mlflow", Safety.UNSAFE,
         "mlflow.log_table -> experiment.log_table: a stepped table, no longer a file at "
         "that path"),
    Rule("ML012", "mlflow-log-object", "mlflow", Safety.SAFE,
         "mlflow.log_dict(d, f.json) / log_text(t, f) -> experiment.log_artifact(obj, name=f)"),
    Rule("ML013", "mlflow-run-identity", "mlflow", Safety.SAFE,
         "run.info.run_id / active_run().info.run_id -> experiment.ids['mlflow']; "
         "get_artifact_uri() -> the artifact URI of the run tracelet opened"),
    Rule("ML014", "mlflow-log-image", "mlflow", Safety.SAFE,
         "mlflow.log_image(image, key=k, step=s) -> experiment.log_image(k, image, step=s)"),
    Rule("ML015", "mlflow-figure-file", "mlflow", Safety.SAFE,
         "mlflow.log_figure(fig, f) / log_image(image, artifact_file=f) -> "
         "experiment.log_artifact(fig_or_image, name=f): the same file at the same path"),
    Rule("ML019", "mlflow-tracking-uri", "mlflow", Safety.SAFE,
         "mlflow.set_tracking_uri(X) before the run in its function, when no MLflow call is "
         "left: carried into start_logging(backend_options={'mlflow': {'url': X}})"),
    Rule("ML020", "mlflow-default-tracking-uri", "mlflow", Safety.SAFE,
         "mlflow.set_tracking_uri(X) elsewhere, when no MLflow call is left in the program: "
         "tracelet.set_backend_options('mlflow', url=X) for the runs started after it"),
    Rule("ML021", "mlflow-pytorch-autolog", "mlflow", Safety.SAFE,
         "mlflow.pytorch.autolog(...) with a Lightning Trainer -> tracelet.autolog(...): "
         "the same epoch metrics, params, model summary and logged model"),
    Rule("ML100", "mlflow-autolog", "mlflow", Safety.MANUAL,
         "mlflow.autolog / <flavor>.autolog: log the framework's metrics with "
         "experiment.log_metrics where they are computed"),
    Rule("ML101", "mlflow-log-model-other", "mlflow", Safety.MANUAL,
         "log_model of another flavor, with a registered name or its own environment: save "
         "it with mlflow.<flavor>.save_model and experiment.log_artifact"),
    Rule("ML102", "mlflow-nested-run", "mlflow", Safety.MANUAL,
         "nested runs, run_id= runs, experiment_id= not bound from the experiment's name in "
         "the file: tracelet has one active run; start_logging(resume=<run id>) continues "
         "one, start_logging(project=<name>) names the experiment"),
    Rule("ML103", "mlflow-artifact-content", "mlflow", Safety.MANUAL,
         "log_input, log_dict to YAML, content logged under a computed file name: the reason "
         "names the experiment call to write"),
    Rule("ML104", "mlflow-run-info", "mlflow", Safety.MANUAL,
         "run.info / run.data fields other than run_id and run_name: read them with "
         "mlflow.get_run(experiment.ids['mlflow'])"),
    # ClearML (and its former name, trains)
    Rule("CL001", "clearml-task-init", "clearml", Safety.SAFE,
         "Task.init(...) -> tracelet.start_logging(...)"),
    Rule("CL002", "clearml-connect", "clearml", Safety.SAFE,
         "task.connect(d[, name=s]) -> experiment.log_params(d[, section=s]) (returns d, "
         "like connect)"),
    Rule("CL003", "clearml-logger", "clearml", Safety.SAFE,
         "task.get_logger() / Logger.current_logger() / Task.current_task() -> the experiment"),
    Rule("CL004", "clearml-report-scalar", "clearml", Safety.SAFE,
         "report_scalar(title, series, value, iteration) -> log_metric(key, value, step=...) "
         "with the key ClearML's (title, series) reads back as: title/series, or title "
         "when both are equal"),
    Rule("CL005", "clearml-close", "clearml", Safety.SAFE,
         "task.close() / mark_completed() -> tracelet.stop_logging()"),
    Rule("CL006", "clearml-upload-artifact", "clearml", Safety.SAFE,
         "task.upload_artifact(name, path or dict / DataFrame / array) -> "
         "experiment.log_artifact(path_or_object, name=name[, metadata=...])"),
    Rule("CL007", "clearml-report-text", "clearml", Safety.SAFE,
         "logger.report_text(msg) -> print(msg) (ClearML printed it and kept it in its log)"),
    Rule("CL008", "clearml-logger-flush", "clearml", Safety.SAFE,
         "logger.flush() removed: tracelet.stop_logging() flushes"),
    Rule("CL009", "clearml-single-value", "clearml", Safety.SAFE,
         "logger.report_single_value(name, v) -> experiment.summary[name] = v; "
         "get_reported_single_value(name) -> experiment.summary.get(name)"),
    Rule("CL010", "clearml-report-media", "clearml", Safety.SAFE,
         "report_image / report_matplotlib_figure / report_histogram / report_table -> "
         "experiment.log_image / log_figure / log_histogram / log_table (iteration -> step)"),
    Rule("CL011", "clearml-user-properties", "clearml", Safety.SAFE,
         "task.set_user_properties(k=v) -> experiment.set_tags({'k': v})"),
    Rule("CL012", "clearml-task-identity", "clearml", Safety.SAFE,
         "task.id / task.name / get_output_log_web_page() -> experiment.ids['clearml'] / "
         "name / urls['clearml']"),
    Rule("CL013", "clearml-task-type", "clearml", Safety.SAFE,
         "Task.init(task_type=Task.TaskTypes.t) -> start_logging(..., backend_options="
         "{'clearml': {'task_type': 't'}}): tracelet's ClearML task gets the same type"),
    Rule("CL014", "clearml-configuration", "clearml", Safety.SAFE,
         "task.connect_configuration(cfg, name=n) -> experiment.log_configuration(n, cfg): "
         "the same ClearML configuration object (a file artifact elsewhere)"),
    Rule("CL015", "clearml-register-artifact", "clearml", Safety.SAFE,
         "task.register_artifact(n, df) -> experiment.register_artifact(n, df): the frame "
         "as it is at the stop, without its index (ClearML's own data-audit-table)"),
    Rule("CL016", "clearml-registered-artifacts", "clearml", Safety.SAFE,
         "task.get_registered_artifacts() -> experiment.get_registered_artifacts()"),
    Rule("CL017", "clearml-get-parameters", "clearml", Safety.SAFE,
         "task.get_parameters() -> experiment.get_parameters(): ClearML's dict, from what "
         "the program logged (argparse capture, user properties, later changes included)"),
    Rule("CL018", "clearml-get-parameters-captured", "clearml", Safety.MANUAL,
         "task.get_parameters() where ClearML captured arguments the migrated code does "
         "not log (hydra, click, fire, jsonargparse, absl; cast=True beside argparse)"),
    Rule("CL100", "clearml-plots", "clearml", Safety.MANUAL,
         "report_media / plotly / scatter / confusion matrix ..., images by url, histograms "
         "with labels: the reason names the experiment call to write"),
    Rule("CL101", "clearml-single-value-used", "clearml", Safety.MANUAL,
         "the value report_single_value returns is used"),
    Rule("CL102", "clearml-task-api", "clearml", Safety.MANUAL,
         "other Task methods (execute_remotely, set_base_docker, update_output_model, ...): "
         "the reason says what to write instead"),
    # PyTorch Lightning loggers (lightning.pytorch and pytorch_lightning)
    Rule("LT001", "lightning-mlflow-logger", "lightning", Safety.SAFE,
         "MLFlowLogger(...) given to Trainer(logger=...) -> its arguments go to "
         'tracelet.start_logging(..., backend="mlflow")'),
    Rule("LT002", "lightning-wandb-logger", "lightning", Safety.SAFE,
         "WandbLogger(...) given to Trainer(logger=...) -> its arguments go to "
         'tracelet.start_logging(..., backend="wandb")'),
    Rule("LT003", "lightning-trainer", "lightning", Safety.SAFE,
         "Trainer(logger=<tracker loggers>): tracelet.start_logging(...) before it, the tracker "
         "loggers taken off (logger=False when none is left), tracelet.stop_logging() after "
         "the Trainer's last use"),
    Rule("LT004", "lightning-logger-where-made", "lightning", Safety.SAFE,
         "a logger variable set in several places or conditionally (None/True/False "
         "otherwise), or a helper's returned logger, that only Trainer(logger=...) reads -> "
         "tracelet.start_logging where the logger is made, False in its place"),
    Rule("LT005", "lightning-wandb-version-before-run", "lightning", Safety.SAFE,
         "WandbLogger.version read before the logger starts its run -> the id it was "
         "given (None)"),
    Rule("LT006", "lightning-logger-into-other-module", "lightning", Safety.SAFE,
         "a logger passed to a function of another module of the program whose parameter "
         "only goes to Trainer(logger=...) there -> tracelet.start_logging where the logger "
         "is made, False in its place"),
    Rule("LT007", "lightning-logger-call-when-migrated", "lightning", Safety.SAFE,
         "pl_module.logger.log_metrics(m) (no step) / trainer.logger.log_hyperparams(p) on a "
         "Trainer that got a migrated WandbLogger -> tracelet.log(m) / the run's "
         "config.update(p, allow_val_change=True) when the Trainer has no logger"),
    Rule("LT008", "lightning-fabric-logger", "lightning", Safety.SAFE,
         "WandbLogger(...) / MLFlowLogger(...) given to Fabric(loggers=...) -> its arguments "
         "go to tracelet.start_logging(...) before the Fabric is made"),
    Rule("LT009", "lightning-fabric", "lightning", Safety.SAFE,
         "Fabric(loggers=<tracker loggers>): tracelet.start_logging(...) before it, the tracker "
         "loggers taken off ([] when none is left); fabric.log / fabric.log_dict reach the run"),
    Rule("LT100", "lightning-logger-use", "lightning", Safety.MANUAL,
         "logger.experiment.<native call>, logger.watch / log_hyperparams / ..., self.logger "
         "or trainer.logger: the Trainer no longer has that logger"),
    Rule("LT101", "lightning-logger-subclass", "lightning", Safety.MANUAL,
         "a subclass of WandbLogger / MLFlowLogger, or another use of the class itself"),
    Rule("LT102", "lightning-log-model", "lightning", Safety.MANUAL,
         "log_model=True / 'all': checkpoints become tracker artifacts; tracelet logs none"),
)  # fmt: skip

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in _RULES}


def get_rule(key: str) -> Rule:
    """A rule by id (``WB002``) or name (``wandb-log``), case-insensitive for ids."""
    rule = RULES.get(key.upper()) or _BY_NAME.get(key.lower())
    if rule is None:
        raise KeyError(f"unknown rule {key!r}; see `tracelet migrate --list-rules`")
    return rule


def resolve_rules(keys: Iterable[str]) -> frozenset[str]:
    """Rule ids for a list of ids or names (comma-separated items allowed)."""
    ids = set()
    for key in keys:
        for part in key.split(","):
            if part.strip():
                ids.add(get_rule(part.strip()).id)
    return frozenset(ids)


def rules_for(tracker: str) -> list[Rule]:
    """The rules a source tracker's codemod can report, shared ones first."""
    return [rule for rule in _RULES if rule.tracker in ("any", tracker)]
