"""The machinery every tracker codemod shares: analyse the whole file, then rewrite it or
hold it back.

A codemod runs in two phases.

1. **Analysis.** :class:`~tracelet.codemods.resolve.Resolver` finds every use of the
   source tracker (through imports, aliases, runs, tasks and loggers followed within the
   file) and the tracker module's ``handle`` turns each use into a :class:`Decision`:
   rewrite it, leave it (no faithful rewrite), or keep it (needs no run).
2. **Decision for the file.** If any call site has to be left, the file keeps *all* its
   calls to that tracker: a half-migrated file would call ``wandb.log`` after
   ``wandb.init`` became ``tracelet.start_logging`` and fail, or make MLflow start a
   second run on its own. A call that works without the run is *kept* (``wandb.login``,
   ``hasattr(mlflow, "__version__")``) and holds nothing back. Only the call sites that
   block the migration get a ``# TODO(tracelet): <rule> <reason>`` comment; the others
   are reported as *held*. ``hold`` (given by :mod:`tracelet.codemods.runner` when another
   module of the program shares the run and is held) keeps the calls too, with its reason.
   Resolve the TODOs and run the migration again. Otherwise every rewrite is applied,
   ``import tracelet`` is added and tracker imports that became unused are removed
   (except inside ``try: ... except ImportError``, where the import's success is what
   the guard tests).

TODO comments are idempotent: a statement that already carries the comment for a rule
does not get a second one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import libcst as cst
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider, QualifiedNameProvider, ScopeProvider

from tracelet.codemods import report
from tracelet.codemods.cstutil import expr
from tracelet.codemods.imports import fast_imports
from tracelet.codemods.resolve import (
    MIXED,
    Path,
    ProgramCalls,
    Resolver,
    Role,
    Usage,
    simple_binding_target,
)
from tracelet.codemods.rules import RULES, Safety, resolve_rules
from tracelet.codemods.writer import STYLES, SUMMARYWRITER, WriterRoutes

TODO_PREFIX = "# TODO(tracelet):"
SILENT = "silent"
ACTIVE_EXPERIMENT = "tracelet.get_active_experiment()"
INSPECTING_BUILTINS = frozenset({"hasattr", "isinstance", "issubclass", "callable", "id", "type"})

Transform = Callable[[cst.CSTNode], cst.CSTNode]
_NO_DEFAULT = object()


@dataclass
class Decision:
    """What to do with one usage. ``transforms`` map original nodes to functions of
    their updated form (the first one's result is the report's ``new`` code; a transform
    of a statement may return a ``cst.FlattenSentinel`` to add statements around it);
    ``side_transforms`` are applied too but not shown; ``remove`` names an expression
    statement to delete."""

    action: str
    rule: str | None = None
    reason: str = ""
    transforms: list[tuple[cst.CSTNode, Transform]] = field(default_factory=list)
    side_transforms: list[tuple[cst.CSTNode, Transform]] = field(default_factory=list)
    remove: cst.CSTNode | None = None
    notes: list[str] = field(default_factory=list)
    todo: bool = True
    report: bool = True
    uses_tracelet: bool = True
    imports: list[str | tuple[str, str]] = field(default_factory=list)  # module or (module, name)


@dataclass
class _Site:
    usage: Usage
    decision: Decision
    line: int
    column: int


class TrackerCodemod(VisitorBasedCodemodCommand):
    """Base of the per-tracker codemods; subclasses fill the class variables and
    :meth:`handle`."""

    # QualifiedNameProvider is answered from the scopes on demand (see get_metadata):
    # resolving it for every node of the module costs as much as the scopes themselves.
    METADATA_DEPENDENCIES = (ScopeProvider, PositionProvider)

    SOURCE: ClassVar[str]
    TRACKER_NAME: ClassVar[str]
    ROOTS: ClassVar[dict[str, str]]
    CALL_FACTORIES: ClassVar[dict[str, str]] = {}
    ATTR_FACTORIES: ClassVar[dict[str, str]] = {}
    START_KEYS: ClassVar[frozenset[str]] = frozenset()
    """Path keys of the factory calls that start a run (``wandb.init``): a module with none
    of them that still calls the tracker logs to a run another module starts."""
    STILL_CALLING: ClassVar[frozenset[str]] = frozenset()
    """First attributes of the tracker calls whose rewrite still calls the tracker."""

    def __init__(
        self,
        context: CodemodContext,
        to: str | Sequence[str] | None = None,
        unsafe: bool = False,
        disable: str | Sequence[str] | None = None,
        style: str = SUMMARYWRITER,
        hold: str | None = None,
        program: ProgramCalls | None = None,
    ) -> None:
        super().__init__(context)
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
        self.style = style
        self.hold = hold
        self.program = program
        targets = to or self.SOURCE
        if isinstance(targets, str):
            targets = targets.split(",")
        self.targets = [t.strip() for t in targets if t.strip()]
        self.unsafe = unsafe
        if isinstance(disable, str):
            disable = [disable]
        self.disabled = resolve_rules(disable or ())
        self.entries: list[report.Entry] = []
        self.held = False
        self.starts_run = False
        self.uses_run = False
        self.blocking_lines: list[int] = []
        # the migration moved the tracker's process-wide settings (mlflow.set_tracking_uri)
        # into tracelet, which is faithful only while no module keeps calling the tracker
        self.moves_globals = False
        self.keeps_calls = False  # the migrated module still calls the tracker
        # (qualified callee, argument position or keyword, kind): tracker objects passed to
        # functions imported from elsewhere, for the program decision to follow
        self.program_calls: list[tuple[str, int | str, str]] = []
        # (line, attribute, tracker module): the module stored on self.<attribute>, which
        # other modules may reach as <object>.<attribute> (the program decision follows)
        self.module_aliases: list[tuple[int, str, str]] = []

    @staticmethod
    def add_args(arg_parser: argparse.ArgumentParser) -> None:
        arg_parser.add_argument(
            "--to", default=None, help="comma-separated trackers to log to (default: the source)"
        )
        arg_parser.add_argument(
            "--unsafe", action="store_true", help="also apply the rules marked unsafe"
        )
        arg_parser.add_argument(
            "--disable", action="append", default=None, help="rule id or name to turn off"
        )
        arg_parser.add_argument(
            "--style",
            choices=STYLES,
            default=SUMMARYWRITER,
            help="metrics with a step: SummaryWriter calls (default) or tracelet calls",
        )

    def get_metadata(self, key, node, default=_NO_DEFAULT):
        if key is QualifiedNameProvider:
            scope = super().get_metadata(ScopeProvider, node, None)
            return set() if scope is None else scope.get_qualified_names_for(node)
        if default is _NO_DEFAULT:
            return super().get_metadata(key, node)
        return super().get_metadata(key, node, default)

    # ------------------------------------------------------------------ hooks
    def handle(self, usage: Usage) -> Decision | None:
        """Decide about one usage; ``None`` falls back to :meth:`default_decision`."""
        raise NotImplementedError

    def finish_analysis(self) -> None:
        """Called once every usage has been decided (cross-call-site checks)."""

    # ------------------------------------------------------------------ decisions
    def rewrite(
        self,
        rule: str,
        node: cst.CSTNode,
        transform: Transform,
        notes: Sequence[str] = (),
        report_it: bool = True,
        uses_tracelet: bool = True,
    ) -> Decision:
        return Decision(
            report.REWRITTEN,
            rule,
            transforms=[(node, transform)],
            notes=list(notes),
            report=report_it,
            uses_tracelet=uses_tracelet,
        )

    def remove_statement(self, rule: str, usage: Usage, reason: str = "") -> Decision:
        """Delete the expression statement holding ``usage`` (its comments stay)."""
        if usage.result_role != Role.STATEMENT and usage.role != Role.STATEMENT:
            return self.left(rule, f"{self.describe(usage)} is used as a value here")
        statement = self.resolver.parent(usage.node)
        return Decision(
            report.REWRITTEN, rule, reason=reason, remove=statement, uses_tracelet=False
        )

    def start_escapes(self, usage: Usage) -> Decision | None:
        """For a call that starts a run: a ``left`` decision when the run it returns goes
        where the codemod cannot follow it, else ``None``."""
        if usage.role in (Role.STATEMENT, Role.RECEIVER, Role.TEST) or (
            usage.role in (Role.BIND, Role.WITH) and simple_binding_target(usage)
        ):
            return None
        if usage.role == Role.RETURN and self.resolver.return_is_followed(usage):
            return None
        return self.left("TL001", self.escape_reason(usage))

    def handle_rewrite(self, rule: str, usage: Usage, transform: Transform) -> Decision:
        """For an expression that gives the run (``wandb.run``, ``task.get_logger()``):
        rewrite it wherever the result is followed; not reported when it only serves
        as the receiver of a call that is itself rewritten."""
        if usage.role == Role.RECEIVER:
            return self.rewrite(rule, usage.node, transform, report_it=False)
        if (
            usage.role in (Role.TEST, Role.STATEMENT)
            or (usage.role == Role.BIND and simple_binding_target(usage))
            or (usage.role == Role.ARG and self.resolver.arg_is_followed(usage))
            or (usage.role == Role.RETURN and self.resolver.return_is_followed(usage))
        ):
            return self.rewrite(rule, usage.node, transform)
        return self.left("TL001", self.escape_reason(usage))

    @staticmethod
    def left(rule: str, reason: str, todo: bool = True) -> Decision:
        return Decision(report.LEFT, rule, reason=reason, todo=todo)

    @staticmethod
    def kept(reason: str, rule: str = "TL003") -> Decision:
        return Decision(report.KEPT, rule, reason=reason)

    @staticmethod
    def silent() -> Decision:
        return Decision(SILENT)

    def describe(self, usage: Usage) -> str:
        """A short human name for the usage (``wandb.log``, ``run.config``)."""
        path = usage.path
        if path.is_object:
            base = path.kind.split(":", 1)[1]
            return ".".join((base, *path.attrs)) + ("()" if usage.role == Role.CALL else "")
        return path.key + ("()" if usage.role == Role.CALL or usage.factory else "")

    def default_decision(self, usage: Usage) -> Decision:
        """Objects and modules used as values; anything unknown is left."""
        path = usage.path
        name = self.describe(usage)
        if path.kind == MIXED:
            return self.left("TL001", self.mixed_reason(usage))
        if not path.attrs and not usage.factory:
            if usage.role == Role.TEST and self._guarded_import_name(usage.node):
                test = usage.context
                if not isinstance(test, cst.Comparison | cst.UnaryOperation):
                    test = usage.node
                return self.kept(
                    f"{self.code(test)} tests whether the guarded import of "
                    f"{self.code(usage.node)} succeeded; the import stays (TL004)"
                )
            if usage.role in (Role.TEST, Role.STATEMENT, Role.ANNOTATION, Role.STORE):
                return self.silent()
            if usage.role == Role.BIND and simple_binding_target(usage):
                return self.silent()
            if usage.role == Role.ARG and self.resolver.arg_is_followed(usage):
                return self.silent()
            if usage.role == Role.RETURN and self.resolver.return_is_followed(usage):
                return self.silent()
            if usage.role == Role.ARG and path.is_object:
                self._note_program_call(usage)
            return self.left("TL001", self.escape_reason(usage))
        if usage.role == Role.ANNOTATION:
            return self.silent()
        return self.left(
            "TL002",
            f"{name}: the codemod does not know this call; docs/migrate.md lists what each "
            f"{self.TRACKER_NAME} call becomes",
        )

    def _guarded_import_name(self, node: cst.CSTNode) -> bool:
        """``node`` is a name an import binds, and the tracker is imported inside
        ``try: ... except ImportError`` in this file."""
        collected = self.resolver.collected
        return (
            isinstance(node, cst.Name)
            and node.value in collected.aliases
            and any(guarded for _, guarded in collected.imports)
        )

    def mixed_reason(self, usage: Usage) -> str:
        """Why a handle that is a tracker object on some paths only is left, naming the
        other values it may hold."""
        root = usage.node
        for _ in usage.path.attrs:
            root = root.func if isinstance(root, cst.Call) else root
            assert isinstance(root, cst.Attribute)
            root = root.value
        others = [
            f"{self.code(value)} (line {self.get_metadata(PositionProvider, value).start.line})"
            for value in self.resolver.other_values(root)
        ]
        if not others:
            return (
                f"{self.code(usage.node)} holds a {self.TRACKER_NAME} object on some paths "
                "and another value on others"
            )
        return (
            f"{self.code(usage.node)} holds a {self.TRACKER_NAME} object on some paths and "
            f"{', '.join(others)} on others, so its calls reach either; give the "
            f"{self.TRACKER_NAME} path its own calls (tracelet's) and keep the other value's"
        )

    def _note_program_call(self, usage: Usage) -> None:
        arg = usage.context
        callee = self.resolver.imported_callee(arg) if isinstance(arg, cst.Arg) else None
        call = self.resolver.parent(arg)
        if callee is None or not isinstance(call, cst.Call) or any(a.star for a in call.args):
            return
        where = arg.keyword.value if arg.keyword is not None else call.args.index(arg)
        self.program_calls.append((callee, where, usage.path.kind))

    def quoted_for(self, node: cst.CSTNode, code: str) -> str:
        """``code`` with its double quotes made single when ``node`` sits inside a
        double-quoted f-string (Python before 3.12 rejects the same quote inside)."""
        current = self.resolver.parent(node)
        while current is not None:
            if isinstance(current, cst.FormattedString):
                return code.replace('"', "'") if '"' in current.start else code
            current = self.resolver.parent(current)
        return code

    def escape_reason(self, usage: Usage) -> str:
        what = self.code(usage.node)
        others = self.resolver.other_returns(usage.node) if usage.role == Role.RETURN else []
        if others:
            shown = ", ".join(self.code(value) for value in others)
            return (
                f"{what} is returned by a function that also returns {shown}, so what its "
                f"callers call reaches either; give the {self.TRACKER_NAME} path its own "
                "calls (tracelet's) and keep the other value's"
            )
        context = usage.context
        if (
            usage.role == Role.OTHER
            and isinstance(context, cst.ComparisonTarget)
            and isinstance(context.operator, cst.Is | cst.IsNot | cst.Equal | cst.NotEqual)
        ):
            comparison = self.resolver.parent(context)
            return (
                f"{self.code(comparison)} compares a value with {what}: the calls the "
                f"comparison picks are the {self.TRACKER_NAME} path's; write them as "
                "tracelet calls"
            )
        call = self.resolver.parent(context) if isinstance(context, cst.Arg) else None
        callee = call.func if isinstance(call, cst.Call) else None
        passed = (
            f"is passed to {self.code(callee)}(), which this file does not define"
            if isinstance(callee, cst.Name | cst.Attribute)
            else "is passed to code this file does not define"
        )
        where = {
            Role.ARG: passed,
            Role.RETURN: "is returned",
            Role.BIND: "is stored where the codemod cannot follow it",
            Role.WITH: "is used as a context manager",
        }.get(usage.role, "is used in a way the codemod cannot follow")
        return f"{what} {where}; calls made through it would not be migrated"

    # ------------------------------------------------------------------ helpers
    def code(self, node: cst.CSTNode) -> str:
        """The node's source on one line, shortened for a message."""
        text = " ".join(self.module.code_for_node(node).split())
        return text if len(text) <= 60 else text[:57] + "..."

    def writer_note(self) -> list[str]:
        """A warning for a start call in a file that also writes TensorBoard summaries."""
        if "SummaryWriter" not in self.resolver.collected.all_names:
            return []
        return [
            f"this file also uses a SummaryWriter: once tracelet runs, its add_* calls reach "
            f"{', '.join(self.targets)} too"
        ]

    def backend_code(self) -> str:
        if len(self.targets) == 1:
            return f'"{self.targets[0]}"'
        return "[" + ", ".join(f'"{t}"' for t in self.targets) + "]"

    def experiment_code(self, node: cst.CSTNode) -> str:
        """Code for the active experiment at ``node``: the name bound by an enclosing
        ``with tracelet.start_logging(...) as name`` in the same function, else
        ``tracelet.get_active_experiment()``."""
        child, current = node, self.resolver.parent(node)
        while current is not None and not isinstance(
            current, cst.FunctionDef | cst.Lambda | cst.ClassDef
        ):
            if isinstance(current, cst.With) and child is current.body:
                block = self._with_blocks.get(id(current))
                if block is not None:
                    block[1] = True
                    return block[0]
            child, current = current, self.resolver.parent(current)
        return ACTIVE_EXPERIMENT

    def register_with(self, item: cst.WithItem) -> None:
        """Make calls inside ``with <start>(...) [as x]:`` use ``x`` as the experiment; a
        name is added to the ``with`` when the block needs one."""
        with_node = self.resolver.parent(item)
        if not isinstance(with_node, cst.With) or len(with_node.items) != 1:
            return
        if item.asname is not None:
            self._with_blocks[id(with_node)] = [item.asname.name.value, False]
            return
        taken = self.resolver.collected.all_names
        name = next(n for n in ("experiment", "tracelet_experiment") if n not in taken)
        self._with_blocks[id(with_node)] = [name, False]
        self._with_items[id(with_node)] = item

    # ------------------------------------------------------------------ driver
    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._sites: list[_Site] = []
        self._transforms: dict[int, tuple[Transform, report.Entry | None]] = {}
        self._todos: dict[int, list[str]] = {}
        self._removals: set[int] = set()
        self._dead_lines: dict[int, cst.CSTNode] = {}
        self._with_blocks: dict[int, list] = {}
        self._with_items: dict[int, cst.WithItem] = {}
        self._targets: dict[int, cst.CSTNode] = {}
        self.entries = []
        self.held = False
        self.moves_globals = False
        self.program_calls = []
        self.module_aliases = []
        self.resolver = Resolver(
            tree,
            self.get_metadata,
            self.ROOTS,
            self.CALL_FACTORIES,
            self.ATTR_FACTORIES,
            self.program,
        )
        self.writer_routes = WriterRoutes(self)
        for root, path in self.resolver.roots_in_order():
            for usage in self.resolver.usages_from(root, path):
                self._record(usage)
        self.finish_analysis()
        self.writer_routes.apply()
        self._decide()
        for entry in self.entries:
            if entry.action == report.LEFT:
                self.warn(f"line {entry.line}: {entry.rule} left: {entry.reason}")
        if not (self._transforms or self._todos or self._removals):
            return tree
        self._paths = self._paths_to_targets()
        return super().transform_module_impl(tree)

    def _paths_to_targets(self) -> set[int]:
        """Ids of every node on the way from the module to a node that changes: the
        transformer only descends along these."""
        paths: set[int] = set()
        for node in self._targets.values():
            current = node
            while current is not None and id(current) not in paths:
                paths.add(id(current))
                current = self.resolver.parent(current)
        return paths

    def on_visit(self, node: cst.CSTNode) -> bool:
        # The plan says which nodes change; nothing else needs visiting (a transformer
        # walking the whole tree costs more than the analysis). visit_*/leave_* methods
        # are therefore not used by these codemods.
        return id(node) in self._paths

    def _record(self, usage: Usage) -> None:
        decision = self.handle(usage) or self.default_decision(usage)
        if decision.action == report.LEFT:
            decision = self.inspected(usage) or decision
        self.add_site(usage, decision)

    def inspected(self, usage: Usage) -> Decision | None:
        """``hasattr(wandb, "__version__")``, ``isinstance(x, wandb.Table)``: a builtin that
        only looks at the tracker module or one of its classes needs no run and means the
        same after the migration (a tracker *object* does not: the run becomes an
        experiment)."""
        if usage.role != Role.ARG or usage.path.is_object or usage.factory:
            return None
        call = self.resolver.parent(usage.context)
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name)):
            return None
        name = call.func.value
        if name not in INSPECTING_BUILTINS or not any(
            q.name == f"builtins.{name}"
            for q in self.get_metadata(QualifiedNameProvider, call.func)
        ):
            return None
        return self.kept(f"{name}() only inspects {self.code(usage.node)}: needs no run")

    def add_site(self, usage: Usage, decision: Decision) -> None:
        if decision.action == SILENT:
            return
        if decision.action == report.REWRITTEN and decision.rule:
            rule = RULES[decision.rule]
            if rule.id in self.disabled:
                decision = self.left(rule.id, f"rule {rule.label} is disabled", todo=False)
            elif rule.safety == Safety.UNSAFE and not self.unsafe:
                decision = self.left(
                    rule.id,
                    f"{decision.reason or rule.summary} (apply with `tracelet migrate --unsafe`)",
                )
        position = self.get_metadata(PositionProvider, usage.node)
        self._sites.append(_Site(usage, decision, position.start.line, position.start.column + 1))

    def _decide(self) -> None:
        sites = sorted(self._sites, key=lambda s: (s.line, s.column))
        blockers = [s for s in sites if s.decision.action == report.LEFT]
        self.starts_run = any(
            s.usage.factory and s.usage.path.key in self.START_KEYS for s in sites
        )
        self.uses_run = any(
            not (s.usage.factory and s.usage.path.key in self.START_KEYS)
            and (s.decision.action == report.REWRITTEN or s in blockers)
            for s in sites
        )
        self.blocking_lines = sorted({s.line for s in blockers})
        self.held = bool(blockers) or self.hold is not None
        self.keeps_calls = self.held or any(self.still_calls(s) for s in sites)
        held_reason = (
            f"held back: this file keeps its {self.TRACKER_NAME} calls until "
            f"{_lines_are(self.blocking_lines)} resolved"
            if blockers
            else f"held back: {self.hold}"
        )
        uses_tracelet = False
        self._extra_imports = False
        for site in sites:
            decision = site.decision
            rule = RULES.get(decision.rule) if decision.rule else None
            entry = report.Entry(
                line=site.line,
                column=site.column,
                action=decision.action,
                rule=rule.id if rule else None,
                name=rule.name if rule else None,
                safety=rule.safety.value if rule else None,
                reason=decision.reason,
                old=self.module.code_for_node(self._old_node(site)).strip(),
            )
            if decision.action == report.REWRITTEN and self.held:
                entry.action = report.HELD
                entry.reason = held_reason
            if decision.action == report.LEFT and decision.todo:
                self._add_todo(site, decision)
            if decision.report:
                self.entries.append(entry)
            if decision.action != report.REWRITTEN or self.held:
                continue
            uses_tracelet |= decision.uses_tracelet
            for module in decision.imports:
                names = (module,) if isinstance(module, str) else module
                AddImportsVisitor.add_needed_import(self.context, *names)
                self._extra_imports = True
            for index, (node, transform) in enumerate(decision.transforms):
                shown = entry if decision.report and index == 0 else None
                self._transforms[id(node)] = (transform, shown)
                self._targets[id(node)] = node
            for node, transform in decision.side_transforms:
                self._transforms[id(node)] = (transform, None)
                self._targets[id(node)] = node
            if decision.remove is not None:
                self._removals.add(id(decision.remove))
                self._targets[id(decision.remove)] = decision.remove
                entry.new = ""
            for note in decision.notes:
                self.entries.append(
                    report.Entry(
                        site.line,
                        site.column,
                        report.WARNING,
                        entry.rule,
                        entry.name,
                        entry.safety,
                        reason=note,
                    )
                )
        if self.held or not any(s.decision.action == report.REWRITTEN for s in sites):
            return
        for with_id, (_, used) in self._with_blocks.items():
            item = self._with_items.get(with_id)
            if used and item is not None:
                name = self._with_blocks[with_id][0]
                self._transforms[id(item)] = (_add_asname(name), None)
                self._targets[id(item)] = item
        self._schedule_imports(uses_tracelet)

    def still_calls(self, site: _Site) -> bool:
        """Whether the migrated code of ``site`` still calls the tracker."""
        attrs = site.usage.path.attrs
        return site.decision.action != report.REWRITTEN or (
            bool(attrs) and attrs[0] in self.STILL_CALLING
        )

    def _old_node(self, site: _Site) -> cst.CSTNode:
        decision = site.decision
        if decision.remove is not None:
            return decision.remove
        if decision.transforms:
            return decision.transforms[0][0]
        return site.usage.node

    def _add_todo(self, site: _Site, decision: Decision) -> None:
        statement = self.resolver.statement_of(site.usage.node)
        text = f"{TODO_PREFIX} {decision.rule} {decision.reason}"
        self._targets[id(statement)] = statement
        todos = self._todos.setdefault(id(statement), [])
        if text not in todos:
            todos.append(text)

    def _schedule_imports(self, uses_tracelet: bool) -> None:
        if uses_tracelet:
            AddImportsVisitor.add_needed_import(self.context, "tracelet")
        removable = []
        whole_statements = True
        for node, guarded in self.resolver.collected.imports:
            if not self.owns_import(node):
                continue
            if guarded:
                position = self.get_metadata(PositionProvider, node)
                self.entries.append(
                    report.Entry(
                        position.start.line,
                        position.start.column + 1,
                        report.KEPT,
                        "TL004",
                        RULES["TL004"].name,
                        Safety.INFO.value,
                        reason="import inside try/except ImportError kept: the guard depends on it",
                        old=self.module.code_for_node(node).strip(),
                    )
                )
            elif self.remove_import(node):
                removable.append(node)
            else:
                whole_statements = False
        fast = whole_statements and not self._extra_imports
        self._import_plan = (removable, uses_tracelet) if fast else None
        self.entries.sort(key=lambda e: (e.line, e.column))

    def owns_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        """Whether an import of the source package is the codemod's to keep or remove
        (every one, except for sources whose package also has unrelated names)."""
        return True

    def remove_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        """Schedule the names ``node`` imports for removal where the migrated module no
        longer uses them; True when all of them are scheduled (the fast path may apply)."""
        RemoveImportsVisitor.remove_unused_import_by_node(self.context, node)
        return True

    def transform_module(self, tree: cst.Module) -> cst.Module:
        """Run the codemod, then fix the imports (see :mod:`tracelet.codemods.imports`)."""
        self._import_plan = None
        # libcst's Codemod.transform_module deep-copies the tree before resolving metadata;
        # the tree is always freshly parsed here, so the copy only costs time.
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        previous = self.context
        self.context = replace(self.context, wrapper=wrapper)
        try:
            with self.resolve(wrapper):
                tree = self.transform_module_impl(wrapper.module)
        finally:
            self.context = replace(self.context, wrapper=previous.wrapper)
        if self._import_plan is not None:
            fixed = fast_imports(tree, *self._import_plan)
            if fixed is not None:
                for visitor in (AddImportsVisitor, RemoveImportsVisitor):
                    self.context.scratch.pop(visitor.CONTEXT_KEY, None)
                return fixed
        for visitor in (AddImportsVisitor, RemoveImportsVisitor):
            if visitor.CONTEXT_KEY in self.context.scratch:
                tree = visitor(self.context).transform_module(tree)
        return tree

    # ------------------------------------------------------------------ applying
    def on_leave(self, original_node, updated_node):
        key = id(original_node)
        found = self._transforms.get(key)
        if found is not None:
            transform, entry = found
            updated_node = transform(updated_node)
            if entry is not None:
                nodes = (
                    updated_node.nodes
                    if isinstance(updated_node, cst.FlattenSentinel)
                    else [updated_node]
                )
                entry.new = "".join(self.module.code_for_node(n) for n in nodes).strip()
        if isinstance(updated_node, cst.SimpleStatementLine | cst.SimpleStatementSuite) and (
            self._removals
        ):
            updated_node = self._drop_small_statements(original_node, updated_node)
        if isinstance(updated_node, cst.IndentedBlock | cst.Module) and self._dead_lines:
            updated_node = self._drop_dead_lines(updated_node)
        todos = self._todos.get(key)
        if todos and isinstance(updated_node, cst.BaseStatement):
            updated_node = _with_todos(updated_node, todos)
        return updated_node

    def _drop_small_statements(self, original, updated):
        """Remove deleted small statements from a line (or an ``if x: a(); b()`` suite)."""
        kept = [
            new
            for old, new in zip(original.body, updated.body, strict=True)
            if id(old) not in self._removals
        ]
        if len(kept) == len(updated.body):
            return updated
        if not kept:
            if isinstance(updated, cst.SimpleStatementSuite):
                return updated.with_changes(body=[cst.Pass()])
            self._dead_lines[id(updated)] = updated  # held: ids stay unique until the block
            return updated
        kept[-1] = kept[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
        return updated.with_changes(body=kept)

    def _drop_dead_lines(self, updated):
        carried: list[cst.EmptyLine] = []
        body = []
        for new in updated.body:  # longer than original.body when statements were added
            if id(new) in self._dead_lines:
                carried.extend(new.leading_lines)
                comment = new.trailing_whitespace.comment
                if comment is not None:  # `x = wandb.watch(m)  # note` keeps its note
                    carried.append(cst.EmptyLine(comment=comment))
                continue
            if carried:
                if any(line.comment is None for line in new.leading_lines):
                    carried = [line for line in carried if line.comment is not None]
                new = new.with_changes(leading_lines=[*carried, *new.leading_lines])
                carried = []
            body.append(new)
        if len(body) == len(updated.body):
            return updated
        if isinstance(updated, cst.Module):
            carried = [line for line in carried if line.comment is not None]
            return updated.with_changes(body=body, footer=[*carried, *updated.footer])
        carried = [line for line in carried if line.comment is not None]
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)]
            carried = []
        return updated.with_changes(body=body, footer=[*carried, *updated.footer])


