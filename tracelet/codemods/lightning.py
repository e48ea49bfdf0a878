"""PyTorch Lightning tracker loggers -> tracelet.

==============================================  =================================================
source                                          migrated
==============================================  =================================================
``trainer = Trainer(logger=MLFlowLogger(        ``tracelet.start_logging(project=E, exp_name=N,
experiment_name=E, run_name=N))``               backend="mlflow", backend_options={"mlflow":
                                                {"url": ...}})``
                                                ``trainer = Trainer(logger=False)``
``logger = WandbLogger(project=P, name=N)``     (moved into the ``start_logging`` call)
``trainer = Trainer(logger=logger)``            ``tracelet.start_logging(project=P, exp_name=N,
                                                backend="wandb", backend_options={"wandb":
                                                {"dir": "."}})``
                                                ``trainer = Trainer(logger=False)``
``Trainer(logger=[TensorBoardLogger(d),         ``Trainer(logger=[TensorBoardLogger(d)])``
WandbLogger(), MLFlowLogger()])``               (one ``start_logging`` with both backends)
``trainer.fit(...)``; ``trainer.test(...)``     unchanged, then ``tracelet.stop_logging()``
==============================================  =================================================

Both packages (``lightning.pytorch`` and ``pytorch_lightning``), every import form
(``from lightning.pytorch.loggers import WandbLogger as WL``, ``pl.loggers.MLFlowLogger``)
and both ways of giving the logger (inline, or a variable assigned once in the same
function before the Trainer) are handled. With a tracelet run active, everything
``self.log`` hands Lightning's loggers reaches the trackers through
:mod:`tracelet.capture.lightning`, so the Trainer no longer needs the tracker loggers:
they are taken off it (``logger=False`` when none is left; other loggers such as
``TensorBoardLogger`` or ``CSVLogger`` stay in the list).

Where the run starts and stops
    ``tracelet.start_logging(...)`` is inserted just before the statement that creates
    the Trainer (taking over the comments above it), with the logger's arguments moved
    there; a logger variable's assignment is removed. ``tracelet.stop_logging()`` goes
    after the statement that uses the Trainer last (``trainer.fit``, ``trainer.test``, a
    ``for`` loop around them, ...) in the block the Trainer was created in (or the
    innermost enclosing one that holds that use; before a ``return`` that only reads the
    Trainer), so what ``fit``, ``validate``, ``test`` and ``predict`` log is in the run,
    as it was in the logger's run. If the Trainer is returned, stored or handed to code
    of another module, no stop is inserted and the report says so: the run then ends at
    the next ``start_logging`` or when the script exits (tracelet's exit hook), which
    still records every point.

Arguments, as the loggers apply them
    * ``MLFlowLogger``: ``experiment_name`` (default ``"lightning_logs"``) is the project,
      ``run_name`` the run name, ``tags`` the run's tags. The store is what the logger
      would use: ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else
      ``file:<save_dir>`` (default ``./mlruns``), carried as
      ``backend_options={"mlflow": {"url": ...}}``. ``synchronous`` is dropped.
    * ``WandbLogger``: ``project`` (default ``$WANDB_PROJECT`` or ``"lightning_logs"``),
      ``name``, ``config``; ``save_dir``/``dir`` (default ``"."``: the logger puts the run
      under ``./wandb`` even when ``$WANDB_DIR`` is set) and ``offline=True``
      (``mode="offline"``) go to ``backend_options={"wandb": {...}}`` with ``entity``,
      ``group``, ``job_type``, ``notes`` and ``mode``; ``tags`` are dropped with a warning,
      ``settings``, ``save_code``, ``reinit``, ``checkpoint_name`` and ``add_file_policy``
      silently.
    * With ``--to``, the run goes to those trackers; options of a tracker that is not
      among them are dropped with a warning.

Left (marked with a TODO, holding the file back)
    ``log_model=True``/``"all"`` (checkpoints as artifacts), ``prefix``, ``run_id`` /
    ``id`` / ``version`` (an existing run), ``experiment=``, ``artifact_location``,
    ``sync_tensorboard``; calls through the logger object
    (``logger.experiment.log(...)``, ``logger.experiment.log_metric(run_id, ...)``,
    ``logger.watch(model)``, ``logger.log_hyperparams(...)``, any other attribute);
    ``self.logger`` / ``self.loggers`` / ``trainer.logger`` in a ``LightningModule`` or
    ``Callback`` (the Trainer has no tracker logger any more); subclasses of the logger
    classes and ``isinstance`` checks against them; loggers that do not reach
    ``Trainer(logger=...)`` in a way followed here (returned to code the migration was not
    given, kept in a list variable, passed to another module's function that makes the
    Trainer);
    the same logger variable, assigned once, given to two Trainers (one run originally);
    two loggers of one tracker on one Trainer (two runs); a ``WandbLogger`` created in a
    loop without ``wandb.finish()`` in the file (W&B keeps logging into the first run) or
    in a file that calls ``wandb.init`` itself.

Loggers followed to where they are made
    A logger variable set in several places or by a conditional expression (its other
    values ``None``/``True``/``False``), or a helper's ``return Logger(...)``, that only
    ``Trainer(logger=...)`` reads (directly, or through a parameter of a plain function of
    the file that only goes there) starts the run where the logger is made and holds
    ``False`` instead (:mod:`tracelet.codemods.lightning_follow`); ``WandbLogger.version``
    read right after it is made is ``None``. A function of another module of the program
    counts too (``LT006``) when the program decision follows the call there
    (:func:`tracelet.codemods.program.follow_calls`), that module has nothing left, and
    every other argument of the call is made by this file, Lightning, torch or the
    standard library; ``trainer.logger.log_hyperparams(p)`` on the Trainer it returns
    updates the W&B run's config when that Trainer has no logger (``LT007``).

Loggers given to Fabric
    ``Fabric(loggers=[...])`` is migrated as a Trainer is (``LT008`` for the logger,
    ``LT009`` for the Fabric: ``[]`` when no logger is left), without a stop; what must
    hold besides (a step on every ``fabric.log_dict`` with a ``WandbLogger``, no
    ``fabric.logger`` read, a module-level logger variable with literal arguments) is in
    :mod:`tracelet.codemods.lightning_fabric`.

Not a call site, so only a warning: checkpoints of a ``ModelCheckpoint`` without
``dirpath`` go to ``default_root_dir/checkpoints`` instead of the logger's folder when
the tracker logger was the Trainer's first logger.

:mod:`tracelet.codemods.lightning_args` maps the loggers' arguments,
:mod:`tracelet.codemods.lightning_stop` finds where the run stops; this module finds the
Trainers, places the start and decides every call site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import libcst as cst
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import PositionProvider, ScopeProvider

from tracelet.codemods import report
from tracelet.codemods.base import Decision, TrackerCodemod
from tracelet.codemods.cstutil import (
    call_with,
    expr,
    is_dotted_name,
    literal,
)
from tracelet.codemods.lightning_args import (
    CLASS_OF,
    DEFAULT_PROJECT,
    MLFLOW_LOGGER,
    TRACKER_OF,
    WANDB_LOGGER,
    Mapped,
    Refused,
    map_logger,
)
from tracelet.codemods.lightning_fabric import check_fabric_logging, module_logger_for
from tracelet.codemods.lightning_follow import (
    Followed,
    Made,
    follow_logger_names,
    follow_returned_loggers,
    made_elsewhere,
    param_trainers,
    received_kinds,
)
from tracelet.codemods.lightning_stop import NOT_STOPPED, find_stop
from tracelet.codemods.resolve import Path, Role, Usage, simple_binding_target

TRAINER = "lightning:trainer"
RULE_OF = {MLFLOW_LOGGER: "LT001", WANDB_LOGGER: "LT002"}
FABRIC_LOGGER_RULE, FABRIC_RULE = "LT008", "LT009"
LOGGER_RULE_TRACKERS = {rule: TRACKER_OF[logger] for logger, rule in RULE_OF.items()}
"""The tracker whose logger each rule replaces (``tracelet validate`` reads its store)."""
PACKAGES = ("lightning.pytorch", "pytorch_lightning")
LIGHTNING_CLASSES = {"LightningModule", "Callback", "LightningDataModule"}
LOGGER_ATTRS = {"logger", "loggers"}
FABRIC = {"lightning.Fabric", "lightning.fabric.Fabric", "lightning.fabric.fabric.Fabric"}


def _factories() -> dict[str, str]:
    table = {"lightning.Trainer": TRAINER}
    for package in PACKAGES:
        for module, name, kind in (
            ("mlflow", "MLFlowLogger", MLFLOW_LOGGER),
            ("wandb", "WandbLogger", WANDB_LOGGER),
        ):
            table[f"{package}.loggers.{name}"] = kind
            table[f"{package}.loggers.{module}.{name}"] = kind
        for module in ("", ".trainer", ".trainer.trainer"):
            table[f"{package}{module}.Trainer"] = TRAINER
            # Lightning 1.x: the Trainer's own arguments from an argparse Namespace
            table[f"{package}{module}.Trainer.from_argparse_args"] = TRAINER
    return table


FACTORIES = _factories()
LOGGER_CLASSES = {key: kind for key, kind in FACTORIES.items() if kind != TRAINER}
LOGGER_MODULES = {
    f"{package}.loggers{module}" for package in PACKAGES for module in ("", ".mlflow", ".wandb")
}


@dataclass
class _Logger:
    """One tracker logger given to a Trainer."""

    usage: Usage
    kind: str
    assign: cst.Assign | None = None  # ``name = Logger(...)``, removed by the migration

    @property
    def tracker(self) -> str:
        return TRACKER_OF[self.kind]

    @property
    def call(self) -> cst.Call:
        return self.usage.call


@dataclass
class _Edit:
    """A statement that gets ``start_logging`` before it and/or ``stop_logging`` around it."""

    statement: cst.CSTNode
    start: _Site | None = None
    stops: list[_Site] = field(default_factory=list)
    before: bool = False  # the stop goes before the statement (a ``return``)


@dataclass
class _Site:
    """A Trainer whose ``logger=`` holds tracker loggers, and how it is migrated."""

    usage: Usage
    statement: cst.BaseStatement
    loggers: list[_Logger]
    positions: list[int] | None  # tracker loggers' places in a list/tuple; None: the value
    refused: Refused | None = None
    start: cst.SimpleStatementLine | None = None
    stop: tuple[cst.CSTNode, bool] | None = None  # (anchor, insert after it)
    notes: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    fabric: bool = False  # a ``Fabric(loggers=...)``, not a Trainer

    @property
    def call(self) -> cst.Call:
        return self.usage.call

    @property
    def keyword(self) -> str:
        return "loggers" if self.fabric else "logger"

    @property
    def what(self) -> str:
        return "Fabric" if self.fabric else "the Trainer"


class LightningToTracelet(TrackerCodemod):
    """Replace Lightning's MLflow and W&B loggers by a tracelet run around the Trainer."""

    DESCRIPTION = "Replace Lightning's MLFlowLogger / WandbLogger by tracelet.start_logging."
    SOURCE = "lightning"
    TRACKER_NAME = "Lightning logger"
    ROOTS: ClassVar[dict[str, str]] = {
        "lightning": "lightning",
        "pytorch_lightning": "pytorch_lightning",
    }
    CALL_FACTORIES: ClassVar[dict[str, str]] = FACTORIES

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._logger_usages: dict[int, Usage] = {}
        self._trainer_usages: list[Usage] = []
        self._logger_refs: list[Usage] = []
        self._trainer_logger_uses: list[Usage] = []
        self._refused_loggers: set[int] = set()
        self._fabric_calls: set[int] = set()
        self._fabric_usages: list[Usage] = []
        return super().transform_module_impl(tree)

    @property
    def auto_targets(self) -> bool:
        """No ``--to``: each Trainer logs to the trackers of its own loggers."""
        return self.targets in ([], [self.SOURCE])

    # ------------------------------------------------------------------ collecting
    def handle(self, usage: Usage) -> Decision | None:
        path = usage.path
        if usage.factory:
            if path.key in LOGGER_CLASSES:
                self._logger_usages[id(usage.node)] = usage
            else:
                self._trainer_usages.append(usage)
            return self.silent()
        if path.kind in TRACKER_OF:
            self._logger_refs.append(usage)
            return self.silent()
        if path.key in FABRIC and usage.role == Role.CALL:
            self._fabric_calls.add(id(usage.node))
            self._fabric_usages.append(usage)
            return self.silent()
        if path.kind == TRAINER:
            if path.attrs and path.attrs[0] in LOGGER_ATTRS:
                self._trainer_logger_uses.append(usage)
            return self.silent()
        if path.key in LOGGER_CLASSES or (
            len(path.attrs) > 1 and Path(path.kind, path.attrs[:-1]).key in LOGGER_CLASSES
        ):
            return self._class_use(usage)
        return self.silent()

    def _class_use(self, usage: Usage) -> Decision:
        """``WandbLogger`` itself, not called: a subclass, ``isinstance``, a static helper."""
        key = usage.path.key
        if key not in LOGGER_CLASSES:
            key = key.rsplit(".", 1)[0]
            if usage.path.attrs[-1] == "download_artifact":
                return self.kept(f"{CLASS_OF[LOGGER_CLASSES[key]]}.download_artifact needs no run")
            return self.left(
                "LT101",
                f"{self.describe(usage)}: part of the logger class the Trainer no longer has; "
                "write the tracelet call it stands for (docs/lightning.md)",
            )
        name = CLASS_OF[LOGGER_CLASSES[key]]
        if usage.role in (Role.ANNOTATION, Role.STATEMENT):
            return self.silent()
        if usage.role == Role.ARG and isinstance(self.resolver.parent(usage.context), cst.ClassDef):
            return self.left(
                "LT101", f"a subclass of {name} changes what the logger does: migrate it by hand"
            )
        statement = self._statement_code(usage.node)
        return self.left(
            "LT101", f"{statement}: uses the {name} class, which the Trainer no longer has"
        )

    # ------------------------------------------------------------------ deciding
    def finish_analysis(self) -> None:
        trainers = {id(usage.node) for usage in self._trainer_usages}
        kind_of = lambda usage: LOGGER_CLASSES[usage.path.key]  # noqa: E731
        noted: list[tuple[str, int | str, str]] = []
        followed = [
            *follow_logger_names(
                self.resolver, self.get_metadata, self._logger_usages, trainers, kind_of, noted
            ),
            *follow_returned_loggers(self.resolver, self._logger_usages, trainers, kind_of),
        ]
        self.program_calls.extend(noted)
        self._check_received_loggers(trainers)
        self._followed_refs = {ref for name in followed for ref in name.refs}
        consumed: dict[int, list[_Site]] = {}
        sites = []
        for usage in [*self._trainer_usages, *self._fabric_usages]:
            site = self._site(usage)
            if site is None:
                continue
            sites.append(site)
            for logger in site.loggers:
                consumed.setdefault(id(logger.usage.node), []).append(site)
        for site in sites:
            if site.refused is None:
                for logger in site.loggers:
                    if len(consumed[id(logger.usage.node)]) > 1:
                        site.refused = Refused(
                            "TL001",
                            f"{self.code(logger.call)} is given to more than one Trainer "
                            "(one run in the original)",
                            logger.usage,
                        )
        for site in sites:
            if site.refused is None:
                self._plan(site)
        edits = self._statement_edits(sites)
        for site in sites:
            self._add_site_decisions(site, edits)
        taken = {id(logger_ref) for site in sites for logger_ref in self._site_refs(site)}
        for name in followed:
            taken |= self._add_followed(name)
            consumed.update((id(made.usage.node), []) for made in name.made)
        for usage in self._logger_usages.values():
            if id(usage.node) not in consumed:
                self.add_site(usage, self._unconsumed(usage))
        for usage in self._logger_refs:
            if id(usage.node) not in taken:
                self.add_site(usage, self._logger_ref_decision(usage))
        if sites or followed:
            for usage in self._trainer_logger_uses:
                self.add_site(usage, self._logger_attribute_use(usage))
        for node in self._module_logger_uses():
            usage = Usage(node, Path("lightning:self", ("logger",)), Role.OTHER)
            self.add_site(usage, self._logger_attribute_use(usage))

    # ------------------------------------------------------------------ the Trainer
    def _site(self, usage: Usage) -> _Site | None:
        """The tracker loggers of a Trainer or a Fabric (None: it has none), and whether it
        can be placed."""
        fabric = id(usage.node) in self._fabric_calls
        value = _keyword(usage.call, "loggers" if fabric else "logger")
        if value is None:
            return None
        listed = isinstance(value, cst.List | cst.Tuple)
        elements = _items(value)
        loggers: list[_Logger] = []
        positions: list[int] = []
        refused = None
        for position, element in enumerate(elements):
            found = self._logger_of(element)
            if isinstance(found, Refused):
                refused = refused or found
            elif found is not None:
                loggers.append(found)
                positions.append(position)
        if not loggers and refused is None:
            return None
        statement = self.resolver.statement_of(usage.call)
        site = _Site(usage, statement, loggers, positions if listed else None, fabric=fabric)
        problem = self._placement_problem(usage, statement)
        site.refused = Refused("TL002", problem, usage) if problem else refused
        return site

    def _logger_of(self, element: cst.BaseExpression) -> _Logger | Refused | None:
        """The tracker logger an item of ``logger=`` is: a call, or a name assigned once."""
        if isinstance(element, cst.Call) and id(element) in self._logger_usages:
            usage = self._logger_usages[id(element)]
            return _Logger(usage, LOGGER_CLASSES[usage.path.key])
        if not isinstance(element, cst.Name) or id(element) in self._followed_refs:
            return None
        path = self.resolver.name_path(element)
        if path is None or path.kind not in TRACKER_OF:
            return None
        assign = self._single_assignment(element)
        if assign is None or id(assign.value) not in self._logger_usages:
            return Refused(
                "TL001",
                f"{element.value} is not one {CLASS_OF[path.kind]}(...) assigned once in this "
                "function (a parameter, several assignments, a conditional expression)",
                Usage(element, path, Role.ARG),
            )
        usage = self._logger_usages[id(assign.value)]
        return _Logger(usage, LOGGER_CLASSES[usage.path.key], assign)

    def _single_assignment(self, name: cst.Name) -> cst.Assign | None:
        """The ``name = ...`` statement a name refers to, when it is the only one."""
        referents = self.resolver.referents(name)
        if len(referents) != 1:
            return None
        (assignment,) = referents
        target = getattr(assignment, "node", None)
        assign = self.resolver.parent(self.resolver.parent(target)) if target is not None else None
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
            return assign
        return None

    def _placement_problem(self, usage: Usage, statement: cst.BaseStatement) -> str | None:
        block = self.resolver.parent(statement)
        if not isinstance(statement, cst.SimpleStatementLine) or not isinstance(
            block, cst.IndentedBlock | cst.Module
        ):
            return "the Trainer is created where tracelet.start_logging cannot be put before it"
        if self.get_metadata(ScopeProvider, usage.node, None) is not self.get_metadata(
            ScopeProvider, statement, None
        ):
            return "the Trainer is created inside a lambda or comprehension"
        return None

    # ------------------------------------------------------------------ planning
    def _plan(self, site: _Site) -> None:
        try:
            for logger in site.loggers:
                self._check_logger(site, logger)
            mapped = [self._mapped(logger) for logger in site.loggers]
            if site.fabric:
                check_fabric_logging(self.module, site.statement, site)
            site.start = self._start_statement(site, mapped)
            self._plan_stop(site)
        except Refused as refused:
            site.refused = refused
            return
        if site.fabric:
            return
        first = site.positions is None or site.positions[0] == 0
        if first and literal(_keyword(site.call, "enable_checkpointing")) is not False:
            site.notes.append(
                "checkpoints of a ModelCheckpoint without dirpath now go to "
                "<default_root_dir>/checkpoints instead of the logger's folder"
            )
        site.notes.extend(self.writer_note())

    def _check_logger(self, site: _Site, logger: _Logger) -> None:
        trackers = [other.kind for other in site.loggers]
        if trackers.count(logger.kind) > 1:
            raise Refused(
                "TL002",
                f"two {CLASS_OF[logger.kind]}s on one Trainer make two runs; a tracelet run is one",
                logger.usage,
            )
        if logger.assign is not None:
            self._check_moved(site, logger)
        self._check_wandb_run(site.statement, logger)

    def _check_wandb_run(self, statement: cst.CSTNode, logger: _Logger) -> None:
        """A WandbLogger logs into a ``wandb.init`` run of the file, or keeps logging into
        its first run when made again in a loop: tracelet would start runs of its own."""
        if logger.kind == WANDB_LOGGER:
            names = self.resolver.collected.all_names
            attributes = self.resolver.collected.attributes
            if "wandb" in names and "init" in attributes:
                raise Refused(
                    "TL002",
                    "this file calls wandb.init itself and WandbLogger logs into that run: "
                    "migrate it with --from wandb first",
                    logger.usage,
                )
            if self._in_loop(statement) and "finish" not in attributes:
                raise Refused(
                    "TL002",
                    "a WandbLogger created in a loop keeps logging into the first W&B run "
                    "(no wandb.finish() in this file); tracelet would start one run per pass",
                    logger.usage,
                )

    def _check_moved(self, site: _Site, logger: _Logger) -> None:
        """A logger variable's arguments move to the Trainer: same function, assigned
        before it in an enclosing block, names not rebound in between."""
        assign = logger.assign
        assert assign is not None
        statement = self.resolver.parent(assign)
        target = assign.targets[0].target
        scope = self.get_metadata(ScopeProvider, site.statement, None)
        why = None
        if site.fabric and module_logger_for(self.get_metadata, logger, target):
            return
        if self.get_metadata(ScopeProvider, target, None) is not scope:
            why = f"is assigned outside the function that creates {site.what}"
        elif statement is site.statement or not self._encloses(statement, site.statement):
            why = f"is not assigned before {site.what} in a block that holds it"
        if why:
            raise Refused("TL001", f"{self.code(target)} {why}", logger.usage)
        start, end = self._line(statement), self._line(site.statement)
        for name in _names_in(logger.call):
            for assignment in scope.assignments[name] if scope is not None else ():
                node = getattr(assignment, "node", None)
                if node is not None and start < self._line(node) < end:
                    raise Refused(
                        "TL001",
                        f"{name} is assigned again between the logger and {site.what}",
                        logger.usage,
                    )

    def _encloses(self, statement: cst.CSTNode, later: cst.CSTNode) -> bool:
        block = self.resolver.parent(statement)
        current = self.resolver.parent(later)
        while current is not None:
            if current is block:
                return self._line(statement) < self._line(later)
            current = self.resolver.parent(current)
        return False

    def _in_loop(self, node: cst.CSTNode) -> bool:
        current = self.resolver.parent(node)
        while current is not None and not isinstance(current, cst.FunctionDef | cst.ClassDef):
            if isinstance(current, cst.For | cst.While):
                return True
            current = self.resolver.parent(current)
        return False

    # ------------------------------------------------------------------ arguments
    def _mapped(self, logger: _Logger) -> Mapped:
        try:
            return map_logger(self.module, logger.kind, logger.call)
        except Refused as refused:
            refused.usage = logger.usage
            raise

    # ------------------------------------------------------------------ start / stop
    def _targets_for(self, site: _Site) -> list[str]:
        if self.auto_targets:
            return list(dict.fromkeys(logger.tracker for logger in site.loggers))
        return self.targets

    def _start_statement(self, site: _Site, mapped: list[Mapped]) -> cst.SimpleStatementLine:
        targets = self._targets_for(site)
        args = self._merged_args(site, mapped)
        options: dict[str, dict[str, str]] = {}
        for logger, item in zip(site.loggers, mapped, strict=True):
            site.notes.extend(item.notes)
            if logger.tracker in targets:
                if item.options:
                    options[logger.tracker] = item.options
            elif item.options:
                site.notes.append(
                    f"{CLASS_OF[logger.kind]} options ({', '.join(item.options)}) dropped: "
                    f"not logging to {logger.tracker} any more"
                )
        logger = site.loggers[0]
        keep_layout = len(site.loggers) == 1 and (
            self.resolver.parent(self.resolver.parent(logger.assign))
            is self.resolver.parent(site.statement)
            if logger.assign is not None
            else not _multiline(logger.call)
        )
        moved = [(k, v) for k, v in args.items() if isinstance(v, cst.Arg)]
        if keep_layout:  # in the order the logger had them
            moved.sort(key=lambda item: logger.call.args.index(item[1]))
        ordered: list[tuple[str, cst.Arg | str]] = [
            *moved,
            *((k, v) for k, v in args.items() if isinstance(v, str)),
            ("backend", _literal_code(targets[0] if len(targets) == 1 else targets)),
        ]
        if options:
            ordered.append(("backend_options", _options_code(options)))
        if any(isinstance(v, str) and "os.environ" in v for _, v in ordered):
            site.imports.append("os")
        template = logger.call if keep_layout else cst.Call(func=expr("tracelet.start_logging"))
        call = call_with(
            template,
            expr("tracelet.start_logging"),
            [(k, v if isinstance(v, cst.Arg) else expr(v)) for k, v in ordered],
        )
        return cst.SimpleStatementLine([cst.Expr(call)])

    def _merged_args(self, site: _Site, mapped: list[Mapped]) -> dict[str, cst.Arg | str]:
        """One set of ``start_logging`` arguments from every logger of the Trainer: a value
        a logger gives wins over another logger's default; two given values must agree."""
        args: dict[str, cst.Arg | str] = {}
        defaulted: set[str] = set()
        for logger, item in zip(site.loggers, mapped, strict=True):
            for keyword, value in item.args.items():
                default = keyword in item.defaults
                if keyword not in args or (keyword in defaulted and not default):
                    if keyword in args:
                        site.notes.append(
                            f"{keyword} taken from {CLASS_OF[logger.kind]} for every tracker "
                            "(another logger used its default)"
                        )
                    args[keyword] = value
                    defaulted.discard(keyword)
                    if default:
                        defaulted.add(keyword)
                elif not default and _code(self.module, args[keyword]) != _code(self.module, value):
                    raise Refused(
                        "TL002",
                        f"the loggers give different {keyword} values; a tracelet run has one",
                        logger.usage,
                    )
        if len(site.loggers) > 1 and "project" in defaulted:
            args["project"] = DEFAULT_PROJECT
        return args

    def _plan_stop(self, site: _Site) -> None:
        if site.fabric:  # the Fabric object goes on to the training code: run to the end
            site.notes.append(f"{NOT_STOPPED}, as the logger's run did")
            return
        found = find_stop(self.resolver, self.get_metadata, site.usage, site.statement)
        if isinstance(found, str):
            site.notes.append(found)
        else:
            site.stop = found

    # ------------------------------------------------------------------ edits
    def _statement_edits(self, sites: list[_Site]) -> list[_Edit]:
        """The statements that get ``start_logging`` before or ``stop_logging`` after them;
        a stop that would end another Trainer's run refuses its site."""
        edits: dict[int, _Edit] = {}
        for site in sites:
            if site.refused is not None:
                continue
            edit = edits.setdefault(id(site.statement), _Edit(site.statement))
            if edit.start is not None:
                site.refused = Refused(
                    "TL002", "two Trainers with tracker loggers in one statement", site.usage
                )
                continue
            edit.start = site
        for site in sites:
            if site.refused is not None or site.stop is None:
                continue
            anchor, after = site.stop
            edit = edits.setdefault(id(anchor), _Edit(anchor))
            if edit.start is not None and edit.start is not site:
                line = self._line(edit.start.statement)
                site.refused = Refused(
                    "TL002",
                    f"the Trainer is still used where the Trainer on line {line} starts its run",
                    site.usage,
                )
                continue
            edit.stops.append(site)
            edit.before = not after
        return list(edits.values())

    def _add_site_decisions(self, site: _Site, edits: list[_Edit]) -> None:
        refused = site.refused
        marked = False
        line = self._line(site.statement)
        for logger in site.loggers:
            if refused is not None and refused.usage is logger.usage:
                if id(logger.usage.node) not in self._refused_loggers:
                    self._refused_loggers.add(id(logger.usage.node))
                    self.add_site(logger.usage, self.left(refused.rule, refused.reason))
                marked = True
                continue
            if id(logger.usage.node) in self._refused_loggers:
                continue
            decision = Decision(
                report.REWRITTEN,
                FABRIC_LOGGER_RULE if site.fabric else RULE_OF[logger.kind],
                reason=f"moved into tracelet.start_logging before {site.what} (line {line})",
                uses_tracelet=False,
            )
            decision.remove = logger.assign
            self.add_site(logger.usage, decision)
        if refused is not None and not marked:
            self.add_site(refused.usage or site.usage, self.left(refused.rule, refused.reason))
            if refused.usage is None or refused.usage is site.usage:
                return
        decision = Decision(
            report.REWRITTEN,
            FABRIC_RULE if site.fabric else "LT003",
            reason=self._stop_reason(site),
            notes=site.notes,
            imports=site.imports,
            side_transforms=[(site.call, self._logger_arg_transform(site))],
        )
        for edit in edits:
            if edit.start is site:
                transform = _edit_transform(site.start, bool(edit.stops), edit.before)
                decision.transforms.insert(0, (edit.statement, transform))
            elif edit.start is None and edit.stops and edit.stops[0] is site:
                transform = _edit_transform(None, True, edit.before)
                decision.side_transforms.append((edit.statement, transform))
        self.add_site(site.usage, decision)

    def _stop_reason(self, site: _Site) -> str:
        if site.fabric:
            return (
                "run started before Fabric, which has the tracker loggers no more: what "
                "fabric.log / fabric.log_dict hand its loggers reaches the run"
            )
        if site.stop is None:
            return "run started before the Trainer"
        anchor, after = site.stop
        position = self.get_metadata(PositionProvider, anchor)
        where = f"after line {position.end.line}" if after else f"before line {position.start.line}"
        return f"run started before the Trainer, stopped {where}"

    def _logger_arg_transform(self, site: _Site):
        index = next(
            i for i, a in enumerate(site.call.args) if a.keyword and a.keyword.value == site.keyword
        )
        positions = set(site.positions or ())
        # a Trainer without loggers is logger=False; Fabric takes a list (or None)
        bare, emptied = ("None", "[]") if site.fabric else ("False", "False")

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            arg = updated.args[index]
            value = arg.value
            if site.positions is None or not isinstance(value, cst.List | cst.Tuple):
                new_value: cst.BaseExpression = cst.Name(bare)
            else:
                kept = [e for i, e in enumerate(value.elements) if i not in positions]
                if not kept:
                    new_value = expr(emptied)
                else:
                    last_comma = value.elements[-1].comma
                    if isinstance(value, cst.Tuple) and len(kept) == 1:
                        last_comma = cst.Comma()
                    kept[-1] = kept[-1].with_changes(comma=last_comma)
                    new_value = value.with_changes(elements=kept)
            args = list(updated.args)
            args[index] = arg.with_changes(value=new_value)
            return updated.with_changes(args=args)

        return transform

    # ------------------------------------------------------------------ followed names
    def _add_followed(self, name: Followed) -> set[int]:
        """Decide a logger name followed to where its loggers are made
        (:mod:`tracelet.codemods.lightning_follow`); the ids of the reads it decided."""
        decisions = []
        try:
            for made in name.made:
                decisions.append((made.usage, self._made_decision(name, made)))
        except Refused as refused:
            line = self._line(refused.usage.node)
            for made in name.made:
                if made.usage is refused.usage:
                    self.add_site(made.usage, self.left(refused.rule, refused.reason))
                else:
                    why = f"{name.name} also holds the logger on line {line}, which is left"
                    self.add_site(made.usage, self.left("TL001", why))
            decisions = []
        for usage, decision in decisions:
            self.add_site(usage, decision)
        for call in name.hyperparams:
            usage = Usage(call, Path(TRAINER, ("logger", "log_hyperparams")), Role.CALL)
            self.add_site(usage, self._hyperparams_decision(call, bool(decisions)))
        versions = {id(node) for node in name.versions}
        for usage in self._logger_refs:
            if id(usage.node) in versions:
                self.add_site(usage, self._version_decision(usage, bool(decisions)))
        return name.refs | versions

    def _made_decision(self, name: Followed, made: Made) -> Decision:
        logger = _Logger(made.usage, LOGGER_CLASSES[made.usage.path.key], made.assign)
        site = _Site(made.usage, made.statement, [logger], None)
        for statement in [made.statement, *(self.resolver.statement_of(t) for t in name.trainers)]:
            self._check_wandb_run(statement, logger)
        start = self._start_statement(site, [self._mapped(logger)])
        if any(literal(_keyword(t, "enable_checkpointing")) is not False for t in name.trainers):
            site.notes.append(
                "checkpoints of a ModelCheckpoint without dirpath now go to "
                "<default_root_dir>/checkpoints instead of the logger's folder"
            )
        site.notes.extend(self.writer_note())
        site.notes.append(f"{NOT_STOPPED}, as the logger's run did")
        lines = ", ".join(str(line) for line in sorted({self._line(t) for t in name.trainers}))
        when = "" if made.test is None else " when the logger would be made"
        given = f"{name.name} returns False" if name.returned else f"{name.name} = False"
        if name.elsewhere:
            callee, call = name.elsewhere[0]
            return Decision(
                report.REWRITTEN,
                "LT006",
                reason=f"tracelet.start_logging{when}; {given} to {callee}() (line "
                f"{self._line(call)}), which gives it to its Trainer",
                notes=site.notes,
                imports=site.imports,
                transforms=[(made.statement, _made_transform(start, made))],
            )
        return Decision(
            report.REWRITTEN,
            "LT004",
            reason=f"tracelet.start_logging{when}; {given} to the Trainer (line {lines})",
            notes=site.notes,
            imports=site.imports,
            transforms=[(made.statement, _made_transform(start, made))],
        )

    def _version_decision(self, usage: Usage, rewritten: bool) -> Decision:
        if not rewritten:
            return self.left("TL001", "the WandbLogger it reads is left", todo=False)
        return Decision(
            report.REWRITTEN,
            "LT005",
            reason="WandbLogger.version is the id given to the logger until it starts its "
            "run: None",
            transforms=[(usage.node, lambda _: cst.Name("None"))],
            uses_tracelet=False,
        )

    # ------------------------------------------------------------------ other modules
    def _check_received_loggers(self, trainers: set[int]) -> None:
        """Loggers other modules hand this module's functions for their Trainers (the
        program decision followed the calls): a parameter that goes anywhere but
        ``Trainer(logger=...)``, or to a Trainer the W&B run cannot be moved to, is left,
        which keeps the callers' loggers (:mod:`tracelet.codemods.runner` drops the follow
        into a module with anything left)."""
        functions = {
            node.name.value: node
            for node in self.module.body
            if isinstance(node, cst.FunctionDef) and not node.decorators
        }
        for (function, name), kind in self.resolver.program.params.items():
            received = received_kinds(kind)
            if received is None:
                continue
            func = functions.get(function)
            params = func.params if func is not None else None
            every = (
                [*params.posonly_params, *params.params, *params.kwonly_params] if params else []
            )
            param = next((p for p in every if p.name.value == name), None)
            found = (
                param_trainers(self.resolver, self.get_metadata, param, trainers) if param else None
            )
            usage = Usage(param.name if param else self.module, Path(kind), Role.OTHER)
            if found is None:
                self.add_site(
                    usage,
                    self.left(
                        "TL001",
                        f"the {' / '.join(sorted(CLASS_OF[k] for k in received))} another "
                        f"module passes to {function}({name}=...) goes elsewhere than "
                        "Trainer(logger=...) here; the callers keep their loggers",
                    ),
                )
                continue
            try:
                for trainer in found:
                    for kind_received in received:
                        logger = _Logger(usage, kind_received)
                        self._check_wandb_run(self.resolver.statement_of(trainer), logger)
            except Refused as refused:
                self.add_site(usage, self.left(refused.rule, refused.reason))

    def _hyperparams_decision(self, call: cst.Call, rewritten: bool) -> Decision:
        """``trainer.logger.log_hyperparams(p)`` on the Trainer another module's function
        made with the migrated logger: the W&B run's config gets ``p`` as
        ``WandbLogger.log_hyperparams`` gives it (``config.update(p, allow_val_change=True)``);
        a Trainer that got Lightning's default logger still has it."""
        if not rewritten:
            return self.left("LT100", f"{self._statement_code(call)}: the logger is left")
        method = call.func
        assert isinstance(method, cst.Attribute)
        test = cst.Comparison(
            method.value.deep_clone(), [cst.ComparisonTarget(cst.Is(), cst.Name("None"))]
        )
        tracked = expr("tracelet.get_active_experiment().config.update(P, allow_val_change=True)")
        assert isinstance(tracked, cst.Call)
        params = tracked.args[0].with_changes(value=call.args[0].value.deep_clone())
        tracked = tracked.with_changes(args=[params, tracked.args[1]])
        line = self.resolver.statement_of(call)

        def transform(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.SimpleStatementLine)
            return cst.If(
                test=test,
                body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Expr(tracked)])]),
                orelse=cst.Else(cst.IndentedBlock([updated.with_changes(leading_lines=[])])),
                leading_lines=updated.leading_lines,
            )

        return Decision(
            report.REWRITTEN,
            "LT007",
            reason="the W&B run's config, as WandbLogger.log_hyperparams updates it, when the "
            "Trainer has no logger (the migrated WandbLogger); else the Trainer's own logger",
            transforms=[(line, transform)],
        )

    # ------------------------------------------------------------------ other uses
    def _site_refs(self, site: _Site) -> list[cst.CSTNode]:
        """The logger names a Trainer's ``logger=`` holds (consumed by its migration)."""
        return [e for e in _items(_keyword(site.call, site.keyword)) if isinstance(e, cst.Name)]

    def _unconsumed(self, usage: Usage) -> Decision:
        name = CLASS_OF[LOGGER_CLASSES[usage.path.key]]
        fabric = self._fabric_use(usage)
        if fabric is not None:
            return self.left("TL001", _fabric_reason(f"this {name}", self._line(fabric)))
        if usage.role == Role.RETURN:
            return self.left("TL001", self._returned_reason(usage, name))
        passed = self._passed_to(usage)
        if passed is not None:
            callee, imported, arg = passed
            call = self.resolver.parent(arg)
            assert isinstance(call, cst.Call)
            made = [
                made_elsewhere(self.resolver, self.get_metadata, other.value)
                for other in call.args
                if other is not arg
            ]
            other = next((m for m in made if m), None)
            where = (
                "a logger is followed into a function of this file only when its "
                "parameter goes nowhere but Trainer(logger=...)"
                if not imported
                else f"a function of {imported.rpartition('.')[0]}, and what {other}() makes "
                "goes to the same call: an object of another module's code may reach the "
                "Trainer and read its logger (a callback calling pl_module.logger.log_metrics), "
                "which the codemod does not follow; the logger is followed only along objects "
                "of this file, Lightning, torch or the standard library"
                if other
                else f"a function of {imported.rpartition('.')[0]}: it is followed there when "
                "that module is migrated with this one (give migrate their folder), the "
                "parameter goes nowhere but Trainer(logger=...), nothing there is left and "
                "whatever the call returns has no .logger read but .logger.log_hyperparams(p)"
            )
            return self.left(
                "TL001",
                f"this {name} is passed to {callee}: {where}; else write "
                "tracelet.start_logging(...) with its arguments where it is made and pass "
                "logger=False, once nothing reads trainer.logger / pl_module.logger",
            )
        if usage.role == Role.BIND and simple_binding_target(usage):
            return self.left(
                "TL001",
                f"this {name} does not reach a Trainer(logger=...) in the same function, "
                "directly or as a list item",
            )
        return self.left(
            "TL001",
            f"this {name} is {self._where(usage)}; only a logger given to Trainer(logger=...) "
            "in the same function is migrated",
        )

    def _reads(self, usage: Usage) -> list[cst.CSTNode]:
        """The logger call, or every read of the plain name it is bound to."""
        nodes = [usage.node]
        context = usage.context
        if usage.role == Role.BIND and isinstance(context, cst.Assign):
            target = context.targets[0].target
            scope = self.get_metadata(ScopeProvider, target, None)
            if isinstance(target, cst.Name) and scope is not None:
                for assignment in scope.assignments[target.value]:
                    if getattr(assignment, "node", None) is target:
                        nodes.extend(access.node for access in assignment.references)
        return nodes

    def _passed_to(self, usage: Usage) -> tuple[str, str | None, cst.Arg] | None:
        """``generic_train() on line 613`` for a logger name passed to a function, with the
        qualified name it is imported as (None: not imported) and the argument."""
        for node in self._reads(usage)[1:]:
            arg = self.resolver.parent(node)
            call = self.resolver.parent(arg) if isinstance(arg, cst.Arg) else None
            if isinstance(call, cst.Call) and id(call) not in self._fabric_calls:
                trainer = any(u.node is call for u in self._trainer_usages)
                if not trainer:
                    callee = f"{self.code(call.func)}() on line {self._line(call)}"
                    return callee, self.resolver.imported_callee(arg), arg
        return None

    def _fabric_use(self, usage: Usage) -> cst.Call | None:
        """The ``Fabric(loggers=...)`` call a logger, or the name it is bound to, goes to."""
        for node in self._reads(usage):
            parent = self.resolver.parent(node)
            if isinstance(parent, cst.Element):
                parent = self.resolver.parent(self.resolver.parent(parent))
            if isinstance(parent, cst.Arg) and parent.keyword and parent.keyword.value == "loggers":
                call = self.resolver.parent(parent)
                if id(call) in self._fabric_calls:
                    return call
        return None

    def _returned_reason(self, usage: Usage, name: str) -> str:
        function = self.resolver.parent(usage.context or usage.node)
        while function is not None and not isinstance(function, cst.FunctionDef):
            function = self.resolver.parent(function)
        if function is None:
            return f"this {name} is returned where the codemod cannot follow it"
        calls = self.resolver.calls_of(function)
        where = (
            "no code of the migrated files calls it, so where the logger goes is not known "
            "(a caller may give it to Fabric(loggers=...) or read its attributes); migrate its "
            "callers with it"
            if calls == []
            else "its result is not given straight to Trainer(logger=...)"
        )
        return (
            f"this {name} is returned by {function.name.value}() and {where}; only a logger "
            "that reaches Trainer(logger=...) is migrated: there, write tracelet.start_logging("
            "...) with its arguments where the logger is made, and logger=False"
        )

    def _where(self, usage: Usage) -> str:
        return {
            Role.RETURN: "returned",
            Role.ARG: "passed to other code",
            Role.BIND: "stored where the codemod cannot follow it",
        }.get(usage.role, "used where the codemod cannot follow it")

    def _logger_ref_decision(self, usage: Usage) -> Decision:
        if usage.path.attrs:
            return self._logger_attribute_use(usage)
        fabric = self._fabric_use(usage)
        if fabric is not None:
            what = self.code(usage.node)
            return self.left("TL001", _fabric_reason(what, self._line(fabric)))
        if usage.role in (Role.ANNOTATION, Role.STATEMENT, Role.TEST):
            return self.silent()
        return self.left("TL001", self.escape_reason(usage))

    def _logger_attribute_use(self, usage: Usage) -> Decision:
        what = self._statement_code(usage.node)
        attrs = usage.path.attrs
        method = attrs[0]
        parent = self.resolver.parent(usage.node)
        if method in LOGGER_ATTRS and len(attrs) > 1:
            method = attrs[1]  # ``trainer.logger.log_hyperparams(...)``
        elif method in LOGGER_ATTRS and isinstance(parent, cst.Attribute):
            method = parent.attr.value  # ``pl_module.logger.log_metrics(...)``
        instead = _LOGGER_METHODS.get(
            method, "log with self.log, or call the tracelet experiment directly"
        )
        return self.left(
            "LT100",
            f"{what}: goes through the Trainer's tracker logger, which the migration removes; "
            f"{instead}",
        )

    def _module_logger_uses(self) -> list[cst.Attribute]:
        """``self.logger``, ``self.loggers``, ``trainer.logger`` ... in LightningModules,
        DataModules and Callbacks of this file (not in classes with a ``logger`` of their own)."""
        found: list[cst.Attribute] = []
        lightning: set[str] = set()
        for cls in self._classes():
            if not self._is_lightning_class(cls, lightning):
                continue
            lightning.add(cls.name.value)
            if (id(cls), "logger") in self.resolver.collected.self_attrs:
                continue
            found.extend(_logger_attributes(cls))
        return found

    def _classes(self) -> list[cst.ClassDef]:
        classes: list[cst.ClassDef] = []

        class Finder(cst.CSTVisitor):
            def visit_ClassDef(self, node: cst.ClassDef) -> None:
                classes.append(node)

        self.module.visit(Finder())
        return classes

    def _is_lightning_class(self, cls: cst.ClassDef, known: set[str]) -> bool:
        for base in cls.bases:
            if isinstance(base.value, cst.Name) and base.value.value in known:
                return True
            path = self.resolver.eval_path(base.value)
            if path is not None and path.attrs and path.attrs[-1] in LIGHTNING_CLASSES:
                return path.kind in self.ROOTS
        return False

    # ------------------------------------------------------------------ imports
    def owns_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        """Only imports of the logger classes and modules (the rest of Lightning stays)."""
        return bool(_owned_imports(node))

    def remove_import(self, node: cst.Import | cst.ImportFrom) -> bool:
        for module, name, asname in _owned_imports(node):
            RemoveImportsVisitor.remove_unused_import(self.context, module, name, asname)
        return False

    # ------------------------------------------------------------------ small helpers
    def _statement_code(self, node: cst.CSTNode) -> str:
        """The statement holding ``node``, shortened, without the comments above it."""
        statement = self.resolver.statement_of(node)
        return self.code(statement.with_changes(leading_lines=[]))

    def _line(self, node: cst.CSTNode) -> int:
        return self.get_metadata(PositionProvider, node).start.line


