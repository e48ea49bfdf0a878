"""ClearML (and its former name ``trains``) -> tracelet.

===================================================  ============================================
source                                               migrated
===================================================  ============================================
``task = Task.init(project_name=P, task_name=N)``    ``task = tracelet.start_logging(project=P,
                                                     exp_name=N, backend="clearml")``
``cfg = task.connect(cfg)``                          ``cfg = task.log_params(cfg)`` (returns cfg)
``logger = task.get_logger()``, ``task.logger``      ``logger = task``
``Logger.current_logger()``, ``Task.current_task()`` ``tracelet.get_active_experiment()``
``logger.report_scalar(t, s, value=v, iteration=i)``  ``logger.log_metric(f"{t}/{s}", v, step=i)``
                                                     (``"acc"`` for ``("acc", "acc")``)
``logger.report_text(msg)``                          ``print(msg)``
``task.upload_artifact(name, artifact_object=x)``    ``task.log_artifact(x, name=name)`` (a path,
                                                     a wildcard, any object: decided at run
                                                     time by ClearML's rule)
``task.close()``, ``task.mark_completed()``           ``tracelet.stop_logging()``
===================================================  ============================================

A task or logger variable now holds the tracelet experiment, so the methods called on it
are rewritten wherever the codemod can follow it: in the same scope, through module
globals (``global logger``), ``self.logger`` in the same class, and into functions of the
same file that receive it as a parameter at every call. Where it escapes further
(stored in a container, passed to code from another module, returned), the call site is
left with a TODO and the file keeps ClearML.

The scalar key is the key ClearML's own ``(title, series)`` reads back as,
:func:`tracelet.naming.key_from_clearml`, which tracelet's ClearML backend writes back to
the same pair: ``title/series``, or just ``title`` when the two are equal (ClearML's
TensorBoard binding reports a key without ``/`` as ``(key, key)``). It is computed when
the code is migrated if title and series are literals, or when the series cannot equal
the title (``("eval", f"{name}_avg")``); otherwise at run time, with
``tracelet.naming.key_from_clearml(title, series)``. A literal series that contains ``/``
is left: ClearML's graph would split differently.

Media, single values, sections and artifacts of objects: :mod:`clearml_vocabulary`. Left:
plots tracelet has no value for (``report_plotly``, ``report_scatter2d``, ...) and other
Task methods (``execute_remotely``, ``get_parameters``, ...),
each with what to write instead.

``Task.init``'s seeding and argparse capture are repeated in the migrated code (see
:mod:`tracelet.codemods.clearml_effects`). Not a call site, so not migrated: the framework
outputs and the console ClearML captured by itself.
"""

from __future__ import annotations

from typing import ClassVar

import libcst as cst

from tracelet.codemods.base import ACTIVE_EXPERIMENT, Decision, receiver, unmapped
from tracelet.codemods.clearml_effects import keep_side_effects
from tracelet.codemods.clearml_vocabulary import ClearmlVocabulary
from tracelet.codemods.cstutil import (
    BoundArgs,
    bind_args,
    call_with,
    expr,
    join_tag,
    literal,
    quote_string,
    string_shape,
    string_value,
)
from tracelet.codemods.resolve import Role, Usage
from tracelet.codemods.writer import add_scalar

TASK = "clearml:task"
LOGGER = "clearml:logger"
DATASET = "clearml:dataset"

