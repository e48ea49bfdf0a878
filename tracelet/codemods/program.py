"""Whole-program decisions: which modules share a run, and what a held-back module holds back.

A run started in one module is often logged to from another (timm: ``train.py`` calls
``wandb.init``, ``utils/summary.py`` calls ``wandb.log``). Migrating one of them and not the
other breaks the program: ``tracelet.log`` without ``tracelet.start_logging`` fails, and
``wandb.log`` after the start became ``tracelet.start_logging`` logs to no W&B run. So
``tracelet migrate PATH`` decides over the modules it is given:

* **Module graph.** Every Python file found is scanned (a line scan for imports) for
  the modules it imports, resolved as Python would from the file's own folder, each folder
  above it up to the ``PATH`` it was found under, and every ``PATH`` given: ``import a.b``
  reaches ``a/__init__.py`` and ``a/b.py``, ``from . import x`` and ``from .x import *``
  the package's ``x.py``. Edges count in both directions.
* **Shared runs.** A module that calls the tracker but starts no run (``uses_run``
  without ``starts_run``) logs to the run of a module that does. It shares the run of
  every run-starting module it reaches over the graph, through modules that start none
  (a run-starting module ends the walk: what it imports is its own business). Modules
  that share a run form a group, transitively.
* **Runs passed between modules** (:func:`follow_calls`): a tracker object passed to a
  function of another module is followed into it when nothing else can call it; passed
  to a class of another module (a ``@dataclass`` field, or an ``__init__`` parameter it
  stores on ``self``), it is followed into the class's ``self.<attribute>`` when no
  module reads that attribute on anything but ``self``.
* **Hold-back.** When any member of a group keeps its tracker calls (a call site that
  needs the tracker's run was left), every member does; the others are reported as
  *held* with the module and lines that hold them.

A module that logs but reaches no run-starting module is decided on its own, as a single
file is: the run it logs to is started by code the migration was not given.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracelet.codemods.resolve import ProgramCalls, Signature


@dataclass
class ModuleFacts:
    """What the analysis of one module says about runs."""

    path: Path
    starts_run: bool
    uses_run: bool
    held: bool
    blocking_lines: list[int] = field(default_factory=list)

    @property
    def logs_only(self) -> bool:
        return self.uses_run and not self.starts_run


def import_graph(sources: Mapping[Path, bytes], roots: Sequence[Path]) -> dict[Path, set[Path]]:
    """Undirected edges between the modules of ``sources`` that import one another."""
    known = _Known(sources)
    top = [root.resolve() for root in roots]
    graph: dict[Path, set[Path]] = {path: set() for path in sources}
    for path, data in sources.items():
        for target in _imported(path.resolve(), data, top, known):
            if target != path:
                graph[path].add(target)
                graph[target].add(path)
    return graph


_IMPORT = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*)[ \t]*([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)"
    rb"|import[ \t]+([^\n#;]*))",
    re.MULTILINE,
)


def imports_of(data: bytes) -> Iterable[tuple[int, list[str], list[str]]]:
    """``(level, module parts, imported names)`` for each import statement in ``data``.

    A line scan, not a parse (parsing every file of a large tree costs seconds): an
    import-like line inside a string counts too, which only ever adds an edge.
    """
    for match in _IMPORT.finditer(data):
        dots, module, names, plain = match.groups()
        if plain is not None:
            for name in _imported_names(plain):
                yield 0, name.split("."), []
        else:
            parts = module.decode("ascii", "replace").split(".") if module else []
            yield len(dots), [p for p in parts if p], _imported_names(names.strip(b"()"))


def _imported_names(text: bytes) -> list[str]:
    names = []
    for item in text.replace(b"\\", b" ").split(b","):
        words = item.split()
        if words and words[0].replace(b".", b"").replace(b"_", b"").isalnum():
            names.append(words[0].decode("ascii", "replace"))
    return names


def _imported(path: Path, data: bytes, roots: list[Path], known: _Known) -> Iterable[Path]:
    bases = _bases(path, roots)
    for level, parts, names in imports_of(data):
        if level:
            package = path.parent
            for _ in range(level - 1):
                package = package.parent
            starts = [package]
        else:
            starts = bases
        for base in starts:
            yield from _module_files(base, parts, known)
            for name in names:  # `from pkg import submodule`
                yield from _module_files(base, [*parts, name], known, packages=False)


def _bases(path: Path, roots: list[Path]) -> list[Path]:
    """Where an absolute import may be found: the file's folder, each folder above it
    inside a root, and the roots."""
    bases = [path.parent]
    for parent in path.parent.parents:
        if not any(parent == root or root in parent.parents for root in roots):
            break
        bases.append(parent)
    bases.extend(root if root.is_dir() else root.parent for root in roots)
    return list(dict.fromkeys(bases))


def _module_files(
    base: Path, parts: list[str], known: _Known, packages: bool = True
) -> Iterable[Path]:
    """The files importing ``parts`` from ``base`` runs: each package's ``__init__.py``
    on the way, and the module itself. A package whose ``__init__.py`` is not among the
    files given (a namespace package, or a program handed over in part) stands for every
    module in its folder: what it exposes cannot be known, so it may expose any of them."""
    if not parts or "*" in parts:
        if not parts and packages:
            yield from _package(base, known)
        return
    folder = base
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if last:
            found = known.get(folder / f"{part}.py")
            if found is not None:
                yield found
                return
        folder = folder / part
        if last:
            yield from _package(folder, known)
        elif packages:
            found = known.get(folder / "__init__.py")
            if found is not None:
                yield found


def _package(folder: Path, known: _Known) -> Iterable[Path]:
    init = known.get(folder / "__init__.py")
    if init is not None:
        yield init
        return
    yield from known.in_folder(folder)


class _Known:
    """The modules given: resolved path -> path as given, and the modules of each folder."""

    def __init__(self, paths: Iterable[Path]):
        self._paths = {path.resolve(): path for path in paths}
        self._folders: dict[Path, list[Path]] = {}
        for resolved, path in self._paths.items():
            self._folders.setdefault(resolved.parent, []).append(path)

    def get(self, resolved: Path) -> Path | None:
        return self._paths.get(resolved)

    def in_folder(self, folder: Path) -> list[Path]:
        return self._folders.get(folder, [])


def follow_calls(
    calls: Iterable[tuple[Path, tuple[str, int | str, str]]],
    sources: Mapping[Path, bytes],
    roots: Sequence[Path],
    refused: Container[Path] = (),
    classes: bool = False,
) -> dict[Path, ProgramCalls]:
    """Which tracker objects passed to a function of another module are followed into it.

    ``calls`` are ``(caller, (qualified callee, argument position or keyword, kind))``. A
    call is followed when the callee resolves to exactly one module-level function (not
    decorated) of one module of the program, every caller passes the same kind of object
    to the same parameter, and no other module mentions the function's name (a caller
    the analysis did not see could pass something else). The answer, per module: the
    parameters it must follow (the function's module) and the signatures it calls (each
    caller, which still checks that its every call passes that kind or ``None``). No call
    is followed into a module of ``refused`` (its analysis did not accept the parameter).
    With ``classes``, the callee may also be a class (see :func:`_signature`) that its
    own module does not name again: the object lands on ``self``, so it is followed only
    when no module reads the attributes it is stored on through anything but ``self``
    (``trainer.logger.watch(...)`` would reach a method the migrated object does not have).
    """
    known = _Known(sources)
    top = [root.resolve() for root in roots]
    uses: dict[tuple[Path, str], list[tuple[Path, str, int | str, str]]] = {}
    for caller, (callee, where, kind) in calls:
        module, _, name = callee.rpartition(".")
        dotted = module.lstrip(".")
        level = len(module) - len(dotted)
        if level:
            package = caller.resolve().parent
            for _ in range(level - 1):
                package = package.parent
            starts = [package]
        else:
            starts = _bases(caller.resolve(), top)
        parts = dotted.split(".") if dotted else []
        targets = {
            found
            for base in starts
            for found in _module_files(base, parts, known)
            if _defines(sources[found], name, classes)
        }
        if len(targets) == 1 and next(iter(targets)) not in refused:
            uses.setdefault((targets.pop(), name), []).append((caller, callee, where, kind))
    plan: dict[Path, ProgramCalls] = {}
    for (module, name), found in uses.items():
        signature = _signature(sources[module], name, classes)
        kinds = {kind for *_, kind in found}
        params = {signature.param_at(where) if signature else None for _, _, where, _ in found}
        if signature is None or len(kinds) != 1 or len(params) != 1 or None in params:
            continue
        callers = {caller for caller, *_ in found}
        mention = re.compile(rb"\b" + re.escape(name.encode()) + rb"\b")
        if any(
            mention.search(data) for path, data in sources.items() if path not in callers | {module}
        ):
            continue
        (param,), (kind,) = params, kinds
        stored = signature.stored.get(param, ())
        if signature.is_class and (not stored or _read_elsewhere(stored, sources.values())):
            continue
        plan.setdefault(module, ProgramCalls()).params[(name, param)] = kind
        for caller, callee, _, _ in found:
            plan.setdefault(caller, ProgramCalls()).callees[callee] = Signature(
                signature.names, signature.positional, param, kind, param in signature.none_defaults
            )
    return plan


@dataclass
class _Def:
    names: tuple[str, ...]
    positional: int
    none_defaults: frozenset[str]
    # a class: the self.<attribute> names each parameter is stored on
    stored: dict[str, tuple[str, ...]] = field(default_factory=dict)
    is_class: bool = False

    def param_at(self, where: int | str) -> str | None:
        if isinstance(where, str):
            return where if where in self.names else None
        return self.names[where] if where < self.positional else None


def _signature(data: bytes, name: str, classes: bool = False) -> _Def | None:
    """The parameters of the one undecorated module-level ``def name`` in ``data`` (with
    ``classes``, or of ``class name`` when the module does not name it again, so that no
    call there binds it otherwise: see :func:`_class_signature`)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return None
    found = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name == name
    ]
    if len(found) != 1:
        return None
    if isinstance(found[0], ast.ClassDef):
        named = any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree))
        return _class_signature(found[0]) if classes and not named else None
    if found[0].decorator_list:
        return None
    return _function_signature(found[0].args)