def _owned_imports(node: cst.Import | cst.ImportFrom) -> list[tuple[str, str | None, str | None]]:
    """``(module, name, asname)`` for what an import brings in of the logger classes and
    the ``loggers`` modules (``from pytorch_lightning import loggers as pl_loggers``)."""
    found: list[tuple[str, str | None, str | None]] = []
    if isinstance(node, cst.Import):
        for alias in node.names:
            module = _dotted(alias.name)
            if module in LOGGER_MODULES:
                found.append((module, None, _asname(alias)))
        return found
    if node.module is None or node.relative or isinstance(node.names, cst.ImportStar):
        return found
    module = _dotted(node.module)
    for alias in node.names:
        name = _dotted(alias.name)
        if f"{module}.{name}" in LOGGER_CLASSES or f"{module}.{name}" in LOGGER_MODULES:
            found.append((module, name, _asname(alias)))
    return found


def _dotted(node: cst.BaseExpression) -> str:
    return cst.Module([]).code_for_node(node)


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
        return None
    return alias.asname.name.value


def _logger_attributes(cls: cst.ClassDef) -> list[cst.Attribute]:
    """``<x>.logger`` / ``<x>.loggers`` for ``x`` in ``self``, ``self.trainer``, ``trainer``,
    ``pl_module`` inside ``cls`` (nested classes excluded)."""
    found: list[cst.Attribute] = []

    class Finder(cst.CSTVisitor):
        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return node is cls

        def visit_Attribute(self, node: cst.Attribute) -> None:
            if node.attr.value not in LOGGER_ATTRS:
                return
            value = node.value
            owner = cst.Module([]).code_for_node(value)
            if owner in ("self", "self.trainer", "trainer", "pl_module", "self.pl_module"):
                found.append(node)

    cls.visit(Finder())
    return found


