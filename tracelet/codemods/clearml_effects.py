"""What ClearML's ``Task.init`` did besides starting a task, kept in the migrated code.

Seeding
    ``Task.init`` calls ``clearml.utilities.seed.make_deterministic(task.get_random_seed())``:
    ``random.seed``, ``numpy.random.seed`` and, when torch is imported,
    ``torch.manual_seed`` with 1337 (or the value of an earlier
    ``Task.set_random_seed(x)``; ``None`` or ``False`` turns it off). A script that seeds
    before ``Task.init`` therefore trains with 1337, whatever it asked for. The migrated code
    gets the same calls, visibly, right after ``tracelet.start_logging``, plus a report
    line; delete them to get the seed the script itself sets.
Argparse capture
    With ``auto_connect_arg_parser`` on (the default), ClearML records every argument the
    script's parser parsed in the task's ``Args`` section. The migrated code logs them
    with ``experiment.log_params(vars(args), section="Args")``: after the start when the
    arguments are parsed before it, else right after ``args = parser.parse_args()``. When
    neither is sure to have run before the other (different functions), the report says
    what to add instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from tracelet.codemods.cstutil import literal
from tracelet.codemods.resolve import Role

if TYPE_CHECKING:
    from tracelet.codemods.base import Decision, TrackerCodemod, Usage
    from tracelet.codemods.cstutil import BoundArgs

CLEARML_SEED = 1337  # clearml.backend_interface.task.Task.__default_random_seed
PARSE_METHODS = ("parse_args", "parse_known_args")
UNKNOWN = object()
# what make_deterministic seeds, in its order (torch only when imported)
SEEDED = (("random", "seed"), ("numpy", "random.seed"), ("torch", "manual_seed"))


def keep_side_effects(
    codemod: TrackerCodemod,
    inits: list[tuple[Usage, Decision, BoundArgs]],
    seed_calls: list[Usage],
) -> None:
    """Add the seeding and argparse capture of every rewritten ``Task.init``."""
    from tracelet.codemods import report

    seed = _seed(seed_calls)
    for usage, decision, bound in inits:
        if decision.action != report.REWRITTEN:
            continue
        if seed is UNKNOWN:
            decision.action, decision.rule = report.LEFT, "TL002"
            decision.reason = (
                "Task.set_random_seed(<expression>) decides the seed ClearML's Task.init "
                "applies; the codemod cannot repeat it"
            )
            decision.transforms, decision.side_transforms = [], []
            continue
        if seed is not None:
            _seed_after_start(codemod, decision, seed)
        connect = literal(bound.value("auto_connect_arg_parser"))
        if connect is False:
            continue
        if connect not in (None, True, ...):
            decision.notes.append(
                "auto_connect_arg_parser=<dict>: ClearML stored some argparse arguments; "
                'add experiment.log_params({...}, section="Args") for the ones you need'
            )
            continue
        _log_args(codemod, usage, decision)


def _seed(seed_calls: list[Usage]) -> int | object | None:
    """The seed ``Task.init`` applies: 1337 unless ``Task.set_random_seed`` says otherwise."""
    values = set()
    for usage in seed_calls:
        args = usage.call.args
        value = literal(args[0].value) if len(args) == 1 else ...
        if value is ... or not isinstance(value, bool | int | type(None)):
            return UNKNOWN
        values.add(value)
    if len(values) > 1:
        return UNKNOWN
    if not values:
        return CLEARML_SEED
    (value,) = values
    if value is True:
        return CLEARML_SEED
    return None if value in (None, False) else int(value) & 0xFFFFFFFF


def _seed_after_start(codemod: TrackerCodemod, decision: Decision, seed: int) -> None:
    module = codemod.module
    names = codemod.resolver.collected.all_names
    calls = []
    for package, seeding in (
        ("random", "seed"),
        ("numpy", "random.seed"),
        ("torch", "manual_seed"),
    ):
        if package == "torch" and "torch" not in names:
            continue  # ClearML seeds torch only when it is imported
        alias = _import_alias(module, package)
        if alias is None:
            alias = package
            decision.imports.append(package)
        calls.append(f"{alias}.{seeding}({seed})")
    comment = f"# ClearML's Task.init seeded these with {seed} (make_deterministic)\n"
    codemod.writer_routes.after_start(decision, comment + "\n".join(calls) + "\n")
    seeded = ", ".join(c.split("(")[0] for c in calls)
    decision.notes.append(
        f"ClearML's Task.init seeded the random generators ({seeded}) with {seed}: the "
        "migrated code does the same right after tracelet.start_logging (delete those lines "
        "to keep the seed the script sets itself)"
    )


def _import_alias(module: cst.Module, package: str) -> str | None:
    """The name a top-level ``import package [as alias]`` binds, if any."""
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if not isinstance(small, cst.Import):
                continue
            for alias in small.names:
                if module.code_for_node(alias.name) != package:
                    continue
                if alias.asname is None:
                    return package
                if isinstance(alias.asname.name, cst.Name):
                    return alias.asname.name.value
    return None


def _log_args(codemod: TrackerCodemod, usage: Usage, decision: Decision) -> None:
    parsed = _parsed_arguments(codemod)
    if not parsed:
        if _mentions_argparse(codemod):
            decision.notes.append(
                "ClearML stored the parsed argparse arguments in its Args section by itself; "
                'add experiment.log_params(vars(args), section="Args") where args is parsed'
            )
        return
    routes = codemod.writer_routes
    anchor = routes.anchor_of(decision)
    experiment = _experiment_name(usage)
    statements = []
    for statement, name in parsed:
        code = f'{experiment}.log_params(vars({name}), section="Args")\n'
        if routes.dominates(statement, anchor):
            routes.after_start(decision, code)
        elif routes.dominates(anchor, statement):
            statements.append((statement, code))
        else:
            decision.notes.append(
                f"ClearML stored {name}'s arguments (Args section) by itself, but {name} is "
                "parsed where the codemod cannot tell whether the task exists: add "
                f'experiment.log_params(vars({name}), section="Args") after both'
            )
            continue
        decision.notes.append(
            f"ClearML stored the parsed arguments of {name} in its Args section by itself: "
            f'the migrated code logs them with log_params(vars({name}), section="Args")'
        )
    for statement, code in statements:
        line = cst.parse_statement(code)

        def follow(updated: cst.CSTNode, line: cst.BaseStatement = line) -> cst.CSTNode:
            return cst.FlattenSentinel([updated, line])

        decision.side_transforms.append((statement, follow))


def _experiment_name(usage: Usage) -> str:
    """The variable the start binds (``task = Task.init(...)``), else the active experiment."""
    from tracelet.codemods.base import ACTIVE_EXPERIMENT

    context = usage.context
    if usage.role == Role.BIND and isinstance(context, cst.Assign) and len(context.targets) == 1:
        target = context.targets[0].target
        if isinstance(target, cst.Name):
            return target.value
    if (
        usage.role == Role.WITH
        and isinstance(context, cst.WithItem)
        and context.asname
        and isinstance(context.asname.name, cst.Name)
    ):
        return context.asname.name.value
    return ACTIVE_EXPERIMENT


def _parsed_arguments(codemod: TrackerCodemod) -> list[tuple[cst.SimpleStatementLine, str]]:
    """``(statement, name)`` of every ``name = <parser>.parse_args(...)`` (or
    ``name, rest = <parser>.parse_known_args(...)``) statement of the file."""
    found = []
    resolver = codemod.resolver
    parsers = _parser_functions(codemod.module)
    for name in resolver.collected.names:
        current = resolver.parent(name)
        if isinstance(current, cst.Element):  # `args, rest = ...`: the first element
            tuple_node = resolver.parent(current)
            if not isinstance(tuple_node, cst.Tuple) or tuple_node.elements[0] is not current:
                continue
            current = resolver.parent(tuple_node)
        if not isinstance(current, cst.AssignTarget):
            continue
        assign = resolver.parent(current)
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            continue
        method = _parse_method(assign.value, parsers)
        if method is None or (method == "parse_known_args") != (
            isinstance(assign.targets[0].target, cst.Tuple)
        ):
            continue
        statement = resolver.parent(assign)
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            found.append((statement, name.value))
    return found


def _parse_method(value: cst.BaseExpression, parsers: dict[str, str]) -> str | None:
    """``parse_args`` / ``parse_known_args`` for ``p.parse_args(...)`` or a call of a
    module function that returns one (``args = parse_opt()``), else None."""
    if isinstance(value, cst.IfExp):  # yolov5: `known_args()[0] if known else parse_args()`
        both = {_parse_method(value.body, parsers), _parse_method(value.orelse, parsers)}
        return both.pop() if len(both) == 1 else None
    if isinstance(value, cst.Subscript) and _first_item(value):
        inner = _parse_method(value.value, parsers)
        return "parse_args" if inner == "parse_known_args" else None
    if not isinstance(value, cst.Call):
        return None
    if isinstance(value.func, cst.Attribute) and value.func.attr.value in PARSE_METHODS:
        return value.func.attr.value
    if isinstance(value.func, cst.Name):
        return parsers.get(value.func.value)
    return None


def _first_item(node: cst.Subscript) -> bool:
    (element,) = node.slice if len(node.slice) == 1 else (None,)
    return (
        element is not None
        and isinstance(element.slice, cst.Index)
        and isinstance(element.slice.value, cst.Integer)
        and element.slice.value.value == "0"
    )


def _parser_functions(module: cst.Module) -> dict[str, str]:
    """Top-level functions whose last statement is ``return <parser>.parse_args(...)``."""
    found = {}
    for statement in module.body:
        if not isinstance(statement, cst.FunctionDef):
            continue
        body = statement.body.body
        last = body[-1] if body else None
        if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return):
            returned = last.body[0].value
            method = _parse_method(returned, {}) if returned is not None else None
            if method is not None:
                found[statement.name.value] = method
    return found


def _mentions_argparse(codemod: TrackerCodemod) -> bool:
    names = codemod.resolver.collected.all_names
    return bool(names & {"argparse", "ArgumentParser", *PARSE_METHODS})