def _function_signature(args: ast.arguments, skip: int = 0) -> _Def:
    positional = [*args.posonlyargs, *args.args][skip:]
    defaults = dict(zip([a.arg for a in positional][::-1], args.defaults[::-1], strict=False))
    defaults.update(
        (a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    )
    none = frozenset(
        arg for arg, d in defaults.items() if isinstance(d, ast.Constant) and d.value is None
    )
    names = tuple(a.arg for a in (*positional, *args.kwonlyargs))
    return _Def(names, len(positional), none)


def _class_signature(node: ast.ClassDef) -> _Def | None:
    """How calling the class binds its arguments: its own ``__init__`` (each parameter
    stored as ``self.<attribute> = <parameter>`` there), or, for a ``@dataclass``
    without bases, its fields in order (each stored on ``self.<field>``). ``None`` for
    anything whose call could bind otherwise: other decorators, a metaclass, ``__new__``,
    ``InitVar`` / ``KW_ONLY`` fields, ``@dataclass(init=False)``, bases other than
    ``object`` (their metaclass, ``__new__`` or inherited fields)."""
    if node.keywords or any(_defined(node, name) for name in ("__new__", "__call__")):
        return None
    if any(ast.unparse(base) != "object" for base in node.bases):  # a base's metaclass
        return None
    if len(node.decorator_list) > 1 or (node.decorator_list and not _is_dataclass(node)):
        return None
    init = _defined(node, "__init__")
    if isinstance(init, ast.FunctionDef):
        if init.decorator_list or not [*init.args.posonlyargs, *init.args.args]:
            return None
        signature = _function_signature(init.args, skip=1)
        stored: dict[str, list[str]] = {}
        for statement in ast.walk(init):
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Name):
                for target in statement.targets:
                    if _self_attribute(target):
                        stored.setdefault(statement.value.id, []).append(target.attr)
        signature.stored = {param: tuple(names) for param, names in stored.items()}
        signature.is_class = True
        return signature
    if init is not None or not node.decorator_list:
        return None
    return _dataclass_signature(node)


