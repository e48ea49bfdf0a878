"""Lightning tracker loggers kept in a variable the Trainer reads, followed where they are made.

A logger variable that is not "one ``WandbLogger(...)`` assigned once before the Trainer"
is still migrated when every assignment of it in its scope is

* ``name = WandbLogger(...)`` or ``name = MLFlowLogger(...)``,
* ``name = WandbLogger(...) if cond else C`` / ``name = C if cond else WandbLogger(...)``
  with ``cond`` free of side effects (names, attributes, literals, comparisons,
  ``not``/``and``/``or``) and ``C`` one of ``None``, ``True``, ``False``,
* ``name = None`` / ``True`` / ``False``,

and every read of it is ``Trainer(..., logger=name)``, an argument of a plain function of
the file whose parameter only goes to ``Trainer(logger=param)`` (its default ``None``,
``True`` or ``False``), an argument of such a function of another module of the program
(the program decision follows the call there, :func:`into_trainer_kind`), or, for a
``WandbLogger``, ``name.version``
read after the logger is made and before anything else reads the name (the logger has no
W&B run yet, so ``version`` is the id it was given: ``None``, as any other id is refused).
DisentanGAN's ``training.py`` is this shape: ``wandb_logger = None``, then one
``WandbLogger`` per branch of an ``if``, ``hparams.run_name = wandb_logger.version``, and two
Trainers of which one is used.

The run then starts where the logger was made (``tracelet.start_logging(...)`` with the
logger's arguments) and the variable holds ``False``, so each Trainer that got the tracker
logger gets ``logger=False`` and the others get exactly what they got before
(``None``/``True``: Lightning's default logger). The run ends at the next ``start_logging``
or when the script exits, as the logger's W&B run did (the logger never finishes it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import (
    Assignment,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

from tracelet.codemods.cstutil import bind_args, is_dotted_name
from tracelet.codemods.lightning_args import WANDB_LOGGER
from tracelet.codemods.resolve import Resolver, Usage

CONSTANTS = ("None", "True", "False")
LOGGER_ATTRS = {"logger", "loggers"}
TO_TRAINER = "lightning:to-trainer"
"""Kind prefix of a parameter that receives tracker loggers and hands them to a Trainer."""


def into_trainer_kind(kinds: set[str]) -> str:
    """The kind the program decision follows for loggers of ``kinds`` passed to a function
    of another module that gives them to ``Trainer(logger=...)``."""
    return f"{TO_TRAINER}:{'+'.join(sorted(kinds))}"


def received_kinds(kind: str) -> set[str] | None:
    """The logger kinds of an :func:`into_trainer_kind` (None: another kind)."""
    prefix = TO_TRAINER + ":"
    return set(kind[len(prefix) :].split("+")) if kind.startswith(prefix) else None


@dataclass
class Made:
    """One logger call assigned to the followed name."""

    usage: Usage
    statement: cst.SimpleStatementLine
    assign: cst.Assign | cst.Return  # its value becomes ``False``
    test: cst.BaseExpression | None = None  # the condition of ``L if test else C``
    negated: bool = False  # ``C if test else L``: the logger is made when ``test`` is false


@dataclass
class Followed:
    """A logger name whose every assignment and read the codemod can rewrite."""

    name: str
    kinds: set[str]  # of the loggers made
    made: list[Made]
    trainers: list[cst.Call]
    versions: list[cst.Attribute] = field(default_factory=list)
    refs: set[int] = field(default_factory=set)  # ids of the Name nodes that read it
    returned: bool = False  # ``name`` is a function that returns the loggers
    # calls of another module's function that hands the loggers to its Trainer
    elsewhere: list[tuple[str, cst.Call]] = field(default_factory=list)
    # ``trainer.logger.log_hyperparams(p)`` on what such a function returned
    hyperparams: list[cst.Call] = field(default_factory=list)
    # (callee, argument position or keyword) of calls for the program decision to follow
    program_calls: list[tuple[str, int | str]] = field(default_factory=list)


def follow_logger_names(
    resolver: Resolver,
    get: Callable,
    loggers: dict[int, Usage],
    trainers: set[int],
    kind_of: Callable[[Usage], str],
    noted: list[tuple[str, int | str, str]],
) -> list[Followed]:
    """Every name of the file that holds tracker loggers in the shape above; ``loggers``
    maps a logger call's id to its usage, ``trainers`` holds the ids of the Trainer calls.
    ``noted`` receives the calls of other modules' functions for the program decision."""
    groups: dict[tuple[int, str], object] = {}
    for usage in loggers.values():
        assign = _assign_of(resolver, usage.node)
        if assign is None or not isinstance(assign.targets[0].target, cst.Name):
            continue
        target = assign.targets[0].target
        scope = get(ScopeProvider, target, None)
        if scope is not None:
            groups.setdefault((id(scope), target.value), scope)
    found = []
    for (_, name), scope in groups.items():
        followed = _follow(resolver, get, scope, name, loggers, trainers, kind_of, noted)
        if followed is not None:
            found.append(followed)
    return found


