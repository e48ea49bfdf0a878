"""``tracelet migrate``: libcst codemods from direct tracker calls to tracelet.

One :class:`~libcst.codemod.VisitorBasedCodemodCommand` per source tracker:

* :class:`tracelet.codemods.wandb.WandbToTracelet`
* :class:`tracelet.codemods.mlflow.MlflowToTracelet`
* :class:`tracelet.codemods.clearml.ClearmlToTracelet` (also ``trains``)
* :class:`tracelet.codemods.lightning.LightningToTracelet` (``MLFlowLogger`` and
  ``WandbLogger`` given to a Lightning ``Trainer``)

Each also runs under libcst's own driver::

    python -m libcst.tool codemod -x tracelet.codemods.wandb.WandbToTracelet src/

:func:`migrate_code` is the one-string entry point, :mod:`tracelet.codemods.runner`
the multi-file one (discovery, pre-filter, process pool, diff, write) and
:mod:`tracelet.cli.migrate` the command line. A new source is one more module with a
``TrackerCodemod`` subclass and one more line in :data:`SOURCES`.

>>> source = "import wandb\\nwandb.init(project='p')\\nwandb.log({'a': 1})\\n"
>>> new, entries = migrate_code(source, "wandb")
>>> print(new, end="")
import tracelet
tracelet.start_logging(project='p', backend="wandb")
tracelet.log({'a': 1})
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracelet.codemods.base import TrackerCodemod
    from tracelet.codemods.report import Entry

# source -> (module, codemod class)
SOURCES: dict[str, tuple[str, str]] = {
    "wandb": ("tracelet.codemods.wandb", "WandbToTracelet"),
    "mlflow": ("tracelet.codemods.mlflow", "MlflowToTracelet"),
    "clearml": ("tracelet.codemods.clearml", "ClearmlToTracelet"),
    "lightning": ("tracelet.codemods.lightning", "LightningToTracelet"),
}


def load_codemod(source: str) -> type[TrackerCodemod]:
    """The codemod class for a source tracker."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    module_name, class_name = SOURCES[source]
    return getattr(importlib.import_module(module_name), class_name)


def default_targets(source: str) -> list[str]:
    """The trackers migrated code logs to without ``--to``: the source tracker itself; for
    ``lightning``, none named (each Trainer keeps the trackers of its own loggers)."""
    return [] if source == "lightning" else [source]


def migrate_code(
    code: str,
    source: str,
    to: Sequence[str] | None = None,
    unsafe: bool = False,
    disable: Sequence[str] = (),
    style: str = "summarywriter",
) -> tuple[str, list[Entry]]:
    """Migrate one module's source text; returns the new text and the report entries
    (``style``: see :mod:`tracelet.codemods.writer`)."""
    from tracelet.codemods.runner import Options, transform_bytes

    options = Options(source, list(to or default_targets(source)), unsafe, tuple(disable), style)
    new, file_report, _ = transform_bytes(code.encode("utf-8"), "<string>", options)
    if file_report.error:
        raise SyntaxError(file_report.error)
    return new.decode("utf-8"), file_report.entries


__all__ = ["SOURCES", "default_targets", "load_codemod", "migrate_code"]