def _dataclass_signature(node: ast.ClassDef) -> _Def | None:
    names, none = [], set()
    for statement in node.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        annotation = ast.unparse(statement.annotation)
        if "ClassVar" in annotation:
            continue
        if "InitVar" in annotation or "KW_ONLY" in annotation:
            return None
        default = statement.value
        if isinstance(default, ast.Call):  # field(default=None)
            default = next((k.value for k in default.keywords if k.arg == "default"), default)
        if isinstance(default, ast.Constant) and default.value is None:
            none.add(statement.target.id)
        names.append(statement.target.id)
    decorator = node.decorator_list[0]
    keywords = (
        {k.arg: k.value for k in decorator.keywords} if isinstance(decorator, ast.Call) else {}
    )
    if any(
        not (isinstance(keywords[key], ast.Constant) and keywords[key].value is expected)
        for key, expected in (("init", True), ("kw_only", False))
        if key in keywords
    ):
        return None
    stored = {name: (name,) for name in names}
    return _Def(tuple(names), len(names), frozenset(none), stored, is_class=True)


def _is_dataclass(node: ast.ClassDef) -> bool:
    decorator = node.decorator_list[0]
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    return ast.unparse(decorator) in ("dataclass", "dataclasses.dataclass")


def _defined(node: ast.ClassDef, name: str) -> ast.stmt | None:
    """The statement of the class body that binds ``name`` (a method, usually)."""
    for statement in node.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and statement.name == name:
            return statement
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in statement.targets
        ):
            return statement
    return None


