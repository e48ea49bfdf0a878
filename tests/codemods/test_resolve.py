"""Name resolution for the codemods (``tracelet.codemods.resolve``), on a toy tracker table.

The table is W&B's shape: ``wandb.init()`` and ``wandb.run`` give a run object.
"""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from libcst._metadata_dependent import LazyValue
from libcst.metadata import MetadataWrapper, QualifiedNameProvider, ScopeProvider

from tracelet.codemods import migrate_code
from tracelet.codemods.resolve import (
    MIXED,
    NONE,
    Path,
    Resolver,
    Role,
    Usage,
    combine,
    simple_binding_target,
)

RUN = "wandb:run"


def _resolver(code: str) -> tuple[cst.Module, Resolver]:
    wrapper = MetadataWrapper(cst.parse_module(textwrap.dedent(code)))
    metadata = wrapper.resolve_many([QualifiedNameProvider, ScopeProvider])

    def get(provider, node, default=None):  # what a codemod's get_metadata does
        value = metadata[provider].get(node, default)
        return value() if isinstance(value, LazyValue) else value

    resolver = Resolver(
        wrapper.module, get, {"wandb": "wandb"}, {"wandb.init": RUN}, {"wandb.run": RUN}
    )
    return wrapper.module, resolver


def _all_usages(resolver: Resolver) -> list[Usage]:
    return [u for root, path in resolver.roots_in_order() for u in resolver.usages_from(root, path)]


def _usages(code: str) -> list[Usage]:
    return _all_usages(_resolver(code)[1])


def _summary(code: str) -> list[tuple[str, str]]:
    """``(path key, role)`` of every usage; calls as ``call:<how the result is used>``."""
    out = []
    for usage in _usages(code):
        role = usage.role.value
        if usage.role == Role.CALL:
            role += f":{usage.result_role.value}"
        out.append((usage.key, ("factory " if usage.factory else "") + role))
    return out


def test_paths_know_their_key_and_whether_they_are_objects():
    path = Path("wandb").child("config").child("update")
    assert path == Path("wandb", ("config", "update"))
    assert path.key == "wandb.config.update" and not path.is_object
    assert Path(RUN).child("log").key == "wandb:run.log" and Path(RUN).is_object


@pytest.mark.parametrize(
    ("a", "b", "combined"),
    [(NONE, RUN, RUN), (RUN, NONE, RUN), (RUN, RUN, RUN), (RUN, None, MIXED), ("x", RUN, MIXED)],
)
def test_combine_lets_none_sentinels_through_and_mixes_the_rest(a, b, combined):
    assert combine(a, b) == combined


@pytest.mark.parametrize(
    "imports",
    [
        "import wandb\nwandb.config.update(cfg)",
        "import wandb as wb\nwb.config.update(cfg)",
        "from wandb import config\nconfig.update(cfg)",
        "from wandb import config as c\nc.update(cfg)",
        "import wandb.sdk\nwandb.config.update(cfg)",
    ],
)
def test_module_paths_are_followed_through_every_import_form(imports):
    assert _summary(imports) == [("wandb.config.update", "call:statement")]


def test_a_name_that_only_looks_like_the_tracker_is_not_followed():
    code = """
    import other as wandb
    wandb.log({})
    def f(wandb):
        wandb.log({})
    args.wandb.log({})
    """
    assert _summary(code) == []


def test_factory_results_are_followed_through_names():
    code = """
    import wandb
    run = wandb.init(project="p")
    run.log({"a": 1})
    wandb.run.summary["best"] = 1
    """
    assert _summary(code) == [
        ("wandb.init", "factory bind"),
        ("wandb:run.log", "call:statement"),
        ("wandb.run", "factory receiver"),
        ("wandb:run.summary", "subscript-store"),
    ]


def test_globals_sentinels_conditional_and_or_values_are_followed():
    code = """
    import wandb
    run = None
    def setup(enabled):
        global run
        run = wandb.init() if enabled else None
    def step():
        run.log({})
    other = run or wandb.init()
    other.finish()
    """
    summary = _summary(code)
    assert ("wandb:run.log", "call:statement") in summary
    assert ("wandb:run.finish", "call:statement") in summary


def test_self_attributes_are_followed_within_their_class():
    code = """
    import wandb
    class Trainer:
        def __init__(self):
            self.run = wandb.init()
        def step(self):
            self.run.log({})
    class Other:
        def step(self):
            self.run.log({})
    """
    assert _summary(code) == [
        (RUN, "store"),
        ("wandb.init", "factory bind"),
        ("wandb:run.log", "call:statement"),
    ]


def test_a_parameter_of_another_name_than_the_argument_is_followed():
    code = """
    import wandb
    def train(r):
        r.log({})
    run = wandb.init()
    train(run)
    """
    _, resolver = _resolver(code)
    assert ("wandb:run.log", "call:statement") in _summary(code)
    (arg,) = [u for u in _all_usages(resolver) if u.role == Role.ARG]
    assert resolver.arg_is_followed(arg)


def test_parameters_are_followed_when_every_call_passes_the_same_kind():
    code = """
    import wandb
    def train(run, epochs=1):
        run.log({})
    def evaluate(run=None):
        if run:
            run.log({})
    train(wandb.init(), 2)
    train(epochs=3, run=wandb.run)
    evaluate()
    """
    summary = _summary(code)
    assert summary.count(("wandb:run.log", "call:statement")) == 1
    assert ("wandb.init", "factory arg") in summary
    assert ("wandb.run", "factory arg") in summary


def test_a_parameter_fed_a_tracker_object_and_something_else_is_mixed():
    code = """
    import wandb
    def train(run):
        run.log({})
    train(wandb.init())
    train(make_logger())
    """
    keys = [u.key for u in _usages(code)]
    assert f"{MIXED}.log" in keys


