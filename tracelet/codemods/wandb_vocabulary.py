"""The W&B calls that go to tracelet's run vocabulary: media values, the run summary,
``define_metric``, ``watch``, artifacts, run identity and resumption.

==========================================================  ==================================
source                                                      migrated
==========================================================  ==================================
``wandb.Image(x, caption=c)`` / ``Histogram`` / ``Table``   ``tracelet.Image(x, caption=c)``,
                                                            ``tracelet.Histogram`` /
                                                            ``tracelet.Table`` (same arguments)
lists of them that only reach ``wandb.log``                 the same lists of tracelet media
                                                            (:mod:`~tracelet.codemods.wandb_media_lists`)
``run.summary[k] = v``, ``wandb.run.summary.update(d)``     ``experiment.summary[k] = v``,
                                                            ``experiment.summary.update(d)``
``wandb.define_metric(n, step_metric=s, summary=m)``        ``experiment.define_metric(...)``
``wandb.watch(model, log=l, log_freq=f)`` / ``unwatch``     ``experiment.watch(...)`` /
                                                            ``unwatch``
``a = wandb.Artifact(n, type=t, metadata=m)``,              ``experiment.log_artifact(p,
``a.add_file(p)`` (or ``add_dir(p)``),                      name=f"{n}/<file>", type=t,
``run.log_artifact(a, aliases=x)``                          metadata=m, aliases=x)``
                                                            (``name=n`` for ``add_dir``)
``run.log_artifact(p, name=n, type=t)``, ``log_model(p)``   ``experiment.log_artifact(p, ...)``
                                                            (``type="model"`` for log_model)
``run.id``, ``run.url``, ``run.name``, ``run.project``      ``experiment.ids["wandb"]``,
                                                            ``experiment.urls["wandb"]``,
                                                            ``experiment.name``, ``.project``
``wandb.init(id=i, resume="must")``                         ``start_logging(resume=i,
                                                            resume_mode="must")``
==========================================================  ==================================

``experiment`` is the migrated run variable, the name bound by the enclosing ``with``, or
``tracelet.get_active_experiment()``. Everything else keeps a TODO whose reason says what to
write instead (see :data:`LEFT_MEDIA` and the ``left`` calls below).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.metadata import ScopeProvider

from tracelet.codemods import report
from tracelet.codemods.base import Decision, TrackerCodemod, receiver, unmapped
from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    expr,
    join_tag,
    literal,
    quote_string,
    string_value,
)
from tracelet.codemods.resolve import Role, Usage
from tracelet.codemods.wandb_media_lists import is_log_call, list_problem
from tracelet.codemods.writer import pure

RUN = "wandb:run"
MEDIA_OBJECT = "wandb:media"
ARTIFACT = "wandb:artifact"

# wandb constructor parameters, in W&B's order, and the ones tracelet's types take
MEDIA_PARAMS = {
    "Image": (
        ("data_or_path", "mode", "caption", "grouping", "classes", "boxes", "masks",
         "file_type", "normalize"),
        {"data_or_path", "mode", "caption"},
    ),
    "Histogram": (("sequence", "np_histogram", "num_bins"),
                  {"sequence", "np_histogram", "num_bins"}),
    "Table": (
        ("columns", "data", "rows", "dataframe", "dtype", "optional", "allow_mixed_types",
         "log_mode"),
        {"columns", "data", "rows", "dataframe"},
    ),
}  # fmt: skip
MEDIA_FACTORIES = {f"wandb.{name}": MEDIA_OBJECT for name in MEDIA_PARAMS} | {
    f"wandb.data_types.{name}": MEDIA_OBJECT for name in MEDIA_PARAMS
}
# media and plot types tracelet has no value for, and what to write instead
LEFT_MEDIA = {
    "Video": "tracelet has no video value; log the frames with "
    "experiment.log_images(key, frames, step=...)",
    "Audio": "tracelet has no audio value; write the clip to a file and "
    "experiment.log_artifact(path, name=...)",
    "plot": "wandb.plot charts are built by W&B; log the underlying data with "
    "tracelet.Table(columns=..., data=...) or a matplotlib figure with "
    "experiment.log_figure(key, figure, step=...)",
    "plot_table": "a custom W&B chart; log its data with tracelet.Table(...)",
    "Html": "tracelet has no HTML value; log it with experiment.log_artifact(html_text, "
    "name=<file>.txt) or keep this file on W&B",
    "Object3D": "tracelet has no 3D value; write the point cloud to a file and "
    "experiment.log_artifact(path, name=...)",
    "Molecule": "tracelet has no molecule value; write it to a file and "
    "experiment.log_artifact(path, name=...)",
    "Plotly": "tracelet has no Plotly value; log a matplotlib figure with "
    "experiment.log_figure(key, figure, step=...)",
    "Bokeh": "tracelet has no Bokeh value; log a matplotlib figure with "
    "experiment.log_figure(key, figure, step=...)",
}
SUMMARY_METHODS = {"update", "get", "keys", "items", "values", "setdefault", "pop"}
DEFINE_METRIC_PARAMS = (
    "name", "step_metric", "step_sync", "hidden", "summary", "goal", "overwrite",
)  # fmt: skip
WATCH_PARAMS = ("models", "criterion", "log", "log_freq", "idx", "log_graph")
LOG_ARTIFACT_PARAMS = ("artifact_or_path", "name", "type", "aliases", "tags")
LOG_MODEL_PARAMS = ("path", "name", "aliases")
ARTIFACT_PARAMS = ("name", "type", "description", "metadata", "incremental", "use_as")
ADD_PARAMS = ("local_path", "name")
# run attributes and what they read as on the experiment ({} is the tracker's key)
IDENTITY = {
    "id": '.ids["{}"]',
    "url": '.urls["{}"]',
    "get_url": '.urls["{}"]',
    "name": ".name",
    "project": ".project",
}
RUN_FOLDER = ".dir"  # run.dir: the run's files folder, kept with the run at its end
RUN_FIELDS_LEFT = {
    "entity": "pass entity= in start_logging(backend_options={'wandb': {'entity': ...}}) and "
    "read it from there",
    "path": "build it from experiment.ids['wandb'] (the W&B run id)",
    "notes": "run notes are not carried over; keep them in experiment.summary['notes']",
}


@dataclass
class _ArtifactGroup:
    """``a = wandb.Artifact(...)``, its ``add_file`` / ``add_dir`` and ``log_artifact(a)``."""

    create: Usage
    adds: list[tuple[Usage, Decision]] = field(default_factory=list)
    logs: list[tuple[Usage, Decision]] = field(default_factory=list)
    args: list[Usage] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    other: bool = False


class WandbVocabulary(TrackerCodemod):
    """The vocabulary rewrites of the W&B codemod (see the module docstring)."""

    def start_vocabulary(self) -> None:
        # the group each artifact name is bound to now (uses come in source order), and
        # every group: a name bound again (one artifact per epoch) starts a new group
        self._artifacts: dict[tuple[int, str], _ArtifactGroup] = {}
        self._artifact_groups: list[_ArtifactGroup] = []

    def tracker_key(self) -> str:
        """The tracker whose id ``run.id`` now reads: W&B when it is still a target."""
        return "wandb" if "wandb" in self.targets else self.targets[0]

    # ------------------------------------------------------------------ media
    def media_value(self, usage: Usage) -> Decision:
        """``wandb.Image(...)`` -> ``tracelet.Image(...)`` with the same arguments."""
        kind = usage.path.attrs[-1]
        params, kept = MEDIA_PARAMS[kind]
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown:
            return self.left("WB100", unmapped(f"wandb.{kind}"))
        extra = sorted(set(bound.named) - kept)
        if kind == "Image" and literal(bound.value("normalize")) is True:
            extra.remove("normalize")
        if extra:
            return self.left(
                "WB100",
                f"wandb.{kind}({', '.join(f'{n}=' for n in extra)}...): tracelet.{kind} takes "
                f"{', '.join(sorted(kept))}; "
                + (
                    "draw boxes or masks into the image before logging it"
                    if kind == "Image"
                    else "build the rows first and pass tracelet.Table(columns=..., data=rows)"
                ),
            )
        if usage.role == Role.RETURN:
            return self.left(
                "WB100",
                f"a wandb.{kind} value returned from a function may reach wandb.log in another "
                f"module; build tracelet.{kind}(...) where it is logged",
            )

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            return updated.with_changes(func=expr(f"tracelet.{kind}"))

        if usage.role == Role.ARG and not_a_dict_log(self, self.resolver.parent(usage.context)):
            return self.rewrite("WB009", usage.node, transform)  # never used: the call raises
        if self._in_list(usage.node) or usage.role == Role.ARG:
            problem = list_problem(self, usage.call, kind)
            if problem is not None:
                return self.left("WB100", problem)
            return self.rewrite("WB014", usage.node, transform)
        return self.rewrite("WB009", usage.node, transform)

    def media_object_use(self, usage: Usage) -> Decision:
        """A name holding a media value: passing it on is fine, its methods are W&B's."""
        if not usage.path.attrs:
            return self.silent()
        node = usage.node.func if isinstance(usage.node, cst.Call) else usage.node
        return self.left(
            "WB100",
            f"{self.code(node)}(): tracelet media values take their data at construction; "
            "collect the rows first and pass tracelet.Table(columns=..., data=rows)",
        )

    def left_media(self, usage: Usage, head: str) -> Decision:
        advice = LEFT_MEDIA.get(head, "tracelet.log takes numbers, tracelet.Image, "
                                "tracelet.Histogram and tracelet.Table")  # fmt: skip
        return self.left("WB100", f"{self.describe(usage)}: {advice}")

    def _in_list(self, node: cst.CSTNode) -> bool:
        parent = self.resolver.parent(node)
        while isinstance(parent, cst.Element | cst.List | cst.Tuple | cst.ListComp):
            if isinstance(parent, cst.List | cst.Tuple | cst.ListComp):
                return True
            parent = self.resolver.parent(parent)
        return False

    # ------------------------------------------------------------------ summary
    def summary(self, usage: Usage) -> Decision:
        attrs = usage.path.attrs
        mapping_use = (len(attrs) == 1 and usage.role in (
            Role.SUBSCRIPT_STORE, Role.SUBSCRIPT_READ, Role.DELETE)) or (
            len(attrs) == 2 and attrs[1] in SUMMARY_METHODS and usage.role == Role.CALL
        )  # fmt: skip
        if not mapping_use:
            return self.left(
                "WB102",
                f"{self.describe(usage)}: experiment.summary is a mapping; write "
                "experiment.summary[key] = value or experiment.summary.update(d)",
            )
        if usage.path.is_object:  # the run variable now holds the experiment
            return self.rewrite("WB010", usage.node, lambda updated: updated)
        summary = expr(f"{self.experiment_code(usage.node)}.summary")
        if usage.role == Role.CALL:

            def transform(updated: cst.CSTNode) -> cst.CSTNode:
                assert isinstance(updated, cst.Call) and isinstance(updated.func, cst.Attribute)
                return updated.with_changes(func=updated.func.with_changes(value=summary))

            return self.rewrite("WB010", usage.node, transform)
        return self.rewrite("WB010", usage.node, lambda _: summary)

    # ------------------------------------------------------------------ define_metric, watch
    def define_metric(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, DEFINE_METRIC_PARAMS)
        if bound is None or bound.unknown or "name" not in bound:
            return self.left(
                "TL002",
                "define_metric with arguments the codemod cannot map; write "
                "experiment.define_metric(name, step_metric=..., summary=...)",
            )
        if usage.result_role != Role.STATEMENT:
            return self.left(
                "WB008",
                "the metric object define_metric returns is used; call "
                "experiment.define_metric(name, step_metric=..., summary=...) as a statement",
            )
        summary = literal(bound.value("summary"))
        if "goal" in bound and not (isinstance(summary, str) and "best" not in summary):
            return self.left(
                "WB008",
                "define_metric(summary='best', goal=...): experiment.define_metric has no "
                "goal; write summary='max' (goal='maximize') or 'min' (goal='minimize')",
            )
        notes = [
            f"{name}= dropped: it only changes how the W&B UI shows the metric"
            for name in ("step_sync", "hidden", "overwrite", "goal")
            if name in bound
        ]
        return self._method_call(
            usage, "define_metric", bound, ("name", "step_metric", "summary"), "WB008", notes
        )

    def watch(self, usage: Usage, method: str) -> Decision:
        if method == "unwatch":
            bound = bind_args(usage.call, ("models",))
            if bound is None or bound.unknown:
                return self.left("TL002", unmapped("unwatch"))
            return self._method_call(usage, "unwatch", bound, ("models",), "WB008")
        bound = bind_args(usage.call, WATCH_PARAMS)
        if bound is None or bound.unknown or "models" not in bound:
            return self.left(
                "TL002",
                "watch with arguments the codemod cannot map; write "
                "experiment.watch(model, log=..., log_freq=...)",
            )
        if isinstance(bound.value("models"), cst.List | cst.Tuple):
            return self.left(
                "WB008",
                "wandb.watch of several models: call experiment.watch(model, log=..., "
                "log_freq=...) once per model",
            )
        if usage.result_role != Role.STATEMENT:
            return self.left(
                "WB008", "the value wandb.watch returns is used; call experiment.watch(...) alone"
            )
        notes = []
        if literal(bound.value("log_graph")) not in (None, False):
            notes.append("log_graph= dropped: the model graph is not logged, only histograms")
        notes += [f"{name}= dropped: W&B does not use it" for name in ("criterion", "idx")
                  if name in bound]  # fmt: skip
        return self._method_call(
            usage, "watch", bound, ("models", "log", "log_freq"), "WB008", notes
        )

    def _method_call(
        self,
        usage: Usage,
        method: str,
        bound,
        kept: tuple[str, ...],
        rule: str,
        notes: Iterable[str] = (),
    ) -> Decision:
        """``<run or wandb>.<f>(...)`` -> ``experiment.<method>(...)``: the first kept
        argument positional, the others by keyword."""
        fallback = self.experiment_code(usage.node)
        indexes = [(name, usage.call.args.index(bound.named[name])) for name in kept
                   if name in bound]  # fmt: skip

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            func = cst.Attribute(value=receiver(updated, usage, fallback), attr=cst.Name(method))
            args = [
                (None if name == kept[0] else name, updated.args[index]) for name, index in indexes
            ]
            return call_with(updated, func, args)

        return self.rewrite(rule, usage.node, transform, list(notes))

    # ------------------------------------------------------------------ identity
    def run_field(self, usage: Usage) -> Decision | None:
        """``run.id`` / ``run.url`` / ``run.name`` read from the run."""
        attrs = usage.path.attrs
        field_name = attrs[0]
        if field_name in RUN_FIELDS_LEFT and len(attrs) == 1:
            return self.left("WB105", f"{self.describe(usage)}: {RUN_FIELDS_LEFT[field_name]}")
        is_folder = field_name == "dir"
        if not (is_folder or field_name in IDENTITY) or len(attrs) != 1:
            return None
        if usage.role in (Role.STORE, Role.DELETE):
            return self.left(
                "WB105",
                f"{self.describe(usage)} is set; "
                + (
                    "W&B chooses its run folder: write the files into experiment.dir"
                    if is_folder
                    else "give the name at start: tracelet.start_logging(exp_name=...)"
                ),
            )
        is_call = field_name == "get_url"
        if is_call != (usage.role == Role.CALL):
            return None
        notes = []
        if is_folder:
            suffix, rule = RUN_FOLDER, "WB017"
            if "wandb" not in self.targets:
                notes.append(
                    f"the files written into run.dir are kept as {self.tracker_key()} "
                    "artifacts at their paths in the folder"
                )
        else:
            suffix = self.quoted_for(usage.node, IDENTITY[field_name].format(self.tracker_key()))
            rule = "WB011"
        if field_name in ("id", "url", "get_url") and "wandb" not in self.targets:
            notes.append(f"run.{field_name} now reads the {self.tracker_key()} run's")

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            attribute = updated.func if isinstance(updated, cst.Call) else updated
            assert isinstance(attribute, cst.Attribute)
            return expr(self.module.code_for_node(attribute.value) + suffix)

        return self.rewrite(rule, usage.node, transform, notes)

    # ------------------------------------------------------------------ resume
    def resume_args(self, bound) -> tuple[list[tuple[str, cst.BaseExpression]], list[str]] | str:
        """``start_logging`` arguments for ``wandb.init(id=, resume=)``, with notes, or why
        they cannot be mapped."""
        for name in ("resume_from", "fork_from"):
            if name in bound and literal(bound.value(name)) is not None:
                return (
                    f"wandb.init({name}=...) rewinds or forks a W&B run at a step; tracelet "
                    "continues a run where it ended: start_logging(resume=<run id>)"
                )
        run_id, resume = bound.value("id"), bound.value("resume")
        mode_value = literal(resume)
        if literal(run_id) is None:
            if mode_value in (True, "auto"):
                return (
                    "wandb.init(resume=True/'auto') resumes the last run W&B recorded in this "
                    "folder; pass that run's id: start_logging(resume=<run id>)"
                )
            if mode_value in (None, False, "allow", "never"):
                dropped = [] if resume is None else ["resume= dropped: there is no id to resume"]
                return [], dropped
            return "wandb.init(resume=<expression>) without id=; pass start_logging(resume=<id>)"
        if "wandb" not in self.targets:
            return (
                "wandb.init(id=...) names a W&B run, and this migration does not log to W&B; "
                "drop id=/resume= or add wandb to --to"
            )
        notes: list[str] = []
        mode = _resume_mode(resume, run_id, self.module)
        if mode is None:
            return (
                f"wandb.init(resume={self.module.code_for_node(resume)}): tracelet's "
                "resume_mode is 'allow' or 'must'; write start_logging(resume=<id>, "
                "resume_mode='allow'|'must')"
            )
        branches = (resume.body, resume.orelse) if isinstance(resume, cst.IfExp) else (resume,)
        if any(literal(branch) in (None, False) for branch in branches):
            notes.append(
                "id= without resume=: tracelet resumes the W&B run with that id if it exists "
                "(resume_mode='allow'); what W&B does with an existing id and no resume= "
                "depends on its version and server"
            )
        resume_code = self.module.code_for_node(run_id)
        if len(self.targets) > 1:
            resume_code = f'{{"wandb": {resume_code}}}'
        args = [("resume", expr(resume_code))]
        if mode == "must":
            args.append(("resume_mode", expr('"must"')))
        return args, notes

    # ------------------------------------------------------------------ artifacts
    def artifact_created(self, usage: Usage) -> Decision:
        """``a = wandb.Artifact(...)``: decided with its ``add_*`` and ``log_artifact``."""
        assign = usage.context
        if not (
            usage.role == Role.BIND
            and isinstance(assign, cst.Assign)
            and len(assign.targets) == 1
            and isinstance(assign.targets[0].target, cst.Name)
        ):
            return self.left("WB103", _ARTIFACT_ADVICE)
        decision = Decision(report.REWRITTEN, "WB012")
        group = _ArtifactGroup(usage, decisions=[decision])
        self._artifacts[self._artifact_key(assign.targets[0].target)] = group
        self._artifact_groups.append(group)
        return decision

    def artifact_use(self, usage: Usage) -> Decision:
        group = self._artifacts.get(self._artifact_key(self._root_name(usage.node)))
        attrs = usage.path.attrs
        if group is None:
            return self.left("WB103", _ARTIFACT_ADVICE)
        decision = Decision(report.REWRITTEN, "WB012", report=False)
        group.decisions.append(decision)
        if attrs and attrs[0] in ("add_file", "add_dir") and len(attrs) == 1:
            if usage.role == Role.CALL and usage.result_role == Role.STATEMENT:
                group.adds.append((usage, decision))
                return decision
        elif not attrs and usage.role == Role.ARG:
            group.args.append(usage)  # checked against its log_artifact call
            return decision
        elif attrs and attrs[0] == "add_reference":
            decision.action, decision.rule = report.LEFT, "WB103"
            decision.reason = (
                "artifact.add_reference stores a link, not the file; tracelet logs files: "
                "download it and experiment.log_artifact(path, name=...)"
            )
            return decision
        group.other = True
        return decision

    def log_artifact(self, usage: Usage, method: str) -> Decision:
        params = LOG_MODEL_PARAMS if method == "log_model" else LOG_ARTIFACT_PARAMS
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown or params[0] not in bound:
            return self.left("TL002", unmapped(f"{method}"))
        if literal(bound.value("tags")) is not None:
            return self.left(
                "WB103",
                "log_artifact(tags=...): tracelet artifacts have no tags; put them in "
                "metadata= of experiment.log_artifact(path, name=..., metadata=...)",
            )
        first = bound.value(params[0])
        group = None
        if isinstance(first, cst.Name):
            group = self._artifacts.get(self._artifact_key(first))
        if group is not None:
            decision = Decision(report.REWRITTEN, "WB012")
            group.logs.append((usage, decision))
            return decision
        if self.resolver.eval_path(first) is not None:
            return self.left("WB103", _ARTIFACT_ADVICE)
        notes = []
        if "name" not in bound:
            notes.append(
                "W&B named the artifact run-<run id>-<file name>; tracelet names it after the file"
            )
        kept = ("path", "name", "aliases") if method == "log_model" else (
            "artifact_or_path", "name", "type", "aliases")  # fmt: skip
        decision = self._method_call(usage, "log_artifact", bound, kept, "WB012", notes)
        if method == "log_model":
            decision.transforms = [
                (node, _add_keyword(transform, "type", '"model"'))
                for node, transform in decision.transforms
            ]
        return decision

    def finish_artifacts(self) -> None:
        for group in self._artifact_groups:
            problem = self._artifact_problem(group)
            if problem is not None:
                for decision in group.decisions + [d for _, d in group.logs]:
                    if decision.action == report.REWRITTEN:
                        _make_left(decision, problem)
                group.decisions[0].report = True
                continue
            self._plan_artifact(group)

    def _artifact_problem(self, group: _ArtifactGroup) -> str | None:
        create = bind_args(group.create.call, ARTIFACT_PARAMS)
        if create is None or create.unknown or "name" not in create:
            return "wandb.Artifact with arguments the codemod cannot map; " + _ARTIFACT_ADVICE
        if literal(create.value("incremental")) not in (None, False) or "use_as" in create:
            return "wandb.Artifact(incremental=/use_as=) edits an existing W&B artifact"
        logged = [self.resolver.parent(u.context) for u in group.args]
        if group.other or len(group.logs) != 1 or logged != [group.logs[0][0].node]:
            return (
                "the artifact object is used for more than one add_file/add_dir and one "
                "log_artifact; " + _ARTIFACT_ADVICE
            )
        if len(group.adds) != 1:
            return (
                "an artifact of several files: put them in one folder and call "
                "experiment.log_artifact(folder, name=..., type=...)"
            )
        add_usage = group.adds[0][0]
        add = bind_args(add_usage.call, ADD_PARAMS)
        if add is None or add.unknown or "local_path" not in add:
            return "add_file/add_dir with arguments the codemod cannot map; " + _ARTIFACT_ADVICE
        local_path = add.value("local_path")
        if (
            add_usage.path.attrs[0] == "add_file"
            and "name" not in add
            and _last_literal(local_path) is None
            and not pure(local_path)
        ):
            return (
                "add_file(<expression>): bind the path to a name first, then "
                "experiment.log_artifact(path, name=f'<artifact>/<file name>', ...)"
            )
        statements = [
            self.resolver.statement_of(u.node)
            for u in (group.create, group.adds[0][0], group.logs[0][0])
        ]
        block = self.resolver.parent(statements[0])
        body = getattr(block, "body", ())
        in_order = all(self.resolver.parent(s) is block for s in statements) and [
            body.index(s) for s in statements
        ] == sorted(body.index(s) for s in statements)
        if not in_order:
            return (
                "wandb.Artifact, add_file and log_artifact are in different blocks; bring "
                "them together or write experiment.log_artifact(path, name=..., type=...)"
            )
        return None

    def _plan_artifact(self, group: _ArtifactGroup) -> None:
        """One ``experiment.log_artifact(path, name="<artifact>/<entry>", ...)``: W&B's
        artifact ``<artifact>`` holding the file (or folder) as ``<entry>``, its name inside
        the artifact (an ``add_dir`` without ``name=`` puts the files at the root)."""
        create = bind_args(group.create.call, ARTIFACT_PARAMS)
        add_usage, add_decision = group.adds[0]
        add = bind_args(add_usage.call, ADD_PARAMS)
        log_usage, log_decision = group.logs[0]
        log = bind_args(log_usage.call, LOG_ARTIFACT_PARAMS)
        assert create is not None and add is not None and log is not None
        # the moved arguments, as the rewrite left them (they may hold run.id, ...)
        moved = [(None, add.named["local_path"]), ("name", create.named["name"])]
        moved += [(n, create.named[n]) for n in ("type", "metadata") if n in create]
        entry = add.named.get("name")
        recorded = [arg for _, arg in moved] + ([entry] if entry is not None else [])
        rewritten: dict[int, cst.BaseExpression] = {}

        def record(updated: cst.CSTNode, original: cst.Arg) -> cst.CSTNode:
            assert isinstance(updated, cst.Arg)
            rewritten[id(original)] = updated.value
            return updated

        file_name = None
        if add_usage.path.attrs[0] == "add_file" and entry is None:
            known = _last_literal(add.value("local_path"))
            if known is not None:
                file_name = expr(quote_string(known))
            elif not _imports_os(self.module):
                log_decision.imports.append("os")
        aliases = log.named.get("aliases")
        fallback = self.experiment_code(log_usage.node)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            func = cst.Attribute(
                value=receiver(updated, log_usage, fallback), attr=cst.Name("log_artifact")
            )
            new_args: list = [(kw, rewritten[id(arg)]) for kw, arg in moved]
            inside = rewritten[id(entry)] if entry is not None else file_name
            if inside is None and add_usage.path.attrs[0] == "add_file":
                path_code = self.module.code_for_node(new_args[0][1])
                inside = expr(f"os.path.basename({path_code})")
            if inside is not None:
                new_args[1] = ("name", expr(_entry_name(self.module, new_args[1][1], inside)))
            if aliases is not None:
                index = log_usage.call.args.index(aliases)
                new_args.append(("aliases", updated.args[index]))
            return call_with(updated, func, new_args)

        log_decision.transforms = [(log_usage.node, transform)]
        if "description" in create:
            log_decision.notes.append(
                "description= dropped: tracelet artifacts carry metadata=, not a description"
            )
        creation = group.decisions[0]
        creation.remove = group.create.context
        creation.reason = "folded into experiment.log_artifact(...)"
        creation.uses_tracelet = False
        creation.side_transforms = [
            (arg, lambda updated, arg=arg: record(updated, arg)) for arg in recorded
        ]
        add_decision.remove = self.resolver.parent(add_usage.node)
        add_decision.uses_tracelet = False
        add_decision.report = True
        add_decision.reason = "folded into experiment.log_artifact(...) as the entry of its name"

    def _artifact_key(self, name: cst.CSTNode | None) -> tuple[int, str]:
        if not isinstance(name, cst.Name):
            return (0, "")
        scope = self.get_metadata(ScopeProvider, name, None)
        return (id(scope), name.value)

    def _root_name(self, node: cst.CSTNode) -> cst.CSTNode:
        while isinstance(node, cst.Call | cst.Attribute):
            node = node.func if isinstance(node, cst.Call) else node.value
        return node