def follow_returned_loggers(
    resolver: Resolver,
    loggers: dict[int, Usage],
    trainers: set[int],
    kind_of: Callable[[Usage], str],
) -> list[Followed]:
    """Plain functions of the file that ``return Logger(...)`` where every call of the
    function is the ``logger=`` of a Trainer (``Trainer(logger=make_logger(args))``)."""
    groups: dict[int, tuple[cst.FunctionDef, list[Made]]] = {}
    for usage in loggers.values():
        found = _returning(resolver, usage)
        if found is not None:
            function, made = found
            groups.setdefault(id(function), (function, []))[1].append(made)
    followed = []
    for function, made in groups.values():
        if not _returns_only(resolver, function, made, loggers):
            continue
        calls = resolver.calls_of(function)
        reached = [_trainer_of(resolver, call, trainers) for call in calls or ()]
        if calls and all(reached):
            name = f"{function.name.value}()"
            kinds = {kind_of(m.usage) for m in made}
            followed.append(Followed(name, kinds, made, reached, returned=True))
    return followed


def _returning(resolver: Resolver, usage: Usage) -> tuple[cst.FunctionDef, Made] | None:
    returned = resolver.parent(usage.node)
    line = resolver.parent(returned) if isinstance(returned, cst.Return) else None
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    if not isinstance(resolver.parent(line), cst.IndentedBlock):
        return None
    current = resolver.parent(line)
    while current is not None and not isinstance(current, cst.FunctionDef):
        if isinstance(current, cst.ClassDef | cst.Lambda):
            return None
        current = resolver.parent(current)
    if current is None or current.decorators:
        return None
    if isinstance(resolver.parent(resolver.parent(current) or current), cst.ClassDef):
        return None  # a method
    return current, Made(usage, line, returned)


def _returns_only(
    resolver: Resolver, function: cst.FunctionDef, made: list[Made], loggers: dict[int, Usage]
) -> bool:
    """No other ``return`` of the function gives a tracker logger."""
    followed = {id(m.assign) for m in made}
    for statement in resolver.collected.returns.get(id(function), []):
        if id(statement) in followed or statement.value is None:
            continue
        if id(statement.value) in loggers or resolver.kind_of(statement.value) is not None:
            return False
    return True


def _trainer_of(resolver: Resolver, call: cst.Call, trainers: set[int]) -> cst.Call | None:
    arg = resolver.parent(call)
    if not isinstance(arg, cst.Arg) or arg.keyword is None or arg.keyword.value != "logger":
        return None
    trainer = resolver.parent(arg)
    return trainer if id(trainer) in trainers else None


def _assign_of(resolver: Resolver, call: cst.CSTNode) -> cst.Assign | None:
    """The ``name = <call>`` / ``name = <call> if c else C`` statement a logger call is the
    value of (one target, the statement's only small statement)."""
    value = resolver.parent(call)
    if isinstance(value, cst.IfExp):
        call = value
        value = resolver.parent(value)
    if not isinstance(value, cst.Assign) or value.value is not call or len(value.targets) != 1:
        return None
    line = resolver.parent(value)
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    if not isinstance(resolver.parent(line), cst.IndentedBlock | cst.Module):
        return None
    return value


