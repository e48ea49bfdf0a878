"""MLflow -> tracelet.

==============================================  =================================================
source                                          migrated
==============================================  =================================================
``mlflow.set_experiment(E)`` + ``start_run``    ``tracelet.start_logging(project=E, ...)``
``with mlflow.start_run(run_name=N) [as r]:``   ``with tracelet.start_logging(exp_name=N,
                                                backend="mlflow") as r:`` (``as experiment`` is
                                                added when the block logs through it)
``mlflow.start_run(tags=T)`` / ``end_run(S)``   ``tracelet.start_logging(tags=T)`` /
                                                ``stop_logging(status=S)``
``mlflow.start_run(log_system_metrics=B)``      ``tracelet.start_logging(track_system=B)``
``mlflow.enable_system_metrics_logging()``      ``tracelet.tracking.enable_system_metrics()``
``mlflow.active_run()`` as a check              ``tracelet.get_active_experiment()``
``mlflow.log_metric(k, v[, step])``             ``experiment.log_metric(k, v, step=step)``
``mlflow.log_metrics(d[, step])``               ``experiment.log_metrics(d, step=step)``
``mlflow.log_param(k, v)`` / ``log_params(d)``  ``experiment.log_params({k: v})`` / ``(d)``
``mlflow.set_tag(k, v)`` / ``set_tags(d)``      ``experiment.set_tags({k: v})`` / ``(d)``
``mlflow.log_artifact(p[, "dir"])``             ``experiment.log_artifact(p[, name="dir/<file>"])``
``mlflow.log_artifacts(d, "dir")``              ``experiment.log_artifact(d, name="dir")``
``mlflow.pytorch.autolog(...)`` (Lightning)     ``tracelet.autolog(...)``, see
                                                :mod:`tracelet.codemods.mlflow_autolog`
==============================================  =================================================

``experiment`` is the name bound by the enclosing ``with`` block, else
``tracelet.get_active_experiment()``. A metric logged without ``step`` stays at step 0,
as MLflow stores it: ``Experiment.log_metric`` has MLflow's step semantics.

``mlflow.set_experiment`` is carried into ``start_logging(project=...)`` when the file calls
it once, with a string, or with a plain name (``args.experiment``) in the same function
before the run starts; the name is then evaluated when the run starts. An
``experiment_id=`` (of ``set_experiment`` or ``start_run``) bound once from
``mlflow.get_experiment_by_name(E).experiment_id`` / ``mlflow.create_experiment(E)`` is
followed back to ``E``.
``mlflow.set_tracking_uri(X)`` goes to tracelet (``backend_options={"mlflow": {"url": X}}``
or ``tracelet.set_backend_options("mlflow", url=X)``, see :mod:`tracelet.codemods.mlflow_uri`)
when no MLflow call is left to read it; otherwise it is kept and the run is delivered to
the same store: ``start_logging`` gets
``backend_options={"mlflow": {"url": mlflow.get_tracking_uri()}}``.

Media, models, dicts, texts and the run's ids go to the run vocabulary, see
:mod:`tracelet.codemods.mlflow_vocabulary`.

Left, each with a reason that says what to write instead: ``autolog`` of other flavors,
or of pytorch where the file has no Lightning Trainer (nothing would capture the
framework's metrics), ``log_model`` of flavors other than pytorch, sklearn
and xgboost or with a registered model name or environment, nested runs (the reason names
the library MLflow integration that needs an in-process parent run, when the file imports
one), runs addressed by a run id or by an experiment id from elsewhere,
``log_input``, ``log_artifacts`` without an ``artifact_path`` (MLflow puts the files at
the artifact root), ``timestamp=`` on metrics. A file that logs without starting a run
gets a warning: MLflow would have started one by itself.
"""

from __future__ import annotations

import posixpath
from typing import ClassVar

import libcst as cst
from libcst.metadata import (
    Assignment,
    FunctionScope,
    GlobalScope,
    PositionProvider,
    ScopeProvider,
)

from tracelet.codemods import report
from tracelet.codemods.base import ACTIVE_EXPERIMENT, Decision, unmapped
from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    dict_of,
    expr,
    is_dotted_name,
    literal,
    quote_string,
    string_value,
)
from tracelet.codemods.mlflow_autolog import (
    AUTOLOG_WITHOUT_RUN,
    REWRITE_REASON,
    autolog_problem,
    imported_roots,
    to_tracelet_autolog,
)
from tracelet.codemods.mlflow_uri import MlflowTrackingUri
from tracelet.codemods.mlflow_vocabulary import MlflowVocabulary
from tracelet.codemods.resolve import Role, Usage
from tracelet.codemods.writer import WriterTransform, add_scalar, pure, twin_add_scalar

