"""Lightning loggers given to ``Fabric(loggers=...)``: what must hold for the move.

With a tracelet run active, what ``fabric.log`` / ``fabric.log_dict`` hand Fabric's
loggers reaches the run (:mod:`tracelet.capture.fabric`), so a ``WandbLogger`` or
``MLFlowLogger`` given to Fabric is migrated as one given to a Trainer is
(:mod:`tracelet.codemods.lightning`): its arguments go to ``tracelet.start_logging``
before the statement that makes the Fabric (``LT008``), and it is taken off the
``loggers`` list (``[]`` when none is left, ``None`` for a lone logger; ``LT009``).
No ``stop_logging`` is added: the Fabric object goes on to the training code, and the
logger's run also ended when the script exited.

Besides what holds for a Trainer, the move needs:

* the Fabric bound to a plain name, so its calls can be found in the file;
* with a ``WandbLogger``, every ``<fabric>.log_dict(metrics, step)`` /
  ``<fabric>.log(name, value, step)`` of the file given a step: ``WandbLogger`` logs a
  call without one at W&B's own row counter (its ``trainer/global_step`` left empty),
  which tracelet does not reproduce (``MLFlowLogger`` logs it at step 0, as tracelet does);
* no ``<fabric>.logger`` / ``<fabric>.loggers`` read (the tracker logger is gone);
* a logger variable assigned at module level (TinyLlama's ``wandb_logger =
  WandbLogger()``) moves only when its arguments are literals and the Fabric's
  ``loggers=`` is its only read: nothing in between can change what it is given.

Calls are matched by the Fabric's name (``fabric.log_dict``, ``self.fabric.log_dict``)
in this file; code of other modules that logs through the Fabric is not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst
from libcst.metadata import GlobalScope, ScopeProvider

from tracelet.codemods.cstutil import literal
from tracelet.codemods.lightning_args import WANDB_LOGGER, Refused

#: how many positional arguments reach ``step`` in each Fabric logging method
_STEP_POSITION = {"log_dict": 1, "log": 2}
_LOGGER_READS = {"logger", "loggers"}


def check_fabric_logging(module: cst.Module, statement: cst.CSTNode, site: Any) -> None:
    """Raise :class:`Refused` when the loggers of ``site`` (a ``_Site`` of a Fabric made in
    ``statement``) cannot be moved; see the module docstring."""
    usage = site.loggers[0].usage
    name = _bound_name(statement)
    if name is None:
        raise Refused(
            "TL002",
            "the Fabric is not assigned to a plain name, so its fabric.log_dict calls cannot "
            "be checked; bind it (fabric = Fabric(...)) and migrate again",
            usage,
        )
    wandb = any(logger.kind == WANDB_LOGGER for logger in site.loggers)
    finder = _FabricCalls(name)
    module.visit(finder)
    if finder.logger_reads:
        raise Refused(
            "TL001",
            f"{finder.logger_reads[0]} is read, and Fabric has no tracker logger any more; "
            "call the tracelet experiment (tracelet.get_active_experiment()) instead",
            usage,
        )
    if wandb and finder.stepless:
        raise Refused(
            "TL001",
            f"{finder.stepless[0]}(...) is given no step: WandbLogger logs it at W&B's own "
            "row counter with no trainer/global_step, which tracelet does not reproduce; "
            "pass step=... to every fabric.log / fabric.log_dict call",
            usage,
        )


def module_logger_for(
    get_metadata: Callable, logger: Any, target: cst.BaseAssignTargetExpression
) -> bool:
    """True when ``logger`` (a ``_Logger`` bound by a module-level ``target = Logger(...)``)
    can be moved into a function's ``start_logging``: literal arguments, one read."""
    scope = get_metadata(ScopeProvider, target, None)
    if not isinstance(scope, GlobalScope) or not isinstance(target, cst.Name):
        return False
    if any(literal(arg.value) is ... for arg in logger.call.args):
        return False
    assignments = [a for a in scope.assignments[target.value] if hasattr(a, "node")]
    return len(assignments) == 1 and len(assignments[0].references) == 1


def _bound_name(statement: cst.CSTNode) -> str | None:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        assign = statement.body[0]
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
            target = assign.targets[0].target
            if isinstance(target, cst.Name):
                return target.value
    return None


class _FabricCalls(cst.CSTVisitor):
    """``<name>.log(...)`` / ``<name>.log_dict(...)`` without a step, and logger reads."""

    def __init__(self, name: str):
        self.name = name
        self.stepless: list[str] = []
        self.logger_reads: list[str] = []

    def _is_fabric(self, node: cst.BaseExpression) -> bool:
        if isinstance(node, cst.Name):
            return node.value == self.name
        return (  # self.fabric, not a module path such as lightning.fabric
            isinstance(node, cst.Attribute)
            and node.attr.value == self.name
            and isinstance(node.value, cst.Name)
            and node.value.value == "self"
        )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and self._is_fabric(func.value)):
            return
        position = _STEP_POSITION.get(func.attr.value)
        if position is None:
            return
        positional = [a for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value for a in node.args if a.keyword is not None}
        starred = any(a.star for a in node.args)
        if len(positional) <= position and "step" not in keywords and not starred:
            self.stepless.append(cst.Module([]).code_for_node(func))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value in _LOGGER_READS and self._is_fabric(node.value):
            self.logger_reads.append(cst.Module([]).code_for_node(node))