def _follow(resolver, get, scope, name, loggers, trainers, kind_of, noted) -> Followed | None:
    made: list[Made] = []
    assignments = list(scope.assignments[name])
    for assignment in assignments:
        if not isinstance(assignment, Assignment) or not isinstance(assignment.node, cst.Name):
            return None
        target = resolver.parent(assignment.node)
        assign = resolver.parent(target) if isinstance(target, cst.AssignTarget) else None
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            return None
        if _is_constant(assign.value):
            continue
        found = _made(resolver, assign, loggers)
        if found is None or _assign_of(resolver, found.usage.node) is not assign:
            return None
        made.append(found)
    if not made:
        return None
    if len(assignments) == 1 and made[0].test is None:
        return None  # one logger assigned once: it moves to the Trainer (lightning.py)
    followed = Followed(name, {kind_of(m.usage) for m in made}, made, [])
    kind = into_trainer_kind(followed.kinds)
    ok = True
    for assignment in assignments:
        for access in assignment.references:
            node = access.node
            if id(node) in followed.refs:
                continue
            if not isinstance(node, cst.Name) or not _read_ok(
                resolver, get, followed, node, trainers
            ):
                ok = False
            followed.refs.add(id(node))
    noted.extend((callee, where, kind) for callee, where in followed.program_calls)
    if not ok:
        return None
    if not (followed.trainers or followed.elsewhere) or not all(
        _before_run(resolver, followed, v) for v in followed.versions
    ):
        return None
    return followed


def _made(resolver: Resolver, assign: cst.Assign, loggers: dict[int, Usage]) -> Made | None:
    value = assign.value
    line = resolver.parent(assign)
    assert isinstance(line, cst.SimpleStatementLine)
    if id(value) in loggers:
        return Made(loggers[id(value)], line, assign)
    if not isinstance(value, cst.IfExp) or not _pure(value.test):
        return None
    for call, other, negated in (
        (value.body, value.orelse, False),
        (value.orelse, value.body, True),
    ):
        if id(call) in loggers and _is_constant(other):
            return Made(loggers[id(call)], line, assign, value.test, negated)
    return None


def _read_ok(
    resolver: Resolver, get: Callable, followed: Followed, node: cst.Name, trainers: set[int]
) -> bool:
    parent = resolver.parent(node)
    if isinstance(parent, cst.Arg) and parent.value is node:
        call = resolver.parent(parent)
        keyword = parent.keyword.value if parent.keyword else None
        if keyword == "logger" and id(call) in trainers:
            followed.trainers.append(call)
            return True
        return _into_trainer_maker(resolver, get, followed, parent, trainers)
    if (
        followed.kinds == {WANDB_LOGGER}
        and isinstance(parent, cst.Attribute)
        and parent.value is node
        and parent.attr.value == "version"
    ):
        above = resolver.parent(parent)
        if isinstance(above, cst.Call) and above.func is parent:
            return False
        if isinstance(above, cst.AssignTarget | cst.Del | cst.AugAssign):
            return False
        followed.versions.append(parent)
        return True
    return False


def _into_trainer_maker(
    resolver: Resolver, get: Callable, followed: Followed, arg: cst.Arg, trainers: set[int]
) -> bool:
    """The name passed to a plain function of the file whose parameter only ever goes to
    ``Trainer(logger=param)`` (``generic_train(model, args, logger=logger)``)."""
    call = resolver.parent(arg)
    if not isinstance(call, cst.Call):
        return False
    if resolver.function_called(call) is None:
        return _into_program_trainer_maker(resolver, get, followed, arg)
    param = resolver.param_for_arg(arg)
    if param is None:
        return False
    found = param_trainers(resolver, get, param, trainers)
    if found is None:
        return False
    followed.trainers.extend(found)
    followed.refs.update(id(read) for read in param_reads(get, param) or ())
    return True