INIT_PARAMS = (
    "project_name",
    "task_name",
    "task_type",
    "tags",
    "reuse_last_task_id",
    "continue_last_task",
    "output_uri",
    "auto_connect_arg_parser",
    "auto_connect_frameworks",
    "auto_resource_monitoring",
    "auto_connect_streams",
    "deferred_init",
)
_INIT_RENAMED = {"project_name": "project", "task_name": "exp_name"}
_INIT_NOTES = {
    "task_type": "task_type= dropped: only a Task.TaskTypes member or its name is carried "
    "over (backend_options={'clearml': {'task_type': ...}})",
    "tags": "tags= dropped: ClearML task tags are labels, not tracelet key/value tags",
    "output_uri": "output_uri= dropped: tracelet's ClearML backend decides where files go",
}
NO_RUN_TASK = {
    "set_offline", "is_offline", "set_credentials", "get_task", "get_tasks", "get_project_id",
    "get_projects", "running_locally", "add_requirements", "force_requirements_env_freeze",
    "ignore_requirements", "enqueue", "dequeue", "create", "clone", "get_by_name",
    "debug_simulate_remote_task", "TaskTypes", "set_random_seed",
}  # fmt: skip
NO_RUN = {"Dataset", "StorageManager", "InputModel", "Model", "backend_api", "__version__",
          "task_parameters"}  # fmt: skip
DATASET_FACTORIES = ("get", "create", "squash")


