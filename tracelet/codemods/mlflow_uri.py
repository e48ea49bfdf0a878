"""``mlflow.set_tracking_uri(X)``: the store MLflow's runs go to, moved into tracelet.

=============================================  =================================================
source                                         migrated
=============================================  =================================================
``mlflow.set_tracking_uri(X)`` in the          removed; ``tracelet.start_logging(...,
function that starts the run, before it        backend_options={"mlflow": {"url": X}})``
(X a string or a name bound once)              (ML019)
``mlflow.set_tracking_uri(X)`` elsewhere       ``tracelet.set_backend_options("mlflow",
(module level, another function)               url=X)`` in its place: the default for the
                                               runs started after it (ML020)
=============================================  =================================================

Either way the migrated run lands in the store the original's run went to. That is only
faithful when nothing in the program still reads MLflow's own tracking URI, so the call is
kept (TL003; the run is then delivered to ``mlflow.get_tracking_uri()``) when another MLflow
call stays in the file (a client, ``get_experiment_by_name``, ``load_model``, a call site
left or held) or a rewrite still calls MLflow (``get_artifact_uri``), and, decided over the
program by :mod:`tracelet.codemods.runner`, when another module keeps MLflow calls or no
module given starts the run. It is kept too when it is called after a run started in the
same function (MLflow's calls of that run would go to the new store), and when its argument
is not one value (``None``, ``""``, ``*args``).
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import PositionProvider, ScopeProvider

from tracelet.codemods import report
from tracelet.codemods.base import Decision, TrackerCodemod
from tracelet.codemods.cstutil import bind_args, call_with, expr, literal, string_value
from tracelet.codemods.resolve import Role, Usage

_KEPT = (
    "set_tracking_uri kept: {why}; the migrated run is delivered to mlflow.get_tracking_uri() "
    "as it is when the run starts"
)


class MlflowTrackingUri(TrackerCodemod):
    """The ``set_tracking_uri`` part of the MLflow codemod (see the module docstring).
    ``uri_option`` is the ``url`` code ``start_logging`` gets when the URI is carried;
    ``tracking_uri_kept`` says a ``set_tracking_uri`` stays, for ``mlflow.get_tracking_uri()``."""

    def reset_tracking_uri(self) -> None:
        self._uri_moves: list[tuple[Usage, Decision]] = []
        self.tracking_uri_kept = False
        self.uri_option: str | None = None

    def set_tracking_uri(self, usage: Usage) -> Decision:
        bound = bind_args(usage.call, ("uri",)) if usage.role == Role.CALL else None
        value = bound.value("uri") if bound is not None and not bound.unknown else None
        if value is None or usage.result_role != Role.STATEMENT:
            return self._keep("its call is not one statement with one URI")
        if literal(value) in (None, ""):
            return self._keep("None or an empty URI resets MLflow's store to its default")

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            uri = updated.args[usage.call.args.index(bound.named["uri"])]
            return call_with(
                updated,
                expr("tracelet.set_backend_options"),
                [(None, expr('"mlflow"')), ("url", uri)],
            )

        decision = self.rewrite("ML020", usage.node, transform)
        decision.reason = "the default store of the tracelet runs started after it"
        self._uri_moves.append((usage, decision))
        return decision

    def settle_tracking_uri(self, starts: list[Usage]) -> None:
        """After every site is decided: keep the moved URIs, carry one into the start of
        the run, or leave them as ``set_backend_options`` calls."""
        if not self._uri_moves:
            return
        why = self._why_kept(starts)
        if why is not None:
            for _, decision in self._uri_moves:
                decision.action, decision.rule, decision.transforms = report.KEPT, "TL003", []
                decision.reason = _KEPT.format(why=why)
            self.tracking_uri_kept = True
            return
        self.moves_globals = True
        [(usage, decision), *more] = self._uri_moves
        if more or "mlflow" not in self.targets or not self._carried(usage, starts):
            return
        statement = self.resolver.parent(usage.node)
        value = bind_args(usage.call, ("uri",)).value("uri")
        self.uri_option = self.module.code_for_node(value)
        decision.rule, decision.transforms, decision.remove = "ML019", [], statement
        decision.uses_tracelet = False
        decision.reason = (
            'carried into tracelet.start_logging(backend_options={"mlflow": {"url": ...}})'
        )

    def _keep(self, why: str) -> Decision:
        self.tracking_uri_kept = True
        return self.kept(_KEPT.format(why=why))

    def _why_kept(self, starts: list[Usage]) -> str | None:
        held = self.program.keep_globals if self.program is not None else None
        if held:
            return held
        moved = {id(u.node) for u, _ in self._uri_moves}
        for site in sorted(self._sites, key=lambda s: (s.line, s.column)):
            if id(site.usage.node) in moved:
                continue
            if self.still_calls(site):
                code = self.code(site.usage.node)
                return f"{code} (line {site.line}) still calls MLflow, which reads it"
        for usage, _ in self._uri_moves:
            line = self._line(usage)
            scope = self.get_metadata(ScopeProvider, usage.node, None)
            for start in starts:
                if (
                    self.get_metadata(ScopeProvider, start.node, None) is scope
                    and self._line(start) < line
                ):
                    return (
                        f"it is called after the run started at line {self._line(start)}, whose "
                        "MLflow calls would go to the new store"
                    )
        return None

    def _carried(self, usage: Usage, starts: list[Usage]) -> bool:
        """The URI can move to ``start_logging``: its call is a statement of the body of the
        function (or module) that starts every run, before them, and its value is the same
        there (a string, or a name bound once)."""
        if not starts:
            return False
        block = self.resolver.parent(self.resolver.statement_of(usage.node))
        if not (
            isinstance(block, cst.Module)
            or (
                isinstance(block, cst.IndentedBlock)
                and isinstance(self.resolver.parent(block), cst.FunctionDef)
            )
        ):
            return False
        scope = self.get_metadata(ScopeProvider, usage.node, None)
        line = self._line(usage)
        if any(
            self.get_metadata(ScopeProvider, s.node, None) is not scope or self._line(s) < line
            for s in starts
        ):
            return False
        value = bind_args(usage.call, ("uri",)).value("uri")
        if string_value(value) is not None:
            return True
        root = value
        while isinstance(root, cst.Attribute):
            root = root.value
        return isinstance(root, cst.Name) and len(self.resolver.referents(root)) == 1

    def _line(self, usage: Usage) -> int:
        return self.get_metadata(PositionProvider, usage.node).start.line
