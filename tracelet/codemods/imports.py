"""``import tracelet`` in, unused tracker imports out, after a file was migrated.

libcst's ``AddImportsVisitor`` and ``RemoveImportsVisitor`` do this for any file, but each
resolves scope metadata again and walks the whole tree: on a training script they cost
twice the migration itself. So the usual case is done here directly, and everything
else is left to those visitors:

* every import of the tracker is a statement of its own, outside ``try`` (the try case
  is never removed anyway, see :mod:`~tracelet.codemods.base`);
* an import is removed when, after the rewrite, no name it binds appears in the rest of
  the module: no name token (attribute names such as ``args.wandb`` do not count) and no
  string that could be a type annotation naming it (``"wandb.sdk.Run"``). The search is
  over the whole module, not the import's scope, so an import is sometimes kept that
  libcst would remove; never the other way round.

An import may sit at any depth (``import wandb`` inside a function or an ``if``); a block
it leaves empty gets ``pass``. ``import tracelet`` takes the place of the first removed
top-level tracker import, keeping its comments and blank lines, else goes where libcst
puts it (after the imports that open the module). ``import wandb, os``, two statements on
one line and star imports return ``None``, and the caller runs the libcst visitors.
"""

from __future__ import annotations

import io
import re
import tokenize

import libcst as cst

from tracelet.codemods.cstutil import expr


def fast_imports(
    module: cst.Module, tracker_imports: list[cst.CSTNode], add_tracelet: bool
) -> cst.Module | None:
    """The module with its imports fixed, or ``None`` when the libcst visitors must do it."""
    ids = {id(node) for node in tracker_imports}
    finder = _ImportStatements(ids)
    module.visit(finder)
    statements = finder.found
    if len(statements) != len(ids) or any(len(s.body) != 1 for s, _ in statements):
        return None
    names_by_statement = {id(s): _bound_names(s.body[0]) for s, _ in statements}
    if any(name == "*" for names in names_by_statement.values() for name, _ in names):
        return None
    names, annotations = _names_in(module.visit(_Remove(set(names_by_statement))).code)

    def used(name: str, is_module: bool) -> bool:
        mention = f"{name}." if is_module else name
        return name in names or any(_mentions(t, mention) for t in annotations)

    unused = []
    for statement, top in statements:
        uses = {used(*bound) for bound in names_by_statement[id(statement)]}
        if uses == {True, False}:  # `import wandb, os` with os still used: libcst splits it
            return None
        if uses == {False}:
            unused.append((statement, top))
    add_tracelet = add_tracelet and not _imports_tracelet(module)
    in_place = next((s for s, top in unused if top), None) if add_tracelet else None
    remove = {id(s) for s, _ in unused} - {id(in_place)}
    fixed = module.visit(_Remove(remove)) if remove else module
    if in_place is not None:
        replacement = _import_tracelet(in_place.leading_lines)
        return fixed.with_changes(body=[replacement if s is in_place else s for s in fixed.body])
    if add_tracelet:
        return _insert_after_top_imports(fixed, _import_tracelet(()))
    return fixed


class _ImportStatements(cst.CSTVisitor):
    """The statement lines holding the given import nodes (and whether each is at the
    top level); the walk stays on statements, never entering an expression."""

    def __init__(self, ids: set[int]):
        self.ids = ids
        self.found: list[tuple[cst.SimpleStatementLine, bool]] = []
        self._depth = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.SimpleStatementLine):
            if _holds(node, self.ids):
                self.found.append((node, self._depth == 0))
            return False
        if isinstance(node, cst.BaseCompoundStatement):
            self._depth += 1
        return isinstance(node, _STATEMENT_CONTAINERS)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, cst.BaseCompoundStatement):
            self._depth -= 1


class _Remove(cst.CSTTransformer):
    """Drop statement lines by id; their comments move to the next statement of the block
    (or become the block's footer), and a block left empty gets ``pass``."""

    def __init__(self, ids: set[int]):
        self.ids = ids

    def on_visit(self, node: cst.CSTNode) -> bool:
        return isinstance(node, _STATEMENT_CONTAINERS)

    def on_leave(self, original_node, updated_node):
        if not isinstance(updated_node, cst.Module | cst.IndentedBlock):
            return updated_node
        if not any(id(s) in self.ids for s in updated_node.body):
            return updated_node
        body: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []
        for statement in updated_node.body:
            if id(statement) in self.ids:
                carried.extend(line for line in statement.leading_lines if line.comment)
                continue
            if carried:
                statement = statement.with_changes(
                    leading_lines=[*carried, *statement.leading_lines]
                )
                carried = []
            body.append(statement)
        if not body and isinstance(updated_node, cst.IndentedBlock):
            body, carried = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)], []
        return updated_node.with_changes(body=body, footer=[*carried, *updated_node.footer])