class ClearmlToTracelet(ClearmlVocabulary):
    """Rewrite direct ClearML (or trains) calls into tracelet calls."""

    DESCRIPTION = "Rewrite ClearML Task.init/connect/report_scalar/... into tracelet (to ClearML)."
    SOURCE = "clearml"
    TRACKER_NAME = "ClearML"
    ROOTS: ClassVar[dict[str, str]] = {"clearml": "clearml", "trains": "clearml"}
    CALL_FACTORIES: ClassVar[dict[str, str]] = {
        "clearml.Task.init": TASK,
        "clearml.task.Task.init": TASK,
        "clearml.Task.current_task": TASK,
        "clearml.task.Task.current_task": TASK,
        "clearml.Logger.current_logger": LOGGER,
        "clearml.logger.Logger.current_logger": LOGGER,
        "clearml:task.get_logger": LOGGER,
        **{f"clearml.Dataset.{name}": DATASET for name in DATASET_FACTORIES},
    }
    ATTR_FACTORIES: ClassVar[dict[str, str]] = {"clearml:task.logger": LOGGER}
    START_KEYS: ClassVar[frozenset[str]] = frozenset(
        {"clearml.Task.init", "clearml.task.Task.init"}
    )

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._inits: list[tuple[Usage, Decision, BoundArgs]] = []
        self._seed_calls: list[Usage] = []
        self.reports_pixels = False  # set by a report_image(image=...) rewrite
        return super().transform_module_impl(tree)

    def handle(self, usage: Usage) -> Decision | None:
        path = usage.path
        if path.kind == DATASET or (usage.factory and path.key.startswith("clearml.Dataset.")):
            return self.kept(f"{self.describe(usage)} needs no ClearML task")
        if usage.factory:
            if path.key.endswith("Task.init"):
                return self._task_init(usage)
            return self._handle_factory(usage)
        if usage.role == Role.ANNOTATION:
            return self.silent()
        if not path.attrs:
            if usage.role == Role.BIND and not path.is_object:
                # ``self.clearml = clearml``: the module as an "is it installed" flag
                return self.kept(f"{self.code(usage.node)} bound to a name needs no task")
            return None
        method = path.attrs[0]
        if path.kind == TASK:
            return self._task_method(usage, method)
        if path.kind == LOGGER:
            return self._logger_method(usage, method)
        attrs = path.attrs[1:] if path.attrs[0] in ("task", "logger") else path.attrs
        if attrs[0] in NO_RUN:
            return self.kept(f"{self.describe(usage)} needs no ClearML task")
        if attrs[0] == "Task" and len(attrs) > 1 and attrs[1] in NO_RUN_TASK:
            if attrs[1] == "TaskTypes":
                return self._task_type(usage)
            if attrs[1] == "set_random_seed" and usage.role == Role.CALL:
                self._seed_calls.append(usage)
            return self.kept(f"{self.describe(usage)} needs no running task")
        return None

    # ------------------------------------------------------------------ factories
    def _task_init(self, usage: Usage) -> Decision:
        escaped = self.start_escapes(usage)
        if escaped is not None:
            return escaped
        bound = bind_args(usage.call, INIT_PARAMS)
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("Task.init"))
        if literal(bound.value("continue_last_task")) not in (None, False):
            return self.left("TL002", "Task.init(continue_last_task=...) continues an old task")
        task_type = self._task_type_name(bound.value("task_type"))
        notes = [
            _INIT_NOTES[name]
            for name in bound.named
            if name in _INIT_NOTES and (name != "task_type" or task_type is None)
        ]
        if usage.role == Role.WITH:
            self.register_with(usage.context)
        backend = self.backend_code()
        indexes = [
            (_INIT_RENAMED[name], usage.call.args.index(arg))
            for name, arg in bound.named.items()
            if name in _INIT_RENAMED
        ]
        indexes.sort(key=lambda item: item[1])
        # ClearML's resource monitor is tracelet's system metrics (on by default for both)
        monitoring = (
            literal(bound.value("auto_resource_monitoring"))
            if "auto_resource_monitoring" in bound.named
            else None
        )
        switches = [("track_system", expr("False"))] if monitoring is False else []

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args: list = [(kw, updated.args[i]) for kw, i in indexes]
            options = self._backend_options(task_type)
            return call_with(
                updated,
                expr("tracelet.start_logging"),
                [*args, ("backend", expr(backend)), *switches, *options],
            )

        decision = self.rewrite("CL001", usage.node, transform, notes)
        if not self.writer_routes.start(usage, decision):
            return self.left(
                "TL002", "Task.init inside a larger statement: its seeding cannot follow it"
            )
        self._inits.append((usage, decision, bound))
        return decision

    def _backend_options(self, task_type: str | None) -> list[tuple[str, cst.BaseExpression]]:
        """``backend_options`` for what ClearML's own task would hold: its task type
        (``"training"`` is the default of both) and, when the file reports images as
        pixels, ClearML's own encoding of them (``encode_images``)."""
        options = []
        if task_type not in (None, "training"):
            options.append(f'"task_type": {quote_string(task_type)}')
        if self.reports_pixels:
            options.append('"encode_images": True')
        if not options:
            return []
        return [("backend_options", expr('{"clearml": {' + ", ".join(options) + "}}"))]

    def _task_type_name(self, node: cst.BaseExpression | None) -> str | None:
        """The ClearML task type ``node`` names: ``Task.TaskTypes.testing`` or ``"testing"``."""
        if node is None:
            return None
        text = string_value(node)
        if text is not None:
            return text
        if (
            isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Attribute)
            and node.value.attr.value == "TaskTypes"
        ):
            return node.attr.value
        return None

    def _task_type(self, usage: Usage) -> Decision:
        """``Task.TaskTypes.t`` as ``Task.init``'s ``task_type`` becomes the option's value
        (see ``_task_init``); elsewhere it is ClearML code that needs no task."""
        arg = self.resolver.parent(usage.node)
        call = self.resolver.parent(arg) if isinstance(arg, cst.Arg) else None
        name = self._task_type_name(usage.node)
        if (
            name is None
            or not isinstance(call, cst.Call)
            or arg.keyword is None
            or arg.keyword.value != "task_type"
            or not self.module.code_for_node(call.func).endswith("Task.init")
        ):
            return self.silent()
        return self.rewrite("CL013", usage.node, lambda _: expr(quote_string(name)))

    def finish_analysis(self) -> None:
        keep_side_effects(self, self._inits, self._seed_calls)

    def _handle_factory(self, usage: Usage) -> Decision:
        """``get_logger()``, ``task.logger``, ``current_task()``, ``current_logger()``."""
        key = usage.path.key
        if key in ("clearml:task.get_logger", "clearml:task.logger"):
            if isinstance(usage.node, cst.Call):

                def transform(updated: cst.CSTNode) -> cst.CSTNode:
                    assert isinstance(updated, cst.Call) and isinstance(updated.func, cst.Attribute)
                    return updated.func.value
            else:

                def transform(updated: cst.CSTNode) -> cst.CSTNode:
                    assert isinstance(updated, cst.Attribute)
                    return updated.value
        else:

            def transform(updated: cst.CSTNode) -> cst.CSTNode:
                return expr(ACTIVE_EXPERIMENT)

        return self.handle_rewrite("CL003", usage, transform)

    # ------------------------------------------------------------------ task methods
    def _task_method(self, usage: Usage, method: str) -> Decision:
        field = self.task_field(usage, method)
        if field is not None:
            return field
        if usage.role != Role.CALL or len(usage.path.attrs) != 1:
            return self.left(
                "CL102",
                f"{self.describe(usage)}: the experiment has ids, urls, name and project; "
                "read other task fields from ClearML with Task.get_task(experiment.ids['clearml'])",
            )
        if method == "connect":
            return self._connect(usage)
        if method in ("close", "mark_completed"):
            if usage.call.args:
                return self.left(
                    "TL002",
                    f"{method}() with arguments: write tracelet.stop_logging() "
                    "(status='FAILED' for a failed task)",
                )
            return self.rewrite(
                "CL005", usage.node, lambda u: call_with(u, expr("tracelet.stop_logging"), [])
            )
        if method == "upload_artifact":
            return self._upload_artifact(usage)
        if method == "connect_configuration":
            return self.connect_configuration(usage)
        if method == "register_artifact":
            return self.register_artifact(usage)
        if method == "get_registered_artifacts":
            return self.registered_artifacts(usage)
        if method == "set_user_properties":
            return self.user_properties(usage)
        if method == "get_parameters":
            return self.get_parameters(usage)
        if method in ("get_reported_single_value", "get_reported_single_values"):
            return self.reported_single_values(usage, method)
        return self.left("CL102", _TASK_LEFT.get(method, _TASK_OTHER).format(self.describe(usage)))

    def _connect(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("mutable", "name", "ignore_remote_overrides"))
        if bound is None or bound.unknown or "mutable" not in bound:
            return self.left("TL002", unmapped("connect"))
        index = usage.call.args.index(bound.named["mutable"])
        if literal(bound.value("name")) is not None:
            return self.connect_section(usage, bound.named["name"], index)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("log_params"))
            return call_with(updated, func, [(None, updated.args[index])])

        return self.rewrite("CL002", usage.node, transform)

    def _upload_artifact(self, usage: Usage) -> Decision:
        bound = bind_args(
            usage.call,
            (
                "name",
                "artifact_object",
                "metadata",
                "delete_after_upload",
                "auto_pickle",
                "preview",
                "wait_on_upload",
            ),
        )
        if bound is None or bound.unknown or not {"name", "artifact_object"} <= set(bound.named):
            return self.left("TL002", unmapped("upload_artifact"))
        extra = set(bound.named) - {"name", "artifact_object", "wait_on_upload", "metadata",
                                    "preview", "auto_pickle"}  # fmt: skip
        if extra:
            return self.left(
                "TL002",
                f"upload_artifact({', '.join(sorted(extra))}=...): write "
                "experiment.log_artifact(path_or_object, name=..., metadata=...)",
            )
        name_index = usage.call.args.index(bound.named["name"])
        object_index = usage.call.args.index(bound.named["artifact_object"])
        return self.log_artifact_call(usage, bound, name_index, object_index)

    # ------------------------------------------------------------------ logger methods
    def _logger_method(self, usage: Usage, method: str) -> Decision:
        if usage.role != Role.CALL or len(usage.path.attrs) != 1:
            return self.left(
                "TL002",
                f"{self.describe(usage)}: the logger is now the experiment; call its log_metric, "
                "log_image, log_figure, log_histogram, log_table or summary",
            )
        if method == "report_scalar":
            return self._report_scalar(usage)
        if method == "report_text":
            return self._report_text(usage)
        if method == "flush":
            return self.remove_statement("CL008", usage)
        if method == "report_single_value":
            return self.single_value(usage)
        media = self.report_media(usage, method)
        if media is not None:
            return media
        if method.startswith("report_"):
            return self.left("CL100", _REPORT_LEFT.get(method, _REPORT_OTHER).format(method))
        return self.left(
            "TL002",
            f"logger.{method}: the experiment logs with log_metric, log_image, log_figure, "
            "log_histogram, log_table and log_text",
        )

    def _report_scalar(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("title", "series", "value", "iteration"))
        if bound is None or bound.unknown or len(bound.named) != 4:
            return self.left("TL002", unmapped("report_scalar"))
        series = string_value(bound.value("series"))
        if series is not None and "/" in series:
            return self.left(
                "TL002",
                "a series containing '/' cannot be kept apart from its title; replace the '/' in "
                "the series (e.g. with '_') and this call migrates",
            )
        at_run_time = self.key_expression(bound.value("title"), bound.value("series"))[1]
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = updated.args
            title, series = args[index["title"]].value, args[index["series"]].value
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("log_metric"))
            new_args = [
                (None, expr(self.key_expression(title, series)[0])),
                (None, args[index["value"]]),
                ("step", args[index["iteration"]]),
            ]
            return call_with(updated, func, new_args)

        decision = self.rewrite("CL004", usage.node, transform)
        if at_run_time:
            decision.imports.append("tracelet.naming")

        def on_writer(writer: str):
            def to_writer(updated: cst.CSTNode) -> cst.CSTNode:
                assert isinstance(updated, cst.Call)
                args = updated.args
                title, series = args[index["title"]].value, args[index["series"]].value
                key = expr(self._key_code(title, series, at_run_time))
                return add_scalar(writer, key, args[index["value"]], args[index["iteration"]])

            return usage.node, to_writer

        self.writer_routes.offer(usage, decision, on_writer, needs_run=True)
        return decision

    def key_expression(
        self, title: cst.BaseExpression, series: cst.BaseExpression
    ) -> tuple[str, bool]:
        """Code for the key ClearML's own ``(title, series)`` reads back as
        (:func:`tracelet.naming.key_from_clearml`), and whether it is computed at run time."""
        at_run_time = _may_collapse(title, series)
        return self._key_code(title, series, at_run_time), at_run_time

    def _key_code(
        self, title: cst.BaseExpression, series: cst.BaseExpression, at_run_time: bool
    ) -> str:
        if at_run_time:
            codes = (self.module.code_for_node(title), self.module.code_for_node(series))
            return f"tracelet.naming.key_from_clearml({codes[0]}, {codes[1]})"
        title_text = string_value(title)
        if title_text is not None and title_text == string_value(series):
            return self.module.code_for_node(title)
        return join_tag(self.module, title, series)

    def _report_text(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("msg", "level", "print_console"))
        if bound is None or bound.unknown or "msg" not in bound:
            return self.left("TL002", unmapped("report_text"))
        if literal(bound.value("print_console")) not in (None, True):
            return self.left(
                "TL002",
                "report_text(print_console=False) keeps the text out of the console; write "
                "experiment.log_text(key, msg) instead",
            )
        index = usage.call.args.index(bound.named["msg"])

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            return call_with(updated, cst.Name("print"), [(None, updated.args[index])])

        decision = self.rewrite("CL007", usage.node, transform)
        decision.uses_tracelet = False
        return decision


