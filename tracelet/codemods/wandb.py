"""Weights & Biases -> tracelet.

==================================================  =============================================
source                                              migrated
==================================================  =============================================
``wandb.init(project=P, name=N, config=C)``         ``tracelet.start_logging(project=P,
                                                    exp_name=N, config=C, backend="wandb")``
``wandb.init(entity=E, group=G, mode=M, ...)``      ``..., backend_options={"wandb": {"entity": E,
                                                    "group": G, "mode": M}}``
``with wandb.init(...) as run:``                    ``with tracelet.start_logging(...) as run:``
``wandb.log(d, step=s, commit=c)``, ``run.log``     ``tracelet.log(d, step=s, commit=c)``
``wandb.finish()``, ``run.finish()``                ``tracelet.stop_logging()`` (``status="FAILED"``
                                                    for a non-zero ``exit_code``)
``wandb.config``, ``run.config`` (reads, writes)    ``experiment.config`` (see
                                                    :mod:`tracelet.codemods.wandb_config`)
``wandb.run`` (as the run, or ``is None``)          ``tracelet.get_active_experiment()``
``logger: wandb`` (a class field given the run)     ``logger: tracelet.Experiment``
``wandb.tensorboard.patch()``, ``sync_tensorboard``  removed (SummaryWriter calls reach W&B)
``wandb.save(glob, base_path=, policy=)``           ``experiment.save(glob, base_path=, policy=)``
media, summary, watch, define_metric, artifacts,  see :mod:`tracelet.codemods.wandb_vocabulary`
``run.id`` / ``url``, ``init(id=, resume=)``
==================================================  =============================================

``wandb.log`` goes to ``tracelet.log``, which keeps W&B's step rules (implicit counter,
``step=`` jumps, ``commit=False`` merges, lower steps dropped) for any dict, built
literally or at run time. Turning calls into ``SummaryWriter.add_scalar`` would need the
step of every row, which only the run knows, so the codemod never guesses one.

``entity``, ``group``, ``job_type``, ``notes``, ``dir`` and ``mode`` go to tracelet's W&B
backend through ``backend_options`` (so ``mode="disabled"`` still disables the W&B run);
without ``wandb`` among the ``--to`` trackers they are dropped with a warning, and a
``mode`` that may disable the run is left.

Left (with a TODO, holding the file on W&B, the reason saying what to write instead):
media tracelet has no value for (``wandb.Video``, ``Audio``, ``plot.*``, ...), media with
boxes or masks, lists of media that go elsewhere than ``wandb.log`` (see
:mod:`tracelet.codemods.wandb_media_lists`), ``use_artifact``,
artifacts of several files, sweeps, ``resume_from`` / ``fork_from``, positional arguments.

Dropped with a warning: ``tags`` (W&B labels, not tracelet's key/value tags),
``sync_tensorboard``; silently: ``settings``, ``save_code``, ``reinit``, ``monitor_gym``,
``allow_val_change``. Two settings carry over as switches:
``settings=wandb.Settings(disable_git=True)`` becomes ``track_git=False`` and
``x_disable_stats=True`` becomes ``track_system=False``.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
import libcst.matchers as m
from libcst.metadata import PositionProvider

from tracelet.codemods.base import (
    ACTIVE_EXPERIMENT,
    Decision,
    receiver,
    unmapped,
)
from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    expr,
    is_dotted_name,
    literal,
    string_value,
)
from tracelet.codemods.resolve import Path, Role, Usage, simple_binding_target
from tracelet.codemods.wandb_config import CONFIG, CONFIG_FACTORIES, WandbConfig
from tracelet.codemods.wandb_vocabulary import (
    ARTIFACT,
    MEDIA_FACTORIES,
    MEDIA_OBJECT,
    WandbVocabulary,
    not_a_dict_log,
)
from tracelet.codemods.writer import TB_SYNC_DIFFERENCES

RUN = "wandb:run"

INIT_PARAMS = (
    "entity",
    "project",
    "dir",
    "id",
    "name",
    "notes",
    "tags",
    "config",
    "config_exclude_keys",
    "config_include_keys",
    "allow_val_change",
    "group",
    "job_type",
    "mode",
    "force",
    "reinit",
    "resume",
    "resume_from",
    "fork_from",
    "save_code",
    "tensorboard",
    "sync_tensorboard",
    "monitor_gym",
    "settings",
    "anonymous",
)
_RENAMED = {"project": "project", "name": "exp_name", "config": "config"}
_CARRIED = ("entity", "group", "job_type", "notes", "dir", "mode")
_DROPPED_WARN = {
    "entity": "entity= dropped: the run goes to the default W&B entity",
    "mode": "mode= dropped: not logging to W&B any more",
    "tags": "tags= dropped: W&B run tags are labels, not tracelet key/value tags",
    "notes": "notes= dropped: run notes are not carried over",
    "group": "group= dropped: run groups are not carried over",
    "job_type": "job_type= dropped: job types are not carried over",
    "dir": "dir= dropped: tracelet chooses where the W&B run files go",
}
MEDIA = {
    "Image", "Video", "Audio", "Histogram", "Table", "Html", "Object3D", "Molecule", "Plotly",
    "Graph", "Classes", "box3d", "plot", "plot_table", "visualize", "JoinedTable", "EvalTable",
    "data_types", "Bokeh",
}  # fmt: skip
ARTIFACTS = {
    "use_artifact": "use_artifact fetches an artifact from W&B; download it before the run "
    "with wandb.Api().artifact(name).download() (needs no run) and read the folder",
    "use_model": "use_model fetches a model from W&B; download it before the run with "
    "wandb.Api().artifact(name).download() (needs no run)",
    "link_model": "link_model links to the W&B model registry; log the file with "
    "experiment.log_artifact(path, name=..., type='model') and link it in the W&B UI",
    "link_artifact": "link_artifact links to a W&B registry; log the file with "
    "experiment.log_artifact(path, name=..., type=...) and link it in the W&B UI",
    "Artifact": "a wandb.Artifact used this way cannot be followed; write "
    "experiment.log_artifact(path, name=..., type=..., metadata=..., aliases=...)",
}
SWEEPS = {"sweep", "agent", "controller"}
NO_RUN = {
    "login", "Api", "apis", "api", "errors", "Error", "CommError", "UsageError", "util",
    "Settings", "termlog", "termwarn", "termerror", "setup", "teardown", "env", "__version__",
    "sdk", "require",
}  # fmt: skip


class WandbToTracelet(WandbVocabulary, WandbConfig):
    """Rewrite direct Weights & Biases calls into tracelet calls."""

    DESCRIPTION = "Rewrite wandb.init/log/finish/config calls into tracelet (logging to W&B)."
    SOURCE = "wandb"
    TRACKER_NAME = "W&B"
    ROOTS: ClassVar[dict[str, str]] = {"wandb": "wandb"}
    CALL_FACTORIES: ClassVar[dict[str, str]] = {
        "wandb.init": RUN,
        "wandb.Artifact": ARTIFACT,
        **MEDIA_FACTORIES,
    }
    ATTR_FACTORIES: ClassVar[dict[str, str]] = {"wandb.run": RUN, **CONFIG_FACTORIES}
    START_KEYS: ClassVar[frozenset[str]] = frozenset({"wandb.init"})

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self.start_vocabulary()
        return super().transform_module_impl(tree)

    def finish_analysis(self) -> None:
        self.finish_artifacts()

    def handle(self, usage: Usage) -> Decision | None:
        key = _module_key(usage.path)
        if usage.factory and usage.path.key in CONFIG_FACTORIES:
            return self.config_object(usage)
        if usage.path.kind == CONFIG:
            return self.config_use(usage)
        if usage.factory:
            if key == "wandb.init":
                return self._init(usage)
            if key in MEDIA_FACTORIES:
                return self.media_value(usage)
            if key == "wandb.Artifact":
                return self.artifact_created(usage)
            return self._run_handle(usage)
        if usage.path.kind == MEDIA_OBJECT:
            return self.media_object_use(usage)
        if usage.path.kind == ARTIFACT:
            return self.artifact_use(usage)
        head = usage.path.attrs[0] if usage.path.attrs else ""
        one_call = len(usage.path.attrs) == 1 and usage.role == Role.CALL
        if key == "wandb.log" and usage.role == Role.CALL:
            return self._log(usage)
        if key == "wandb.finish" and usage.role == Role.CALL:
            return self._finish(usage)
        if head == "summary":
            return self.summary(usage)
        if key == "wandb.save" and usage.role == Role.CALL:
            return self._save(usage)
        if head in ("watch", "unwatch") and one_call:
            return self.watch(usage, head)
        if head == "define_metric" and one_call:
            return self.define_metric(usage)
        if head in ("log_artifact", "log_model") and one_call:
            return self.log_artifact(usage, head)
        if usage.path.kind == RUN and usage.path.attrs:
            decision = self.run_field(usage)
            if decision is not None:
                return decision
        if key == "wandb.tensorboard.patch" and usage.role == Role.CALL:
            return self.remove_statement(
                "WB006", usage, "SummaryWriter calls reach the trackers once tracelet runs"
            )
        if usage.role == Role.ANNOTATION:
            return self._field_annotation(usage)
        if not usage.path.attrs and not usage.factory and not usage.path.is_object:
            return self._module_reference(usage)
        if usage.path.is_object and not usage.path.attrs:
            return None
        if head in MEDIA:
            return self.left_media(usage, head)
        if head in ARTIFACTS:
            return self.left("WB103", f"{self.describe(usage)}: {ARTIFACTS[head]}")
        if head in SWEEPS:
            return self.left("WB104", "a W&B sweep drives this run's config")
        if head in NO_RUN and not usage.path.is_object:
            return self.kept(f"{self.describe(usage)} needs no W&B run")
        return None

    def _module_reference(self, usage: Usage) -> Decision | None:
        """The module itself as a value: a guard (``if wandb:``, ``wandb if wandb else
        None``) or an alias the codemod follows keeps its meaning once migrated."""
        if usage.role == Role.TEST:
            return self.kept(
                "a test of the wandb module (or None) itself: it means the same after the "
                "migration (wandb imported, the W&B path taken), and tracelet's W&B "
                "backend needs wandb too",
                "WB018",
            )
        if usage.role == Role.BIND and simple_binding_target(usage):
            self.module_aliases.extend(
                (self.get_metadata(PositionProvider, usage.node).start.line, attribute, "wandb")
                for attribute in _self_attributes(usage.context)
            )
            return self.kept(
                f"{self.code(usage.context)}: calls through this alias are migrated, here "
                "and in the modules of the program that reach it as <object>.<attribute>",
                "WB018",
            )
        if usage.role == Role.ARG and self.resolver.arg_is_followed(usage):
            return self.kept(
                "the wandb module passed to a function of this file: calls made through "
                "it there are migrated",
                "WB018",
            )
        return None

    def _field_annotation(self, usage: Usage) -> Decision:
        """``logger: wandb`` on a class field that holds the run (big_bird's Trainer
        dataclass, given the run by another module): the field holds the experiment once
        migrated, so it is annotated as one; ``import wandb`` is no longer needed for it.
        Other annotations stay as they are (they change nothing at run time)."""
        annotation = usage.context
        line = self.resolver.parent(annotation) if annotation is not None else None
        if not (
            isinstance(annotation, cst.Annotation)
            and annotation.annotation is usage.node
            and isinstance(line, cst.AnnAssign)
            and isinstance(line.target, cst.Name)
        ):
            return self.silent()
        cls = self.resolver.enclosing_class(line)
        body = self.resolver.parent(self.resolver.parent(line))
        if (
            cls is None
            or body is not cls.body
            or self.resolver.attr_kind(cls, line.target.value) != RUN
        ):
            return self.silent()
        return self.rewrite("WB019", usage.node, lambda _: expr("tracelet.Experiment"))

    # ------------------------------------------------------------------ init
    def _init(self, usage: Usage) -> Decision:
        escaped = self.start_escapes(usage)
        if escaped is not None:
            return escaped
        call = usage.call
        bound = bind_args(call, INIT_PARAMS, positional=0)
        if bound is None:
            return self.left(
                "TL002",
                "wandb.init with positional, *args or **kwargs arguments: name each "
                "argument by keyword",
            )
        if bound.unknown:
            names = ", ".join(a.keyword.value for a in bound.unknown if a.keyword)
            return self.left(
                "TL002",
                f"wandb.init argument {names} is not known to the codemod; remove it or "
                "pass it in backend_options={'wandb': {...}}",
            )
        resuming = self.resume_args(bound)
        if isinstance(resuming, str):
            return self.left("WB013", resuming)
        resume_args, notes = resuming
        for name in ("config_exclude_keys", "config_include_keys"):
            if name in bound:
                return self.left(
                    "TL002",
                    f"wandb.init({name}=...) filters the config; filter it yourself and pass "
                    "start_logging(config={k: v ...})",
                )
        if "config" in bound and string_value(bound.value("config")) is not None:
            return self.left(
                "TL002",
                "wandb.init(config=<file>) reads a config file; load it (yaml.safe_load) "
                "and pass the dict as config=",
            )
        to_wandb = "wandb" in self.targets
        mode = literal(bound.value("mode"))
        if not to_wandb and mode not in (None, "online", "offline", "shared"):
            return self.left(
                "TL002",
                "wandb.init(mode=...) may disable the run; add wandb to --to (it is "
                "carried in backend_options) or drop mode=",
            )
        carried = [name for name in _CARRIED if name in bound] if to_wandb else []
        for name, arg in bound.named.items():
            if name in _DROPPED_WARN and name not in carried:
                notes.append(_DROPPED_WARN[name])
            elif name in ("sync_tensorboard", "tensorboard") and literal(arg.value) is not False:
                notes.append(
                    f"{name}= dropped: SummaryWriter calls reach W&B through tracelet; "
                    + TB_SYNC_DIFFERENCES
                )
        syncing = any(
            name in ("sync_tensorboard", "tensorboard") and literal(arg.value) is not False
            for name, arg in bound.named.items()
        )
        if not syncing and not {"tensorboard", "patch"} <= self.resolver.collected.attributes:
            notes.extend(self.writer_note())
        switches = _settings_switches(bound.value("settings"))
        if usage.role == Role.WITH:
            self.register_with(usage.context)
        backend = self.backend_code()

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            by_name = {arg.keyword.value: arg for arg in updated.args if arg.keyword is not None}
            args: list = [
                (_RENAMED[arg.keyword.value], arg)
                for arg in updated.args
                if arg.keyword is not None and arg.keyword.value in _RENAMED
            ]
            args.append(("backend", expr(backend)))
            args.extend(resume_args)
            args.extend((name, expr(str(value))) for name, value in switches)
            if carried:
                options = ", ".join(
                    f'"{name}": {self.module.code_for_node(by_name[name].value)}'
                    for name in carried
                )
                args.append(("backend_options", expr(f'{{"wandb": {{{options}}}}}')))
            return call_with(updated, expr("tracelet.start_logging"), args)

        return self.rewrite("WB001", usage.node, transform, notes)

    def _run_handle(self, usage: Usage) -> Decision:
        """``wandb.run``: the run handle, or a check that a run is active."""
        return self.handle_rewrite("WB005", usage, lambda _: expr(ACTIVE_EXPERIMENT))

    # ------------------------------------------------------------------ calls
    def _log(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("data", "step", "commit", "sync"))
        if bound is None or bound.unknown or "data" not in bound:
            return self.left("TL002", unmapped("wandb.log"))
        notes = ["sync= dropped: tracelet delivers in the background"] if "sync" in bound else []
        if not_a_dict_log(self, usage.call):
            notes.append(
                "wandb.log is given a literal, not a dict: W&B raises TypeError here and "
                "tracelet.log raises it too; to log it write tracelet.log({key: value})"
            )

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = [
                (None if arg.keyword is None else arg.keyword.value, arg)
                for arg in updated.args
                if arg.keyword is None or arg.keyword.value != "sync"
            ]
            return call_with(updated, expr("tracelet.log"), args)

        return self.rewrite("WB002", usage.node, transform, notes)

    def _finish(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("exit_code", "quiet"))
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("wandb.finish"))
        exit_code = literal(bound.value("exit_code"))
        index = usage.call.args.index(bound.named["exit_code"]) if "exit_code" in bound else None

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args: list = []
            if isinstance(exit_code, int) and exit_code:
                args.append(("status", expr('"FAILED"')))
            elif exit_code is ... and index is not None:
                value = updated.args[index].value
                code = self.module.code_for_node(value)
                code = code if is_dotted_name(value) else f"({code})"
                args.append(("status", expr(f'"FAILED" if {code} else "FINISHED"')))
            return call_with(updated, expr("tracelet.stop_logging"), args)

        return self.rewrite("WB003", usage.node, transform)

    def _save(self, usage: Usage) -> Decision:
        """``wandb.save(glob, base_path, policy)`` -> ``experiment.save`` with the same
        arguments: the same run file names, globs expanded at the call, the same policy."""
        params = ("glob_str", "base_path", "policy", "glob")
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown or "glob_str" not in bound:
            return self.left("TL002", unmapped("wandb.save"))
        if "glob" in bound and literal(bound.value("glob")) is not True:
            return self.left(
                "WB007",
                "wandb.save(glob=False) saves a literal path; escape it with glob.escape(path) "
                "and experiment.save(<escaped path>)",
            )
        kept = [(name, bound.named[name]) for name in params[:3] if name in bound]
        fallback = self.experiment_code(usage.node)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, fallback)
            args = [
                (None if name == "glob_str" else name, updated.args[usage.call.args.index(arg)])
                for name, arg in kept
            ]
            return call_with(updated, cst.Attribute(value=target, attr=cst.Name("save")), args)

        return self.rewrite("WB007", usage.node, transform)


def _self_attributes(assign: cst.CSTNode) -> list[str]:
    """The ``self.<name>`` targets of an assignment (``self.a, self.b = ...`` too)."""
    targets = [t.target for t in getattr(assign, "targets", ())]
    found = []
    for target in targets:
        items = [e.value for e in target.elements] if isinstance(target, cst.Tuple) else [target]
        found.extend(
            item.attr.value
            for item in items
            if isinstance(item, cst.Attribute) and m.matches(item.value, m.Name("self"))
        )
    return found


def _module_key(path: Path) -> str:
    """``wandb:run.log`` and ``wandb.log`` are the same call to this codemod."""
    if path.kind == RUN:
        return ".".join(("wandb", *path.attrs)) if path.attrs else RUN
    return path.key


# wandb.Settings fields that switch off what tracelet records by default for W&B
_SETTINGS_SWITCHES = {"disable_git": "track_git", "x_disable_stats": "track_system"}


def _settings_switches(settings: cst.BaseExpression | None) -> list[tuple[str, bool]]:
    """``settings=wandb.Settings(disable_git=True)`` -> ``[("track_git", False)]``."""
    if not isinstance(settings, cst.Call):
        return []
    switches = []
    for arg in settings.args:
        name = arg.keyword.value if arg.keyword is not None else None
        if name in _SETTINGS_SWITCHES and isinstance(literal(arg.value), bool):
            switches.append((_SETTINGS_SWITCHES[name], not literal(arg.value)))
    return switches