def param_reads(get: Callable, param: cst.Param) -> list[cst.CSTNode] | None:
    """The reads of a parameter never assigned in its function (None: it is)."""
    scope = get(ScopeProvider, param.name, None)
    assignments = list(scope.assignments[param.name.value]) if scope is not None else []
    if len(assignments) != 1 or assignments[0].node is not param:
        return None
    return [access.node for access in assignments[0].references]


def param_trainers(
    resolver: Resolver, get: Callable, param: cst.Param, trainers: set[int]
) -> list[cst.Call] | None:
    """The Trainers a parameter goes to when it goes nowhere but ``Trainer(logger=param)``
    and its default (if any) is ``None``, ``True`` or ``False``."""
    if param.default is not None and not _is_constant(param.default):
        return None
    reads = param_reads(get, param)
    found = []
    for read in reads or ():
        into = resolver.parent(read)
        trainer = resolver.parent(into) if isinstance(into, cst.Arg) else None
        if not (
            isinstance(into, cst.Arg)
            and into.value is read
            and into.keyword is not None
            and into.keyword.value == "logger"
            and id(trainer) in trainers
        ):
            return None
        found.append(trainer)
    return found or None


def _into_program_trainer_maker(
    resolver: Resolver, get: Callable, followed: Followed, arg: cst.Arg
) -> bool:
    """The name passed to a function of another module that the program decision followed
    (its parameter only goes to ``Trainer(logger=param)`` there), when whatever the call
    returns has no ``.logger`` read but ``.logger.log_hyperparams(p)``; otherwise the call
    is noted for the program decision."""
    call = resolver.parent(arg)
    callee = resolver.imported_callee(arg)
    if callee is None or any(a.star for a in call.args):
        return False
    signature = resolver.program.callees.get(callee)
    if signature is None or signature.kind != into_trainer_kind(followed.kinds):
        where = arg.keyword.value if arg.keyword is not None else call.args.index(arg)
        followed.program_calls.append((callee, where))
        return False
    bound = bind_args(call, signature.names, positional=signature.positional)
    if bound is None or bound.named.get(signature.param) is not arg:
        return False
    if any(made_elsewhere(resolver, get, other.value) for other in call.args if other is not arg):
        return False
    hyperparams = _result_logger_calls(resolver, get, call)
    if hyperparams is None or (hyperparams and followed.kinds != {WANDB_LOGGER}):
        return False
    followed.elsewhere.append((callee, call))
    followed.hyperparams.extend(hyperparams)
    return True


# what an object passed along with the logger may be made by: the standard library,
# Lightning, torch; but not Lightning's callbacks that raise when the Trainer has no logger
TRUSTED = ("pytorch_lightning", "lightning", "torch")
NEEDS_A_LOGGER = ("LearningRateMonitor", "DeviceStatsMonitor")


def made_elsewhere(resolver: Resolver, get: Callable, value: cst.BaseExpression) -> str | None:
    """The imported callee (not of :data:`TRUSTED` or the standard library, or a callback of
    :data:`NEEDS_A_LOGGER`) whose result ``value`` holds, directly or through the names it
    reads (followed to what they are assigned): such an object (a callback of a module the
    migration was not given) may reach the Trainer with the logger and read
    ``trainer.logger`` / ``pl_module.logger``."""
    found: list[str] = []
    seen: set[int] = set()

    class Finder(cst.CSTVisitor):
        def untrusted(self, node: cst.CSTNode) -> None:
            for qualified in get(QualifiedNameProvider, node, set()):
                root = qualified.name.split(".", 1)[0]
                if qualified.source == QualifiedNameSource.IMPORT and (
                    root not in {*TRUSTED, *sys.stdlib_module_names}
                    or qualified.name.rsplit(".", 1)[-1] in NEEDS_A_LOGGER
                ):
                    found.append(qualified.name)

        def visit_Call(self, node: cst.Call) -> None:
            self.untrusted(node.func)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            parent = resolver.parent(node)
            if not (isinstance(parent, cst.Call) and parent.func is node):
                self.untrusted(node)  # an imported object passed as it is
            return not is_dotted_name(node)  # ``module.attr``: no value of its own at its root

        def visit_Name(self, node: cst.Name) -> None:
            for assignment in resolver.referents(node):
                if id(assignment) in seen:
                    continue
                seen.add(id(assignment))
                target = getattr(assignment, "node", None)
                if isinstance(target, cst.Import | cst.ImportFrom):
                    parent = resolver.parent(node)
                    if not (isinstance(parent, cst.Call) and parent.func is node):
                        self.untrusted(node)  # an imported object passed as it is
                    continue
                holder = resolver.parent(resolver.parent(target)) if target is not None else None
                if not isinstance(holder, cst.Assign):
                    holder = resolver.parent(target) if target is not None else None
                if isinstance(holder, cst.Assign | cst.AnnAssign) and holder.value is not None:
                    holder.value.visit(self)

    value.visit(Finder())
    return found[0] if found else None


