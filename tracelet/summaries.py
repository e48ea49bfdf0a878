"""Run summaries and ``define_metric``: what W&B computes itself, computed for the others.

A run's summary is a flat table of ``key -> value`` (see :func:`flatten_summary`): values
set through ``experiment.summary``, plus the aggregates ``define_metric(name,
summary="min,max")`` asks for, named as W&B shows them (``val/loss.min``).

W&B computes those aggregates natively from the history it stores. For every other
tracker the delivery agent does it with :class:`MetricSummaries`: it folds in each point
it delivers for a defined key and, at the end of the run, delivers the results as
summary values. The journal reader uses the same class, so a journal, a W&B run and an
MLflow run of the same calls read back the same summary.

>>> summaries = MetricSummaries()
>>> summaries.define("val/*", ["min", "mean"])
>>> summaries.add("val/loss", 0.5); summaries.add("val/loss", 0.25); summaries.add("loss", 9.0)
>>> summaries.values()
{'val/loss': {'min': 0.25, 'mean': 0.375}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from tracelet.events import SUMMARY
from tracelet.tables import flatten_params
from tracelet.values import json_safe

SUMMARY_OPS = ("min", "max", "mean", "last", "first", "none")
"""The aggregations ``define_metric(summary=...)`` accepts (W&B's own list)."""


def parse_summary_ops(summary: str | None) -> list[str] | None:
    """``"min,max"`` -> ``["min", "max"]`` (W&B's comma-joined form), checked.

    >>> parse_summary_ops("Min, max")
    ['min', 'max']
    """
    if summary is None:
        return None
    if not isinstance(summary, str):
        raise TypeError(f"define_metric: summary must be a string, got {type(summary).__name__}")
    ops = [op.strip().lower() for op in summary.split(",") if op.strip()]
    unknown = [op for op in ops if op not in SUMMARY_OPS]
    if unknown:
        raise ValueError(
            f"define_metric: unknown summary {unknown[0]!r}; choose from {', '.join(SUMMARY_OPS)} "
            "(comma-joined for several, as in W&B)"
        )
    return ops


def check_metric_name(name: str) -> str:
    """W&B's rule: a non-empty name, ``*`` only as its last character (``val/*``)."""
    if not isinstance(name, str) or not name:
        raise ValueError("define_metric needs a non-empty metric name")
    if "*" in name[:-1]:
        raise ValueError(f"define_metric: {name!r}: a glob may only end in '*' (as in W&B)")
    return name


def matches(pattern: str, key: str) -> bool:
    """A ``define_metric`` name against a logged key (``val/*`` matches ``val/loss``)."""
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


def summary_value(value: Any) -> str:
    """The one string form of a summary value in the summary table: numbers (not bools)
    as the shortest ``repr`` of their float64 (``5`` and ``5.0`` are both ``"5.0"``, as
    ClearML keeps every single value as a float), strings as they are, anything else as
    JSON with sorted keys."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, allow_nan=True, default=str)


def value_from_table(text: str) -> Any:
    """A value whose :func:`summary_value` is ``text``: what ``tracelet copy`` logs.

    >>> value_from_table("0.93"), value_from_table("resnet"), value_from_table("[1, 2]")
    (0.93, 'resnet', [1, 2])
    """
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and repr(number) == text:
        return number
    if text in ("true", "false", "null") or text[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def flatten_summary(summary: Mapping[str, Any], sep: str = ".") -> dict[str, Any]:
    """Nested summary values flattened with ``.``, as W&B's run table shows them.

    >>> flatten_summary({"val/loss": {"min": 0.1}, "best": 2})
    {'val/loss.min': 0.1, 'best': 2}
    """
    return flatten_params(summary, sep)


class MetricSummaries:
    """The ``define_metric`` aggregates of the points seen so far.

    ``state()`` / ``from_state()`` give a JSON-able form, kept in the delivery state so a
    resumed ``tracelet sync`` continues the same aggregates.
    """

    def __init__(self) -> None:
        self.definitions: dict[str, list[str]] = {}
        self.aggregates: dict[str, dict[str, float]] = {}
        self._ops_for: dict[str, list[str]] = {}

    def define(self, name: str, ops: list[str] | None) -> None:
        """Record ``define_metric(name, summary=...)``; ``None`` changes nothing (W&B
        merges a call without ``summary`` with the earlier ones)."""
        if ops is not None:
            self.definitions[name] = list(ops)
            self._ops_for.clear()

    def ops_for(self, key: str) -> list[str]:
        """The aggregations for ``key``: its exact definition, else the latest glob."""
        ops = self._ops_for.get(key)
        if ops is None:
            ops = self.definitions.get(key)
            if ops is None:
                globs = [
                    o for n, o in self.definitions.items() if n.endswith("*") and matches(n, key)
                ]
                ops = globs[-1] if globs else []
            self._ops_for[key] = ops = [] if "none" in ops else ops
        return ops

    def add(self, key: str, value: float) -> None:
        if not self.definitions or not self.ops_for(key):
            return
        value = float(value)
        agg = self.aggregates.get(key)
        if agg is None:
            self.aggregates[key] = {"min": value, "max": value, "sum": value, "count": 1,
                                    "first": value, "last": value}  # fmt: skip
            return
        # a NaN never wins min or max
        if not math.isnan(value):
            agg["min"] = value if math.isnan(agg["min"]) else min(agg["min"], value)
            agg["max"] = value if math.isnan(agg["max"]) else max(agg["max"], value)
        agg["sum"] += value
        agg["count"] += 1
        agg["last"] = value

    def add_points(self, points: Iterable[tuple]) -> None:
        """Fold in :class:`tracelet.events.Point` tuples (``key, value, ...``)."""
        if self.definitions:
            for point in points:
                self.add(point[0], point[1])

    def values(self) -> dict[str, dict[str, float]]:
        """``{key: {op: value}}`` for every defined key that received a point."""
        result = {}
        for key, agg in self.aggregates.items():
            ops = self.ops_for(key)
            if ops:
                computed = {**agg, "mean": agg["sum"] / agg["count"]}
                result[key] = {op: computed[op] for op in ops}
        return result

    def state(self) -> dict[str, Any]:
        return {"definitions": self.definitions, "aggregates": self.aggregates}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> MetricSummaries:
        summaries = cls()
        summaries.definitions = {
            k: list(v) for k, v in (state or {}).get("definitions", {}).items()
        }
        summaries.aggregates = {k: dict(v) for k, v in (state or {}).get("aggregates", {}).items()}
        return summaries


class RunSummary(MutableMapping):
    """``experiment.summary``: a dict of the run's final values, delivered to every tracker.

    Each change is journaled as a ``summary`` event (see :mod:`tracelet.events`); reading
    gives back what this process set (not the ``define_metric`` aggregates, which the
    trackers or the delivery agent compute). Values are JSON values: numbers, strings,
    bools, lists and (nested) dicts; numpy scalars and one-element tensors are unwrapped.

    Example:
        ```python
        experiment.summary["best_acc"] = 0.93
        experiment.summary.update({"best_epoch": 7, "checkpoint": "ckpt/best.pt"})
        del experiment.summary["checkpoint"]
        experiment.summary["best_acc"]  # 0.93
        ```
    """

    def __init__(self, emit: Callable[[tuple], None]):
        self._emit = emit
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        self._emit((SUMMARY, {}, [key]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set several values in one event."""
        values = {str(k): json_safe(v) for k, v in dict(other, **kwargs).items()}
        if values:
            self._values.update(values)
            self._emit((SUMMARY, values, []))

    def __repr__(self) -> str:
        return f"RunSummary({self._values!r})"