def test_a_function_also_used_as_a_value_is_not_followed():
    code = """
    import wandb
    def train(run):
        run.log({})
    train(wandb.init())
    callbacks = [train]
    """
    module, resolver = _resolver(code)
    func = next(s for s in module.body if isinstance(s, cst.FunctionDef))
    assert resolver.calls_of(func) is None
    assert ("wandb:run.log", "call:statement") not in _summary(code)


@pytest.mark.parametrize(
    ("code", "role"),
    [
        ("if wandb.run:\n    pass", "test"),
        ("if wandb.run is None:\n    pass", "test"),
        ("if None is not wandb.run:\n    pass", "test"),
        ("ok = not wandb.run", "test"),
        ("with wandb.init() as run:\n    pass", "with"),
        ("def f():\n    return wandb.init()", "return"),
        ("print(wandb.init())", "arg"),
        ("runs = [wandb.init()]", "other"),
        ("wandb.init()", "statement"),
        ("x: wandb.init = 1", "annotation"),
    ],
)
def test_how_a_value_is_used_is_classified(code, role):
    (usage,) = _usages("import wandb\n" + code)
    assert usage.role.value == role


def test_the_tracker_path_in_annotations_and_attribute_stores():
    code = """
    import wandb
    def f(run: "x", config: wandb.Config = None):
        pass
    wandb.config.lr = 0.1
    del wandb.config["lr"]
    """
    assert _summary(code) == [
        ("wandb.Config", "annotation"),
        ("wandb.config.lr", "store"),
        ("wandb.config", "delete"),
    ]


def test_imports_are_collected_with_whether_a_try_guards_them():
    code = """
    import os
    import wandb
    try:
        import wandb.sdk as sdk
    except ImportError:
        sdk = None
    from wandb import init as start
    from . import wandb as local
    """
    _, resolver = _resolver(code)
    imports = resolver.collected.imports
    found = [(cst.Module([]).code_for_node(node).strip(), guarded) for node, guarded in imports]
    assert found == [
        ("import wandb", False),
        ("import wandb.sdk as sdk", True),
        ("from wandb import init as start", False),
    ]
    assert resolver.collected.aliases == {"wandb", "sdk", "start"}


def test_statement_of_and_enclosing_class():
    code = """
    import wandb
    class T:
        def f(self):
            x = [wandb.init()]
    """
    module, resolver = _resolver(code)
    (usage,) = _all_usages(resolver)
    statement = resolver.statement_of(usage.node)
    assert isinstance(statement, cst.SimpleStatementLine)
    assert module.code_for_node(statement).strip() == "x = [wandb.init()]"
    assert resolver.enclosing_class(usage.node).name.value == "T"


@pytest.mark.parametrize(
    ("code", "simple"),
    [
        ("run = wandb.init()", True),
        ("run: object = wandb.init()", True),
        ("a = b = wandb.init()", False),
        ("a, b = wandb.init(), 1", True),
        ("self.a, self.b = wandb.init(), 1", True),
        ("a, *b = wandb.init(), 1", False),
        ("a, b = wandb.init()", False),
        ("a, b[0] = wandb.init(), 1", False),
        ("with wandb.init() as run:\n    pass", True),
        ("with wandb.init():\n    pass", True),
        ("with wandb.init() as (a, b):\n    pass", False),
        ("print(wandb.init())", False),
    ],
)
def test_simple_binding_targets_are_plain_names_or_self_attributes(code, simple):
    usage = next(u for u in _usages("import wandb\n" + code) if u.factory)
    assert simple_binding_target(usage) is simple


@pytest.mark.parametrize(
    ("code", "followed"),
    [
        ("def setup():\n    return wandb.init()\n\n\nrun = setup()\n", True),
        ("def setup():\n    return wandb.init()\n\n\nrun = setup() if flag else None\n", True),
        ("def setup():\n    return wandb.init()\n\n\nsetup()\n", True),
        ("def setup():\n    return wandb.init()\n\n\nf(setup())\n", False),
        ("def setup():\n    return wandb.init()\n\n\ncallbacks = [setup]\n", False),
        ("@rank_zero_only\ndef setup():\n    return wandb.init()\n\n\nrun = setup()\n", False),
        ("class A:\n    def setup(self):\n        return wandb.init()\n", False),
    ],
)
def test_a_returned_run_is_followed_when_every_call_binds_tests_or_drops_it(code, followed):
    new, entries = migrate_code("import wandb\n" + code, "wandb")
    assert ("tracelet.start_logging(" in new) is followed, [e.short() for e in entries]


def test_other_values_name_what_a_mixed_handle_holds_besides_the_tracker():
    # mlfoundations/open_clip, src/open_clip_train/train.py: wandb, trackio or None
    module, resolver = _resolver(
        """
        import wandb
        import trackio

        def pick(args):
            if args.trackio:
                return trackio
            if args.wandb:
                return wandb
            return None

        wb = pick(args)
        other = wandb.init() if args.wandb else make_logger()
        wb.log({})
        """
    )
    names = [u for u in _all_usages(resolver) if u.path.kind == MIXED]
    assert [module.code_for_node(u.node) for u in names] == ["wb.log({})"]
    root = names[0].node.func.value
    assert [module.code_for_node(v) for v in resolver.other_values(root)] == ["trackio"]
    other = module.body[-2].body[0].value
    assert [module.code_for_node(v) for v in resolver.other_values(other)] == ["make_logger()"]
    returned = next(u for u in _all_usages(resolver) if u.role == Role.RETURN)
    assert [module.code_for_node(v) for v in resolver.other_returns(returned.node)] == ["trackio"]
