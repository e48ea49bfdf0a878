"""``wandb.config`` and ``run.config`` -> ``experiment.config`` (a
:class:`tracelet.config.RunConfig`).

======================================================  =========================================
source                                                  migrated
======================================================  =========================================
``config = wandb.config``, ``wandb.config.lr``          ``config = tracelet.get_active_experiment()
                                                        .config``, ``...config.lr``
``run.config[k] = v``, ``wandb.config.k = v``           ``run.config[k] = v`` (the run is the
                                                        experiment), ``....config.k = v``
``config.update(d, allow_val_change=...)``, ``.get``,   the same call on ``experiment.config``
``.keys()``, ``.items()``, ``k in config``,
``dict(config)``
======================================================  =========================================

``experiment.config`` reads back what the program set (``start_logging(config=...)``
included) and logs what is set as W&B's ``wandb.config`` does, so every read and write
keeps its meaning, except under a W&B sweep, whose agent sets the values before the
program reads them: tracelet does not run sweeps (``wandb.sweep`` / ``wandb.agent`` stay
left, WB104). ``as_dict()``, ``setdefaults()`` and the other ``wandb.Config`` methods are
left with what to write instead; a config passed to code the file does not define is left
(the codemod cannot see what that code does with it).
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedNameProvider

from tracelet.codemods.base import Decision, TrackerCodemod
from tracelet.codemods.cstutil import bind_args, expr
from tracelet.codemods.resolve import Role, Usage, simple_binding_target

CONFIG = "wandb:config"
CONFIG_FACTORIES = {"wandb.config": CONFIG, "wandb:run.config": CONFIG}
CONFIG_METHODS = frozenset({"update", "get", "keys", "items"})
OTHER_METHODS = {
    "as_dict": "write dict(experiment.config)",
    "setdefaults": "set the keys that are not `in experiment.config` yourself",
    "persist": "setting a key logs it already; drop the call",
}
# builtins that only read a mapping: the view gives them what wandb.Config gives
READING_BUILTINS = frozenset(
    {"dict", "list", "sorted", "len", "print", "str", "repr", "iter", "getattr", "hasattr"}
)


class WandbConfig(TrackerCodemod):
    """The ``wandb.config`` rewrites of the W&B codemod (see the module docstring)."""

    def config_object(self, usage: Usage) -> Decision:
        """``wandb.config`` / ``run.config`` itself: the experiment's config in its place."""
        if usage.path.is_object:  # the run variable now holds the experiment
            transform = _unchanged
        else:
            code = f"{self.experiment_code(usage.node)}.config"
            transform = lambda _: expr(code)  # noqa: E731
        if usage.role == Role.RECEIVER:
            return self.rewrite("WB016", usage.node, transform, report_it=False)
        if usage.role == Role.SUBSCRIPT_STORE:
            return self.rewrite("WB004", usage.node, transform)
        if usage.role == Role.STORE:  # `wandb.config = ...` replaces the module attribute
            return self.left("TL002", f"{self.code(usage.node)} is replaced: set its keys")
        if self._followed(usage):
            return self.rewrite("WB016", usage.node, transform)
        return self.left("TL001", self._escape(usage))

    def config_use(self, usage: Usage) -> Decision | None:
        """``config.lr``, ``config.lr = v``, ``config.update(d)``, ``config[k]`` on a name or
        attribute that holds the config (``config = wandb.config``)."""
        attrs = usage.path.attrs
        if not attrs:
            if usage.role == Role.SUBSCRIPT_STORE:
                return self.rewrite("WB004", usage.node, _unchanged)
            if usage.role == Role.SUBSCRIPT_READ or self._reading_builtin(usage):
                return self.rewrite("WB016", usage.node, _unchanged)
            if usage.role == Role.DELETE:
                return self.left("TL002", "wandb's config cannot delete a key either")
            return None  # bindings, tests, followed arguments: the default decision
        head = attrs[0]
        if head in OTHER_METHODS:
            return self.left("TL002", f"{self.describe(usage)}: {OTHER_METHODS[head]}")
        if head.startswith("_"):
            return self.left("TL002", f"{self.describe(usage)} is wandb.Config's own state")
        if head in CONFIG_METHODS and len(attrs) == 1 and usage.role == Role.CALL:
            if head == "update":
                bound = bind_args(usage.call, ("d", "allow_val_change"))
                if bound is None or bound.unknown or "d" not in bound:
                    return self.left("TL002", "config.update(d, allow_val_change=...) only")
                return self.rewrite("WB004", usage.node, _unchanged)
            return self.rewrite("WB016", usage.node, _unchanged)
        if len(attrs) == 1 and usage.role in (Role.STORE, Role.DELETE):
            if usage.role == Role.DELETE:
                return self.left("TL002", "wandb's config cannot delete a key either")
            return self.rewrite("WB004", usage.node, _unchanged)
        return self.rewrite("WB016", usage.node, _unchanged)  # a read of a key

    def _followed(self, usage: Usage) -> bool:
        role = usage.role
        return (
            role in (Role.TEST, Role.STATEMENT, Role.SUBSCRIPT_READ)
            or (role == Role.BIND and simple_binding_target(usage))
            or self._reading_builtin(usage)
            or (role == Role.ARG and self.resolver.arg_is_followed(usage))
            or (role == Role.RETURN and self.resolver.return_is_followed(usage))
        )

    def _reading_builtin(self, usage: Usage) -> bool:
        """``dict(config)``, ``print(wandb.config)``, ``"lr" in config``, ``f(**config)``."""
        context = usage.context
        if usage.role == Role.OTHER and isinstance(context, cst.ComparisonTarget):
            return isinstance(context.operator, cst.In | cst.NotIn)
        if usage.role == Role.OTHER and isinstance(context, cst.StarredDictElement):
            return True  # {**config}: the keys and values, as wandb.config gives them
        if usage.role != Role.ARG or not isinstance(context, cst.Arg) or context.star == "*":
            return False
        if context.star == "**":
            return True  # f(**config) passes the values, not the config
        call = self.resolver.parent(context)
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name)):
            return False
        name = call.func.value
        return name in READING_BUILTINS and any(
            q.name == f"builtins.{name}"
            for q in self.get_metadata(QualifiedNameProvider, call.func)
        )

    def _escape(self, usage: Usage) -> str:
        return (
            self.escape_reason(usage).split(";")[0]
            + "; experiment.config answers attribute and item access, get, keys, items, "
            "update and `in` as wandb.config does: pass it where that is all the code uses"
        )


def _unchanged(updated: cst.CSTNode) -> cst.CSTNode:
    return updated
