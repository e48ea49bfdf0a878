"""``--style summarywriter``: metrics with a known step go to a TensorBoard ``SummaryWriter``.

The migration guide's shape is "``tracelet.start_logging`` plus the SummaryWriter you
already know": run lifecycle, params, tags, artifacts stay tracelet calls, while a metric
whose step is written at the call site (``mlflow.log_metric(k, v, step=s)``, ClearML's
``report_scalar(title, series, v, iteration=i)``) becomes ``writer.add_scalar(k, v, s)``.
tracelet routes that call to the same tracker with the same key, value and step, so the
store is the same as with ``experiment.log_metric``.

The writer is ``writer = SummaryWriter()`` (TensorBoard's default ``runs/<date>_<host>``
folder, a new one per writer) added right after the statement that starts the run, or
as the first statement of a ``with tracelet.start_logging(...)`` block. A
``SummaryWriter`` the file already creates is reused instead when it is bound to a plain
name before the call site in the same way. The variable is ``writer`` unless the file
uses that name (then ``summary_writer``, ``tb_writer``).

A call site keeps the tracelet call (``--style tracelet`` keeps them all) when:

* no start of the run in the file is sure to have run before it (the start is in
  another module or function, or in a branch the call site is not in): the writer
  variable might not exist there;
* the file does not import ``torch``, or the ``tensorboard`` package that
  ``torch.utils.tensorboard`` needs is not installed where the code is migrated (the
  import would be new and could fail), or the file binds ``SummaryWriter`` to something
  this module does not recognise;
* the step is not written at the call site, or a dict of metrics is not a literal with
  a step that can be evaluated once per key without side effects.

W&B's ``wandb.log`` always stays ``tracelet.log``: W&B numbers rows by ``_step`` and the
SummaryWriter path adds a ``tracelet/step`` column, so the store would differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

from tracelet.codemods.cstutil import expr

if TYPE_CHECKING:
    from tracelet.codemods.base import Decision, TrackerCodemod, Usage

# What W&B's own TensorBoard sync stored that a routed SummaryWriter does not, measured on a
# real offline run of cleanrl's dqn.py shape (wandb 0.22); `tracelet validate` shows each.
TB_SYNC_DIFFERENCES = (
    "W&B's sync stored the step in a global_step column (tracelet: tracelet/step), float32 "
    "values (tracelet: float64), only the last value of a key logged twice at one step "
    "(tracelet: every value, one row each), and no history row for add_text (tracelet: a "
    "text media row); tracelet validate reports each of these"
)
SUMMARYWRITER = "summarywriter"
TRACELET = "tracelet"
STYLES = (SUMMARYWRITER, TRACELET)
WRITER_MODULES = ("torch.utils.tensorboard", "tensorboardX")
WRITER_NAMES = ("writer", "summary_writer", "tb_writer")

Block = cst.Module | cst.IndentedBlock
# writer variable name -> the statement(s) that replace the call's statement / the call
WriterTransform = Callable[[str], tuple[cst.CSTNode, Callable[[cst.CSTNode], cst.CSTNode]]]


@dataclass
class _Start:
    decision: Decision
    anchor: cst.CSTNode  # the statement after which the writer is created, or a with block
    needed: bool = False
    shared: bool = False  # the writer must be a module global (see WriterRoutes.offer)
    lines: list[str] = field(default_factory=list)  # code added after it, before the writer


@dataclass
class _Candidate:
    usage: Usage
    decision: Decision
    build: WriterTransform
    needs_run: bool


@dataclass
class WriterRoutes:
    """Collects run starts and metric call sites during the analysis, then (in
    :meth:`apply`) moves every call site a writer can serve onto ``writer.add_scalar``.
    Statements a codemod needs right after the start (ClearML's seeding) go through
    :meth:`after_start`, so that the start gets one transform."""

    codemod: TrackerCodemod
    starts: list[_Start] = field(default_factory=list)
    candidates: list[_Candidate] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return self.codemod.style == SUMMARYWRITER

    def start(self, usage: Usage, decision: Decision) -> bool:
        """A call that starts the run (its decision is a rewrite to ``start_logging``);
        False when no statement can follow it (it is part of a larger statement)."""
        from tracelet.codemods.resolve import Role

        resolver = self.codemod.resolver
        if usage.role == Role.WITH:
            with_node = resolver.parent(usage.context)
            if isinstance(with_node, cst.With) and isinstance(with_node.body, cst.IndentedBlock):
                self.starts.append(_Start(decision, with_node))
                return True
            return False
        statement = resolver.statement_of(usage.node)
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            self.starts.append(_Start(decision, statement))
            return True
        return False

    def after_start(self, decision: Decision, code: str) -> None:
        """Add ``code`` (statements) right after the start ``decision`` rewrites."""
        start = next(s for s in self.starts if s.decision is decision)
        start.lines.append(code)

    def dominates(self, statement: cst.CSTNode, node: cst.CSTNode) -> bool:
        """Whether ``statement`` (or, for a ``with`` start, its block) has surely run when
        ``node`` runs."""
        if isinstance(statement, cst.With):
            return self._inside(node, statement.body)
        return self._dominates(statement, node)

    def anchor_of(self, decision: Decision) -> cst.CSTNode:
        return next(s.anchor for s in self.starts if s.decision is decision)

    def offer(
        self, usage: Usage, decision: Decision, build: WriterTransform, needs_run: bool = False
    ) -> None:
        """A metric call site with its step at hand; ``build(writer_name)`` gives the
        node to replace and its transform. ``needs_run``: the original call fails unless
        the run was started (a ClearML logger exists only once ``Task.init`` ran), so with a
        single start in the file the writer, made a module global, is sure to exist there."""
        if self.enabled:
            self.candidates.append(_Candidate(usage, decision, build, needs_run))

    def apply(self) -> None:
        self._route()
        for start in self.starts:
            if start.lines:
                start.decision.side_transforms.append(_creation(start.anchor, start.lines))

    def _route(self) -> None:
        if not (self.enabled and self.starts and self.candidates):
            return
        codemod = self.codemod
        names = codemod.resolver.collected.all_names
        class_name = self._writer_class(codemod.module)
        if class_name is None:
            return
        existing = self.existing_writers()
        new_name = next((n for n in WRITER_NAMES if n not in names), None)
        if new_name is None and not existing:
            return
        for candidate in self.candidates:
            start = next((s for s in self.starts if self._serves(s.anchor, candidate)), None)
            reused = next(
                (n for s, n in existing if self._dominates(s, candidate.usage.node)), None
            )
            if start is None and candidate.needs_run and len(self.starts) == 1:
                start = self.starts[0]
                if isinstance(start.anchor, cst.With) or new_name is None:
                    continue
                reused = None
                start.shared = True
            if start is None:
                continue
            name = reused or new_name
            if name is None:
                continue
            node, transform = candidate.build(name)
            candidate.decision.transforms = [(node, transform)]
            candidate.decision.uses_tracelet = False
            start.needed |= reused is None
        for start in self.starts:
            if not start.needed:
                continue
            in_function = self._in_function(start.anchor)
            declare = f"global {new_name}\n" if start.shared and in_function else ""
            start.lines.append(f"{declare}{new_name} = {class_name}()\n")
            start.decision.notes.append(
                f"{new_name} = {class_name}() added after the start: metrics logged with a "
                f"step go through {new_name}.add_scalar (TensorBoard also writes event files "
                "under ./runs/; --style tracelet keeps experiment calls)"
            )
            if class_name == "SummaryWriter" and "SummaryWriter" not in names:
                start.decision.imports.append(("torch.utils.tensorboard", "SummaryWriter"))

    # ------------------------------------------------------------------ analysis
    def _writer_class(self, module: cst.Module) -> str | None:
        """The name the file reaches ``SummaryWriter`` by: an existing
        ``from torch.utils.tensorboard import SummaryWriter [as X]`` (or tensorboardX), else
        ``SummaryWriter`` imported anew when the file imports torch; None otherwise."""
        names = self.codemod.resolver.collected.all_names
        for statement in module.body:
            if not isinstance(statement, cst.SimpleStatementLine):
                continue
            for small in statement.body:
                if not isinstance(small, cst.ImportFrom) or small.module is None:
                    continue
                if module.code_for_node(small.module) not in WRITER_MODULES:
                    continue
                if isinstance(small.names, cst.ImportStar):
                    continue
                for alias in small.names:
                    if isinstance(alias.name, cst.Name) and alias.name.value == "SummaryWriter":
                        bound = alias.asname.name if alias.asname else alias.name
                        if isinstance(bound, cst.Name):
                            return bound.value
        if "SummaryWriter" in names or "torch" not in names or not _tensorboard_installed():
            return None
        return "SummaryWriter"

    def existing_writers(self) -> list[tuple[cst.CSTNode, str]]:
        """``(statement, name)`` of every ``name = SummaryWriter(...)`` in the file."""
        module = self.codemod.module
        class_name = self._writer_class(module) or "SummaryWriter"
        found = []
        for node in self.codemod.resolver.collected.names:
            parent = self.codemod.resolver.parent(node)
            if not isinstance(parent, cst.AssignTarget):
                continue
            assign = self.codemod.resolver.parent(parent)
            if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
                continue
            value = assign.value
            if isinstance(value, cst.Call) and module.code_for_node(value.func) in (
                class_name,
                *(f"{m}.SummaryWriter" for m in WRITER_MODULES),
            ):
                found.append((self.codemod.resolver.statement_of(assign), node.value))
        return found

    def _serves(self, anchor: cst.CSTNode, candidate: _Candidate) -> bool:
        node = candidate.usage.node
        if isinstance(anchor, cst.With):
            return self._inside(node, anchor.body)
        return self._dominates(anchor, node)

    def _in_function(self, node: cst.CSTNode) -> bool:
        current = self.codemod.resolver.parent(node)
        while current is not None and not isinstance(current, cst.FunctionDef):
            current = self.codemod.resolver.parent(current)
        return current is not None

    def _inside(self, node: cst.CSTNode, ancestor: cst.CSTNode) -> bool:
        current: cst.CSTNode | None = node
        while current is not None:
            if current is ancestor:
                return True
            current = self.codemod.resolver.parent(current)
        return False

    def _dominates(self, statement: cst.CSTNode, node: cst.CSTNode) -> bool:
        """Whether ``statement`` has surely run when ``node`` runs: ``node`` is in a later
        statement of the same block, or the statement is at the top of the module and
        ``node`` is in a function (called once the module has run)."""
        resolver = self.codemod.resolver
        block = resolver.parent(statement)
        if not isinstance(block, Block):
            return False
        index = next(i for i, s in enumerate(block.body) if s is statement)
        child, current = node, resolver.parent(node)
        in_function = False
        while current is not None:
            if current is block:
                position = next(i for i, s in enumerate(block.body) if s is child)
                at_top = isinstance(block, cst.Module)
                return position > index or (at_top and in_function and position != index)
            in_function |= isinstance(current, cst.FunctionDef)
            child, current = current, resolver.parent(current)
        return False


def _tensorboard_installed() -> bool:
    """``torch.utils.tensorboard`` needs the ``tensorboard`` package; without it here (where
    the code is migrated, normally where it runs) a new import would fail at run time."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _creation(
    anchor: cst.CSTNode, lines: list[str]
) -> tuple[cst.CSTNode, Callable[[cst.CSTNode], cst.CSTNode]]:
    """The node to change and its transform: ``lines`` after the start statement, or first
    in the ``with`` block that starts the run."""
    statements: list[cst.BaseStatement] = []
    for code in lines:
        parsed = cst.parse_module(code)  # a leading comment is the module's header
        first, *rest = parsed.body
        statements += [first.with_changes(leading_lines=[*parsed.header, *first.leading_lines])]
        statements += rest
    if isinstance(anchor, cst.With):

        def prepend(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.IndentedBlock)
            return updated.with_changes(body=[*statements, *updated.body])

        return anchor.body, prepend

    def follow(updated: cst.CSTNode) -> cst.CSTNode:
        return cst.FlattenSentinel([updated, *statements])

    return anchor, follow