RUN = "mlflow:run"

START_PARAMS = (
    "run_id",
    "experiment_id",
    "run_name",
    "nested",
    "parent_run_id",
    "tags",
    "description",
    "log_system_metrics",
)
LOG_METRIC_PARAMS = (
    "key",
    "value",
    "step",
    "synchronous",
    "timestamp",
    "run_id",
    "model_id",
    "dataset",
)
LOG_METRICS_PARAMS = (
    "metrics",
    "step",
    "synchronous",
    "run_id",
    "timestamp",
    "model_id",
    "dataset",
)
ARTIFACT_CONTENT = {"log_text", "log_dict", "log_figure", "log_image", "log_table", "log_input"}
NO_RUN = {
    "set_tracking_uri", "get_tracking_uri", "set_registry_uri", "get_registry_uri",
    "is_tracking_uri_set", "MlflowClient", "tracking", "client", "search_runs",
    "search_experiments", "get_run", "get_experiment", "get_experiment_by_name",
    "create_experiment", "entities", "exceptions", "models", "pyfunc", "data", "artifacts",
    "register_model", "utils", "environment_variables", "__version__", "last_active_run",
    "load_table", "genai", "tracing", "search_logged_models", "get_logged_model",
}  # fmt: skip
# the local a computed log_artifact path is bound to, to be evaluated once
BOUND_PATH = "artifact_file"
# kept calls that may read the experiment mlflow.set_experiment creates and selects
EXPERIMENT_READERS = {
    "MlflowClient", "tracking", "client", "search_runs", "search_experiments",
    "get_experiment", "get_experiment_by_name", "last_active_run",
}  # fmt: skip
FLAVOR_NO_RUN = {
    "load_model",
    "save_model",
    "get_default_pip_requirements",
    "get_default_conda_env",
}


