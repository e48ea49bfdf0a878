"""Show a :class:`~tracelet.validators.result.Comparison`: terminal, JSON for CI, HTML.

>>> from rich.console import Console
>>> from tracelet.tables import RunTables, metrics_frame
>>> from tracelet.validators.compare import compare_runs
>>> run = RunTables(metrics_frame([("loss", 0, 0.5, 0.0)]))
>>> result = compare_runs(run, run)
>>> to_json(result)["verdict"]
'equal'
>>> render_terminal(result, Console(width=100, color_system=None))  # doctest: +ELLIPSIS
<BLANKLINE>
...EQUAL: 1 metric key, 1 point on each side match exactly...

JSON schema (``to_json``), version ``tracelet.validate/comparison-1``; keys are stable,
new keys may be added, non-finite numbers are the strings ``"nan"``, ``"inf"``,
``"-inf"`` so the document is strict JSON::

    {
      "schema": "tracelet.validate/comparison-1",
      "verdict": "equal" | "different",
      "exit_code": 0 | 1,
      "tolerance": {"rtol": float, "atol": float},
      "sources": {"left": str, "right": str},
      "adjustments": [{"encoding": str, "description": str, "declared_by": [side],
                       "reasons": [str], "changed": {"left": int, "right": int}}],
      "summary": {"keys": int, "equal": int, "different": int, "only-left": int,
                  "only-right": int, "differing_keys": [str],
                  "left_points": int, "right_points": int},
      "metrics": [{"key": str, "status": "equal"|"different"|"only-left"|"only-right",
                   "left_points": int, "right_points": int, "matched_points": int,
                   "differing_points": int, "only_left_points": int,
                   "only_right_points": int, "max_abs_diff": number|null,
                   "max_rel_diff": number|null,
                   "first_differences": [{"step": int, "occurrence": int,
                                          "left": number, "right": number}],
                   "only_left_steps": [int], "only_right_steps": [int]}],
      "params": {"equal": bool, "skipped": bool, "matched": int,
                 "only_left": {key: value}, "only_right": {key: value},
                 "changed": {key: {"left": value, "right": value}}},
      "tags": same shape as "params",
      "history": {"equal": bool, "skipped": bool, "left_rows": int, "right_rows": int,
                  "only_left_columns": [str], "only_right_columns": [str],
                  "differing_cells": {column: int},
                  "renamed_steps": [{"left": str, "right": str}],
                  "examples": [{"row": int, "column": str, "left": str|null,
                                "right": str|null}]},
      "run_summary": same shape as "params" (the runs' summary values),
      "added_columns": same shape as "params" (column -> who added it, value count),
      "media": {"equal": bool, "skipped": bool, "matched": int,
                "only_left" | "only_right" | "changed": [{"key": str, "step": int,
                    "kind": str, "occurrence": int, "left": str|null, "right": str|null}]},
      "artifacts": {"equal": bool, "skipped": bool, "matched": int,
                    "only_left": [name], "only_right": [name],
                    "changed": [{"name": str, "left_size": int, "right_size": int,
                                 "left_sha256": str, "right_sha256": str}]}
    }

``metrics`` is in key order; ``first_differences`` and the ``*_steps`` lists hold the
first few (``max_examples`` of :func:`compare_runs`) by step. Values are as read from
the stores, differences are measured after the adjustments.

The HTML page (``write_html``) is one file with no script and no network reference:
one inline SVG plot per metric key with both runs overlaid (left solid blue, right
dashed orange). Curves with more points than the plot has pixels are reduced to the
first, last, lowest and highest point of each pixel column, so the drawn shape is the
same; differing points are never reduced away: every differing or one-sided step gets
a red tick under the plot and a red mark spanning both values in its pixel column, and
when a key has few differences each one is a circle with the values as a tooltip.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tracelet.validators.result import (
    ONLY_RIGHT,
    ArtifactDiff,
    Comparison,
    HistoryDiff,
    MappingDiff,
    MediaChange,
    MediaDiff,
    MetricDiff,
)

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from tracelet.tables import RunTables

SCHEMA = "tracelet.validate/comparison-1"
_STATUS_STYLE = {
    "equal": "green",
    "different": "bold red",
    "only-left": "yellow",
    "only-right": "yellow",
}


def _number(value: float | None) -> float | str | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _tolerance_text(comparison: Comparison) -> str:
    if comparison.rtol == 0 and comparison.atol == 0:
        return "exactly"
    return f"within rtol={comparison.rtol:g}, atol={comparison.atol:g}"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _name_list(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def verdict(comparison: Comparison) -> str:
    """One line: ``EQUAL: ...`` or ``DIFFERENT: ...`` naming what differs."""
    metrics = comparison.metrics
    if comparison.equal:
        left_points = sum(m.left_points for m in metrics)
        text = (
            f"EQUAL: {_plural(len(metrics), 'metric key')}, "
            f"{_plural(left_points, 'point')} on each side match {_tolerance_text(comparison)}"
        )
        if comparison.adjustments:
            names = ", ".join(a.encoding for a in comparison.adjustments)
            text += f" (after precision adjustments: {names})"
        if comparison.columns.matched:
            text += (
                f"; both stores hold the same {_plural(comparison.columns.matched, 'column')}"
                " a writer added"
            )
        return text
    parts = []
    differing = comparison.differing_keys
    if differing:
        parts.append(
            f"{len(differing)} of {_plural(len(metrics), 'metric key')} differ: "
            f"{_name_list(differing)}"
        )
    for section, diff in _mapping_sections(comparison):
        if not diff.equal:
            names = [*diff.changed, *diff.only_left, *diff.only_right]
            parts.append(f"{section} differ: {_name_list(sorted(names))}")
    if not comparison.artifacts.equal:
        art = comparison.artifacts
        names = [c.name for c in art.changed] + list(art.only_left) + list(art.only_right)
        parts.append(f"artifacts differ: {_name_list(sorted(names))}")
    history = comparison.history
    if not history.equal:
        names = [*history.only_left_columns, *history.only_right_columns]
        names += list(history.differing_cells)
        rows = (
            ""
            if history.left_rows == history.right_rows
            else (f" ({history.left_rows:,} rows left, {history.right_rows:,} right)")
        )
        parts.append(f"store rows differ{rows}: {_name_list(sorted(set(names)))}")
    if not comparison.media.equal:
        names = sorted({f"{c.key}@{c.step}" for c in _media_changes(comparison.media)})
        parts.append(f"media differ: {_name_list(names)}")
    return "DIFFERENT: " + "; ".join(parts)


def _media_changes(diff: MediaDiff) -> list[MediaChange]:
    return [*diff.changed, *diff.only_left, *diff.only_right]


def _mapping_sections(comparison: Comparison) -> tuple[tuple[str, MappingDiff], ...]:
    return (
        ("params", comparison.params),
        ("tags", comparison.tags),
        ("summary", comparison.summary),
        ("added columns", comparison.columns),
    )


def _display_order(metrics: list[MetricDiff]) -> list[MetricDiff]:
    """Keys that differ first (in key order), then equal keys."""
    return sorted(metrics, key=lambda m: m.equal)


def _fmt_diff(value: float | None) -> str:
    if value is None:
        return "—"
    return "0" if value == 0 else f"{value:.3g}"


def render_terminal(comparison: Comparison, console: Console, *, max_equal_rows: int = 50) -> None:
    """Print the summary table, the differences and a one-line verdict to ``console``.

    Every key that is not equal gets a row; equal keys are folded into one line when
    there are more than ``max_equal_rows`` of them.
    """
    from rich.table import Table
    from rich.text import Text

    console.print()
    if comparison.left_source or comparison.right_source:
        console.print(
            Text(f"left:  {comparison.left_source}\nright: {comparison.right_source}", "dim")
        )
    for adj in comparison.adjustments:
        console.print(
            Text(
                f"precision adjustment {adj.encoding}, declared by "
                f"{' and '.join(adj.declared_by)} ({'; '.join(adj.reasons)}):\n"
                f"  {adj.description}; values changed: "
                f"{adj.changed_left:,} left, {adj.changed_right:,} right",
                "cyan",
            )
        )

    if comparison.metrics:
        table = Table(title="metrics", title_justify="left")
        table.add_column("key", overflow="fold")
        table.add_column("status")
        for name in ("points L", "points R", "only L", "only R", "differing"):
            table.add_column(name, justify="right")
        table.add_column("max abs", justify="right")
        table.add_column("max rel", justify="right")
        ordered = _display_order(comparison.metrics)
        equal_keys = [m for m in ordered if m.equal]
        shown = [m for m in ordered if not m.equal]
        shown += equal_keys if len(equal_keys) <= max_equal_rows else []
        for m in shown:
            table.add_row(
                Text(m.key),
                Text(m.status, _STATUS_STYLE[m.status]),
                f"{m.left_points:,}",
                f"{m.right_points:,}",
                f"{m.only_left_points:,}",
                f"{m.only_right_points:,}",
                f"{m.differing_points:,}",
                _fmt_diff(m.max_abs_diff),
                _fmt_diff(m.max_rel_diff),
            )
        if len(shown) < len(ordered):
            table.add_row(Text(f"… {len(equal_keys):,} equal keys", "green"), "equal")
        console.print(table)
        _render_examples(comparison, console)

    for section, diff in _mapping_sections(comparison):
        if not diff.equal:
            _render_mapping(section, diff, console)
    if not comparison.artifacts.equal:
        _render_artifacts(comparison.artifacts, console)
    for left_name, right_name in comparison.history.renamed_steps:
        console.print(
            Text(
                f"step column {left_name!r} (left) is {right_name!r} on the right: the same "
                "steps in every row, under each writer's name for its step metric",
                "cyan",
            )
        )
    if not comparison.history.equal:
        _render_history(comparison.history, console)
    if not comparison.media.equal:
        _render_media(comparison.media, console)
    style = "bold green" if comparison.equal else "bold red"
    console.print(Text(verdict(comparison), style), soft_wrap=True)


def _render_examples(comparison: Comparison, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    rows = [(m, d) for m in comparison.metrics for d in m.first_differences]
    if rows:
        table = Table(title="first differing points", title_justify="left")
        for name in ("key", "step", "#", "left", "right"):
            table.add_column(name, overflow="fold")
        for m, d in rows:
            table.add_row(Text(m.key), str(d.step), str(d.occurrence), repr(d.left), repr(d.right))
        console.print(table)
    for m in comparison.metrics:
        for side, steps, count in (
            ("left", m.only_left_steps, m.only_left_points),
            ("right", m.only_right_steps, m.only_right_points),
        ):
            if count:
                more = f" (first {len(steps)})" if count > len(steps) else ""
                word = "step" if len(steps) == 1 else "steps"
                console.print(
                    Text(
                        f"{m.key}: {_plural(count, 'point')} only on the {side}, at {word}"
                        f"{more} {', '.join(map(str, steps))}",
                        "yellow",
                    )
                )


def _render_mapping(section: str, diff: MappingDiff, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{section} differences", title_justify="left")
    for name in ("key", "left", "right"):
        table.add_column(name, overflow="fold")
    for key, (left, right) in diff.changed.items():
        table.add_row(Text(key), Text(left), Text(right))
    for key, value in diff.only_left.items():
        table.add_row(Text(key), Text(value), Text("(missing)", "dim"))
    for key, value in diff.only_right.items():
        table.add_row(Text(key), Text("(missing)", "dim"), Text(value))
    console.print(table)


def _render_artifacts(diff: ArtifactDiff, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="artifact differences", title_justify="left")
    for name in ("name", "left", "right"):
        table.add_column(name, overflow="fold")
    for change in diff.changed:
        table.add_row(
            Text(change.name),
            f"{change.left_size:,} B {change.left_sha256[:12]}",
            f"{change.right_size:,} B {change.right_sha256[:12]}",
        )
    for name in diff.only_left:
        table.add_row(Text(name), "present", Text("(missing)", "dim"))
    for name in diff.only_right:
        table.add_row(Text(name), Text("(missing)", "dim"), "present")
    console.print(table)


def _render_history(diff: HistoryDiff, console: Console) -> None:
    """Every column of the stores' own rows that differs: none is left out."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"store rows: {diff.left_rows:,} left, {diff.right_rows:,} right", "yellow"))
    for side, columns in (("left", diff.only_left_columns), ("right", diff.only_right_columns)):
        if columns:
            console.print(
                Text(f"columns only on the {side}: {', '.join(columns)}", "yellow"),
                soft_wrap=True,
            )
    if diff.examples:
        table = Table(title="differing cells of the store rows", title_justify="left")
        for name in ("column", "rows", "first row", "left", "right"):
            table.add_column(name, overflow="fold")
        shown: set[str] = set()
        for row, column, left, right in diff.examples:
            if column in shown:
                continue
            shown.add(column)
            table.add_row(
                Text(column),
                f"{diff.differing_cells[column]:,}",
                str(row),
                Text("(missing)" if left is None else left),
                Text("(missing)" if right is None else right),
            )
        console.print(table)