def _names_in(node: cst.CSTNode) -> set[str]:
    """Names read in an expression (attribute names and keywords excluded)."""
    names: set[str] = set()

    class Finder(cst.CSTVisitor):
        def visit_Attribute(self, node: cst.Attribute) -> bool:
            node.value.visit(self)
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            node.value.visit(self)
            return False

        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

    node.visit(Finder())
    return names


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    arg = next((a for a in call.args if a.keyword and a.keyword.value == name), None)
    return arg.value if arg is not None else None


def _items(value: cst.BaseExpression | None) -> list[cst.BaseExpression]:
    """The loggers ``logger=`` gives: a list's or tuple's items, or the value itself."""
    if isinstance(value, cst.List | cst.Tuple):
        return [element.value for element in value.elements]
    return [] if value is None else [value]


def _multiline(call: cst.Call) -> bool:
    return "\n" in cst.Module([]).code_for_node(call)


def _code(module: cst.Module, value: cst.Arg | str) -> str:
    return module.code_for_node(value.value) if isinstance(value, cst.Arg) else value


def _literal_code(value: str | list[str]) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return "[" + ", ".join(f'"{v}"' for v in value) + "]"


def _options_code(options: dict[str, dict[str, str]]) -> str:
    inner = ", ".join(
        f'"{tracker}": {{' + ", ".join(f'"{k}": {v}' for k, v in opts.items()) + "}"
        for tracker, opts in options.items()
    )
    return "{" + inner + "}"


