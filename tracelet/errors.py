"""Error text helpers shared by the backends, the readers and the validators."""

from __future__ import annotations


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error message ("" when it has none).

    >>> first_line(ValueError("bad key\\n  detail"))
    'bad key'
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