def _history_json(diff: HistoryDiff) -> dict[str, Any]:
    return {
        "equal": diff.equal,
        "skipped": diff.skipped,
        "left_rows": diff.left_rows,
        "right_rows": diff.right_rows,
        "only_left_columns": list(diff.only_left_columns),
        "only_right_columns": list(diff.only_right_columns),
        "differing_cells": dict(diff.differing_cells),
        "renamed_steps": [{"left": a, "right": b} for a, b in diff.renamed_steps],
        "examples": [
            {"row": row, "column": column, "left": left, "right": right}
            for row, column, left, right in diff.examples
        ],
    }


def _render_media(diff: MediaDiff, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="media differences", title_justify="left")
    for name in ("key", "step", "kind", "#", "left", "right"):
        table.add_column(name, overflow="fold")
    for change in _media_changes(diff):
        table.add_row(
            Text(change.key),
            str(change.step),
            change.kind,
            str(change.occurrence),
            Text(_short(change.left) if change.left is not None else "(missing)"),
            Text(_short(change.right) if change.right is not None else "(missing)"),
        )
    console.print(table)


def _short(content: str, limit: int = 120) -> str:
    return content if len(content) <= limit else content[: limit - 1] + "…"


def _media_json(diff: MediaDiff) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "equal": diff.equal,
        "skipped": diff.skipped,
        "matched": diff.matched,
        "only_left": [asdict(c) for c in diff.only_left],
        "only_right": [asdict(c) for c in diff.only_right],
        "changed": [asdict(c) for c in diff.changed],
    }


