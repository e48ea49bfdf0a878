"""Count tracker call sites in a file without the codemods: the corpus benchmark's denominator.

A *site* is one use of the tracker's API, counted at the outermost node of its chain:
``wandb.log(d)``, ``wandb.run.summary["acc"] = 1``, ``mlflow.pytorch.log_model(m, "m")``,
``run.log(d)`` where ``run = wandb.init(...)``, ``task.get_logger().report_scalar(...)``.
A tracker use inside another one's arguments (``wandb.log({"x": wandb.Image(a)})``) is a
site of its own. A bare reference to the tracker module that is not followed by an
attribute (``hasattr(mlflow, "x")``, ``wandb if flag else None``) is a site of kind
``reference``. Imports are not sites.

Handles are followed the simple way: a name, or ``self.<attr>``, assigned anywhere in the
file (or bound by ``with ... as``) becomes a root too when its value is a tracker object:
the module or one of its attributes (``wandb.run``, ``wandb.config``), or what a handle
factory returns (``wandb.init()``, ``mlflow.start_run()``, ``Task.init()``,
``task.get_logger()``, ``wandb.Artifact()``, ...; either branch of ``a if c else b``).
Values a tracker call returns as plain data (``mlflow.log_model()``'s model info, a loaded
model, ``task.connect(d)``'s dict) are not followed. For ``lightning`` only the logger
classes (``WandbLogger``, ``MLFlowLogger``, imported from Lightning) and their handles
count, not the rest of Lightning.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass

MODULES = {"wandb": ("wandb",), "mlflow": ("mlflow",), "clearml": ("clearml", "trains")}
LIGHTNING_MODULES = ("lightning", "pytorch_lightning")
LIGHTNING_LOGGERS = frozenset({"WandbLogger", "MLFlowLogger"})
SELF_NAMES = frozenset({"self", "cls"})
# calls whose result is a tracker object (a run, task, logger, client, artifact, table)
HANDLE_FACTORIES = {
    "wandb": frozenset({"init", "Artifact", "Table", "use_artifact", "Api"}),
    "mlflow": frozenset({"start_run", "active_run", "get_run", "MlflowClient"}),
    "clearml": frozenset(
        {"init", "current_task", "get_task", "get_logger", "current_logger", "get", "create"}
    ),
    "lightning": LIGHTNING_LOGGERS,
}


@dataclass(frozen=True)
class Site:
    line: int
    kind: str  # "call", "attribute" or "reference"
    code: str


def scan(source: str | bytes, tracker: str) -> list[Site]:
    """Every tracker site in one module's source, in line order."""
    tree = ast.parse(source)
    finder = _Finder(tracker, tree)
    finder.visit(tree)
    return sorted(finder.sites, key=lambda s: s.line)


def count_by_line(sites: list[Site]) -> Counter[int]:
    return Counter(site.line for site in sites)


def _top(module: str) -> str:
    return module.split(".", 1)[0]


class _Finder(ast.NodeVisitor):
    def __init__(self, tracker: str, tree: ast.Module):
        self.tracker = tracker
        self.source_modules = MODULES.get(tracker, ())
        self.modules: set[str] = set()  # names bound to the tracker module itself
        self.roots: set[str] = set()  # names (or self.attr) whose chains are sites
        self.lightning: set[str] = set()  # names bound to a Lightning module (pl, loggers)
        self.sites: list[Site] = []
        self._imports(tree)
        self._handles(tree)

    def _imports(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    top = _top(alias.name)
                    bound = alias.asname or top
                    if top in self.source_modules:
                        self.modules.add(bound)
                        self.roots.add(bound)
                    elif top in LIGHTNING_MODULES:
                        self.lightning.add(bound)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = _top(node.module)
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if top in self.source_modules:
                        self.roots.add(bound)
                    elif top in LIGHTNING_MODULES:
                        if alias.name in LIGHTNING_LOGGERS and self.tracker == "lightning":
                            self.roots.add(bound)
                        else:
                            self.lightning.add(bound)

    def _handles(self, tree: ast.Module) -> None:
        bindings: list[tuple[ast.expr, ast.expr]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                bindings += [(target, node.value) for target in node.targets]
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                bindings.append((node.target, node.value))
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                bindings += [
                    (item.optional_vars, item.context_expr)
                    for item in node.items
                    if item.optional_vars is not None
                ]
        changed = True
        while changed:
            changed = False
            for target, value in bindings:
                key = _key(target)
                if key and key not in self.roots and self._uses_tracker(value):
                    self.roots.add(key)
                    changed = True

    def _uses_tracker(self, value: ast.expr) -> bool:
        """Whether ``value`` evaluates to a tracker object (either branch of ``a if c else
        b``, any operand of ``a or b``)."""
        if isinstance(value, ast.IfExp):
            return self._uses_tracker(value.body) or self._uses_tracker(value.orelse)
        if isinstance(value, ast.BoolOp):
            return any(self._uses_tracker(v) for v in value.values)
        if isinstance(value, ast.Await):
            return self._uses_tracker(value.value)
        if isinstance(value, ast.Call):
            func = value.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            return name in HANDLE_FACTORIES[self.tracker] and self._site_root(value)
        return isinstance(value, ast.Name | ast.Attribute) and self._site_root(value)

    def _site_root(self, node: ast.expr) -> bool:
        """Whether the chain ending at ``node`` is a tracker use."""
        spine = _spine(node)
        base = spine[0]
        if not isinstance(base, ast.Name):
            return False
        attrs = [n.attr for n in spine[1:] if isinstance(n, ast.Attribute)]
        if base.id in SELF_NAMES and attrs and f"{base.id}.{attrs[0]}" in self.roots:
            return len(spine) > 2  # ``self.run`` alone is the handle, not a use of it
        if base.id in self.roots:
            return True
        return (
            self.tracker == "lightning"
            and base.id in self.lightning
            and any(a in LIGHTNING_LOGGERS for a in attrs)
        )

    def generic_visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _key(node):
            return  # ``self.run = ...``: binding a handle is not a use
        if isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)) and self._site_root(node):
            kind = "call" if isinstance(node, ast.Call) else "attribute"
            self._add(node, kind)
            for part in _spine(node):
                for child in _side_children(part):
                    self.visit(child)
            return
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id in self.modules
        ):
            self._add(node, "reference")
            return
        super().generic_visit(node)

    def _add(self, node: ast.expr, kind: str) -> None:
        code = ast.unparse(node)
        self.sites.append(Site(node.lineno, kind, code if len(code) < 80 else code[:77] + "..."))


def _spine(node: ast.expr) -> list[ast.expr]:
    """``a.b(c).d[e]`` -> [a, a.b, a.b(c), a.b(c).d, a.b(c).d[e]]."""
    chain = [node]
    while True:
        current = chain[-1]
        if isinstance(current, ast.Attribute | ast.Subscript):
            chain.append(current.value)
        elif isinstance(current, ast.Call):
            chain.append(current.func)
        else:
            return chain[::-1]


def _side_children(node: ast.expr) -> list[ast.AST]:
    if isinstance(node, ast.Call):
        return [*node.args, *(k.value for k in node.keywords)]
    if isinstance(node, ast.Subscript):
        return [node.slice]
    return []


def _key(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id in SELF_NAMES
    ):
        return f"{target.value.id}.{target.attr}"
    return None