class MlflowToTracelet(MlflowTrackingUri, MlflowVocabulary):
    """Rewrite direct MLflow tracking calls into tracelet calls."""

    DESCRIPTION = "Rewrite mlflow.start_run/log_metric/log_param/... into tracelet (to MLflow)."
    SOURCE = "mlflow"
    TRACKER_NAME = "MLflow"
    ROOTS: ClassVar[dict[str, str]] = {"mlflow": "mlflow"}
    CALL_FACTORIES: ClassVar[dict[str, str]] = {"mlflow.start_run": RUN, "mlflow.active_run": RUN}
    START_KEYS: ClassVar[frozenset[str]] = frozenset({"mlflow.start_run"})
    STILL_CALLING: ClassVar[frozenset[str]] = frozenset({"get_artifact_uri"})  # mlflow.get_run

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._experiments: list[tuple[Usage, Decision]] = []
        self._starts: list[Usage] = []
        self._left_starts: list[Usage] = []
        self._loggers: list[Decision] = []
        self._project: str | None = None
        self.reset_tracking_uri()
        self._experiment_reader: str | None = None
        self._tracelet_projects = _tracelet_projects(tree)
        self._id_projects: list[tuple[Decision, str]] = []  # start_run(experiment_id=) names
        self._experiment_names: dict[int, cst.BaseExpression] = {}  # set_experiment's names
        self._integrations = _mlflow_integrations(tree)
        self._autologs: list[Decision] = []
        return super().transform_module_impl(tree)

    def handle(self, usage: Usage) -> Decision | None:
        path = usage.path
        if usage.factory:
            if path.key == "mlflow.start_run":
                decision = self._start_run(usage)
                if decision.action == report.LEFT:
                    self._left_starts.append(usage)
                return decision
            return self._active_run(usage)
        if path.kind == RUN:
            if not path.attrs:
                return None
            return self.run_info(usage)
        attrs = path.attrs
        if not attrs:
            return None
        head = attrs[0]
        if usage.role == Role.ANNOTATION:
            return self.silent()
        if usage.role == Role.CALL and len(attrs) == 1:
            method = getattr(self, f"_call_{head}", None)
            if method is not None:
                decision = method(usage)
                if head.startswith(("log_", "set_tag")) and decision.action == report.REWRITTEN:
                    self._loggers.append(decision)
                return decision
        if attrs == ("pytorch", "autolog"):
            return self._pytorch_autolog(usage)
        if head == "autolog" or (len(attrs) == 2 and attrs[1] == "autolog"):
            return self.left("ML100", _AUTOLOG)
        if usage.role == Role.CALL and len(attrs) == 2 and attrs[1] == "log_model":
            return self.log_model(usage, head)
        if usage.role == Role.CALL and len(attrs) == 1 and head == "get_artifact_uri":
            return self.artifact_uri(usage)
        if usage.role == Role.CALL and len(attrs) == 1 and head in ARTIFACT_CONTENT:
            decision = self.log_content(usage, head)
            if decision is not None:
                return decision
        if head in ARTIFACT_CONTENT:
            return self.left(
                "ML103",
                f"{self.describe(usage)}: log_input records a dataset's lineage, which tracelet "
                "does not carry; log its description with experiment.log_params(..., "
                "section='dataset') or keep this file on MLflow"
                if head == "log_input"
                else f"{self.describe(usage)} used this way cannot be followed",
            )
        if head == "set_tracking_uri":
            return self.set_tracking_uri(usage)
        if head in NO_RUN or (len(attrs) == 2 and attrs[1] in FLAVOR_NO_RUN):
            if head in EXPERIMENT_READERS:
                self._experiment_reader = self._experiment_reader or self.describe(usage)
            return self.kept(f"{self.describe(usage)} needs no MLflow run")
        return None

    def finish_analysis(self) -> None:
        if len(self._experiments) > 1:
            for _, decision in self._experiments:
                _turn_left(decision, "ML008", "set_experiment is called more than once")
        elif self._experiments and not self._starts:
            if not self._kept_for_reader():
                _turn_left(self._experiments[0][1], "ML008", self._no_start_reason())
        elif self._experiments:
            usage, decision = self._experiments[0]
            problem = self._carry_problem(usage)
            if problem:
                _turn_left(decision, "ML008", problem)
            elif decision.action == report.REWRITTEN:
                self._project = self._experiment_name_code(usage)
                if self._experiment_reader is not None:
                    # the kept client code may read the experiment set_experiment creates
                    decision.remove = None
                    decision.reason += f"; kept too, {self._experiment_reader} reads it"
        for start, experiment in self._id_projects:
            if self._project is not None and self._project != experiment:
                _turn_left(
                    start,
                    "ML102",
                    f"start_run(experiment_id=...) names the experiment {experiment}, "
                    f"set_experiment {self._project}: pass one name to "
                    "tracelet.start_logging(project=...)",
                )
        if not self._starts:
            for decision in self._autologs:
                _turn_left(decision, "ML100", AUTOLOG_WITHOUT_RUN)
        if self._loggers and not self._starts:
            self._loggers[0].notes.append(
                "no mlflow.start_run in this file: the rewritten calls need a run started with "
                "tracelet.start_logging (MLflow would have started one by itself)"
            )
        self.settle_tracking_uri(self._starts)

    # ------------------------------------------------------------------ runs
    def _start_run(self, usage: Usage) -> Decision:
        escaped = self.start_escapes(usage)
        if escaped is not None:
            return escaped
        bound = bind_args(usage.call, START_PARAMS)
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("start_run"))
        given = {n for n, a in bound.named.items() if literal(a.value) is not None}
        if literal(bound.value("nested")) is False:
            given.discard("nested")
        if "nested" in given:
            return self.left("ML102", self._nested_reason())
        for name in ("run_id", "parent_run_id"):
            if name in given:
                return self.left("ML102", f"start_run({name}=...): tracelet has one active run")
        experiment = None
        if "experiment_id" in given:
            name = self._experiment_name_of_id(bound.value("experiment_id"))
            if name is None:
                return self.left("ML102", self._id_reason("start_run", bound))
            experiment = self.module.code_for_node(name)
        notes = ["description= dropped: run descriptions are not carried over"] * (
            "description" in given
        ) + self.writer_note()
        self._starts.append(usage)
        if usage.role == Role.WITH:
            self.register_with(usage.context)
        backend = self.backend_code()
        indexes = {
            name: usage.call.args.index(bound.named[name])
            for name in ("run_name", "tags", "log_system_metrics")
            if name in given
        }

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args: list = []
            if "run_name" in indexes:
                args.append(("exp_name", updated.args[indexes["run_name"]]))
            project = self._project if self._project is not None else experiment
            if project is not None:
                args.append(("project", expr(project)))
            args.append(("backend", expr(backend)))
            if "tags" in indexes:
                args.append(("tags", updated.args[indexes["tags"]]))
            if "log_system_metrics" in indexes:
                args.append(("track_system", updated.args[indexes["log_system_metrics"]]))
            if self.uri_option is not None:
                args.append(("backend_options", expr(_URI_OPTION.format(url=self.uri_option))))
            elif self.tracking_uri_kept and "mlflow" in self.targets:
                args.append(("backend_options", expr(_URI_OPTION.format(url=_GET_URI))))
            return call_with(updated, expr("tracelet.start_logging"), args)

        decision = self.rewrite("ML001", usage.node, transform, notes)
        if experiment is not None:
            self._id_projects.append((decision, experiment))
        self.writer_routes.start(usage, decision)
        return decision

    def _nested_reason(self) -> str:
        if self._integrations:
            return (
                f"start_run(nested=True) with {', '.join(self._integrations)} in this file: "
                "it opens MLflow child runs under the active MLflow run (their tag "
                "mlflow.parentRunId), and tracelet's run is opened by its agent, not in "
                "this process; keep this file on MLflow"
            )
        return (
            "start_run(nested=True): under an active run MLflow starts a child run (tag "
            "mlflow.parentRunId); tracelet has one active run: log the child's values in "
            "the one run with a prefix (experiment.log_metrics({f'trial_{i}/loss': ...})) "
            "or keep this file on MLflow"
        )

    def _experiment_name_of_id(self, node: cst.BaseExpression | None) -> cst.BaseExpression | None:
        """The experiment name an ``experiment_id=`` comes from:
        ``e.experiment_id`` with ``e = mlflow.get_experiment_by_name(N)``, or ``i`` with
        ``i = mlflow.create_experiment(N)``; ``N`` a string or a name bound once, so it
        holds the same value when the run starts."""
        if isinstance(node, cst.Attribute) and node.attr.value == "experiment_id":
            source, factory, params = node.value, "get_experiment_by_name", ("name",)
        else:
            source, factory = node, "create_experiment"
            params = ("name", "artifact_location", "tags")
        value = self._bound_once(source) if isinstance(source, cst.Name) else None
        if not isinstance(value, cst.Call):
            return None
        path = self.resolver.eval_path(value.func)
        bound = bind_args(value, params)
        if path is None or path.key != f"mlflow.{factory}" or bound is None or bound.unknown:
            return None
        name = bound.value("name")
        if string_value(name) is None and not (
            isinstance(name, cst.Name) and self._bound_once(name) is not None
        ):
            return None
        return name

    def _bound_once(self, name: cst.Name) -> cst.BaseExpression | None:
        """The value of ``name`` where it is read, when one plain assignment binds it."""
        referents = self.resolver.referents(name)
        if len(referents) != 1:
            return None
        [assignment] = referents
        if not isinstance(assignment, Assignment):
            return None
        return self.resolver.collected.values.get(id(assignment.node))

    def _active_run(self, usage: Usage) -> Decision:
        return self.handle_rewrite("ML007", usage, lambda _: expr(ACTIVE_EXPERIMENT))

    def _pytorch_autolog(self, usage: Usage) -> Decision:
        if usage.role != Role.CALL or usage.result_role != Role.STATEMENT:
            return self.left("ML100", _PYTORCH_AUTOLOG)
        problem = autolog_problem(usage.call, self.module, imported_roots(self.module))
        if problem is not None:
            return self.left("ML100", problem)
        decision = self.rewrite("ML021", usage.node, to_tracelet_autolog)
        decision.reason = REWRITE_REASON
        self._autologs.append(decision)
        return decision

    def _call_enable_system_metrics_logging(self, usage: Usage) -> Decision:
        if usage.call.args:
            return self.left("TL002", "enable_system_metrics_logging with arguments")
        return self.rewrite(
            "ML009", usage.node, lambda _: expr("tracelet.tracking.enable_system_metrics()")
        )

    def _call_end_run(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("status",))
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped("end_run"))
        status = literal(bound.value("status"))
        if status not in (None, ..., "FINISHED", "FAILED", "KILLED"):
            return self.left(
                "TL002",
                f"end_run(status={status!r}): write tracelet.stop_logging(status=...) with "
                "FINISHED, FAILED or KILLED",
            )
        index = usage.call.args.index(bound.named["status"]) if "status" in bound else None

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = [] if index is None else [("status", updated.args[index])]
            return call_with(updated, expr("tracelet.stop_logging"), args)

        return self.rewrite("ML002", usage.node, transform)

    def _call_set_experiment(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("experiment_name", "experiment_id", "trace_location"))
        if bound is None or bound.unknown or len(bound.named) != 1 or "trace_location" in bound:
            return self.left(
                "ML102",
                "set_experiment with these arguments: pass the experiment name, "
                "tracelet.start_logging(project=<name>)",
            )
        if "experiment_id" in bound:
            name = self._experiment_name_of_id(bound.value("experiment_id"))
            if name is None:
                return self.left("ML102", self._id_reason("set_experiment", bound))
        else:
            name = bound.value("experiment_name")
            if string_value(name) is None and not is_dotted_name(name):
                return self.left("ML008", "set_experiment with a computed name")
        if usage.result_role != Role.STATEMENT:
            return self.left("ML008", "the experiment returned by set_experiment is used")
        decision = self.remove_statement("ML008", usage)
        decision.reason = "carried into tracelet.start_logging(project=...)"
        self._experiments.append((usage, decision))
        self._experiment_names[id(usage.node)] = name
        return decision

    def _id_reason(self, call: str, bound) -> str:
        """Why an ``experiment_id=`` is not followed to its experiment's name."""
        node = bound.value("experiment_id")
        source = node.value if isinstance(node, cst.Attribute) else node
        value = self._bound_once(source) if isinstance(source, cst.Name) else None
        origin = (
            f"comes from {self.code(value.func)}(...)"
            if isinstance(value, cst.Call)
            else "is not one name bound once"
        )
        return (
            f"{call}(experiment_id=...): the id {origin}, not from "
            "mlflow.get_experiment_by_name(<name>).experiment_id or "
            "mlflow.create_experiment(<name>) in this file; pass the experiment's name, "
            "tracelet.start_logging(project=<name>)"
        )

    def _no_start_reason(self) -> str:
        if not self._left_starts:
            return "no start_run in this file to carry the experiment name to"
        lines = [self.get_metadata(PositionProvider, u.node).start.line for u in self._left_starts]
        return (
            f"the start_run it names the experiment for is left (line "
            f"{', '.join(map(str, lines))}): the name goes with it"
        )

    def _kept_for_reader(self) -> bool:
        """A set_experiment an earlier migration kept next to the start_logging its name
        went to (``tracelet.start_logging(project=E)``): it stays, for the client code."""
        usage, decision = self._experiments[0]
        name = self._experiment_name_code(usage)
        if self._experiment_reader is None or name not in self._tracelet_projects:
            return False
        decision.action, decision.rule, decision.remove = report.KEPT, "TL003", None
        decision.reason = (
            f"set_experiment kept: tracelet.start_logging(project={name}) logs to this "
            f"experiment, {self._experiment_reader} reads it"
        )
        return True

    def _carry_problem(self, usage: Usage) -> str | None:
        """Why a computed experiment name cannot move to the start of the run, if so."""
        if string_value(self._experiment_names[id(usage.node)]) is not None:
            return None
        scope = self.get_metadata(ScopeProvider, usage.node, None)
        line = self.get_metadata(PositionProvider, usage.node).start.line
        for start in self._starts:
            if self.get_metadata(ScopeProvider, start.node, None) is not scope:
                return "set_experiment(<name>) and start_run are in different functions"
            if self.get_metadata(PositionProvider, start.node).start.line < line:
                return "start_run comes before set_experiment(<name>)"
        return None

    def _experiment_name_code(self, usage: Usage) -> str:
        return self.module.code_for_node(self._experiment_names[id(usage.node)])

    # ------------------------------------------------------------------ logging
    def _experiment_call(
        self, usage: Usage, method: str, params: tuple[str, ...], keep: dict[str, str | None]
    ) -> Decision:
        """``mlflow.<f>(...)`` -> ``experiment.<method>(...)`` keeping the arguments named
        in ``keep`` (value: the keyword to pass them with, ``None`` for positional)."""
        bound = bind_args(usage.call, params)
        if bound is None or bound.unknown:
            return self.left("TL002", unmapped(f"mlflow.{usage.path.attrs[0]}"))
        for name in ("timestamp", "run_id", "model_id", "dataset"):
            if name in bound and literal(bound.value(name)) is not None:
                return self.left(
                    "TL002", f"mlflow.{usage.path.attrs[0]}({name}=...): {_NOT_CARRIED[name]}"
                )
        experiment = self.experiment_code(usage.node)
        indexes = [
            (keyword, usage.call.args.index(bound.named[name]))
            for name, keyword in keep.items()
            if name in bound
        ]

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            func = expr(f"{experiment}.{method}")
            return call_with(updated, func, [(kw, updated.args[i]) for kw, i in indexes])

        return self.rewrite(_RULE_OF[method], usage.node, transform)

    def _call_log_metric(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, LOG_METRIC_PARAMS)
        twin = self._twin(usage, bound)
        if twin is not None:
            return twin
        keep = {"key": None, "value": None, "step": "step"}
        decision = self._experiment_call(usage, "log_metric", LOG_METRIC_PARAMS, keep)
        if decision.action == report.REWRITTEN and _has_step(bound):
            self.writer_routes.offer(usage, decision, _scalar_on(usage, bound))
        return decision

    def _twin(self, usage: Usage, bound) -> Decision | None:
        """``mlflow.log_metric(k, v)`` next to ``writer.add_scalar(k, v, step)``: tracelet
        routes the writer to MLflow already, so the MLflow call is dropped."""
        if bound is None or bound.unknown or not {"key", "value"} <= set(bound.named):
            return None
        if usage.result_role != Role.STATEMENT:
            return None
        twin = twin_add_scalar(self, usage, bound.value("key"), bound.value("value"))
        if twin is None:
            return None
        line = self.get_metadata(PositionProvider, twin).start.line
        writer_step = self.module.code_for_node(twin.args[2].value) if len(twin.args) > 2 else None
        step = bound.value("step")
        step_code = self.module.code_for_node(step) if step is not None else None
        if step_code == writer_step:
            where = "at the same step"
        else:
            where = (
                f"at the writer's step ({writer_step or 0}) where MLflow stored this call at "
                f"{'step ' + step_code if step_code else 'step 0 (no step given)'}"
            )
        return self.remove_statement(
            "ML003",
            usage,
            f"dropped: {self.code(twin)} (line {line}) logs the same value and tracelet routes "
            f"it to MLflow, so it is stored once, {where}",
        )

    def _call_log_metrics(self, usage: Usage) -> Decision:
        keep = {"metrics": None, "step": "step"}
        decision = self._experiment_call(usage, "log_metrics", LOG_METRICS_PARAMS, keep)
        bound = bind_args(usage.call, LOG_METRICS_PARAMS)
        statement = self.resolver.statement_of(usage.node)
        if (
            decision.action == report.REWRITTEN
            and _has_step(bound)
            and usage.result_role == Role.STATEMENT
            and isinstance(statement, cst.SimpleStatementLine)
            and len(statement.body) == 1
        ):
            build = _scalars_on(usage, bound, statement)
            if build is not None:
                self.writer_routes.offer(usage, decision, build)
        return decision

    def _call_log_params(self, usage: Usage) -> Decision:
        params = ("params", "synchronous", "run_id")
        return self._experiment_call(usage, "log_params", params, {"params": None})

    def _call_set_tags(self, usage: Usage) -> Decision:
        params = ("tags", "synchronous")
        return self._experiment_call(usage, "set_tags", params, {"tags": None})

    def _call_log_param(self, usage: Usage) -> Decision:
        return self._single(usage, "log_params", "ML004")

    def _call_set_tag(self, usage: Usage) -> Decision:
        return self._single(usage, "set_tags", "ML005")

    def _single(self, usage: Usage, method: str, rule: str) -> Decision:
        """``log_param(k, v)`` -> ``experiment.log_params({k: v})``."""
        bound = bind_args(usage.call, ("key", "value", "synchronous"))
        if bound is None or bound.unknown or not {"key", "value"} <= set(bound.named):
            return self.left("TL002", unmapped(f"mlflow.{usage.path.attrs[0]}"))
        if usage.result_role != Role.STATEMENT and method == "log_params":
            return self.left("TL002", "the value returned by log_param is used")
        experiment = self.experiment_code(usage.node)
        key_index = usage.call.args.index(bound.named["key"])
        value_index = usage.call.args.index(bound.named["value"])

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            mapping = dict_of(
                self.module, updated.args[key_index].value, updated.args[value_index].value
            )
            return expr(f"{experiment}.{method}({mapping})")

        return self.rewrite(rule, usage.node, transform)

    def _call_log_artifact(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("local_path", "artifact_path", "run_id"))
        if bound is None or bound.unknown or "local_path" not in bound:
            return self.left("TL002", unmapped("log_artifact"))
        if literal(bound.value("run_id")) is not None and "run_id" in bound:
            return self.left("ML102", "log_artifact(run_id=...) logs to another run")
        folder = bound.value("artifact_path")
        if folder is None or literal(folder) is None:
            return self._artifact(usage, bound.named["local_path"], None)
        local_path = bound.value("local_path")
        path, folder_text = string_value(local_path), string_value(folder)
        if path is not None and folder_text is not None:
            name = posixpath.join(folder_text, posixpath.basename(path.rstrip("/")))
            return self._artifact(usage, bound.named["local_path"], name)
        if not (is_dotted_name(folder) or folder_text is not None):
            return self.left(
                "ML006", "log_artifact(p, artifact_path=<expression>): name the folder first"
            )
        if not pure(local_path):
            return self._artifact_bound_path(usage, bound, folder)
        # MLflow stores the file as <artifact_path>/<file name>; the path is a plain name, a
        # string or an f-string of those, so evaluating it once more is harmless.
        folder_code = self.module.code_for_node(folder)
        file_name = _static_file_name(local_path)
        if file_name is not None:
            if folder_text is not None:
                return self._artifact(
                    usage, bound.named["local_path"], posixpath.join(folder_text, file_name)
                )
            return self._artifact(
                usage, bound.named["local_path"], expr(f"f'{{{folder_code}}}/{file_name}'")
            )
        local_code = self.module.code_for_node(local_path)
        code = f"{folder_code} + '/' + os.path.basename({local_code})"
        if folder_text is not None:
            code = f"{quote_string(folder_text + '/')} + os.path.basename({local_code})"
        decision = self._artifact(usage, bound.named["local_path"], expr(code))
        decision.imports.append("os")
        return decision

    def _artifact_bound_path(self, usage: Usage, bound, folder: cst.BaseExpression) -> Decision:
        """``log_artifact(save(p), "dir")``: the path is evaluated once, bound by ``:=`` in
        the first argument, which Python evaluates before ``name=``."""
        scope = self.get_metadata(ScopeProvider, usage.node, None)
        if (
            usage.result_role != Role.STATEMENT
            or not isinstance(scope, GlobalScope | FunctionScope)
            or BOUND_PATH in scope
        ):
            return self.left(
                "ML006", "log_artifact(<expression>, artifact_path=...): name the path first"
            )
        index = usage.call.args.index(bound.named["local_path"])
        folder_code = self.module.code_for_node(folder)
        folder_text = string_value(folder)
        prefix = (
            quote_string(folder_text + "/") if folder_text is not None else f"{folder_code} + '/'"
        )
        experiment = self.experiment_code(usage.node)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            path = self.module.code_for_node(updated.args[index].value)
            args: list = [
                (None, expr(f"({BOUND_PATH} := {path})")),
                ("name", expr(f"{prefix} + os.path.basename({BOUND_PATH})")),
            ]
            return call_with(updated, expr(f"{experiment}.log_artifact"), args)

        decision = self.rewrite("ML006", usage.node, transform)
        decision.imports.append("os")
        return decision

    def _call_log_artifacts(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("local_dir", "artifact_path", "run_id"))
        if bound is None or bound.unknown or "local_dir" not in bound:
            return self.left("TL002", unmapped("log_artifacts"))
        if literal(bound.value("run_id")) is not None and "run_id" in bound:
            return self.left("ML102", "log_artifacts(run_id=...) logs to another run")
        folder = bound.value("artifact_path")
        if folder is None or literal(folder) is None:
            return self.left(
                "ML006",
                "log_artifacts without artifact_path stores the files at the artifact "
                "root; tracelet would name them <folder>/<file>",
            )
        return self._artifact(usage, bound.named["local_dir"], folder)

    def _artifact(
        self, usage: Usage, path_arg: cst.Arg, name: str | cst.BaseExpression | None
    ) -> Decision:
        experiment = self.experiment_code(usage.node)
        index = usage.call.args.index(path_arg)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args: list = [(None, updated.args[index])]
            if isinstance(name, str):
                args.append(("name", expr(quote_string(name))))
            elif name is not None:
                args.append(("name", name))
            return call_with(updated, expr(f"{experiment}.log_artifact"), args)

        return self.rewrite("ML006", usage.node, transform)