def _mapping_json(diff: MappingDiff) -> dict[str, Any]:
    return {
        "equal": diff.equal,
        "skipped": diff.skipped,
        "matched": diff.matched,
        "only_left": dict(diff.only_left),
        "only_right": dict(diff.only_right),
        "changed": {k: {"left": lv, "right": rv} for k, (lv, rv) in diff.changed.items()},
    }


def _metric_json(m: MetricDiff) -> dict[str, Any]:
    return {
        "key": m.key,
        "status": m.status,
        "left_points": m.left_points,
        "right_points": m.right_points,
        "matched_points": m.matched_points,
        "differing_points": m.differing_points,
        "only_left_points": m.only_left_points,
        "only_right_points": m.only_right_points,
        "max_abs_diff": _number(m.max_abs_diff),
        "max_rel_diff": _number(m.max_rel_diff),
        "first_differences": [
            {
                "step": d.step,
                "occurrence": d.occurrence,
                "left": _number(d.left),
                "right": _number(d.right),
            }
            for d in m.first_differences
        ],
        "only_left_steps": list(m.only_left_steps),
        "only_right_steps": list(m.only_right_steps),
    }


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-ready dict (schema in this module's docstring)."""
    art = comparison.artifacts
    return {
        "schema": SCHEMA,
        "verdict": "equal" if comparison.equal else "different",
        "exit_code": comparison.exit_code,
        "tolerance": {"rtol": comparison.rtol, "atol": comparison.atol},
        "sources": {"left": comparison.left_source, "right": comparison.right_source},
        "adjustments": [
            {
                "encoding": a.encoding,
                "description": a.description,
                "declared_by": list(a.declared_by),
                "reasons": list(a.reasons),
                "changed": {"left": a.changed_left, "right": a.changed_right},
            }
            for a in comparison.adjustments
        ],
        "summary": {
            "keys": len(comparison.metrics),
            **comparison.status_counts(),
            "differing_keys": comparison.differing_keys,
            "left_points": sum(m.left_points for m in comparison.metrics),
            "right_points": sum(m.right_points for m in comparison.metrics),
        },
        "metrics": [_metric_json(m) for m in comparison.metrics],
        "params": _mapping_json(comparison.params),
        "tags": _mapping_json(comparison.tags),
        "history": _history_json(comparison.history),
        "run_summary": _mapping_json(comparison.summary),
        "added_columns": _mapping_json(comparison.columns),
        "media": _media_json(comparison.media),
        "artifacts": {
            "equal": art.equal,
            "skipped": art.skipped,
            "matched": art.matched,
            "only_left": list(art.only_left),
            "only_right": list(art.only_right),
            "changed": [
                {
                    "name": c.name,
                    "left_size": c.left_size,
                    "right_size": c.right_size,
                    "left_sha256": c.left_sha256,
                    "right_sha256": c.right_sha256,
                }
                for c in art.changed
            ],
        },
    }


# --- HTML -------------------------------------------------------------------------------

_WIDTH, _HEIGHT = 640, 200
_LEFT_PAD, _RIGHT_PAD, _TOP_PAD, _BOTTOM_PAD = 64, 8, 8, 34
_PLOT_W = _WIDTH - _LEFT_PAD - _RIGHT_PAD
_PLOT_H = _HEIGHT - _TOP_PAD - _BOTTOM_PAD
_FEW_DIFFERENCES = 50
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;font-size:.9rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:.6rem 1rem;font-weight:600;border-radius:4px}
.ok{background:#e6f4ea;color:#137333}.bad{background:#fce8e6;color:#a50e0e}
.equal{color:#137333}.different{color:#a50e0e;font-weight:600}
.only-left,.only-right{color:#b06000;font-weight:600}
svg{background:#fafafa;border:1px solid #ddd}
.legend span{margin-right:1rem;font-size:.85rem}
code{font-size:.85rem}
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _key_indices(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    if frame.empty:
        return {}
    return {str(k): v for k, v in frame.groupby("key", sort=False).indices.items()}


class _Scale:
    """Data coordinates to SVG pixels for one plot."""

    def __init__(self, steps: np.ndarray, values: np.ndarray) -> None:
        self.x_min, self.x_max = (float(steps.min()), float(steps.max())) if len(steps) else (0, 1)
        if self.x_max == self.x_min:
            self.x_min, self.x_max = self.x_min - 1, self.x_max + 1
        finite = values[np.isfinite(values)]
        self.y_min, self.y_max = (
            (float(finite.min()), float(finite.max())) if len(finite) else (0, 1)
        )
        if self.y_max == self.y_min:
            pad = abs(self.y_min) * 0.05 or 1.0
            self.y_min, self.y_max = self.y_min - pad, self.y_max + pad

    def x(self, steps: np.ndarray) -> np.ndarray:
        fraction = (steps.astype(np.float64) - self.x_min) / (self.x_max - self.x_min)
        return _LEFT_PAD + fraction * _PLOT_W

    def y(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            fraction = (values - self.y_min) / (self.y_max - self.y_min)
        return _TOP_PAD + (1 - np.clip(fraction, 0, 1)) * _PLOT_H


def _reduce_to_pixels(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the first, last, lowest and highest point in each pixel column."""
    if len(x) <= 4 * _PLOT_W:
        return np.arange(len(x))
    column = x.astype(np.int64)
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    ends = np.r_[starts[1:], len(x)] - 1
    by_value = np.lexsort((y, column))
    return np.unique(np.concatenate([starts, ends, by_value[starts], by_value[ends]]))


def _polyline(scale: _Scale, steps: np.ndarray, values: np.ndarray, style: str) -> str:
    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    order = np.argsort(steps, kind="stable")
    x, y = scale.x(steps[order]), scale.y(values[order])
    keep = _reduce_to_pixels(x, y)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x[keep], y[keep], strict=True))
    return f'<polyline fill="none" stroke-width="1.2" {style} points="{points}"/>'


def _difference_marks(scale: _Scale, diffs: pd.DataFrame) -> str:
    """Red ticks under the plot for every differing step, red spans over the values."""
    import pandas as pd

    if diffs.empty:
        return ""
    x = np.round(scale.x(diffs["step"].to_numpy()) * 2) / 2
    base = _TOP_PAD + _PLOT_H
    ticks = "".join(f"M{v:.1f} {base + 3}v7" for v in np.unique(x))
    parts = [f'<path class="diff-ticks" stroke="#d62728" stroke-width="1.5" d="{ticks}"/>']
    values = np.concatenate([diffs["left"].to_numpy(), diffs["right"].to_numpy()])
    xs = np.concatenate([x, x])
    finite = np.isfinite(values)
    if finite.any():
        span = (
            pd.DataFrame({"x": xs[finite], "y": scale.y(values[finite])})
            .groupby("x")["y"]
            .agg(["min", "max"])
        )
        d = "".join(
            f"M{px:.1f} {lo:.1f}V{hi:.1f}"
            for px, lo, hi in zip(span.index, span["min"], span["max"], strict=True)
        )
        parts.append(
            f'<path class="diff-spans" stroke="#d62728" stroke-width="3" '
            f'stroke-linecap="round" stroke-opacity=".6" d="{d}"/>'
        )
    if len(diffs) <= _FEW_DIFFERENCES:
        for row, px in zip(diffs.itertuples(index=False), x, strict=True):
            tip = f"step {row.step} (#{row.occurrence}): left {row.left!r}, right {row.right!r}"
            if row.kind != "value":
                tip = f"step {row.step} (#{row.occurrence}): only {row.kind[5:]}"
            value = row.right if row.kind == ONLY_RIGHT else row.left
            py = scale.y(np.array([value]))[0] if np.isfinite(value) else base
            parts.append(
                f'<g class="diff" data-step="{row.step}"><title>{_esc(tip)}</title>'
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="none" stroke="#d62728"/></g>'
            )
    return "".join(parts)


def _svg_plot(
    key: str,
    left: tuple[np.ndarray, np.ndarray],
    right: tuple[np.ndarray, np.ndarray],
    diffs: pd.DataFrame,
) -> str:
    steps = np.concatenate([left[0], right[0]])
    scale = _Scale(steps, np.concatenate([left[1], right[1]]))
    base = _TOP_PAD + _PLOT_H
    text = 'font-size="11" fill="#555"'
    body = [
        f'<rect x="{_LEFT_PAD}" y="{_TOP_PAD}" width="{_PLOT_W}" height="{_PLOT_H}" '
        'fill="#fff" stroke="#ccc"/>',
        f'<text x="{_LEFT_PAD - 4}" y="{_TOP_PAD + 10}" text-anchor="end" {text}>'
        f"{scale.y_max:.4g}</text>",
        f'<text x="{_LEFT_PAD - 4}" y="{base}" text-anchor="end" {text}>{scale.y_min:.4g}</text>',
        f'<text x="{_LEFT_PAD}" y="{_HEIGHT - 4}" {text}>step {scale.x_min:.0f}</text>',
        f'<text x="{_WIDTH - _RIGHT_PAD}" y="{_HEIGHT - 4}" text-anchor="end" {text}>'
        f"step {scale.x_max:.0f}</text>",
    ]
    if len(left[0]):
        body.append(_polyline(scale, *left, 'stroke="#1f77b4"'))
    if len(right[0]):
        body.append(_polyline(scale, *right, 'stroke="#ff7f0e" stroke-dasharray="5 3"'))
    body.append(_difference_marks(scale, diffs))
    return (
        f'<svg class="plot" data-key="{_esc(key)}" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{_esc(key)}">'
        + "".join(body)
        + "</svg>"
    )


def _series(
    frame: pd.DataFrame, indices: dict[str, np.ndarray], key: str
) -> tuple[np.ndarray, np.ndarray]:
    rows = indices.get(key, np.empty(0, dtype=np.intp))
    return (
        frame["step"].to_numpy(dtype=np.int64)[rows],
        frame["value"].to_numpy(dtype=np.float64)[rows],
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object, numeric: bool = False, css: str = "") -> str:
    classes = " ".join(c for c in ("n" if numeric else "", css) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{_esc(value)}</td>"


def _mapping_html(section: str, diff: MappingDiff) -> str:
    if diff.skipped:
        return f"<h2>{section}</h2><p>not compared</p>"
    if diff.equal:
        return f"<h2>{section}</h2><p>identical ({diff.matched} entries)</p>"
    rows = [[_cell(k), _cell(lv), _cell(rv)] for k, (lv, rv) in diff.changed.items()]
    rows += [[_cell(k), _cell(v), _cell("(missing)")] for k, v in diff.only_left.items()]
    rows += [[_cell(k), _cell("(missing)"), _cell(v)] for k, v in diff.only_right.items()]
    return f"<h2>{section}</h2>" + _table(["key", "left", "right"], rows)


def _media_html(diff: MediaDiff) -> str:
    if diff.skipped:
        return "<h2>media</h2><p>not compared</p>"
    if diff.equal:
        return f"<h2>media</h2><p>identical ({diff.matched} items)</p>"
    rows = [
        [
            _cell(c.key),
            _cell(c.step, numeric=True),
            _cell(c.kind),
            _cell(_short(c.left) if c.left is not None else "(missing)"),
            _cell(_short(c.right) if c.right is not None else "(missing)"),
        ]
        for c in _media_changes(diff)
    ]
    return "<h2>media</h2>" + _table(["key", "step", "kind", "left", "right"], rows)


def _artifacts_html(diff: ArtifactDiff) -> str:
    if diff.skipped:
        return "<h2>artifacts</h2><p>not compared</p>"
    if diff.equal:
        return f"<h2>artifacts</h2><p>identical ({diff.matched} files)</p>"
    rows = [
        [
            _cell(c.name),
            _cell(f"{c.left_size:,} B sha256 {c.left_sha256}"),
            _cell(f"{c.right_size:,} B sha256 {c.right_sha256}"),
        ]
        for c in diff.changed
    ]
    rows += [[_cell(n), _cell("present"), _cell("(missing)")] for n in diff.only_left]
    rows += [[_cell(n), _cell("(missing)"), _cell("present")] for n in diff.only_right]
    return "<h2>artifacts</h2>" + _table(["name", "left", "right"], rows)


def _metric_section(
    m: MetricDiff,
    anchor: str,
    left: tuple[np.ndarray, np.ndarray],
    right: tuple[np.ndarray, np.ndarray],
    diffs: pd.DataFrame,
) -> str:
    parts = [
        f'<section id="{anchor}"><h3>{_esc(m.key)} <span class="{m.status}">{m.status}</span></h3>',
        _svg_plot(m.key, left, right, diffs),
    ]
    if m.first_differences:
        rows = [
            [_cell(v, True) for v in (d.step, d.occurrence, repr(d.left), repr(d.right))]
            for d in m.first_differences
        ]
        parts.append(_table(["step", "#", "left", "right"], rows))
    for side, steps, count in (
        ("left", m.only_left_steps, m.only_left_points),
        ("right", m.only_right_steps, m.only_right_points),
    ):
        if count:
            parts.append(
                f"<p>{_plural(count, 'point')} only on the {side}, first at steps "
                f"{_esc(', '.join(map(str, steps)))}</p>"
            )
    return "".join(parts) + "</section>"


def write_html(comparison: Comparison, left: RunTables, right: RunTables, path: str | Path) -> Path:
    """Write a self-contained HTML report (no scripts, no network) and return its path.

    ``left`` and ``right`` are the runs that were compared; their metric tables give the
    curves, ``comparison`` gives the statuses and the differing points to mark.
    """
    ok = comparison.equal
    ordered = _display_order(comparison.metrics)
    anchors = {m.key: f"metric-{i}" for i, m in enumerate(ordered)}
    summary_rows = [
        [
            f'<td><a href="#{anchors[m.key]}">{_esc(m.key)}</a></td>',
            _cell(m.status, css=m.status),
            *(
                _cell(f"{n:,}", True)
                for n in (
                    m.left_points,
                    m.right_points,
                    m.only_left_points,
                    m.only_right_points,
                    m.differing_points,
                )
            ),
            _cell(_fmt_diff(m.max_abs_diff), True),
            _cell(_fmt_diff(m.max_rel_diff), True),
        ]
        for m in ordered
    ]
    adjustments = "".join(
        f"<li><b>{_esc(a.encoding)}</b>: {_esc(a.description)}; declared by "
        f"{_esc(' and '.join(a.declared_by))} ({_esc('; '.join(a.reasons))}); values changed: "
        f"{a.changed_left:,} left, {a.changed_right:,} right</li>"
        for a in comparison.adjustments
    )
    left_idx, right_idx = _key_indices(left.metrics), _key_indices(right.metrics)
    diff_idx = _key_indices(comparison.differences)
    empty = comparison.differences.iloc[:0]
    sections = [
        _metric_section(
            m,
            anchors[m.key],
            _series(left.metrics, left_idx, m.key),
            _series(right.metrics, right_idx, m.key),
            comparison.differences.iloc[diff_idx[m.key]] if m.key in diff_idx else empty,
        )
        for m in ordered
    ]
    headers = ["key", "status", "points L", "points R", "only L", "only R", "differing"]
    page = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>tracelet validate</title>",
        f"<style>{_CSS}</style></head><body><h1>tracelet validate</h1>",
        f'<p class="verdict {"ok" if ok else "bad"}">{_esc(verdict(comparison))}</p>',
        f"<p>left: <code>{_esc(comparison.left_source or '(left)')}</code><br>"
        f"right: <code>{_esc(comparison.right_source or '(right)')}</code><br>"
        f"values compared {_esc(_tolerance_text(comparison))}</p>",
        f"<h2>precision adjustments</h2><ul>{adjustments}</ul>" if adjustments else "",
        "<h2>metrics</h2>",
        _table([*headers, "max abs", "max rel"], summary_rows) if summary_rows else "<p>none</p>",
        _mapping_html("params", comparison.params),
        _mapping_html("tags", comparison.tags),
        _mapping_html("summary", comparison.summary),
        _mapping_html("added columns", comparison.columns),
        _media_html(comparison.media),
        _artifacts_html(comparison.artifacts),
        '<h2>curves</h2><p class="legend"><span style="color:#1f77b4">━ left</span>'
        '<span style="color:#ff7f0e">╍ right</span>'
        '<span style="color:#d62728">┃ differs / one side only</span></p>',
        *sections,
        "</body></html>",
    ]
    path = Path(path)
    path.write_text("".join(page), encoding="utf-8")
    return path
