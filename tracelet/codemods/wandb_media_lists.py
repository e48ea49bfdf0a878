"""Lists of W&B media values that only reach ``wandb.log``: their items can become
``tracelet.Image`` / ``Histogram`` / ``Table``, since ``tracelet.log`` takes a list of media of
one kind under one key and W&B stores it as ``wandb.log`` stores the list of W&B values.

Three shapes, each within one scope, each list holding media of one kind:

* a list literal or comprehension as a value of the dict ``wandb.log`` is given,
  ``wandb.log({"examples": [wandb.Image(x, caption=c) for x, c in pairs]})``, or in a
  dict variable that only ``wandb.log`` is given (``log = {"examples": [...]}``,
  ``log["examples"] = [...]``);
* a name bound to such a list, every use of it such a dict value;
* a name bound to ``[]`` and filled with ``name.append(wandb.Image(...))`` (wandb/examples'
  pytorch-cnn-mnist), every other use of it such a dict value.

A list that goes anywhere else (a function, ``extend``, ``+=``, a return) may meet W&B
code the codemod does not see, so its media are left (see :func:`list_problem`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import Assignment, ScopeProvider

from tracelet.codemods.cstutil import bind_args

if TYPE_CHECKING:
    from tracelet.codemods.base import TrackerCodemod

MEDIA_KEYS = ("wandb.{}", "wandb.data_types.{}")
RUN = "wandb:run"
LIST_ADVICE = (
    "build the list where it is logged, [tracelet.{kind}(...) for ...], and log it under "
    "one key: tracelet.log({{key: images}})"
)


def media_kind(codemod: TrackerCodemod, node: cst.CSTNode | None) -> str | None:
    """``Image`` for a ``wandb.Image(...)`` call (``Histogram``, ``Table`` alike), else None."""
    if not isinstance(node, cst.Call):
        return None
    path = codemod.resolver.eval_path(node.func)
    if path is None or not path.attrs or path.kind != "wandb":
        return None
    kind = path.attrs[-1]
    return kind if path.key in (key.format(kind) for key in MEDIA_KEYS) else None


def is_log_call(codemod: TrackerCodemod, node: cst.CSTNode | None) -> bool:
    """``wandb.log(...)`` or ``run.log(...)``."""
    if not isinstance(node, cst.Call):
        return False
    path = codemod.resolver.eval_path(node.func)
    return path is not None and (
        path.key == "wandb.log" or (path.kind == RUN and path.attrs == ("log",))
    )


def list_problem(codemod: TrackerCodemod, call: cst.Call, kind: str) -> str | None:
    """For a media call in a list (or appended to one): None when the list only reaches
    ``wandb.log`` dicts, else the reason to leave it. Not for media outside lists."""
    resolver = codemod.resolver
    parent = resolver.parent(call)
    sequence = None
    if isinstance(parent, cst.ListComp) and parent.elt is call:
        sequence = parent
    elif isinstance(parent, cst.Element) and parent.value is call:
        sequence = resolver.parent(parent)
    if isinstance(sequence, cst.List | cst.Tuple | cst.ListComp):
        if _sequence_kind(codemod, sequence) != kind:
            return (
                f"a list mixing wandb.{kind} with other values: tracelet.log takes a list "
                "of media of one kind under one key; log each kind under a key of its own"
            )
        if logged_value(codemod, sequence):
            return None
        target = _bound_name(resolver, sequence)
        if target is not None and _only_logged(codemod, target, kind):
            return None
        return f"a list of wandb.{kind} values used other than in wandb.log: " + _advice(kind)
    appended = _appended_to(resolver, call)
    if appended is not None and _only_logged(codemod, appended, kind):
        return None
    return f"a wandb.{kind} value passed to code the codemod does not follow: " + _advice(kind)


def logged_value(codemod: TrackerCodemod, node: cst.CSTNode) -> bool:
    """``node`` is a value of the dict (or of a dict nested in it) given to ``wandb.log``,
    written in the call or in a dict variable the call is given (``log = {k: node}``,
    ``log[k] = node``)."""
    resolver = codemod.resolver
    stored = _stored_in(resolver, node)
    if stored is not None:
        return _only_logged_dict(codemod, stored)
    while True:
        element = resolver.parent(node)
        if not (isinstance(element, cst.DictElement) and element.value is node):
            return False
        node = resolver.parent(element)  # the Dict
        holder = resolver.parent(node)
        if isinstance(holder, cst.Arg) and holder.value is node:
            return _is_log_data(codemod, holder)
        if isinstance(holder, cst.Assign):  # log = {...}; wandb.log(log)
            target = _bound_name(resolver, node)
            return target is not None and _only_logged_dict(codemod, target)


def _is_log_data(codemod: TrackerCodemod, arg: cst.Arg) -> bool:
    call = codemod.resolver.parent(arg)
    if not is_log_call(codemod, call):
        return False
    bound = bind_args(call, ("data", "step", "commit", "sync"))
    return bound is not None and bound.named.get("data") is arg


def _stored_in(resolver, value: cst.CSTNode) -> cst.Name | None:
    """``name`` of the statement ``name[key] = value``."""
    assign = resolver.parent(value)
    if not (isinstance(assign, cst.Assign) and assign.value is value and len(assign.targets) == 1):
        return None
    target = assign.targets[0].target
    if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name):
        return target.value
    return None


def _only_logged_dict(codemod: TrackerCodemod, name: cst.Name) -> bool:
    """Every binding of ``name`` in its scope is a dict literal, and every use is
    ``name[key] = value`` or the dict given to ``wandb.log``."""
    resolver = codemod.resolver
    assignments = _assignments(codemod, name)
    if not assignments:
        return False
    for assignment in assignments:
        value = resolver.collected.values.get(id(assignment.node))
        if _bound_name(resolver, value) is not assignment.node or not isinstance(value, cst.Dict):
            return False
        for access in assignment.references:
            node = access.node
            holder = resolver.parent(node)
            store = (
                isinstance(holder, cst.Subscript)
                and holder.value is node
                and (_stored_in(resolver, _assigned_value(resolver, holder)) is node)
            )
            data = (
                isinstance(holder, cst.Arg)
                and holder.value is node
                and (_is_log_data(codemod, holder))
            )
            if not (store or data):
                return False
    return True


def _assigned_value(resolver, target: cst.CSTNode) -> cst.CSTNode | None:
    """The value of ``target = value``."""
    assign_target = resolver.parent(target)
    if not isinstance(assign_target, cst.AssignTarget):
        return None
    assign = resolver.parent(assign_target)
    return assign.value if isinstance(assign, cst.Assign) else None


def _assignments(codemod: TrackerCodemod, name: cst.Name) -> list[Assignment] | None:
    """The plain assignments of ``name`` in its scope; None when one is of another sort (an
    import, a parameter, ...)."""
    scope = codemod.get_metadata(ScopeProvider, name, None)
    if scope is None:
        return None
    found = list(scope.assignments[name.value])
    if not all(isinstance(a, Assignment) and isinstance(a.node, cst.Name) for a in found):
        return None
    return found


def _advice(kind: str) -> str:
    return LIST_ADVICE.format(kind=kind)


def _sequence_kind(codemod: TrackerCodemod, sequence: cst.CSTNode) -> str | None:
    """The one media kind every item of a list literal or comprehension is, else None."""
    if isinstance(sequence, cst.ListComp):
        return media_kind(codemod, sequence.elt)
    assert isinstance(sequence, cst.List | cst.Tuple)
    kinds = {
        media_kind(codemod, e.value) if isinstance(e, cst.Element) else None
        for e in sequence.elements
    }
    return kinds.pop() if len(kinds) == 1 else None


def _bound_name(resolver, value: cst.CSTNode) -> cst.Name | None:
    """The name of ``name = value`` (one plain target)."""
    assign = resolver.parent(value)
    if (
        isinstance(assign, cst.Assign)
        and assign.value is value
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
    ):
        return assign.targets[0].target
    return None


def _appended_to(resolver, call: cst.Call) -> cst.Name | None:
    """``name`` of the statement ``name.append(call)``."""
    arg = resolver.parent(call)
    append = resolver.parent(arg) if isinstance(arg, cst.Arg) else None
    if not (
        isinstance(append, cst.Call)
        and len(append.args) == 1
        and append.args[0] is arg
        and arg.keyword is None
        and not arg.star
        and _is_append_statement(resolver, append)
    ):
        return None
    func = append.func
    assert isinstance(func, cst.Attribute)
    return func.value if isinstance(func.value, cst.Name) else None


def _is_append_statement(resolver, node: cst.Call) -> bool:
    func = node.func
    return (
        isinstance(func, cst.Attribute)
        and func.attr.value == "append"
        and isinstance(resolver.parent(node), cst.Expr)
    )


def _only_logged(codemod: TrackerCodemod, name: cst.Name, kind: str) -> bool:
    """Every binding of ``name`` in its scope is ``[]`` or a list of ``kind`` media, and
    every use is ``name.append(<kind media>)`` or a value of a ``wandb.log`` dict."""
    resolver = codemod.resolver
    assignments = _assignments(codemod, name)
    if not assignments:
        return False
    for assignment in assignments:
        value = resolver.collected.values.get(id(assignment.node))
        if _bound_name(resolver, value) is not assignment.node:
            return False  # a for target, an unpacking, an augmented assignment, ...
        empty = isinstance(value, cst.List) and not value.elements
        if not empty and not (
            isinstance(value, cst.List | cst.ListComp) and _sequence_kind(codemod, value) == kind
        ):
            return False
        for access in assignment.references:
            if not _logged_or_appended(codemod, access.node, kind):
                return False
    return True


def _logged_or_appended(codemod: TrackerCodemod, node: cst.CSTNode, kind: str) -> bool:
    if logged_value(codemod, node):
        return True
    resolver = codemod.resolver
    attribute = resolver.parent(node)
    call = resolver.parent(attribute) if isinstance(attribute, cst.Attribute) else None
    return (
        isinstance(call, cst.Call)
        and call.func is attribute
        and _is_append_statement(resolver, call)
        and len(call.args) == 1
        and call.args[0].keyword is None
        and not call.args[0].star
        and media_kind(codemod, call.args[0].value) == kind
    )