def _fabric_reason(what: str, line: int) -> str:
    return (
        f"{what} goes to Fabric(loggers=...) (line {line}), whose tracker logger is left (see "
        "its reason); once it can move, tracelet.start_logging(...) before the Fabric and the "
        "logger off its loggers list carry what fabric.log / fabric.log_dict hand it"
    )


def _made_transform(start: cst.SimpleStatementLine, made: Made):
    """``name = Logger(...)`` -> ``tracelet.start_logging(...)``; ``name = False``
    (``return Logger(...)`` -> ``tracelet.start_logging(...)``; ``return False``).
    ``name = Logger(...) if c else C`` -> ``if c: tracelet.start_logging(...)``;
    ``name = False if c else C`` (the condition is free of side effects)."""

    def transform(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.SimpleStatementLine)
        assign = updated.body[0]
        assert isinstance(assign, cst.Assign | cst.Return)
        first: cst.BaseStatement = start
        value: cst.BaseExpression = cst.Name("False")
        if made.test is not None:
            choice = assign.value
            assert isinstance(choice, cst.IfExp)
            other = choice.body if made.negated else choice.orelse
            if not (isinstance(other, cst.Name) and other.value == "False"):
                value = choice.with_changes(**{"orelse" if made.negated else "body": value})
            test = made.test.deep_clone()
            if made.negated:
                if not is_dotted_name(test):
                    test = test.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
                test = cst.UnaryOperation(operator=cst.Not(), expression=test)
            first = cst.If(test=test, body=cst.IndentedBlock([start]))
        first = first.with_changes(leading_lines=updated.leading_lines)
        rest = updated.with_changes(leading_lines=[], body=[assign.with_changes(value=value)])
        return cst.FlattenSentinel([first, rest])

    return transform