def twin_add_scalar(
    codemod: TrackerCodemod, usage: Usage, key: cst.BaseExpression, value: cst.BaseExpression
) -> cst.Call | None:
    """A ``w.add_scalar(key, value, ...)`` in the same block as the tracker call ``usage``,
    with the same key and value code, ``w`` being a ``SummaryWriter`` the file creates:
    once tracelet routes the writer, the tracker call would store every point twice."""
    resolver = codemod.resolver
    statement = resolver.statement_of(usage.node)
    block = resolver.parent(statement)
    if not isinstance(block, Block):
        return None
    module = codemod.module
    writers = {name for _, name in WriterRoutes(codemod).existing_writers()}
    wanted = (module.code_for_node(key), module.code_for_node(value))
    for sibling in block.body:
        if not isinstance(sibling, cst.SimpleStatementLine):
            continue
        for small in sibling.body:
            call = small.value if isinstance(small, cst.Expr) else None
            if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
                continue
            func = call.func
            if func.attr.value != "add_scalar" or module.code_for_node(func.value) not in writers:
                continue
            if len(call.args) >= 2 and all(a.keyword is None for a in call.args[:2]):
                found = tuple(module.code_for_node(a.value) for a in call.args[:2])
                if found == wanted:
                    return call
    return None


def add_scalar(writer: str, key: cst.BaseExpression, value, step) -> cst.Call:
    """``writer.add_scalar(key, value, step)`` from nodes (or ``cst.Arg`` values)."""
    args = [a.value if isinstance(a, cst.Arg) else a for a in (key, value, step)]
    return cst.Call(func=expr(f"{writer}.add_scalar"), args=[cst.Arg(a) for a in args])


def pure(node: cst.BaseExpression | None) -> bool:
    """An expression that can be evaluated again with the same result and no side effect:
    names, attributes, literals, subscripts, arithmetic and f-strings of those."""
    if isinstance(node, cst.Name | cst.Integer | cst.Float | cst.SimpleString):
        return True
    if isinstance(node, cst.Attribute):
        return pure(node.value)
    if isinstance(node, cst.BinaryOperation):
        return pure(node.left) and pure(node.right)
    if isinstance(node, cst.UnaryOperation):
        return pure(node.expression)
    if isinstance(node, cst.Subscript):
        return pure(node.value) and all(
            isinstance(e.slice, cst.Index) and pure(e.slice.value) for e in node.slice
        )
    if isinstance(node, cst.ConcatenatedString):
        return pure(node.left) and pure(node.right)
    if isinstance(node, cst.FormattedString):
        return all(_pure_part(part) for part in node.parts)
    return False


def _pure_part(part: cst.BaseFormattedStringContent) -> bool:
    if isinstance(part, cst.FormattedStringText):
        return True
    assert isinstance(part, cst.FormattedStringExpression)
    return pure(part.expression) and all(_pure_part(p) for p in part.format_spec or ())
