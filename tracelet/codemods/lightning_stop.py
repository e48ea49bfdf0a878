"""Where ``tracelet.stop_logging()`` goes after a migrated Lightning ``Trainer``.

The logger's run held what ``fit``, ``validate``, ``test`` and ``predict`` logged through
that Trainer, so the tracelet run stops after the statement that uses the Trainer last,
in the Trainer's block or the innermost enclosing one that holds that use (after the
``for`` loop around ``trainer.fit``, after the call of a function of the file the Trainer
is passed to). A last use in a ``return`` that only reads the Trainer
(``return trainer.callback_metrics[...]``) gets the stop before the ``return``.

Where the Trainer goes out of sight (returned, stored, aliased, used in a nested function,
passed to code of another module, or its result returned) there is no place that is
surely after training: :func:`find_stop` then returns the warning to report, and the run
ends at the next ``start_logging`` or when the script exits, still with every point.
"""

from __future__ import annotations

from collections.abc import Callable

import libcst as cst
from libcst.metadata import PositionProvider, ScopeProvider

from tracelet.codemods.resolve import Resolver, Role, Usage, simple_binding_target

ESCAPING_PARENTS = (
    cst.Return, cst.Yield, cst.Element, cst.StarredElement, cst.DictElement, cst.Assign,
    cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.Lambda,
)  # fmt: skip
NOT_STOPPED = (
    "tracelet.stop_logging() is not added; the run ends at the next tracelet.start_logging "
    "or when the script exits"
)


def find_stop(
    resolver: Resolver, get: Callable, usage: Usage, statement: cst.CSTNode
) -> tuple[cst.CSTNode, bool] | str:
    """``(statement, True)`` to stop after it, ``(statement, False)`` to stop before it, or
    the warning to report when no stop is added. ``usage`` is the Trainer's creation,
    ``statement`` the statement holding it, ``get`` the codemod's metadata accessor."""
    return _StopFinder(resolver, get).find(usage, statement)


class _StopFinder:
    def __init__(self, resolver: Resolver, get: Callable):
        self.resolver = resolver
        self.get = get

    def find(self, usage: Usage, statement: cst.CSTNode) -> tuple[cst.CSTNode, bool] | str:
        escape = None
        references: list[cst.Name] = []
        if usage.role == Role.ARG and not self._local_callee(usage.context):
            escape = "is passed to code this file does not define"
        elif usage.role == Role.BIND and simple_binding_target(usage):
            context = usage.context
            target = (
                context.targets[0].target
                if isinstance(context, cst.Assign)
                else getattr(context, "target", None)
            )
            if not isinstance(target, cst.Name):
                escape = "is stored in an attribute"
            else:
                references, escape = self._references(target)
        elif usage.role not in (Role.RECEIVER, Role.STATEMENT, Role.ARG):
            escape = "is returned or stored where the codemod cannot follow it"
        if escape:
            return f"the Trainer {escape}: {NOT_STOPPED}"
        anchor: cst.CSTNode = statement
        if references:
            last = max(references, key=self._position)
            anchor = self._anchor(last, statement)
            if _returns(anchor):
                if any(self._is_call_receiver(ref, anchor) for ref in references):
                    return (
                        f"the Trainer's last use returns what a Trainer call gives: {NOT_STOPPED}"
                    )
                return anchor, False
        return anchor, True

    def _references(self, target: cst.Name) -> tuple[list[cst.Name], str | None]:
        scope = self.get(ScopeProvider, target, None)
        if scope is None:
            return [], "cannot be followed"
        assignment = next((a for a in scope.assignments[target.value] if a.node is target), None)
        if assignment is None:
            return [], "cannot be followed"
        references = []
        for access in assignment.references:
            node = access.node
            if not isinstance(node, cst.Name):
                return [], "is named in a string"
            if self.get(ScopeProvider, node, None) is not scope:
                return [], "is used in a nested function"
            parent = self.resolver.parent(node)
            if isinstance(parent, cst.Arg) and parent.value is node:
                if not self._local_callee(parent):
                    return [], "is passed to code this file does not define"
            elif isinstance(parent, ESCAPING_PARENTS):
                return [], "is returned or stored"
            references.append(node)
        return references, None

    def _local_callee(self, arg: cst.CSTNode | None) -> bool:
        return isinstance(arg, cst.Arg) and self.resolver.param_for_arg(arg) is not None

    def _anchor(self, node: cst.CSTNode, statement: cst.CSTNode) -> cst.CSTNode:
        """The statement holding ``node`` in the innermost block that also holds ``statement``."""
        blocks = set()
        current = self.resolver.parent(statement)
        while current is not None:
            if isinstance(current, cst.IndentedBlock | cst.Module):
                blocks.add(id(current))
            current = self.resolver.parent(current)
        child, current = node, self.resolver.parent(node)
        while current is not None and id(current) not in blocks:
            child, current = current, self.resolver.parent(current)
        return child

    def _is_call_receiver(self, name: cst.Name, anchor: cst.CSTNode) -> bool:
        parent = self.resolver.parent(name)
        grand = self.resolver.parent(parent) if parent is not None else None
        return isinstance(grand, cst.Call) and grand.func is parent and self._inside(name, anchor)

    def _inside(self, node: cst.CSTNode, ancestor: cst.CSTNode) -> bool:
        current: cst.CSTNode | None = node
        while current is not None:
            if current is ancestor:
                return True
            current = self.resolver.parent(current)
        return False

    def _position(self, node: cst.CSTNode) -> tuple[int, int]:
        start = self.get(PositionProvider, node).start
        return start.line, start.column


def _returns(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.SimpleStatementLine) and any(
        isinstance(small, cst.Return) for small in node.body
    )