def _edit_transform(start: cst.SimpleStatementLine | None, stop: bool, before: bool):
    """Put ``start`` (taking over the statement's comments) before a statement and
    ``tracelet.stop_logging()`` after it (before it, for a ``return``)."""

    def transform(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.BaseStatement)
        nodes: list[cst.BaseStatement] = []
        if start is not None:
            nodes.append(start.with_changes(leading_lines=updated.leading_lines))
            updated = updated.with_changes(leading_lines=[])
        stop_line = cst.SimpleStatementLine([cst.Expr(expr("tracelet.stop_logging()"))])
        if stop and before:
            nodes.append(stop_line)
        nodes.append(updated)
        if stop and not before:
            nodes.append(stop_line)
        return cst.FlattenSentinel(nodes)

    return transform


# what to write instead of a logger method, once the Trainer has no tracker logger
_LOGGER_METHODS = {
    "watch": "after the Trainer is created, call "
    "tracelet.get_active_experiment().watch(model, log=..., log_freq=...)",
    "log_hyperparams": "call tracelet.get_active_experiment().log_params(params)",
    "log_metrics": "call tracelet.get_active_experiment().log_metrics(metrics, step=...), or "
    "log them with self.log_dict in the LightningModule (a WandbLogger given no step logs a "
    "W&B row that its define_metric('*', step_metric='trainer/global_step', step_sync=True) "
    "puts at the last step Lightning logged, a step no tracelet call is given)",
    "log_image": "call tracelet.get_active_experiment().log_images(key, images, step=...)",
    "log_table": "call tracelet.get_active_experiment().log_table(key, rows, columns=..., "
    "step=...)",
    "log_text": "call tracelet.get_active_experiment().log_text(key, text, step=...)",
    "experiment": "call the tracelet experiment (tracelet.get_active_experiment()) with "
    "log_image / log_histogram / log_table / summary instead of the tracker's run",
    "version": "read tracelet.get_active_experiment().ids[<tracker>]",
    "run_id": "read tracelet.get_active_experiment().ids['mlflow']",
}