def _lines_are(lines: list[int]) -> str:
    """``line 4 is`` / ``lines 4, 9 are``: the call sites a held-back file waits for."""
    if len(lines) == 1:
        return f"line {lines[0]} is"
    shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
    return f"lines {shown} are"


def _with_todos(statement: cst.BaseStatement, todos: list[str]) -> cst.BaseStatement:
    existing = {
        line.comment.value.split(" ", 3)[2]
        for line in statement.leading_lines
        if line.comment is not None
        and line.comment.value.startswith(TODO_PREFIX)
        and len(line.comment.value.split(" ", 3)) > 2
    }
    new_lines = [
        cst.EmptyLine(comment=cst.Comment(text))
        for text in todos
        if text.split(" ", 3)[2] not in existing
    ]
    if not new_lines:
        return statement
    return statement.with_changes(leading_lines=[*statement.leading_lines, *new_lines])


def _add_asname(name: str) -> Transform:
    def transform(item: cst.CSTNode) -> cst.CSTNode:
        return item.with_changes(
            asname=cst.AsName(
                name=cst.Name(name),
                whitespace_before_as=cst.SimpleWhitespace(" "),
                whitespace_after_as=cst.SimpleWhitespace(" "),
            )
        )

    return transform


def receiver(updated: cst.Call, usage: Usage, fallback: str) -> cst.BaseExpression:
    """The experiment a method call goes to: the (already rewritten) object the call is
    made on, or ``fallback`` code for module-level functions (``mlflow.log_metric``)."""
    if usage.path.is_object:
        node: cst.BaseExpression = updated.func
        for _ in usage.path.attrs:
            assert isinstance(node, cst.Attribute)
            node = node.value
        return node
    return expr(fallback)


__all__ = [
    "ACTIVE_EXPERIMENT", "Decision", "Path", "Role", "TrackerCodemod", "Usage", "receiver",
    "unmapped",
]  # fmt: skip


def unmapped(call: str) -> str:
    """The reason for a call whose arguments cannot be bound to the tracker's parameters."""
    return (
        f"{call} with arguments the codemod cannot map; name each argument by keyword, "
        "without *args / **kwargs"
    )
