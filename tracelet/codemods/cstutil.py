"""Small libcst helpers shared by the codemods: binding call arguments to parameter names,
rebuilding a call while keeping its layout, and reading string literals."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import libcst as cst


@lru_cache(maxsize=256)
def _parsed(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def expr(code: str) -> cst.BaseExpression:
    """Parse a small expression (``tracelet.get_active_experiment()``); nodes are immutable,
    so the cached tree can be shared."""
    return _parsed(code)


@dataclass
class BoundArgs:
    """A call's arguments bound to parameter names, as Python would bind them."""

    named: dict[str, cst.Arg] = field(default_factory=dict)
    unknown: list[cst.Arg] = field(default_factory=list)

    def value(self, name: str) -> cst.BaseExpression | None:
        arg = self.named.get(name)
        return arg.value if arg is not None else None

    def __contains__(self, name: str) -> bool:
        return name in self.named


def bind_args(
    call: cst.Call, params: Sequence[str], positional: int | None = None
) -> BoundArgs | None:
    """Bind ``call``'s arguments to ``params`` as Python would: the first ``positional``
    names (default: all) take positional arguments, any name takes a keyword. ``None``
    when the call uses ``*args``/``**kwargs`` or passes too many positional arguments."""
    bound = BoundArgs()
    position = 0
    limit = len(params) if positional is None else positional
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            if position >= limit:
                return None
            bound.named[params[position]] = arg
            position += 1
        elif arg.keyword.value in params:
            bound.named[arg.keyword.value] = arg
        else:
            bound.unknown.append(arg)
    return bound


def call_with(
    call: cst.Call,
    func: cst.BaseExpression,
    args: Sequence[tuple[str | None, cst.BaseExpression | cst.Arg]],
) -> cst.Call:
    """``call`` with a new callee and new arguments, keeping the original layout.

    Each item is ``(keyword or None, value)``; a ``cst.Arg`` value keeps its own spacing
    (its keyword is replaced when one is given). The separators of the original call are
    reused position by position, so a one-line call stays on one line and a call with one
    argument per line keeps that shape, trailing comma included.
    """
    old = list(call.args)
    commas = [arg.comma for arg in old]
    inner = [c for c in commas[:-1] if isinstance(c, cst.Comma)]
    default_sep = inner[0] if inner else _default_sep(call)
    last_comma = commas[-1] if old else cst.MaybeSentinel.DEFAULT
    last_ws = old[-1].whitespace_after_arg if old else cst.SimpleWhitespace("")
    built: list[cst.Arg] = []
    count = len(args)
    for index, (keyword, value) in enumerate(args):
        if isinstance(value, cst.Arg):
            arg = value
            if keyword is not None and (arg.keyword is None or arg.keyword.value != keyword):
                arg = arg.with_changes(
                    keyword=cst.Name(keyword),
                    equal=cst.AssignEqual(
                        whitespace_before=cst.SimpleWhitespace(""),
                        whitespace_after=cst.SimpleWhitespace(""),
                    ),
                )
            elif keyword is None and arg.keyword is not None:
                arg = arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
        else:
            arg = cst.Arg(
                value=value,
                keyword=cst.Name(keyword) if keyword else None,
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                )
                if keyword
                else cst.MaybeSentinel.DEFAULT,
            )
        if index < count - 1:
            sep = commas[index] if index < len(old) - 1 else default_sep
            arg = arg.with_changes(
                comma=sep if isinstance(sep, cst.Comma) else default_sep,
                whitespace_after_arg=cst.SimpleWhitespace(""),
            )
        else:
            arg = arg.with_changes(comma=last_comma, whitespace_after_arg=last_ws)
        built.append(arg)
    return call.with_changes(func=func, args=built)


def _default_sep(call: cst.Call) -> cst.Comma:
    before = call.whitespace_before_args
    if isinstance(before, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=before)
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def string_value(node: cst.CSTNode | None) -> str | None:
    """The value of a plain string literal (implicit concatenation allowed), else ``None``."""
    if isinstance(node, cst.SimpleString):
        if "b" in node.prefix.lower():
            return None
        return ast.literal_eval(node.value)
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        return None if left is None or right is None else left + right
    return None