_TASK_OTHER = (
    "{}: tracelet's run does not do this; docs/migrate.md lists the Task calls that migrate "
    "and what to write for the others"
)
_TASK_LEFT = {
    "execute_remotely": "{}: tracelet runs where it is started; enqueue the script with "
    "clearml-task or an agent instead, and drop this call",
    "get_parameters_as_dict": "{}: ClearML returns every section it holds, its own argparse "
    "capture included; keep the values the script passed to experiment.log_params in a "
    "variable and read them there",
    "set_base_docker": "{}: ClearML keeps the container for a ClearML agent that runs the "
    "task remotely (the task's container section); tracelet's ClearML task has none: drop "
    "the call if no agent re-runs the task, or keep this file on ClearML",
    "add_tags": "{}: ClearML tags are labels; tracelet tags are key/value: write "
    "experiment.set_tags({{'tag': 'true'}}) or keep them out",
    "set_parameter": "{}: write experiment.log_params({{name: value}})",
    "set_parameters": "{}: write experiment.log_params(params)",
    "set_parameters_as_dict": "{}: write experiment.log_params(params)",
    "update_output_model": "{}: ClearML registers an output model (the task's Models "
    "section, its own model entry); tracelet's ClearML backend stores files as task "
    "artifacts: write experiment.log_artifact(path, name=..., type='model') where an "
    "artifact is enough, or keep this file on ClearML",
    "get_logger": "{}: the experiment is the logger; call its log_* methods",
}
_REPORT_OTHER = (
    "{} has no experiment method; log the numbers with experiment.log_metric / log_table, "
    "or draw the plot with matplotlib and experiment.log_figure(key, figure, step=...)"
)
_REPORT_LEFT = {
    "report_media": "{}: log an image file with experiment.log_image(key, path, step=...) or "
    "another file with experiment.log_artifact(path, name=...)",
    "report_plotly": "{}: tracelet has no Plotly value; draw it with matplotlib and "
    "experiment.log_figure(key, figure, step=...)",
    "report_confusion_matrix": "{}: log the matrix with experiment.log_table(key, rows, "
    "columns=..., step=...) or a matplotlib figure with experiment.log_figure",
    "report_matrix": "{}: log the matrix with experiment.log_table(key, rows, "
    "columns=..., step=...) or a matplotlib figure with experiment.log_figure",
    "report_scatter2d": "{}: log the points with experiment.log_table(key, rows, columns=..., "
    "step=...) or a matplotlib figure with experiment.log_figure",
    "report_line_plot": "{}: log the points with experiment.log_table(key, rows, columns=..., "
    "step=...) or a matplotlib figure with experiment.log_figure",
}