def _result_logger_calls(resolver: Resolver, get: Callable, call: cst.Call) -> list | None:
    """The ``result.logger.log_hyperparams(p)`` statements on the result of ``call``, when
    the result is dropped or bound once to a name only read as ``name.attribute`` and its
    ``.logger`` is read nowhere else (None: it is, or the result goes elsewhere)."""
    holder = resolver.parent(call)
    if isinstance(holder, cst.Expr):
        return []
    if isinstance(holder, cst.Assign) and len(holder.targets) == 1:
        target = holder.targets[0].target
    elif isinstance(holder, cst.AnnAssign) and holder.value is call:
        target = holder.target
    else:
        return None
    scope = get(ScopeProvider, target, None)
    if not isinstance(target, cst.Name) or scope is None:
        return None
    assignments = list(scope.assignments[target.value])
    if len(assignments) != 1 or assignments[0].node is not target:
        return None
    found = []
    for access in assignments[0].references:
        attribute = resolver.parent(access.node)
        if not isinstance(attribute, cst.Attribute) or attribute.value is not access.node:
            return None
        if attribute.attr.value not in LOGGER_ATTRS:
            continue
        method = resolver.parent(attribute)
        used = resolver.parent(method) if isinstance(method, cst.Attribute) else None
        if not (
            attribute.attr.value == "logger"
            and isinstance(used, cst.Call)
            and used.func is method
            and method.attr.value == "log_hyperparams"
            and len(used.args) == 1
            and used.args[0].keyword is None
            and not used.args[0].star
            and isinstance(resolver.parent(used), cst.Expr)
            and len(resolver.parent(resolver.parent(used)).body) == 1
        ):
            return None
        found.append(used)
    return found


def _before_run(resolver: Resolver, followed: Followed, version: cst.Attribute) -> bool:
    """``name.version`` read in the block of a ``name = WandbLogger(...)`` statement, after
    it, with no statement in between that reads or sets the name."""
    statement = resolver.statement_of(version)
    block = resolver.parent(statement)
    body = list(getattr(block, "body", ()))
    if statement not in body:
        return False
    index = body.index(statement)
    for earlier in reversed(body[:index]):
        made = next((m for m in followed.made if m.statement is earlier), None)
        if made is not None:
            return made.test is None
        if followed.name in _names(earlier):
            return False
    return False


def _names(node: cst.CSTNode) -> set[str]:
    names: set[str] = set()

    class Finder(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            names.add(name.value)

    node.visit(Finder())
    return names


def _is_constant(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value in CONSTANTS


def _pure(node: cst.BaseExpression) -> bool:
    """A condition that can be evaluated twice with the same result and no side effect."""
    if is_dotted_name(node) or isinstance(node, cst.BaseString | cst.Integer | cst.Float):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return _pure(node.expression)
    if isinstance(node, cst.BooleanOperation):
        return _pure(node.left) and _pure(node.right)
    if isinstance(node, cst.Comparison):
        return _pure(node.left) and all(_pure(c.comparator) for c in node.comparisons)
    return False