def _insert_after_top_imports(module: cst.Module, statement: cst.SimpleStatementLine) -> cst.Module:
    """Where libcst's ``AddImportsVisitor`` puts a new import: after the imports that open
    the module (after its docstring), with a blank line before the next statement."""
    body = list(module.body)
    index = 1 if body and _is_docstring(body[0]) else 0
    while index < len(body) and _is_import_line(body[index]):
        index += 1
    if index < len(body) and (
        not body[index].leading_lines or body[index].leading_lines[0].comment is not None
    ):
        body[index] = body[index].with_changes(
            leading_lines=[cst.EmptyLine(), *body[index].leading_lines]
        )
    body.insert(index, statement)
    return module.with_changes(body=body)


def _is_docstring(statement: cst.BaseStatement) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or not statement.body:
        return False
    first = statement.body[0]
    if isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString):
        return True
    return (
        isinstance(first, cst.Assign)
        and len(first.targets) == 1
        and isinstance(first.targets[0].target, cst.Name)
        and first.targets[0].target.value == "__strict__"
    )


def _is_import_line(statement: cst.BaseStatement) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Import | cst.ImportFrom)
    )


_STATEMENT_CONTAINERS = (
    cst.Module,
    cst.BaseCompoundStatement,
    cst.BaseSuite,
    cst.Else,
    cst.Finally,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.MatchCase,
)


def _holds(statement: cst.SimpleStatementLine, ids: set[int]) -> bool:
    return any(id(small) in ids for small in statement.body)


def _bound_names(node: cst.BaseSmallStatement) -> list[tuple[str, bool]]:
    """``(name, is a module)`` for each name the import binds."""
    if not isinstance(node, cst.Import | cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
        return [("*", False)]
    bound = []
    for alias in node.names:
        target = alias.asname.name if alias.asname else alias.name
        while isinstance(target, cst.Attribute):
            target = target.value
        if isinstance(target, cst.Name):
            bound.append((target.value, isinstance(node, cst.Import)))
    return bound


_STRING_TOKENS = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
_FSTRING = re.compile(r"^[rRbBuU]?[fF]")
_WORD = re.compile(r"[A-Za-z_]\w*")
_ANNOTATION = re.compile(r"""^[rRuU]?(['"]{1,3})\s*[A-Za-z_][\w.\[\], |]*\s*\1$""")


def _names_in(code: str) -> tuple[set[str], list[str]]:
    """The names ``code`` uses (attribute names after a dot excluded), and its string
    literals that could be type annotations (``"wandb.sdk.Run"``, ``"Optional[Run]"``)."""
    names: set[str] = set()
    annotations: list[str] = []
    after_dot = False
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and not after_dot:
            names.add(token.string)
        elif token.type == tokenize.STRING and _FSTRING.match(token.string):
            # Before Python 3.12 an f-string is one token: every word in it may be a name.
            names.update(_WORD.findall(token.string))
        elif token.type in _STRING_TOKENS and _ANNOTATION.match(token.string):
            annotations.append(token.string)
        after_dot = token.type == tokenize.OP and token.string == "."
    return names, annotations


def _mentions(text: str, mention: str) -> bool:
    end = "" if mention.endswith(".") else r"(?!\w)"
    return re.search(r"(?<![\w.])" + re.escape(mention) + end, text) is not None


def _imports_tracelet(module: cst.Module) -> bool:
    return any(
        isinstance(small, cst.Import)
        and any(
            isinstance(a.name, cst.Name) and a.name.value == "tracelet" and a.asname is None
            for a in small.names
        )
        for statement in module.body
        if isinstance(statement, cst.SimpleStatementLine)
        for small in statement.body
    )


def _import_tracelet(leading_lines) -> cst.SimpleStatementLine:
    name = expr("tracelet")
    assert isinstance(name, cst.Name)
    return cst.SimpleStatementLine(
        [cst.Import(names=[cst.ImportAlias(name=name)])], leading_lines=leading_lines
    )
