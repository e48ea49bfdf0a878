"""Where a name points to a tracker: imports, runs, tasks and loggers, followed within a file.

A *path* is what an expression means to a codemod: a tracker module plus attributes
(``wandb.config.update``, also reached through ``import wandb as wb`` or
``from wandb import config``), or a tracker object plus attributes (``wandb:run.log`` for
``run.log`` after ``run = wandb.init()``). Objects come from *factories*: calls such as
``wandb.init()`` or ``task.get_logger()``, and attributes such as ``wandb.run``.

Names are resolved with libcst's qualified-name and scope metadata, and followed through

* assignments in any scope, ``global`` included (``run = None`` sentinels are fine),
* ``x if cond else None`` and ``a or b``,
* ``self.x = ...`` attributes, read back as ``self.x`` in the same class,
* parameters of functions defined in the same file, when every call of the function in
  the file passes the same kind of object (or nothing, falling back to its default),
* return values of functions of the same file whose every call is followed,
* calls between modules the program decision follows (:class:`ProgramCalls`), to
  functions and to classes (a ``@dataclass`` field or an ``__init__`` parameter another
  module passes a tracker object to is read back as ``self.<field>``).

Anything else (a value passed to code the program does not define, stored in a
container, returned to a caller that does not bind it) is an *escape*: the codemods
cannot follow it and leave the call site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import libcst as cst
from libcst.metadata import (
    Assignment,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

from tracelet.codemods.cstutil import bind_args, is_none

NONE = "<none>"
"""The kind of ``None`` (a sentinel that never holds a tracker object)."""
MIXED = "<mixed>"
"""The kind of a name that holds a tracker object on some paths and something else on others."""


@dataclass(frozen=True)
class Path:
    """A tracker module or object, followed by attribute names."""

    kind: str
    attrs: tuple[str, ...] = ()

    def child(self, attr: str) -> Path:
        return Path(self.kind, (*self.attrs, attr))

    @property
    def key(self) -> str:
        return ".".join((self.kind, *self.attrs))

    @property
    def is_object(self) -> bool:
        return ":" in self.kind


class Role(Enum):
    """How the value at the end of a chain is used."""

    CALL = "call"
    RECEIVER = "receiver"
    TEST = "test"
    BIND = "bind"
    WITH = "with"
    STATEMENT = "statement"
    STORE = "store"
    SUBSCRIPT_STORE = "subscript-store"
    SUBSCRIPT_READ = "subscript-read"
    DELETE = "delete"
    ANNOTATION = "annotation"
    ARG = "arg"
    RETURN = "return"
    OTHER = "other"


@dataclass
class Usage:
    """One use of a tracker path in the file.

    ``node`` is the outermost node of the use (the ``Call`` for a call), ``context`` the
    node that gives the role its meaning (the ``Assign`` of a binding, the ``WithItem``,
    the ``Subscript``, the ``Arg``), ``result_role`` how a call's result is used.
    """

    node: cst.CSTNode
    path: Path
    role: Role
    factory: bool = False
    context: cst.CSTNode | None = None
    result_role: Role | None = None

    @property
    def key(self) -> str:
        return self.path.key

    @property
    def call(self) -> cst.Call:
        assert isinstance(self.node, cst.Call)
        return self.node


class _Collector(cst.CSTVisitor):
    """One structural pass: parents, binding values, ``self.x`` stores, tracker imports,
    names (a parent map built here saves libcst's ParentNodeProvider a second walk)."""

    def __init__(self, roots: dict[str, str]):
        self.roots = roots
        self.values: dict[int, cst.BaseExpression] = {}
        self.self_attrs: dict[tuple[int, str], list[cst.BaseExpression]] = {}
        self.imports: list[tuple[cst.Import | cst.ImportFrom, bool]] = []
        self.aliases: set[str] = set()
        self.names: list[cst.Name] = []
        self.params: set[str] = set()
        self.all_names: set[str] = set()
        self.attributes: set[str] = set()
        self._classes: list[cst.ClassDef] = []
        self.classes: dict[int, cst.ClassDef] = {}
        self._functions: list[cst.FunctionDef] = []
        self.returns: dict[int, list[cst.Return]] = {}
        self._try_depth = 0
        self._attr_names: set[int] = set()
        self.parents: dict[int, cst.CSTNode] = {}
        self._stack: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._stack:
            self.parents[id(node)] = self._stack[-1]
        self._stack.append(node)
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        super().on_leave(original_node)
        self._stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(node)
        self.classes[id(node)] = node

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._functions.append(node)
        self.returns[id(node)] = []

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._functions.pop()

    def visit_Return(self, node: cst.Return) -> None:
        if self._functions:
            self.returns[id(self._functions[-1])].append(node)

    def visit_Try(self, node: cst.Try) -> bool:
        self._try_depth += 1
        node.body.visit(self)
        self._try_depth -= 1
        for child in (*node.handlers, node.orelse, node.finalbody):
            if child is not None:
                child.visit(self)
        return False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._attr_names.add(id(node.attr))
        self.attributes.add(node.attr.value)

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._attr_names:
            self.names.append(node)
            self.all_names.add(node.value)

    def visit_Param(self, node: cst.Param) -> None:
        self.params.add(node.name.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._bind(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name, node.item)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        pairs = _unpacked(target, value)
        if pairs:  # `self.wandb, self.run = wandb, wandb.run`
            for element_target, element_value in pairs:
                self._bind(element_target, element_value)
            return
        if isinstance(target, cst.Name):
            self.values[id(target)] = value
        elif _is_self_attr(target) and self._classes:
            key = (id(self._classes[-1]), target.attr.value)
            self.self_attrs.setdefault(key, []).append(value)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            module = _dotted(alias.name)
            if module.split(".")[0] in self.roots:
                self.imports.append((node, self._try_depth > 0))
                bound = alias.asname.name if alias.asname else alias.name
                while isinstance(bound, cst.Attribute):
                    bound = bound.value
                if isinstance(bound, cst.Name):
                    self.aliases.add(bound.value)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            return
        if _dotted(node.module).split(".")[0] not in self.roots:
            return
        self.imports.append((node, self._try_depth > 0))
        if isinstance(node.names, cst.ImportStar):
            self.aliases.add("*")
            return
        for alias in node.names:
            bound = alias.asname.name if alias.asname else alias.name
            if isinstance(bound, cst.Name):
                self.aliases.add(bound.value)


def _unpacked(
    target: cst.BaseExpression, value: cst.BaseExpression
) -> list[tuple[cst.BaseExpression, cst.BaseExpression]]:
    """``a, b = x, y``: the (target, value) pairs, when both sides are tuples or lists of
    the same length without ``*``; else empty."""
    sequences = (cst.Tuple, cst.List)
    if not (isinstance(target, sequences) and isinstance(value, sequences)):
        return []
    if len(target.elements) != len(value.elements) or any(
        isinstance(e, cst.StarredElement) for e in (*target.elements, *value.elements)
    ):
        return []
    return [(t.value, v.value) for t, v in zip(target.elements, value.elements, strict=True)]


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _is_self_attr(node: cst.CSTNode) -> bool:
    return (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    )


def combine(a: str | None, b: str | None) -> str | None:
    """The kind of a value that is ``a`` on one path and ``b`` on another."""
    if a == NONE:
        return b
    if b == NONE:
        return a
    return a if a == b else MIXED


@dataclass(frozen=True)
class Signature:
    """A function of another module of the program, as a caller binds arguments to it:
    its parameter names, how many take positional arguments, and the parameter that
    receives a tracker object of ``kind`` (``default_none``: it may be left out)."""

    names: tuple[str, ...]
    positional: int
    param: str
    kind: str
    default_none: bool


@dataclass
class ProgramCalls:
    """What the program decision tells one module about calls between modules:
    ``params`` (function or class name, parameter) -> kind for functions and classes this
    module defines and other modules call with a tracker object; ``callees`` qualified
    name -> signature for functions (and classes) of other modules this module calls
    with one; ``module_attributes`` attribute name -> tracker module, for the tracker
    module another module stores on ``self.<name>`` and this one reaches as
    ``<object>.<name>``; ``keep_globals`` why a setting of the tracker's process-wide
    state (``mlflow.set_tracking_uri``) stays."""

    params: dict[tuple[str, str], str] = field(default_factory=dict)
    callees: dict[str, Signature] = field(default_factory=dict)
    module_attributes: dict[str, str] = field(default_factory=dict)
    # why the module keeps the tracker's process-wide settings (another module reads them)
    keep_globals: str | None = None


class Resolver:
    """Answers "what tracker thing is this expression?" for one module.

    ``get`` is the metadata accessor of the running codemod; ``roots`` maps import names to
    the tracker (``{"clearml": "clearml", "trains": "clearml"}``); the factory tables map
    a path key to the kind of object it returns.
    """

    def __init__(
        self,
        module: cst.Module,
        get: Callable,
        roots: dict[str, str],
        call_factories: dict[str, str],
        attr_factories: dict[str, str],
        program: ProgramCalls | None = None,
    ):
        self.get = get
        self.program = program or ProgramCalls()
        self.roots = roots
        self.call_factories = call_factories
        self.attr_factories = attr_factories
        self.collected = _Collector(roots)
        module.visit(self.collected)
        self._assignment_kinds: dict[int, str | None] = {}
        self._param_kinds: dict[int, str | None] = {}
        self._attr_kinds: dict[tuple[int, str], str | None] = {}
        self._return_kinds: dict[int, str | None] = {}
        self._in_progress: set[int] = set()
        self._binding_names = self.collected.params | {
            name.value for name in self.collected.names if id(name) in self.collected.values
        }

    # ---------------------------------------------------------------- structure
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.collected.parents.get(id(node))

    def enclosing_class(self, node: cst.CSTNode) -> cst.ClassDef | None:
        current = self.parent(node)
        while current is not None and not isinstance(current, cst.ClassDef):
            current = self.parent(current)
        return current

    def statement_of(self, node: cst.CSTNode) -> cst.BaseStatement:
        current: cst.CSTNode | None = node
        while current is not None and not isinstance(current, cst.BaseStatement):
            current = self.parent(current)
        assert current is not None
        return current

    # ---------------------------------------------------------------- roots
    def roots_in_order(self) -> list[tuple[cst.CSTNode, Path]]:
        """Every chain root in the module that resolves to a tracker, in source order."""
        aliases = self.collected.aliases
        candidates = aliases | self._binding_names | {"self"}
        found = []
        for name in self.collected.names:
            if name.value not in candidates:
                continue
            if name.value == "self":
                root = self._self_root(name)
                if root is not None:
                    found.append(root)
                continue
            path = self.name_path(name)
            if path is not None:
                found.append((name, path))
            elif (reached := self._reached_module(name)) is not None:
                found.append(reached)
        return found

    def _reached_module(self, name: cst.Name) -> tuple[cst.CSTNode, Path] | None:
        """``logger._wandb``: the tracker module another module stored on that attribute."""
        parent = self.parent(name)
        if not (isinstance(parent, cst.Attribute) and parent.value is name):
            return None
        kind = self.program.module_attributes.get(parent.attr.value)
        return (parent, Path(kind)) if kind is not None else None

    def _self_root(self, name: cst.Name) -> tuple[cst.CSTNode, Path] | None:
        parent = self.parent(name)
        if not (isinstance(parent, cst.Attribute) and parent.value is name):
            return None
        cls = self.enclosing_class(name)
        if cls is None:
            return None
        kind = self._attr_kind((id(cls), parent.attr.value))
        if kind is None or kind == NONE:
            return None
        return parent, Path(kind)

    def name_path(self, name: cst.Name) -> Path | None:
        """The tracker path a name refers to: an import, or a binding of a tracker object."""
        if name.value in self.collected.aliases or "*" in self.collected.aliases:
            for qualified in self.get(QualifiedNameProvider, name, set()):
                if qualified.source != QualifiedNameSource.IMPORT:
                    continue
                head, *rest = qualified.name.split(".")
                if head in self.roots:
                    return self._normalise(Path(self.roots[head], tuple(rest)))
        kind = self._name_kind(name)
        if kind is None or kind == NONE:
            return None
        return Path(kind)

    def _normalise(self, path: Path) -> Path:
        kind = self.attr_factories.get(path.key)
        return Path(kind) if kind else path

    def referents(self, name: cst.Name) -> tuple:
        """The assignments this read of ``name`` may refer to (empty when unknown)."""
        scope = self.get(ScopeProvider, name, None)
        if scope is None:
            return ()
        return tuple(next((a.referents for a in scope.accesses[name.value] if a.node is name), ()))

    def _name_kind(self, name: cst.Name) -> str | None:
        referents = self.referents(name)
        if not referents:
            return None
        kind: str | None = NONE
        for assignment in referents:
            kind = combine(kind, self._assignment_kind(assignment))
        return kind

    def _assignment_kind(self, assignment) -> str | None:
        key = id(assignment)
        if key in self._assignment_kinds:
            return self._assignment_kinds[key]
        if key in self._in_progress:
            return NONE
        self._in_progress.add(key)
        try:
            kind = None
            if isinstance(assignment, Assignment):
                node = assignment.node
                value = self.collected.values.get(id(node))
                if value is not None:
                    kind = self.kind_of(value)
                elif isinstance(node, cst.Param):
                    kind = self._param_kind(node)
        finally:
            self._in_progress.discard(key)
        self._assignment_kinds[key] = kind
        return kind

    def attr_kind(self, cls: cst.ClassDef, name: str) -> str | None:
        """The kind of object ``self.<name>`` holds in the methods of ``cls``."""
        return self._attr_kind((id(cls), name))

    def _attr_kind(self, key: tuple[int, str]) -> str | None:
        if key in self._attr_kinds:
            return self._attr_kinds[key]
        values = self.collected.self_attrs.get(key)
        cls = self.collected.classes.get(key[0])
        field = self._dataclass_field_kind(cls, key[1]) if cls is not None else None
        kind: str | None = None
        if values or field is not None:
            self._attr_kinds[key] = NONE
            kind = NONE if field is None else field
            for value in values or ():
                kind = combine(kind, self.kind_of(value))
        self._attr_kinds[key] = kind
        return kind

    def _dataclass_field_kind(self, cls: cst.ClassDef, name: str) -> str | None:
        """A field of a class without ``__init__`` (a dataclass: the program decision
        checked it) that another module passes a tracker object to."""
        body = cls.body.body
        if any(isinstance(s, cst.FunctionDef) and s.name.value == "__init__" for s in body):
            return None
        fields = [
            small.target.value
            for line in body
            if isinstance(line, cst.SimpleStatementLine)
            for small in line.body
            if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name)
        ]
        return self._class_param_kind(cls, name) if name in fields else None

    def _class_param_kind(self, cls: cst.ClassDef, name: str) -> str | None:
        """What another module passes to parameter ``name`` of a module-level class that
        this module never refers to (so that no call here binds it otherwise)."""
        if not isinstance(self.parent(cls), cst.Module):
            return None
        kind = self.program.params.get((cls.name.value, name))
        return kind if kind is not None and self.calls_of(cls) == [] else None

    # ---------------------------------------------------------------- parameters
    def _param_kind(self, param: cst.Param) -> str | None:
        if id(param) in self._param_kinds:
            return self._param_kinds[id(param)]
        self._param_kinds[id(param)] = None
        kind = self._compute_param_kind(param)
        self._param_kinds[id(param)] = kind
        return kind

    def _compute_param_kind(self, param: cst.Param) -> str | None:
        params = self.parent(param)
        func = self.parent(params) if params is not None else None
        if not isinstance(func, cst.FunctionDef) or not isinstance(params, cst.Parameters):
            return None
        positional = [*params.posonly_params, *params.params]
        cls = self.parent(self.parent(func) or func)
        if isinstance(cls, cst.ClassDef):
            if (
                func.name.value != "__init__"
                or func.decorators
                or (positional and positional[0] is param)
            ):
                return None
            return self._class_param_kind(cls, param.name.value)
        names = [p.name.value for p in (*positional, *params.kwonly_params)]
        calls = self.calls_of(func)
        external = None
        if isinstance(self.parent(func), cst.Module) and not func.decorators:
            external = self.program.params.get((func.name.value, param.name.value))
        if calls is None or (not calls and external is None):
            return None
        kind: str | None = NONE if external is None else external
        for call in calls:
            bound = bind_args(call, names, positional=len(positional))
            if bound is None:
                return None
            value = bound.value(param.name.value)
            if value is None:
                value = param.default
            kind = combine(kind, NONE if value is None else self.kind_of(value))
        return kind

    def calls_of(self, func: cst.FunctionDef | cst.ClassDef) -> list[cst.Call] | None:
        """Every call of ``func`` in the file, or ``None`` if it is also used as a value."""
        scope = self.get(ScopeProvider, func, None)
        if scope is None:
            return None
        calls = []
        for assignment in scope.assignments[func.name.value]:
            if not (isinstance(assignment, Assignment) and assignment.node is func):
                continue
            for access in assignment.references:
                parent = self.parent(access.node)
                if not (isinstance(parent, cst.Call) and parent.func is access.node):
                    return None
                calls.append(parent)
        return calls

    def param_for_arg(self, arg: cst.Arg) -> cst.Param | None:
        """The parameter an argument lands in, when the callee is a function of this file."""
        call = self.parent(arg)
        func = self._defined_function(call) if isinstance(call, cst.Call) else None
        if func is None:
            return None
        params = func.params
        positional = [*params.posonly_params, *params.params]
        every = [*positional, *params.kwonly_params]
        bound = bind_args(call, [p.name.value for p in every], positional=len(positional))
        if bound is None:
            return None
        for name, value in bound.named.items():
            if value is arg:
                return next(p for p in every if p.name.value == name)
        return None

    def arg_is_followed(self, usage: Usage) -> bool:
        """An object passed to a function whose parameter is followed: a function of this
        file, or one of another module of the program (:class:`ProgramCalls`)."""
        if not isinstance(usage.context, cst.Arg):
            return False
        param = self.param_for_arg(usage.context)
        if param is not None:
            return self._param_kind(param) == usage.path.kind
        return self._program_call_followed(usage)

    def imported_callee(self, arg: cst.Arg) -> str | None:
        """``helpers.log_epoch`` for ``log_epoch(run)`` after ``from helpers import
        log_epoch`` (or ``helpers.log_epoch(run)`` after ``import helpers``)."""
        call = self.parent(arg)
        if not isinstance(call, cst.Call):
            return None
        names = [
            q.name
            for q in self.get(QualifiedNameProvider, call.func, set())
            if q.source == QualifiedNameSource.IMPORT
        ]
        return names[0] if len(names) == 1 else None

    def _program_call_followed(self, usage: Usage) -> bool:
        """Every call of the imported function in this file passes this kind of object (or
        ``None``) to the parameter the program decision follows in the other module."""
        arg = usage.context
        callee = self.imported_callee(arg)
        signature = self.program.callees.get(callee) if callee else None
        if signature is None or signature.kind != usage.path.kind:
            return False
        call = self.parent(arg)
        calls = self._calls_of_imported(call.func, callee)
        if calls is None:
            return False
        for other in calls:
            bound = bind_args(other, signature.names, positional=signature.positional)
            if bound is None:
                return False
            value = bound.value(signature.param)
            kind = NONE if value is None and signature.default_none else None
            if value is not None:
                kind = self.kind_of(value)
            if kind not in (NONE, signature.kind):
                return False
        return True

    def _calls_of_imported(self, func: cst.BaseExpression, callee: str) -> list[cst.Call] | None:
        """Every call in this file of what ``func`` names (an imported function), or
        ``None`` if it is also used as a value."""
        root = func
        while isinstance(root, cst.Attribute):
            root = root.value
        if not isinstance(root, cst.Name):
            return None
        scope = self.get(ScopeProvider, root, None)
        if scope is None:
            return None
        referents = next((a.referents for a in scope.accesses[root.value] if a.node is root), None)
        if not referents:
            return None
        calls = []
        for assignment in referents:
            for access in assignment.references:
                node = access.node
                while (
                    isinstance(self.parent(node), cst.Attribute) and self.parent(node).value is node
                ):
                    node = self.parent(node)
                names = {q.name for q in self.get(QualifiedNameProvider, node, set())}
                if callee not in names:
                    continue  # another attribute of the same module
                parent = self.parent(node)
                if not (isinstance(parent, cst.Call) and parent.func is node):
                    return None
                calls.append(parent)
        return calls or None

    # ---------------------------------------------------------------- expressions
    def kind_of(self, node: cst.BaseExpression) -> str | None:
        """The kind of object an expression evaluates to (``NONE``, a tracker kind, ...)."""
        if is_none(node):
            return NONE
        if isinstance(node, cst.IfExp):
            return combine(self.kind_of(node.body), self.kind_of(node.orelse))
        if isinstance(node, cst.BooleanOperation):
            return combine(self.kind_of(node.left), self.kind_of(node.right))
        path = self.eval_path(node)
        if path is None or path.attrs:
            return None
        return path.kind

    def other_values(self, node: cst.BaseExpression) -> list[cst.BaseExpression]:
        """For an expression of kind ``MIXED``: the values it may hold that are neither
        ``None`` nor a tracker object (``trackio`` for ``wb`` after ``wb = pick(args)``
        where ``pick`` returns ``wandb``, ``trackio`` or ``None``), in source order."""
        found: list[cst.BaseExpression] = []
        seen: set[int] = set()

        def visit(value: cst.BaseExpression) -> None:
            if id(value) in seen:
                return
            seen.add(id(value))
            kind = self.kind_of(value)
            if kind == NONE or (kind is not None and kind != MIXED):
                return
            if isinstance(value, cst.IfExp):
                visit(value.body), visit(value.orelse)
            elif isinstance(value, cst.BooleanOperation):
                visit(value.left), visit(value.right)
            elif isinstance(value, cst.Name) and kind == MIXED:
                for bound in self._bound_values(value):
                    visit(bound)
            elif isinstance(value, cst.Call) and kind == MIXED:
                func = self.function_called(value)
                for statement in self.collected.returns.get(id(func), []) if func else []:
                    if statement.value is not None:
                        visit(statement.value)
            elif kind is None:
                found.append(value)

        visit(node)
        return found

    def other_returns(self, node: cst.CSTNode) -> list[cst.BaseExpression]:
        """For a tracker object returned at ``node``: the other values (neither ``None``
        nor a tracker object) the same function returns."""
        current = self.parent(node)
        while current is not None and not isinstance(current, cst.FunctionDef):
            current = self.parent(current)
        if current is None:
            return []
        return [
            other
            for statement in self.collected.returns.get(id(current), [])
            if statement.value is not None
            for other in self.other_values(statement.value)
        ]

    def _bound_values(self, name: cst.Name) -> list[cst.BaseExpression]:
        """The values assigned to what ``name`` refers to (in this file)."""
        scope = self.get(ScopeProvider, name, None)
        if scope is None:
            return []
        referents = next((a.referents for a in scope.accesses[name.value] if a.node is name), ())
        return [
            value
            for assignment in referents
            if isinstance(assignment, Assignment)
            for value in [self.collected.values.get(id(assignment.node))]
            if value is not None
        ]

    def eval_path(self, node: cst.BaseExpression) -> Path | None:
        if isinstance(node, cst.Name):
            return self.name_path(node)
        if _is_self_attr(node):
            cls = self.enclosing_class(node)
            kind = self._attr_kind((id(cls), node.attr.value)) if cls is not None else None
            if kind is not None and kind != NONE:
                return Path(kind)
            return None
        if isinstance(node, cst.Attribute):
            base = self.eval_path(node.value)
            return None if base is None else self._normalise(base.child(node.attr.value))
        if isinstance(node, cst.Call):
            base = self.eval_path(node.func)
            if base is not None and base.key in self.call_factories:
                return Path(self.call_factories[base.key])
            func = self.function_called(node)
            kind = self._return_kind(func) if func is not None else None
            if kind is not None and kind != NONE:
                return Path(kind)
        return None

    def _defined_function(self, call: cst.Call) -> cst.FunctionDef | None:
        """The one ``def`` of this file that ``call`` calls by its bare name, if any."""
        if not isinstance(call.func, cst.Name):
            return None
        scope = self.get(ScopeProvider, call.func, None)
        if scope is None:
            return None
        targets = [
            a.node
            for access in scope.accesses[call.func.value]
            if access.node is call.func
            for a in access.referents
            if isinstance(a, Assignment)
        ]
        if len(targets) != 1 or not isinstance(targets[0], cst.FunctionDef):
            return None
        return targets[0]

    # ---------------------------------------------------------------- returns
    def function_called(self, call: cst.Call) -> cst.FunctionDef | None:
        """The plain function of this file (not a method) that ``call`` calls by name."""
        func = self._defined_function(call)
        if func is None:
            return None
        if func.decorators or isinstance(self.parent(self.parent(func) or func), cst.ClassDef):
            return None  # a decorator may return something else
        return func

    def _return_kind(self, func: cst.FunctionDef) -> str | None:
        """The kind of object every call of ``func`` returns (a function that ends without
        ``return`` returns ``None``)."""
        key = id(func)
        if key in self._return_kinds:
            return self._return_kinds[key]
        self._return_kinds[key] = NONE
        kind: str | None = NONE
        for statement in self.collected.returns.get(key, []):
            value = statement.value
            kind = combine(kind, NONE if value is None else self.kind_of(value))
        self._return_kinds[key] = kind
        return kind

    def return_is_followed(self, usage: Usage) -> bool:
        """An object returned by a plain function of this file whose every call is followed:
        its result bound to a plain name (or ``self.x``), tested, or dropped."""
        current = self.parent(usage.node)
        while current is not None and not isinstance(current, cst.FunctionDef):
            if isinstance(current, cst.Lambda | cst.ClassDef):
                return False
            current = self.parent(current)
        kind = self.kind_of(usage.node) if isinstance(usage.node, cst.BaseExpression) else None
        if current is None or kind is None or self._return_kind(current) != kind:
            return False
        if current.decorators or isinstance(
            self.parent(self.parent(current) or current), cst.ClassDef
        ):
            return False
        calls = self.calls_of(current)
        if not calls:
            return False
        for call in calls:
            role, context = self.classify(call)
            followed = role in (Role.STATEMENT, Role.TEST) or (
                role == Role.BIND
                and simple_binding_target(Usage(call, usage.path, role, context=context))
            )
            if not followed:
                return False
        return True

    # ---------------------------------------------------------------- chains
    def usages_from(self, root: cst.CSTNode, path: Path) -> list[Usage]:
        """Walk up from a root through attributes and factory calls; one usage per factory
        met on the way and one for the end of the chain."""
        out: list[Usage] = []
        node = root
        pending: Usage | None = None
        while True:
            parent = self.parent(node)
            if isinstance(parent, cst.Attribute) and parent.value is node:
                if pending is not None:
                    pending.role = Role.RECEIVER
                    out.append(pending)
                    pending = None
                path = path.child(parent.attr.value)
                node = parent
                kind = self.attr_factories.get(path.key)
                if kind:
                    pending = Usage(node, path, Role.OTHER, factory=True)
                    path = Path(kind)
                continue
            if isinstance(parent, cst.Call) and parent.func is node and pending is None:
                kind = self.call_factories.get(path.key)
                if kind:
                    pending = Usage(parent, path, Role.OTHER, factory=True)
                    path = Path(kind)
                    node = parent
                    continue
                role, context = self.classify(parent)
                out.append(Usage(parent, path, Role.CALL, context=context, result_role=role))
                return out
            break
        role, context = self.classify(node)
        if pending is not None:
            pending.role, pending.context = role, context
            out.append(pending)
        else:
            out.append(Usage(node, path, role, context=context))
        return out

    def classify(self, node: cst.CSTNode) -> tuple[Role, cst.CSTNode | None]:
        """How the value of ``node`` is used by its parent."""
        parent = self.parent(node)
        match parent:
            case cst.Expr(value=value) if value is node:
                return Role.STATEMENT, parent
            case cst.Assign(value=value) | cst.AnnAssign(value=value) if value is node:
                return Role.BIND, parent
            case cst.AssignTarget(target=target) if target is node:
                return Role.STORE, self.parent(parent)
            case cst.AugAssign(target=target) | cst.AnnAssign(target=target) if target is node:
                return Role.STORE, parent
            case cst.WithItem(item=item) if item is node:
                return Role.WITH, parent
            case cst.If(test=test) | cst.While(test=test) if test is node:
                return Role.TEST, parent
            case cst.IfExp(test=test) if test is node:
                return Role.TEST, parent
            case cst.IfExp() | cst.BooleanOperation():
                return self.classify(parent)
            case cst.Element(value=value) if value is node:
                sequence = self.parent(parent)
                assign = self.parent(sequence) if sequence is not None else None
                if isinstance(assign, cst.AssignTarget) and assign.target is sequence:
                    return Role.STORE, self.parent(assign)
                if (
                    isinstance(assign, cst.Assign)
                    and assign.value is sequence
                    and len(assign.targets) == 1
                    and _unpacked(assign.targets[0].target, assign.value)
                ):
                    return Role.BIND, assign
            case cst.UnaryOperation(operator=cst.Not()):
                return Role.TEST, parent
            case cst.Comparison(left=left) if left is node and _none_checks(parent):
                return Role.TEST, parent
            case cst.ComparisonTarget(comparator=comparator) if comparator is node:
                grand = self.parent(parent)
                if isinstance(grand, cst.Comparison) and is_none(grand.left):
                    return Role.TEST, grand
            case cst.Subscript(value=value) if value is node:
                role, context = self.classify(parent)
                if role == Role.STORE:
                    return Role.SUBSCRIPT_STORE, context
                if role == Role.DELETE:
                    return Role.DELETE, context
                return Role.SUBSCRIPT_READ, parent
            case cst.Del():
                return Role.DELETE, parent
            case cst.Annotation():
                return Role.ANNOTATION, parent
            case cst.Arg(value=value) if value is node:
                return Role.ARG, parent
            case cst.Return():
                return Role.RETURN, parent
        if self._in_annotation(node):
            return Role.ANNOTATION, None
        return Role.OTHER, parent

    def _in_annotation(self, node: cst.CSTNode) -> bool:
        current = self.parent(node)
        while current is not None and not isinstance(current, cst.BaseStatement):
            if isinstance(current, cst.Annotation):
                return True
            current = self.parent(current)
        return False


def _none_checks(comparison: cst.Comparison) -> bool:
    return all(
        isinstance(target.operator, cst.Is | cst.IsNot | cst.Equal | cst.NotEqual)
        and is_none(target.comparator)
        for target in comparison.comparisons
    )


def simple_binding_target(usage: Usage) -> bool:
    """A factory result bound to one plain name or ``self.x`` (which the resolver follows)."""
    context = usage.context
    if usage.role == Role.WITH:
        return isinstance(context, cst.WithItem) and (
            context.asname is None or isinstance(context.asname.name, cst.Name)
        )
    if isinstance(context, cst.Assign):
        if len(context.targets) != 1:
            return False
        target = context.targets[0].target
        pairs = _unpacked(target, context.value)
        targets = [t for t, _ in pairs] if pairs else [target]
        return all(isinstance(t, cst.Name) or _is_self_attr(t) for t in targets)
    if isinstance(context, cst.AnnAssign):
        return isinstance(context.target, cst.Name) or _is_self_attr(context.target)
    return False
