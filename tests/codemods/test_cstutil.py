"""The small libcst helpers the codemods share (``tracelet.codemods.cstutil``)."""

from __future__ import annotations

import libcst as cst
import pytest

from tracelet.codemods.cstutil import (
    bind_args,
    call_with,
    dict_of,
    expr,
    is_dotted_name,
    is_none,
    join_tag,
    literal,
    quote_string,
    string_shape,
    string_value,
)


def _call(code: str) -> cst.Call:
    node = cst.parse_expression(code)
    assert isinstance(node, cst.Call)
    return node


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def test_expr_parses_once_and_shares_the_immutable_tree():
    first = expr("tracelet.get_active_experiment()")
    assert _code(first) == "tracelet.get_active_experiment()"
    assert expr("tracelet.get_active_experiment()") is first


@pytest.mark.parametrize(
    ("code", "positional", "named", "unknown"),
    [
        ("f(1, 2)", None, {"a": "1", "b": "2"}, []),
        ("f(1, c=3, b=2)", None, {"a": "1", "b": "2", "c": "3"}, []),
        ("f(b=2, zzz=9)", None, {"b": "2"}, ["zzz=9"]),
        ("f(1, b=2)", 1, {"a": "1", "b": "2"}, []),
        ("f()", None, {}, []),
    ],
)
def test_arguments_bind_to_parameter_names_as_python_binds_them(code, positional, named, unknown):
    bound = bind_args(_call(code), ["a", "b", "c"], positional=positional)
    assert bound is not None
    assert {name: _code(arg.value) for name, arg in bound.named.items()} == named
    assert [_code(arg).rstrip(", ") for arg in bound.unknown] == unknown
    assert ("a" in bound) == ("a" in named)
    assert (bound.value("a") is None) == ("a" not in named)


@pytest.mark.parametrize(
    ("code", "positional"),
    [("f(*args)", None), ("f(**kw)", None), ("f(1, 2, 3, 4)", None), ("f(1, 2)", 1)],
)
def test_star_arguments_or_too_many_positionals_do_not_bind(code, positional):
    assert bind_args(_call(code), ["a", "b", "c"], positional=positional) is None


NEW = expr("tracelet.log")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("wandb.log(a, b)", "tracelet.log(x, step=y)"),
        ("wandb.log(a)", "tracelet.log(x, step=y)"),
        ("wandb.log()", "tracelet.log(x, step=y)"),
        ("wandb.log(\n    a,\n    b,\n)", "tracelet.log(\n    x,\n    step=y,\n)"),
        ("wandb.log(a,  b )", "tracelet.log(x,  step=y )"),
    ],
)
def test_a_rebuilt_call_keeps_the_layout_of_the_original(before, after):
    new = call_with(_call(before), NEW, [(None, expr("x")), ("step", expr("y"))])
    assert _code(new) == after


def test_a_kept_argument_keeps_its_spacing_and_takes_the_new_keyword():
    call = _call("wandb.log(data,  commit = False)")
    data, commit = call.args
    new = call_with(call, NEW, [(None, commit), ("metrics", data), ("flag", commit)])
    assert _code(new) == "tracelet.log(False,  metrics=data,  flag=False)"
    assert _code(call_with(call, NEW, [("commit", commit)])) == "tracelet.log(commit = False)"


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ('"a"', "a"),
        ("'it''s'", "its"),
        ('"a" "b"', "ab"),
        ('r"\\d"', "\\d"),
        ('"""x\ny"""', "x\ny"),
        ('b"x"', None),
        ('f"{x}"', None),
        ("name", None),
    ],
)
def test_string_value_reads_plain_literals_only(code, value):
    assert string_value(cst.parse_expression(code)) == value


def test_string_value_of_nothing_is_none():
    assert string_value(None) is None


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("True", True),
        ("False", False),
        ("None", None),
        ("12", 12),
        ("0x10", 16),
        ("1.5e3", 1500.0),
        ('"s"', "s"),
        ("x", ...),
        ("-1", ...),
        ("[1]", ...),
    ],
)
def test_literal_gives_the_value_of_simple_literals_else_ellipsis(code, value):
    assert literal(cst.parse_expression(code)) == value


def test_a_missing_argument_is_the_literal_none():
    assert literal(None) is None


def test_is_none_and_is_dotted_name():
    assert is_none(expr("None")) and not is_none(expr("none")) and not is_none(None)
    assert is_dotted_name(expr("a")) and is_dotted_name(expr("a.b.c"))
    assert not is_dotted_name(expr("a().b")) and not is_dotted_name(expr("a[0]"))
    assert not is_dotted_name(None)


@pytest.mark.parametrize(
    ("text", "quote", "literal_code"),
    [
        ("loss", '"', '"loss"'),
        ("loss", "'", "'loss'"),
        ('say "hi"', '"', "'say \"hi\"'"),
        ("back\\slash", '"', "'back\\\\slash'"),
        ("new\nline", '"', "'new\\nline'"),
    ],
)
def test_quote_string_uses_the_quote_style_when_it_can(text, quote, literal_code):
    assert quote_string(text, quote) == literal_code
    assert eval(literal_code) == text


@pytest.mark.parametrize(
    ("title", "series", "joined"),
    [
        ('"Loss"', '"train"', '"Loss/train"'),
        ("'Loss'", "'train'", "'Loss/train'"),
        ('"Loss"', "name", 'f"Loss/{name}"'),
        ("split", '"acc"', 'f"{split}/acc"'),
        ('f"L{i}"', '"s"', 'f"L{i}/s"'),
        ('"a{b}"', "x", 'f"a{{b}}/{x}"'),
        ('"tab\\t"', "x", '"{}/{}".format("tab\\t", x)'),
        ('"t"', 'd["k"]', '"{}/{}".format("t", d["k"])'),
        ('"t"', "x.y", 'f"t/{x.y}"'),
    ],
)
def test_join_tag_builds_the_simplest_title_slash_series(title, series, joined):
    module = cst.parse_module(f"report({title}, {series})\n")
    call = module.body[0].body[0].value
    assert join_tag(module, call.args[0].value, call.args[1].value) == joined


def test_join_tag_results_evaluate_to_title_slash_series():
    module = cst.parse_module('report("a{b}", x)\n')
    call = module.body[0].body[0].value
    code = join_tag(module, call.args[0].value, call.args[1].value)
    assert eval(code, {"x": "s"}) == "a{b}/s"


@pytest.mark.parametrize(
    ("code", "shape"),
    [
        ('"eval/acc"', ("eval/acc", "eval/acc", "eval/acc")),
        ('f"eval/{x}_avg"', ("eval/", "_avg", None)),
        ('f"{a}{{b}}{c}"', ("", "", None)),
        ('f"a{{b}}{c}d}}}}"', ("a{b}", "d}}", None)),
        ('f"x\\n{y}"', ("", "", None)),
        ("name", ("", "", None)),
        (None, ("", "", None)),
    ],
)
def test_string_shape_says_what_is_known_of_a_string(code, shape):
    node = cst.parse_expression(code) if code is not None else None
    assert string_shape(node) == shape


def test_dict_of_keeps_the_source_of_key_and_value():
    module = cst.parse_module("f('k', a + 1)\n")
    call = module.body[0].body[0].value
    assert dict_of(module, call.args[0].value, call.args[1].value) == "{'k': a + 1}"