_ARTIFACT_ADVICE = (
    "write the file or folder, then experiment.log_artifact(path, name=..., type=..., "
    "metadata=..., aliases=...)"
)


def not_a_dict_log(codemod: TrackerCodemod, call: cst.CSTNode | None) -> bool:
    """``wandb.log("name", value)``: a literal that is not a dict where the dict goes. W&B
    raises TypeError ("wandb.log must be passed a dictionary") and so does tracelet.log."""
    if not is_log_call(codemod, call):
        return False
    assert isinstance(call, cst.Call)
    bound = bind_args(call, ("data", "step", "commit", "sync"))
    return bound is not None and "data" in bound and literal(bound.value("data")) is not ...


def _imports_os(module: cst.Module) -> bool:
    """``import os`` at the top of the module (then adding it again is a slow no-op)."""
    return any(
        m.matches(
            line,
            m.SimpleStatementLine(
                body=[m.Import(names=[m.ImportAlias(name=m.Name("os"), asname=None)])]
            ),
        )
        for line in module.body
    )


def _entry_name(module: cst.Module, artifact: cst.BaseExpression, entry: cst.BaseExpression) -> str:
    """Source of ``"<artifact>/<entry>"``: an f-string when the artifact name is a name or
    a string, else ``<artifact> + "/<entry>"``."""
    if isinstance(artifact, cst.Name | cst.Attribute | cst.SimpleString | cst.FormattedString):
        return join_tag(module, artifact, entry)
    left = module.code_for_node(artifact)
    if not isinstance(artifact, cst.BinaryOperation | cst.Call | cst.Subscript):
        left = f"({left})"
    text = string_value(entry)
    if text is not None:
        return f"{left} + {quote_string('/' + text)}"
    return f'{left} + "/" + {module.code_for_node(entry)}'


