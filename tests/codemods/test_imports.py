"""The fast import editor (``tracelet.codemods.imports``) against libcst's own visitors.

Where the fast path answers, it must decide exactly what ``AddImportsVisitor`` and
``RemoveImportsVisitor`` decide: the same imports removed and added, every other statement
unchanged, at any depth (an import inside a function or an ``if`` goes the same way).
Only placement differs, by design: ``import tracelet`` takes the place of the first
top-level tracker import (libcst appends it after the last top import; without a
top-level tracker import both put it there), and the comments above a removed import stay
(libcst drops them). Where the fast path cannot be sure it returns
``None`` and the caller runs the visitors.
"""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from tracelet.codemods.imports import fast_imports


def _root(node: cst.BaseExpression) -> str:
    return cst.Module([]).code_for_node(node).split(".")[0]


def _tracker_imports(module: cst.Module, tracker: str) -> list[cst.CSTNode]:
    """Every import of ``tracker`` in the module, at any depth (as the codemods collect them)."""
    found: list[cst.CSTNode] = []

    class Collect(cst.CSTVisitor):
        def visit_Import(self, node: cst.Import) -> None:
            if any(_root(alias.name) == tracker for alias in node.names):
                found.append(node)

        def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
            if node.module is not None and not node.relative and _root(node.module) == tracker:
                found.append(node)

    module.visit(Collect())
    return found


def _with_visitors(code: str, add_tracelet: bool) -> cst.Module:
    module = cst.parse_module(code)
    context = CodemodContext()
    if add_tracelet:
        AddImportsVisitor.add_needed_import(context, "tracelet")
    for node in _tracker_imports(module, "wandb"):
        RemoveImportsVisitor.remove_unused_import_by_node(context, node)
    for visitor in (AddImportsVisitor, RemoveImportsVisitor):
        module = visitor(context).transform_module(module)
    return module


def _fast(code: str, add_tracelet: bool) -> cst.Module | None:
    module = cst.parse_module(code)
    return fast_imports(module, _tracker_imports(module, "wandb"), add_tracelet)


def _decisions(module: cst.Module) -> tuple[list[str], list[str]]:
    """The module's import statements (as a sorted list) and its other statements (in order),
    each without the blank lines and comments above it."""
    imports, others = [], []
    for statement in module.body:
        bare = statement.with_changes(leading_lines=[])
        code = module.code_for_node(bare).strip()
        is_import = isinstance(statement, cst.SimpleStatementLine) and all(
            isinstance(small, cst.Import | cst.ImportFrom) for small in statement.body
        )
        (imports if is_import else others).append(code)
    return sorted(imports), others


DECIDED = {
    "only import": ("import wandb\n\ntracelet.log({})\n", True),
    "first import": ("import wandb\nimport os\n\nprint(os.getcwd())\n", True),
    "last import": ("import os\nimport wandb\n\ntracelet.log({})\n", True),
    "middle import": ("import os\nimport wandb\nimport sys\n\ntracelet.log({})\n", True),
    "nothing to add": ("import os\nimport wandb\nimport sys\n\nx = 1\n", False),
    "two forms": ("import wandb\nfrom wandb import init\n\ntracelet.log({})\n", True),
    "aliases": ("import wandb as wb\nfrom wandb import init as i\n\nx = 1\n", True),
    "submodule": ("import wandb.sdk\nimport numpy as np\n\ny = np.zeros(1)\n", True),
    "future import": ("from __future__ import annotations\n\nimport wandb\n\nf(1)\n", True),
    "docstring and comment": ('"""Doc."""\n# about wandb\nimport wandb\nimport os\n\nf()\n', True),
    "tracelet already imported": ("import tracelet\nimport wandb\n\ntracelet.log({})\n", True),
    "only a comment after": ("import wandb as wb\n\n# trailing\n", False),
    "attribute of the same name": ("import wandb\n\nif args.wandb:\n    f(args.wandb.x)\n", True),
    "name in a plain string": ('import wandb\n\nprint("use wandb here")\n', False),
    "name in a function": ("import wandb\n\n\ndef f(run):\n    return run.wandb_id\n", True),
    "import in a function": ("import os\n\n\ndef f():\n    import wandb\n", True),
    "import in a block": ("import os\n\nif os.sep:\n    import wandb\n    f()\n", True),
    "imports at two depths": ("import wandb\n\n\ndef f():\n    import wandb\n    g()\n", True),
    "name still used": ("import wandb\n\nwandb.log({})\n", True),
    "alias still used": ("import wandb as wb\n\nwb.log({})\n", True),
    "imported name still used": ("from wandb import init\n\ninit()\n", True),
    "one of two still used": ("import wandb\nfrom wandb import init\n\ninit()\n", True),
    "used next to an import in a function": (
        "def f():\n    import wandb\n    wandb.log({})\n",
        True,
    ),
    "annotation string": ('import wandb\n\n\ndef f(run: "wandb.sdk.Run"):\n    pass\n', True),
    "name in an f-string": ('from wandb import Api\n\nprint(f"{Api}")\n', True),
}


@pytest.mark.parametrize(("code", "add_tracelet"), DECIDED.values(), ids=DECIDED.keys())
def test_the_fast_path_decides_what_the_libcst_visitors_decide(code, add_tracelet):
    fast = _fast(code, add_tracelet)
    assert fast is not None
    assert _decisions(fast) == _decisions(_with_visitors(code, add_tracelet))


def test_a_string_that_may_name_the_import_keeps_it_where_libcst_would_remove_it():
    code = 'import wandb\n\nprint("wandb.init")\n'
    assert _fast(code, True).code == 'import wandb\nimport tracelet\n\nprint("wandb.init")\n'


def test_import_tracelet_takes_the_place_of_the_first_tracker_import_with_its_comments():
    code = '"""Doc."""\n\n# tracking\nimport wandb  # the tracker\nimport os\nimport wandb.sdk\n'
    assert _fast(code, True).code == '"""Doc."""\n\n# tracking\nimport tracelet\nimport os\n'


def test_comments_above_a_removed_import_stay_when_nothing_is_added():
    code = "import os\n\n# why we log\nimport wandb\n\nx = 1\n"
    assert _fast(code, False).code == "import os\n# why we log\n\nx = 1\n"


def test_comments_above_a_removed_last_statement_go_to_the_footer():
    assert _fast("x = 1\n# about it\nimport wandb\n", False).code == "x = 1\n# about it\n"


UNDECIDED = {
    "two modules in one import": "import wandb, os\n\nos.getcwd()\n",
    "two statements on one line": "import wandb; import os\n\nos.getcwd()\n",
    "star import": "from wandb import *\n\nf()\n",
}


@pytest.mark.parametrize("code", UNDECIDED.values(), ids=UNDECIDED.keys())
def test_whatever_the_fast_path_cannot_be_sure_of_is_left_to_the_visitors(code):
    assert _fast(code, True) is None


@pytest.mark.parametrize(
    "code",
    ['"""Doc."""\nimport os\n# next\nx = 1\n', "import os\n\nx = 1\n", "x = 1\n", ""],
)
def test_without_a_top_level_tracker_import_tracelet_goes_where_libcst_puts_it(code):
    assert fast_imports(cst.parse_module(code), [], True).code == _with_visitors(code, True).code


def test_a_block_left_empty_gets_pass_and_keeps_the_comments():
    code = "def f():\n    # set up\n    import wandb\n"
    assert _fast(code, True).code == "import tracelet\n\ndef f():\n    # set up\n    pass\n"
