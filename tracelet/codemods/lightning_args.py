"""What Lightning's ``MLFlowLogger`` and ``WandbLogger`` do with their arguments, written
as ``tracelet.start_logging`` arguments (the rules are in
:mod:`tracelet.codemods.lightning`'s docstring and ``docs/migrate.md``).

Each logger call becomes a :class:`Mapped`: the original ``Arg`` nodes that move as they are
(``run_name=N`` -> ``exp_name=N``), code for values the logger works out itself (its
default project, its store), ``backend_options`` for its tracker, and warnings. An argument
tracelet cannot reproduce raises :class:`Refused` with the rule that leaves the call site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from tracelet.codemods.cstutil import BoundArgs, bind_args, is_dotted_name, literal, quote_string

MLFLOW_LOGGER = "lightning:mlflow_logger"
WANDB_LOGGER = "lightning:wandb_logger"
TRACKER_OF = {MLFLOW_LOGGER: "mlflow", WANDB_LOGGER: "wandb"}
CLASS_OF = {MLFLOW_LOGGER: "MLFlowLogger", WANDB_LOGGER: "WandbLogger"}

MLFLOW_PARAMS = (
    "experiment_name", "run_name", "tracking_uri", "tags", "save_dir", "log_model", "prefix",
    "artifact_location", "run_id", "synchronous",
)  # fmt: skip
WANDB_PARAMS = (
    "name", "save_dir", "version", "offline", "dir", "id", "anonymous", "project", "log_model",
    "experiment", "prefix", "checkpoint_name", "add_file_policy",
)  # fmt: skip
WANDB_CARRIED = ("entity", "group", "job_type", "notes", "mode")
WANDB_QUIET = {"settings", "save_code", "reinit", "monitor_gym", "allow_val_change", "force"}
WANDB_RESUMING = ("id", "resume", "resume_from", "fork_from")
DEFAULT_PROJECT = '"lightning_logs"'
WANDB_DEFAULT_PROJECT = 'os.environ.get("WANDB_PROJECT", "lightning_logs")'


class Refused(Exception):
    """A logger argument or a placement the codemod cannot carry over faithfully."""

    def __init__(self, rule: str, reason: str, usage: Any = None):
        super().__init__(reason)
        self.rule, self.reason, self.usage = rule, reason, usage


@dataclass
class Mapped:
    """A logger's arguments as ``start_logging`` arguments (code, or the original ``Arg``)."""

    args: dict[str, cst.Arg | str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    defaults: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def map_logger(module: cst.Module, kind: str, call: cst.Call) -> Mapped:
    """What the logger ``call`` of ``kind`` does, as ``start_logging`` arguments; raises
    :class:`Refused` for an argument tracelet cannot reproduce."""
    params = MLFLOW_PARAMS if kind == MLFLOW_LOGGER else WANDB_PARAMS
    bound = bind_args(call, params)
    if bound is None:
        raise Refused(
            "TL002",
            f"{CLASS_OF[kind]}(*args / **kwargs) cannot be mapped: name each argument by keyword",
        )
    for name, refused in (("log_model", (None, False)), ("prefix", (None, ""))):
        if literal(bound.value(name)) not in refused:
            rule = "LT102" if name == "log_model" else "TL002"
            reason = (
                "log_model: the logger uploads checkpoints as artifacts; log the best one "
                "after fit with experiment.log_artifact(checkpoint_callback.best_model_path, "
                "name='model', type='model')"
                if name == "log_model"
                else "prefix= renames every metric; drop it, or put the prefix in the self.log keys"
            )
            raise Refused(rule, reason)
    if kind == MLFLOW_LOGGER:
        return _map_mlflow(module, bound)
    return _map_wandb(module, bound)


def _map_mlflow(module: cst.Module, bound: BoundArgs) -> Mapped:
    for name, why in (
        (
            "run_id",
            "logs into an existing MLflow run; start the run with "
            "tracelet.start_logging(resume=<run id>, resume_mode='must') before the Trainer",
        ),
        (
            "artifact_location",
            "sets where MLflow stores artifacts; create the experiment "
            "with that location first (mlflow.create_experiment(name, artifact_location=...))",
        ),
    ):
        if literal(bound.value(name)) is not None:
            raise Refused("TL002", f"MLFlowLogger({name}=...) {why}")
    if bound.unknown:
        raise Refused(
            "TL002", "MLFlowLogger with arguments it does not take; remove them (see its docs)"
        )
    mapped = Mapped()
    for name, keyword in (("experiment_name", "project"), ("run_name", "exp_name"),
                          ("tags", "tags")):  # fmt: skip
        if literal(bound.value(name)) is not None:
            mapped.args[keyword] = bound.named[name]
    if "project" not in mapped.args:
        mapped.args["project"] = DEFAULT_PROJECT
        mapped.defaults.add("project")
    if "synchronous" in bound:
        mapped.notes.append("synchronous= dropped: tracelet delivers in the background")
    mapped.options["url"] = _mlflow_url(module, bound)
    return mapped


def _mlflow_url(module: cst.Module, bound: BoundArgs) -> str:
    """The store MLFlowLogger uses: ``tracking_uri`` or ``$MLFLOW_TRACKING_URI``, else
    ``file:<save_dir>``."""
    save_dir = bound.value("save_dir")
    save = literal(save_dir)
    if save_dir is None:
        fallback = '"file:./mlruns"'
    elif isinstance(save, str):
        fallback = quote_string(f"file:{save}")
    else:
        fallback = f'"file:{{}}".format({module.code_for_node(save_dir)})'
    uri = bound.value("tracking_uri")
    given = literal(uri)
    if uri is None:
        return f'os.environ.get("MLFLOW_TRACKING_URI") or {fallback}'
    if given in (None, ""):
        return fallback
    if isinstance(given, str):
        return module.code_for_node(uri)
    return f"{_operand(module, uri)} or {fallback}"


def _map_wandb(module: cst.Module, bound: BoundArgs) -> Mapped:
    mapped = Mapped()
    for name in ("version", "id", "anonymous", "experiment"):
        if literal(bound.value(name)) is not None:
            why = {"experiment": "logs into a run made elsewhere; start it with "
                   "tracelet.start_logging(...) instead"}.get(
                name, "resumes or names an existing run; start the run with "
                "tracelet.start_logging(resume=<run id>) before the Trainer"
            )  # fmt: skip
            raise Refused("TL002", f"WandbLogger({name}=...) {why}")
    if literal(bound.value("name")) is not None:
        mapped.args["exp_name"] = bound.named["name"]
    project = bound.value("project")
    if isinstance(literal(project), str):
        mapped.args["project"] = bound.named["project"]
    else:
        mapped.defaults.add("project")
        mapped.args["project"] = (
            WANDB_DEFAULT_PROJECT
            if literal(project) is None
            else f"{_operand(module, project)} or {WANDB_DEFAULT_PROJECT}"
        )
    folder = _wandb_dir(module, bound)
    if folder is not None:
        mapped.options["dir"] = folder
    offline = bound.value("offline")
    if literal(offline) not in (None, False):
        mapped.options["mode"] = (
            '"offline"'
            if literal(offline) is True
            else f'"offline" if {_operand(module, offline)} else None'
        )
    for arg in bound.unknown:
        assert arg.keyword is not None
        name = arg.keyword.value
        if name in WANDB_CARRIED:
            if name == "mode" and "mode" in mapped.options:
                raise Refused(
                    "TL002", "WandbLogger(offline=..., mode=...) together: keep only mode="
                )
            mapped.options[name] = module.code_for_node(arg.value)
        elif name == "config":
            mapped.args["config"] = arg
        elif name == "tags":
            mapped.notes.append(
                "tags= dropped: W&B run tags are labels, not tracelet key/value tags"
            )
        elif name in WANDB_RESUMING or name in ("sync_tensorboard", "tensorboard"):
            why = (
                "resumes a run; start it with tracelet.start_logging(resume=<run id>) "
                "before the Trainer"
                if name in WANDB_RESUMING
                else "changes the logged steps; drop it (SummaryWriter calls reach W&B "
                "through tracelet)"
            )
            raise Refused("TL002", f"WandbLogger({name}=...) {why}")
        elif name not in WANDB_QUIET:
            why = f"WandbLogger argument {name} is not known to the codemod; remove it"
            raise Refused("TL002", why)
    return mapped


def _wandb_dir(module: cst.Module, bound: BoundArgs) -> str | None:
    """``save_dir or dir`` as WandbLogger computes it (``save_dir`` defaults to ``"."``)."""
    save_dir, folder = bound.value("save_dir"), bound.value("dir")
    fallback = module.code_for_node(folder) if literal(folder) is not None else None
    if save_dir is None:
        return '"."'
    if isinstance(literal(save_dir), str) and literal(save_dir):
        return module.code_for_node(save_dir)
    if literal(save_dir) in (None, ""):
        return fallback
    return f"{_operand(module, save_dir)} or {fallback or 'None'}"


def _operand(module: cst.Module, node: cst.BaseExpression) -> str:
    """Code for ``node`` that can stand before ``or`` / after ``if``."""
    code = module.code_for_node(node)
    return code if is_dotted_name(node) or isinstance(node, cst.Call) else f"({code})"
