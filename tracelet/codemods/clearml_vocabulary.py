"""The ClearML calls that go to tracelet's run vocabulary: single values, images, figures,
histograms, tables, object artifacts, parameter sections, user properties and the task id.

=======================================================  =========================================
source                                                   migrated
=======================================================  =========================================
``logger.report_single_value(name, value)``              ``logger.summary[name] = value``
``task.get_reported_single_value(name)``                 ``task.summary.get(name)``
``logger.report_image(t, s, iteration=i, image=m)``      ``logger.log_image(key, m, step=i)``
(or ``local_path=p``), ``report_media`` of an image file
``logger.report_matplotlib_figure(t, s, fig, i)``        ``logger.log_figure(key, fig, step=i)``
                                                         (``plt`` becomes ``plt.gcf()``)
``logger.report_histogram(t, s, values=c, iteration=i)``  ``logger.log_histogram(key, (c,
                                                         list(range(-1, len(c)))), step=i)``
``logger.report_table(t, s, i, table_plot=df)``          ``logger.log_table(key, df, step=i)``
``task.connect(cfg, name="section")``                    ``task.log_params(cfg, section=...)``
``task.connect_configuration(cfg, name=n)``               ``task.log_configuration(n, cfg)``
``task.register_artifact(n, df)``,                        the experiment's methods of the same
``task.get_registered_artifacts()``                      name (the frame stored at the stop)
``task.set_user_properties(k=v)``                        ``task.set_tags({"k": v})``
``task.id``, ``task.name``                               ``task.ids["clearml"]``, ``task.name``
=======================================================  =========================================

``key`` is the key ClearML's own ``(title, series)`` reads back as, as for
``report_scalar``. ClearML's histogram ``values`` are bar heights, not samples, so they are
passed as the counts of a histogram with one unit-wide bin per bar, bin ``i`` ending at
``x = i``: ClearML draws bar ``i`` at ``x = i``, and tracelet's ClearML backend reports a
bin at its right edge, so the bars read back at the same positions.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider, ScopeProvider

from tracelet.codemods.base import ACTIVE_EXPERIMENT, Decision, TrackerCodemod, receiver, unmapped
from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    expr,
    is_dotted_name,
    literal,
    quote_string,
    string_value,
)
from tracelet.codemods.resolve import Role, Usage

IMAGE_PARAMS = ("title", "series", "iteration", "local_path", "image", "matrix",
                "max_image_history", "delete_after_upload", "url")  # fmt: skip
FIGURE_PARAMS = ("title", "series", "figure", "iteration", "report_image", "report_interactive")
HISTOGRAM_PARAMS = ("title", "series", "values", "iteration", "labels", "xlabels", "xaxis",
                    "yaxis", "mode", "data_args", "extra_layout")  # fmt: skip
MEDIA_PARAMS = ("title", "series", "iteration", "local_path", "stream", "file_extension",
                "max_history", "delete_after_upload", "url")  # fmt: skip
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
TABLE_PARAMS = ("title", "series", "iteration", "table_plot", "csv", "url", "extra_layout",
                "extra_data")  # fmt: skip
# arguments that only change how the ClearML UI draws the plot
LAYOUT_ONLY = {"max_image_history", "max_history", "report_image", "report_interactive",
               "xaxis", "yaxis", "extra_layout", "data_args"}  # fmt: skip
PYPLOT = {"plt", "pyplot", "matplotlib.pyplot"}
TASK_FIELDS = {"id": '.ids["{}"]', "name": ".name"}
WEB_PAGE = "get_output_log_web_page"
READ_ONLY_CALLS = {"print", "len", "str", "repr"}


# argument libraries ClearML's Task.init binds besides argparse (clearml/binding/*_bind.py)
CAPTURED_ARGUMENT_LIBRARIES = ("absl", "click", "fire", "hydra", "jsonargparse")


class ClearmlVocabulary(TrackerCodemod):
    """The vocabulary rewrites of the ClearML codemod (see the module docstring).

    The subclass provides ``key_expression(title, series) -> (code, needs_naming)``."""

    #: a ``report_image(image=...)`` was rewritten: the task is started with ClearML's
    #: own encoding of pixel images (``encode_images``)
    reports_pixels = False

    def key_expression(
        self, title: cst.BaseExpression, series: cst.BaseExpression
    ) -> tuple[str, bool]:
        raise NotImplementedError

    def tracker_key(self) -> str:
        return "clearml" if "clearml" in self.targets else self.targets[0]

    # ------------------------------------------------------------------ logger
    def single_value(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("name", "value"))
        if bound is None or bound.unknown or len(bound.named) != 2:
            return self.left("TL002", unmapped("report_single_value"))
        if usage.result_role != Role.STATEMENT:
            return self.left(
                "CL101", "the value report_single_value returns is used; write "
                "experiment.summary[name] = value as a statement",
            )  # fmt: skip
        statement = self.resolver.parent(usage.node)
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Expr) and isinstance(updated.value, cst.Call)
            call = updated.value
            target = receiver(call, usage, ACTIVE_EXPERIMENT)
            name, value = (self.module.code_for_node(call.args[index[n]].value)
                           for n in ("name", "value"))  # fmt: skip
            code = f"{self.module.code_for_node(target)}.summary[{name}] = {value}"
            return cst.parse_statement(code).body[0]

        return self.rewrite("CL009", statement, transform)

    def report_media(self, usage: Usage, method: str) -> Decision | None:
        """``report_image`` / ``report_matplotlib_figure`` / ``report_histogram`` /
        ``report_table``; ``None`` for other methods."""
        spec = {
            "report_image": (IMAGE_PARAMS, "log_image"),
            "report_matplotlib_figure": (FIGURE_PARAMS, "log_figure"),
            "report_histogram": (HISTOGRAM_PARAMS, "log_histogram"),
            "report_table": (TABLE_PARAMS, "log_table"),
            "report_media": (MEDIA_PARAMS, "log_image"),
        }.get(method)
        if spec is None:
            return None
        params, new_method = spec
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown or not {"title", "series"} <= set(bound.named):
            return self.left("TL002", unmapped(f"{method}"))
        value, extra, problem = self._media_value(method, bound)
        if problem:
            return self.left("CL100", f"{method}: {problem}")
        notes = [f"{n}= dropped: it only changes how ClearML draws the plot"
                 for n in sorted(set(bound.named) & LAYOUT_ONLY)]  # fmt: skip
        if literal(bound.value("delete_after_upload")) not in (None, False):
            notes.append("delete_after_upload= dropped: the local file is kept")
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}
        at_run_time = self.key_expression(bound.value("title"), bound.value("series"))[1]

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = updated.args
            key, _ = self.key_expression(args[index["title"]].value, args[index["series"]].value)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            new_args: list = [(None, expr(key)), (None, value(args, index))]
            new_args += extra
            if "iteration" in index:
                new_args.append(("step", args[index["iteration"]]))
            func = cst.Attribute(value=target, attr=cst.Name(new_method))
            return call_with(updated, func, new_args)

        decision = self.rewrite("CL010", usage.node, transform, notes)
        if method == "report_image" and {"image", "matrix"} & set(bound.named):
            self.reports_pixels = True
        if at_run_time:
            decision.imports.append("tracelet.naming")
        return decision

    def _media_value(self, method: str, bound):
        """``(value builder, extra keyword arguments, problem)`` for one report call; a
        table given as a list of rows has its header as the first row (ClearML's rule)."""
        code = self.module.code_for_node
        if method == "report_image":
            given = [n for n in ("image", "matrix", "local_path") if n in bound]
            if "url" in bound or len(given) != 1:
                return (
                    None,
                    [],
                    (
                        "an image by url= (or none given): download it first and "
                        "experiment.log_image(key, path, step=...)"
                    ),
                )
            return (lambda args, index: args[index[given[0]]].value), [], None
        if method == "report_media":
            extension = string_value(bound.value("file_extension"))
            path = string_value(bound.value("local_path")) or _last_literal(
                bound.value("local_path")
            )
            suffix = "." + extension.lstrip(".") if extension else path
            if "local_path" not in bound or not (suffix or "").lower().endswith(IMAGE_EXTENSIONS):
                return (
                    None,
                    [],
                    (
                        "a media file that is not an image (or a stream or url): log it with "
                        "experiment.log_artifact(path, name=...)"
                    ),
                )
            return (lambda args, index: args[index["local_path"]].value), [], None
        if method == "report_matplotlib_figure":
            if "figure" not in bound:
                return None, [], "no figure given"
            figure = bound.value("figure")
            if code(figure) in PYPLOT:
                return (lambda args, index: expr(f"{code(figure)}.gcf()")), [], None
            return (lambda args, index: args[index["figure"]].value), [], None
        if method == "report_histogram":
            values = bound.value("values")
            if values is None:
                return None, [], "no values given"
            if {"labels", "xlabels", "mode"} & set(bound.named):
                return (
                    None,
                    [],
                    (
                        "labels=/xlabels=/mode= draw several series or named bars; log each "
                        "series with experiment.log_histogram(key, (counts, edges), step=...)"
                    ),
                )
            if not is_dotted_name(values):
                return (
                    None,
                    [],
                    (
                        "name the bar heights first (counts = ...) and report those: the "
                        "migrated call reads them twice, for the counts and for the bin edges"
                    ),
                )
            counts = code(values)
            histogram = expr(f"({counts}, list(range(-1, len({counts}))))")
            return (lambda args, index: histogram), [], None
        table = bound.value("table_plot")
        if table is None:
            return (
                None,
                [],
                (
                    "a table from csv= or url=: read it with pandas.read_csv(...) and "
                    "experiment.log_table(key, dataframe, step=...)"
                ),
            )
        if "extra_data" in bound:
            return None, [], "extra_data= styles the table cells; tracelet keeps only the cells"
        if isinstance(table, cst.List) and table.elements:
            header = code(table.elements[0].value)
            rows = "[" + ", ".join(code(e.value) for e in table.elements[1:]) + "]"
            return (lambda args, index: expr(rows)), [("columns", expr(header))], None
        return (lambda args, index: args[index["table_plot"]].value), [], None

    # ------------------------------------------------------------------ task
    def log_artifact_call(self, usage: Usage, bound, name_index: int, value_index: int):
        metadata = bound.named.get("metadata")
        metadata_index = None if metadata is None else usage.call.args.index(metadata)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("log_artifact"))
            args = [(None, updated.args[value_index]), ("name", updated.args[name_index])]
            if metadata_index is not None:
                args.append(("metadata", updated.args[metadata_index]))
            return call_with(updated, func, args)

        return self.rewrite("CL006", usage.node, transform)

    def connect_section(self, usage: Usage, section: cst.Arg, mutable_index: int) -> Decision:
        section_index = usage.call.args.index(section)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("log_params"))
            args = [(None, updated.args[mutable_index]), ("section", updated.args[section_index])]
            return call_with(updated, func, args)

        return self.rewrite("CL002", usage.node, transform)

    def user_properties(self, usage: Usage) -> Decision:
        call = usage.call
        if usage.result_role != Role.STATEMENT:
            return self.left(
                "CL011", "the value set_user_properties returns is used; call "
                "experiment.set_tags({...}) as a statement",
            )  # fmt: skip
        positional = [a for a in call.args if a.keyword is None]
        if (
            any(a.star for a in call.args)
            or len(positional) > 1
            or (positional and not _plain_mapping(positional[0].value))
        ):
            return self.left(
                "CL011",
                "set_user_properties with property dicts, tuples or a mapping the codemod "
                "cannot read: write experiment.set_tags({name: value, ...})",
            )
        code = self.module.code_for_node

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("set_tags"))
            items = [
                f"{quote_string(a.keyword.value)}: {code(a.value)}"
                for a in updated.args
                if a.keyword is not None
            ]
            mapping = [a for a in updated.args if a.keyword is None]
            if mapping and not items:
                return call_with(updated, func, [(None, mapping[0])])
            if mapping:
                inner = code(mapping[0].value).strip()[1:-1].strip().rstrip(",")
                items.insert(0, inner)
            return call_with(updated, func, [(None, expr("{" + ", ".join(items) + "}"))])

        return self.rewrite("CL011", usage.node, transform)

    def reported_single_values(self, usage: Usage, method: str) -> Decision:
        """``task.get_reported_single_value(name)`` reads the summary back."""
        bound = bind_args(usage.call, ("name",))
        if (
            bound is None
            or bound.unknown
            or (method == "get_reported_single_value") != ("name" in bound)
        ):
            return self.left("TL002", unmapped(method))
        index = usage.call.args.index(bound.named["name"]) if bound.named else None

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = self.module.code_for_node(receiver(updated, usage, ACTIVE_EXPERIMENT))
            if index is None:
                return expr(f"dict({target}.summary)")
            key = self.module.code_for_node(updated.args[index].value)
            return expr(f"{target}.summary.get({key})")

        return self.rewrite("CL009", usage.node, transform)

    def connect_configuration(self, usage: Usage) -> Decision:
        """``task.connect_configuration(cfg, name=n, description=d)`` ->
        ``experiment.log_configuration(n, cfg, description=d)``. Both return ``cfg`` (a
        dict, or the path) where ClearML runs the task itself; ClearML's returned dict
        also stores its later changes, so the result may only be read after it."""
        bound = bind_args(
            usage.call, ("configuration", "name", "description", "ignore_remote_overrides")
        )
        if bound is None or bound.unknown or "configuration" not in bound:
            return self.left("TL002", unmapped("connect_configuration"))
        result = _bound_name(usage)
        if usage.result_role != Role.STATEMENT and result is None:
            return self.left(
                "CL014",
                "the dict connect_configuration returns is used in place; write "
                "cfg = experiment.log_configuration(name, cfg) as its own statement",
            )
        changed = result and self._changed_after(usage, result)
        if changed and string_value(bound.value("configuration")) is None:
            return self.left(
                "CL014",
                f"{result} is used after connect_configuration (line {changed}): ClearML "
                "stores the changes made to the dict it returns, experiment."
                "log_configuration(name, cfg) only what cfg holds when it is called: "
                "change it before the call, or keep this file on ClearML",
            )
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("log_configuration"))
            name = updated.args[index["name"]] if "name" in index else expr('"General"')
            args = [(None, name), (None, updated.args[index["configuration"]])]
            if "description" in index:
                args.append(("description", updated.args[index["description"]]))
            return call_with(updated, func, args)

        return self.rewrite("CL014", usage.node, transform)

    def register_artifact(self, usage: Usage) -> Decision:
        """``task.register_artifact(name, df, metadata=m)`` ->
        ``experiment.register_artifact(name, df, metadata=m)``: stored when the run stops."""
        bound = bind_args(usage.call, ("name", "artifact", "metadata", "uniqueness_columns"))
        if bound is None or bound.unknown or not {"name", "artifact"} <= set(bound.named):
            return self.left("TL002", unmapped("register_artifact"))
        if "uniqueness_columns" in bound and literal(bound.value("uniqueness_columns")) is not True:
            return self.left(
                "CL015",
                "register_artifact(uniqueness_columns=...) changes the preview ClearML "
                "stores; experiment.register_artifact(name, df) computes it over every column",
            )
        if usage.result_role != Role.STATEMENT:
            return self.left("CL015", "register_artifact returns None; call it as a statement")
        index = {name: usage.call.args.index(arg) for name, arg in bound.named.items()}

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("register_artifact"))
            args = [(None, updated.args[index["name"]]), (None, updated.args[index["artifact"]])]
            if "metadata" in index:
                args.append(("metadata", updated.args[index["metadata"]]))
            return call_with(updated, func, args)

        return self.rewrite("CL015", usage.node, transform)

    def registered_artifacts(self, usage: Usage) -> Decision:
        """``task.get_registered_artifacts()``: the experiment's method of the same name."""
        if usage.call.args:
            return self.left("TL002", unmapped("get_registered_artifacts"))

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("get_registered_artifacts"))
            return call_with(updated, func, [])

        return self.rewrite("CL016", usage.node, transform)

    def get_parameters(self, usage: Usage) -> Decision:
        """``task.get_parameters(...)`` -> ``experiment.get_parameters(...)``: the same
        dict, answered from what the migrated program logged (its argparse capture
        included). Left where ClearML would have captured parameters the migrated code
        does not log: another argument library ClearML binds by itself, and ``cast=True``
        beside argparse (an argument that parsed to None reads back ``''`` from ClearML's
        capture, None from tracelet)."""
        bound = bind_args(usage.call, ("backwards_compatibility", "cast"))
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("get_parameters"))
        captured = sorted(self.resolver.collected.all_names & set(CAPTURED_ARGUMENT_LIBRARIES))
        if captured:
            return self.left(
                "CL018",
                f"{self.describe(usage)}: ClearML also returns what it captured from "
                f"{', '.join(captured)} by itself; log those values with "
                "experiment.log_params(values, section=...) before this call, then write "
                "experiment.get_parameters()",
            )
        if "cast" in bound and literal(bound.value("cast")) is not False and self._argparse:
            return self.left(
                "CL018",
                f"{self.describe(usage)} with cast: ClearML's argparse capture types an "
                "argument that parsed to None by its parser (cast gives ''); write "
                "experiment.get_parameters(cast=True) if no argument defaults to None",
            )

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            target = receiver(updated, usage, ACTIVE_EXPERIMENT)
            func = cst.Attribute(value=target, attr=cst.Name("get_parameters"))
            return updated.with_changes(func=func)

        return self.rewrite("CL017", usage.node, transform)

    @property
    def _argparse(self) -> bool:
        names = self.resolver.collected.all_names
        return bool(names & {"argparse", "ArgumentParser", "parse_args", "parse_known_args"})

    def _changed_after(self, usage: Usage, name: str) -> int | None:
        """The line of a use of ``name`` after ``usage`` that may change it (anything but
        an argument of ``print``, ``len``, ``str``, ``repr``), or None."""
        after = self.get_metadata(PositionProvider, usage.node).end.line
        scope = self.get_metadata(ScopeProvider, usage.node)
        for assignment in scope.assignments[name] if scope else ():
            for access in assignment.references:
                line = self.get_metadata(PositionProvider, access.node).start.line
                if line > after and not self._only_read(access.node):
                    return line
        return None

    def _only_read(self, node: cst.CSTNode) -> bool:
        arg = self.resolver.parent(node)
        call = self.resolver.parent(arg) if isinstance(arg, cst.Arg) else None
        return (
            isinstance(call, cst.Call)
            and not arg.star
            and isinstance(call.func, cst.Name)
            and call.func.value in READ_ONLY_CALLS
        )

    def task_field(self, usage: Usage, method: str) -> Decision | None:
        """``task.id`` / ``task.name`` / ``task.get_output_log_web_page()``."""
        if len(usage.path.attrs) != 1:
            return None
        if method == WEB_PAGE and usage.role == Role.CALL and not usage.call.args:
            suffix = self.quoted_for(usage.node, f'.urls["{self.tracker_key()}"]')
        elif method in TASK_FIELDS and usage.role not in (Role.CALL, Role.STORE, Role.DELETE):
            suffix = self.quoted_for(usage.node, TASK_FIELDS[method].format(self.tracker_key()))
        else:
            return None

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            attribute = updated.func if isinstance(updated, cst.Call) else updated
            assert isinstance(attribute, cst.Attribute)
            return expr(self.module.code_for_node(attribute.value) + suffix)

        return self.rewrite("CL012", usage.node, transform)


def _bound_name(usage: Usage) -> str | None:
    """``x`` of ``x = <the call>``."""
    assign = usage.context
    if usage.result_role != Role.BIND or not isinstance(assign, cst.Assign):
        return None
    [*rest, target] = assign.targets
    return target.target.value if not rest and isinstance(target.target, cst.Name) else None


def _last_literal(node: cst.BaseExpression | None) -> str | None:
    """The file name a path expression ends with, when it is written out."""
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
        return _last_literal(node.right)
    if isinstance(node, cst.Call) and node.args:
        return _last_literal(node.args[-1].value)
    return None


def _plain_mapping(node: cst.BaseExpression) -> bool:
    """``{"k": v, ...}`` whose values are not property-detail dicts."""
    return isinstance(node, cst.Dict) and all(
        isinstance(e, cst.DictElement)
        and string_value(e.key) is not None
        and not isinstance(e.value, cst.Dict)
        for e in node.elements
    )