def _self_attribute(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    )


def _read_elsewhere(attributes: Iterable[str], sources: Iterable[bytes]) -> bool:
    """Whether any module reads one of ``attributes`` on something other than ``self``."""
    names = b"|".join(re.escape(a.encode()) for a in attributes)
    read = re.compile(rb"(\w*)\s*\.\s*(?:" + names + rb")\b")
    return any(found.group(1) != b"self" for data in sources for found in read.finditer(data))


def _defines(data: bytes, name: str, classes: bool = False) -> bool:
    keyword = rb"(?:(?:async[ \t]+)?def|class)" if classes else rb"(?:async[ \t]+)?def"
    return (
        re.search(rb"^" + keyword + rb"[ \t]+" + re.escape(name.encode()) + rb"\b", data, re.M)
        is not None
    )


def shared_runs(
    facts: Mapping[Path, ModuleFacts], graph: Mapping[Path, set[Path]]
) -> list[set[Path]]:
    """Groups of modules that log to the same run (only groups of two or more)."""
    parent = {path: path for path in facts}

    def find(path: Path) -> Path:
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for path, fact in facts.items():
        if not fact.logs_only:
            continue
        seen, todo = {path}, [path]
        while todo:
            for neighbour in graph.get(todo.pop(), ()):
                if neighbour in seen:
                    continue
                seen.add(neighbour)
                other = facts.get(neighbour)
                if other is not None and other.starts_run:
                    parent[find(neighbour)] = find(path)
                else:
                    todo.append(neighbour)
    groups: dict[Path, set[Path]] = {}
    for path in facts:
        groups.setdefault(find(path), set()).add(path)
    return [group for group in groups.values() if len(group) > 1]


def holds(
    facts: Mapping[Path, ModuleFacts], groups: Iterable[set[Path]], tracker: str
) -> dict[Path, tuple[str, list[Path]]]:
    """For each module held back by another member of its group: the reason, and the
    modules that hold it."""
    out: dict[Path, tuple[str, list[Path]]] = {}
    for group in groups:
        holding = sorted(p for p in group if facts[p].held)
        if not holding:
            continue
        why = "; ".join(_held_at(facts[p]) for p in holding)
        for path in sorted(group - set(holding)):
            others = sorted(str(p) for p in group if p != path and facts[p].starts_run)
            loggers = sorted(str(p) for p in group if p != path and facts[p].logs_only)
            shares = (
                f"it logs to the {tracker} run that {_names(others)} starts"
                if facts[path].logs_only
                else f"its {tracker} run is logged to from {_names(loggers)}"
            )
            out[path] = (f"{shares}, and {why}", holding)
    return out


def _held_at(fact: ModuleFacts) -> str:
    lines = fact.blocking_lines
    where = ", ".join(f"{fact.path}:{line}" for line in lines[:5]) + (
        ", ..." if len(lines) > 5 else ""
    )
    return (
        f"{fact.path} keeps its calls until {where} {'is' if len(lines) == 1 else 'are'} resolved"
    )


def _names(paths: list[str]) -> str:
    return " and ".join(paths) if len(paths) <= 2 else ", ".join(paths[:-1]) + f" and {paths[-1]}"