def _last_literal(node: cst.BaseExpression | None) -> str | None:
    """The file name a path expression ends with, when it is written out."""
    text = string_value(node)
    if text is not None:
        return posixpath.basename(text)
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
        return _last_literal(node.right)
    if isinstance(node, cst.Call) and node.args:
        return _last_literal(node.args[-1].value)
    return None


def _resume_mode(
    resume: cst.BaseExpression | None, run_id: cst.BaseExpression, module: cst.Module
) -> str | None:
    """tracelet's ``resume_mode`` for W&B's ``resume=`` when an id is given, else None.

    Each branch of ``resume=<a> if c else <b>`` is mapped; a ``None`` branch taken only
    when ``id=`` is ``None`` too (``id=x if c else None``) resumes nothing and is ignored."""
    if not isinstance(resume, cst.IfExp):
        return _MODES.get(literal(resume))  # type: ignore[arg-type]
    modes = (_resume_mode(resume.body, run_id, module), _resume_mode(resume.orelse, run_id, module))
    if modes[0] == modes[1]:
        return modes[0]
    if isinstance(run_id, cst.IfExp) and (
        module.code_for_node(resume.test) == module.code_for_node(run_id.test)
    ):
        for index, branch in enumerate((resume.body, resume.orelse)):
            id_branch = (run_id.body, run_id.orelse)[index]
            if literal(branch) is None and literal(id_branch) is None:
                return modes[1 - index]
    return None


# W&B resume= values when an id is given: "never" (fail if the run exists) has no match
_MODES = {None: "allow", False: "allow", True: "allow", "allow": "allow", "auto": "allow",
          "must": "must"}  # fmt: skip


def _add_keyword(transform, keyword: str, code: str):
    def wrapped(updated: cst.CSTNode) -> cst.CSTNode:
        call = transform(updated)
        assert isinstance(call, cst.Call)
        items = [(a.keyword.value if a.keyword else None, a) for a in call.args]
        return call_with(call, call.func, [*items, (keyword, expr(code))])

    return wrapped


def _make_left(decision: Decision, reason: str) -> None:
    decision.action, decision.rule, decision.reason = report.LEFT, "WB103", reason
    decision.transforms, decision.remove = [], None
    decision.report = True