def _may_collapse(title: cst.BaseExpression | None, series: cst.BaseExpression | None) -> bool:
    """Whether, at run time, ``key_from_clearml(title, series)`` may differ from
    ``f"{title}/{series}"``: when the series may equal the title (ClearML's ``(acc, acc)``
    reads back as ``acc``) or ``"/" + title``. Literals are decided when the code is written."""
    if string_value(title) is not None and string_value(series) is not None:
        return False
    prefix, suffix, exact = string_shape(title)
    slash_title = ("/" + prefix, suffix, None if exact is None else "/" + exact)
    shape = string_shape(series)
    return _may_equal((prefix, suffix, exact), shape) or _may_equal(slash_title, shape)


def _may_equal(a: tuple[str, str, str | None], b: tuple[str, str, str | None]) -> bool:
    """Whether two strings of these shapes (see ``string_shape``) can be equal."""
    if a[2] is not None and b[2] is not None:
        return a[2] == b[2]
    if b[2] is not None:
        a, b = b, a
    if a[2] is not None:
        text, (prefix, suffix, _) = a[2], b
        return (
            text.startswith(prefix)
            and text.endswith(suffix)
            and len(text) >= len(prefix) + len(suffix)
        )
    prefixes_fit = a[0].startswith(b[0]) or b[0].startswith(a[0])
    suffixes_fit = a[1].endswith(b[1]) or b[1].endswith(a[1])
    return prefixes_fit and suffixes_fit