def is_none(node: cst.CSTNode | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def literal(node: cst.CSTNode | None) -> object:
    """The value of a simple literal (string, number, True/False/None), else ``...``;
    a missing node (an argument not given) counts as ``None``."""
    if node is None:
        return None
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer | cst.Float):
        return ast.literal_eval(node.value)
    text = string_value(node)
    return ... if text is None else text


def is_dotted_name(node: cst.CSTNode | None) -> bool:
    """``name`` or ``a.b.c``: re-evaluating it later gives the same value in practice."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def quote_string(text: str, quote: str = '"') -> str:
    """A string literal for ``text`` in the given quote style when possible."""
    if quote not in text and "\\" not in text and text.isprintable():
        return f"{quote}{text}{quote}"
    return repr(text)


def join_tag(module: cst.Module, title: cst.BaseExpression, series: cst.BaseExpression) -> str:
    """Source of the expression ``f"{title}/{series}"``, as simple as the parts allow."""
    title_text, series_text = string_value(title), string_value(series)
    quote = _quote_of(title) or _quote_of(series) or '"'
    if title_text is not None and series_text is not None:
        return quote_string(f"{title_text}/{series_text}", quote)
    parts = []
    for node, text in ((title, title_text), (series, series_text)):
        if text is not None:
            if "\\" in text or not text.isprintable():
                return _format_call(module, title, series, quote)
            parts.append(text.replace("{", "{{").replace("}", "}}").replace(quote, "\\" + quote))
            continue
        inner = _fstring_body(module, node, quote)
        if inner is not None:
            parts.append(inner)
            continue
        code = module.code_for_node(node)
        if any(ch in code for ch in (quote, "\\", "\n", "{", "}", "#")):
            return _format_call(module, title, series, quote)
        parts.append("{" + code + "}")
    return f"f{quote}{'/'.join(parts)}{quote}"


def string_shape(node: cst.CSTNode | None) -> tuple[str, str, str | None]:
    """What is known statically about a string expression: ``(prefix, suffix, exact)``.

    A plain literal is ``(text, text, text)``; an f-string gives the text before its first
    and after its last replacement field (``f"eval/{x}_avg"``: ``("eval/", "_avg", None)``);
    anything else ``("", "", None)``.
    """
    text = string_value(node)
    if text is not None:
        return text, text, text
    if not isinstance(node, cst.FormattedString):
        return "", "", None
    texts = [p.value if isinstance(p, cst.FormattedStringText) else None for p in node.parts]
    if any(t is not None and "\\" in t for t in texts):
        return "", "", None
    return _literal_run(texts), _literal_run(texts[::-1], reverse=True), None


def _literal_run(texts: list[str | None], reverse: bool = False) -> str:
    run = []
    for text in texts:
        if text is None:
            break
        run.append(text.replace("{{", "{").replace("}}", "}"))
    return "".join(run[::-1] if reverse else run)


def _fstring_body(module: cst.Module, node: cst.CSTNode, quote: str) -> str | None:
    """The inside of ``f"..."`` when it can be spliced into another f-string."""
    if (
        isinstance(node, cst.FormattedString)
        and node.prefix.lower() == "f"
        and node.start == ("f" + quote).replace("F", "f")
    ):
        code = module.code_for_node(node)
        return code[2:-1]
    return None


def _format_call(
    module: cst.Module, title: cst.BaseExpression, series: cst.BaseExpression, quote: str
) -> str:
    title_code, series_code = module.code_for_node(title), module.code_for_node(series)
    return f"{quote}{{}}/{{}}{quote}.format({title_code}, {series_code})"


def _quote_of(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.SimpleString) and not node.prefix:
        return node.value[0] if not node.value.startswith(("'''", '"""')) else None
    return None


def dict_of(module: cst.Module, key: cst.BaseExpression, value: cst.BaseExpression) -> str:
    """Source of ``{key: value}``."""
    return "{" + module.code_for_node(key) + ": " + module.code_for_node(value) + "}"