def _tracelet_projects(tree: cst.Module) -> set[str]:
    """The code of every ``project=`` given to ``tracelet.start_logging`` in the module."""
    found: set[str] = set()

    class Calls(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if tree.code_for_node(node.func) != "tracelet.start_logging":
                return
            found.update(
                tree.code_for_node(arg.value)
                for arg in node.args
                if arg.keyword is not None and arg.keyword.value == "project"
            )

    tree.visit(Calls())
    return found


def _mlflow_integrations(tree: cst.Module) -> list[str]:
    """Names imported from another library's MLflow module (``from optuna.integration.mlflow
    import MLflowCallback``): code that logs to the active MLflow run by itself."""
    found: list[str] = []

    class Imports(cst.CSTVisitor):
        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if node.module is None or isinstance(node.names, cst.ImportStar):
                return
            module = tree.code_for_node(node.module)
            parts = module.split(".")
            if parts[0] == "mlflow":
                return
            for alias in node.names:
                name = tree.code_for_node(alias.name)
                if "mlflow" in parts[1:] or "mlflow" in name.lower():
                    found.append(f"{module}.{name}")

    tree.visit(Imports())
    return found


def _static_file_name(node: cst.BaseExpression | None) -> str | None:
    """The file name a path ends in when the source spells it (``f"{tmp}/values.npy"``)."""
    text = string_value(node)
    if text is None and isinstance(node, cst.FormattedString) and node.parts:
        last = node.parts[-1]
        tail = last.value.rstrip("/") if isinstance(last, cst.FormattedStringText) else ""
        text = tail if "/" in tail else None
    if text is None:
        return None
    name = text.rstrip("/").rpartition("/")[2]
    plain = name and not any(ch in name for ch in "{}\\'\"")
    return name if plain else None


_AUTOLOG = (
    "autolog: tracelet captures SummaryWriter and Lightning logging, not this framework's "
    "own metrics; log them with experiment.log_metrics(d, step=...) where they are computed"
)
_PYTORCH_AUTOLOG = (
    "mlflow.pytorch.autolog used other than as a call statement: call tracelet.autolog() "
    "(the same arguments) before the fit instead"
)
_NOT_CARRIED = {
    "timestamp": "tracelet stamps each point when it is logged; drop timestamp=",
    "run_id": "it logs to another run; tracelet logs to its one active run",
    "model_id": "MLflow also stores the point as a metric of that logged model (what "
    "search_logged_models(order_by=[...metrics...]) ranks by); tracelet's points belong to the "
    "run only: drop model_id= where nothing reads the model's metrics, else keep MLflow here",
    "dataset": "MLflow stores the dataset's name and digest with the point; tracelet's "
    "points carry none: drop dataset= where nothing reads them, else keep MLflow here",
}
_URI_OPTION = '{{"mlflow": {{"url": {url}}}}}'
_GET_URI = "mlflow.get_tracking_uri()"
_RULE_OF = {"log_metric": "ML003", "log_metrics": "ML003", "log_params": "ML004",
            "set_tags": "ML005"}  # fmt: skip


def _has_step(bound) -> bool:
    return bound is not None and "step" in bound and literal(bound.value("step")) is not None


def _scalar_on(usage: Usage, bound) -> WriterTransform:
    """``mlflow.log_metric(k, v, step=s)`` -> ``writer.add_scalar(k, v, s)``."""
    index = [usage.call.args.index(bound.named[name]) for name in ("key", "value", "step")]

    def build(writer: str):
        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            return add_scalar(writer, *(updated.args[i] for i in index))

        return usage.node, transform

    return build


def _scalars_on(usage: Usage, bound, statement: cst.SimpleStatementLine) -> WriterTransform | None:
    """``mlflow.log_metrics({"a": x, "b": y}, step=s)`` -> one ``add_scalar`` per entry, for
    a literal dict and a step that can be evaluated once per entry."""
    metrics = bound.value("metrics")
    step = bound.value("step")
    if not isinstance(metrics, cst.Dict) or not metrics.elements or not pure(step):
        return None
    if not all(isinstance(e, cst.DictElement) for e in metrics.elements):
        return None
    index = usage.call.args.index(bound.named["step"])
    position = usage.call.args.index(bound.named["metrics"])

    def build(writer: str):
        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.SimpleStatementLine)
            call = updated.body[0].value
            assert isinstance(call, cst.Call)
            entries = call.args[position].value
            assert isinstance(entries, cst.Dict)
            lines = [
                cst.SimpleStatementLine(
                    [cst.Expr(add_scalar(writer, e.key, e.value, call.args[index]))]
                )
                for e in entries.elements
            ]
            lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
            lines[-1] = lines[-1].with_changes(trailing_whitespace=updated.trailing_whitespace)
            return cst.FlattenSentinel(lines)

        return statement, transform

    return build


def _turn_left(decision: Decision, rule: str, reason: str) -> None:
    decision.action, decision.rule, decision.reason = report.LEFT, rule, reason
    decision.remove = None
