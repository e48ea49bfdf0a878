"""Key mappings shared by a tracker's writer and its reader.

A tracelet key is any string the user logged (``"Loss/Train"``, ``"acc"``,
``"a/b/c"``). Where a tracker forces another shape, the mapping lives here as one pair
of functions: the backend writes with the first and reads back with the second, and
the second is the exact inverse of the first.

ClearML (title, series)
-----------------------

ClearML plots a scalar under a *title* (one graph) and a *series* (one line in it).
:func:`clearml_title_series` splits the key at its **last** ``/``, as ClearML's own
TensorBoard binding does, but keeps every earlier ``/`` in the title (the binding turns
``a/b/c`` into ``a_b`` / ``c``, which cannot be undone):

================  =====================  ==========
key               (title, series)        why
================  =====================  ==========
``"Loss/Train"``  ``("Loss", "Train")``  split at the last ``/``
``"a/b/c"``       ``("a/b", "c")``       earlier ``/`` stay in the title
``"acc"``         ``("acc", "acc")``     no ``/``: both are the key (as ClearML's binding)
``"loss/"``       ``("loss", "")``       empty parts are kept
``"acc/acc"``     ``("acc", "/acc")``    else it reads back as ``"acc"`` (only case of a
                                         ``/`` in a series)
================  =====================  ==========

:func:`key_from_clearml` inverts it for every pair the writer produces. A pair written by
other ClearML code reads back as ``title/series`` (or ``title`` when both are equal),
which is how the migration codemod turns ``report_scalar(title, series, ...)`` into a
key.
"""

from __future__ import annotations

__all__ = ["clearml_title_series", "key_from_clearml"]


def clearml_title_series(key: str) -> tuple[str, str]:
    """The ClearML ``(title, series)`` a tracelet key is reported under.

    >>> clearml_title_series("Loss/Train"), clearml_title_series("acc")
    (('Loss', 'Train'), ('acc', 'acc'))
    >>> clearml_title_series("a/b/c"), clearml_title_series("x/x")
    (('a/b', 'c'), ('x', '/x'))
    """
    title, sep, series = key.rpartition("/")
    if not sep:
        return key, key
    if title == series:
        return title, "/" + series
    return title, series


def key_from_clearml(title: str, series: str) -> str:
    """The tracelet key for a ClearML ``(title, series)``; inverse of :func:`clearml_title_series`.

    >>> key_from_clearml("Loss", "Train"), key_from_clearml("acc", "acc")
    ('Loss/Train', 'acc')
    >>> key_from_clearml("a/b", "c"), key_from_clearml("x", "/x")
    ('a/b/c', 'x/x')
    """
    if title == series:
        return title
    if series == "/" + title:
        return title + series
    return f"{title}/{series}"
