"""Diff two runs' tables: metrics point by point, then params, tags, summary and artifacts.

>>> from tracelet.tables import RunTables, metrics_frame
>>> left = RunTables(metrics_frame([("loss", 0, 0.5, 0.0), ("loss", 1, 0.25, 1.0)]))
>>> right = RunTables(metrics_frame([("loss", 0, 0.5, 7.0), ("loss", 1, 0.3, 8.0)]))
>>> result = compare_runs(left, right)
>>> result.differing_keys, result.exit_code
(['loss'], 1)
>>> result.metrics[0].first_differences[0]
PointDiff(step=1, occurrence=0, left=0.25, right=0.3)

How points are matched
    Within a metric key, the n-th point logged at a step on the left is paired with the
    n-th point at that step on the right (order of appearance in the table), so a step
    repeated several times (most stores keep them all) is compared point by
    point, never collapsed. A point without a partner is reported as only-left or
    only-right. ``wall_time`` is never compared: two runs never share clocks.

When two values are equal
    NaN equals NaN; otherwise IEEE equality (so ``-0.0 == 0.0`` and ``inf == inf``), or,
    with a tolerance, ``|l - r| <= max(atol, rtol * max(|l|, |r|))`` (symmetric, like
    :func:`math.isclose`). The default is exact. A NaN against a number, or an infinity
    against a finite value, is an infinite difference whatever the tolerance.

Store precision
    Some stores lose information on write (see :data:`ENCODINGS`: each tracker module
    lists its own). When a side is declared lossy, either by the ``precision`` argument
    (``{"left": "float32"}``) or by its reader in ``RunTables.encodings``, the encoding
    is applied to the values of *both* sides before comparing. On the declaring side it
    changes nothing (the store already did it); applying it there too keeps two
    different lossy stores comparable (one store keeps
    ``inf`` in float32, another writes max-float: rounding both sides to float32 and
    then mapping infinities makes both ``max-float``). Every encoding used is listed in
    ``Comparison.adjustments`` with the number of values it changed on each side, so a
    user sees why two values were considered equal.

Statuses
    per key: ``equal``, ``different`` (a value differs or a point has no partner),
    ``only-left`` / ``only-right`` (the key exists on one side only; never dropped).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tracelet.backends.registry import TRACKERS
from tracelet.tables import Encoding
from tracelet.validators.result import (
    DIFFERENT,
    EQUAL,
    ONLY_LEFT,
    ONLY_RIGHT,
    VALUE,
    Adjustment,
    ArtifactChange,
    ArtifactDiff,
    Comparison,
    HistoryDiff,
    MappingDiff,
    MediaChange,
    MediaDiff,
    MetricDiff,
    PointDiff,
)

if TYPE_CHECKING:
    import pandas as pd

    from tracelet.tables import RunTables

SIDES = ("left", "right")
SECTIONS = ("params", "tags", "summary", "artifacts", "columns", "media")


def _known_encodings() -> dict[str, Encoding]:
    found = [e for t in TRACKERS.values() for e in t.module.ENCODINGS]
    return {e.name: e for e in sorted(found, key=lambda e: e.rank)}


ENCODINGS: dict[str, Encoding] = _known_encodings()
"""Known encodings by name (each tracker module's ``ENCODINGS``), in the order applied."""

STORE_REASON = "the store's reader"


def compare_runs(
    left: RunTables,
    right: RunTables,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    precision: Mapping[str, str | Iterable[str]] | None = None,
    store_encodings: bool = True,
    skip: Collection[str] = (),
    max_examples: int = 5,
    store_rows: bool = False,
) -> Comparison:
    """Compare two runs read back from their stores.

    ``precision`` declares lossy stores per side (``{"right": ["float32"]}``; names from
    :data:`ENCODINGS`); with ``store_encodings`` (the default) the readers' declared
    ``RunTables.encodings`` apply too. ``skip`` names sections left out of the verdict
    (``"params"``, ``"tags"``, ``"summary"``, ``"artifacts"``, ``"columns"``: the columns a
    writer added to a store, ``RunTables.added_columns``; ``"media"``, compared only when
    both readers read media); summary values (``RunTables.summary``) are compared as their
    strings, like params. ``max_examples`` bounds the differing points and one-sided steps
    kept per key (``Comparison.differences`` keeps them all). ``store_rows`` also compares
    every column of the stores' own rows (``RunTables.history``, when both keep them:
    ``Comparison.history``), as script mode does: two runs of the same script must leave
    the same rows, bookkeeping included; the added columns are then compared there.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"tolerances must be >= 0, got rtol={rtol}, atol={atol}")
    unknown = set(skip) - set(SECTIONS)
    if unknown:
        raise ValueError(f"cannot skip {sorted(unknown)}: choose from {list(SECTIONS)}")
    declared = _declared_encodings(left, right, precision, store_encodings)
    left_raw = _metric_column(left, "value", np.float64)
    right_raw = _metric_column(right, "value", np.float64)
    left_values, right_values, adjustments = _adjust(left_raw, right_raw, declared)
    metrics, differences = _compare_metrics(
        left, right, left_values, right_values, left_raw, right_raw, rtol, atol, max_examples
    )
    return Comparison(
        metrics=metrics,
        params=MappingDiff(skipped=True)
        if "params" in skip
        else _compare_mapping(left.params, right.params),
        tags=MappingDiff(skipped=True)
        if "tags" in skip
        else _compare_mapping(left.tags, right.tags),
        summary=MappingDiff(skipped=True)
        if "summary" in skip
        else _compare_mapping(left.summary, right.summary),
        artifacts=ArtifactDiff(skipped=True)
        if "artifacts" in skip
        else _compare_artifacts(left.artifacts, right.artifacts),
        adjustments=adjustments,
        differences=differences,
        rtol=float(rtol),
        atol=float(atol),
        left_source=left.source,
        right_source=right.source,
        history=_compare_history(left, right, declared, max_examples)
        if store_rows
        else HistoryDiff(skipped=True),
        # the stores' own rows, when compared, hold those columns cell by cell (a step
        # column renamed included), so the added-columns section would say it twice
        columns=MappingDiff(skipped=True)
        if "columns" in skip
        or (store_rows and left.history is not None and right.history is not None)
        else _compare_columns(left.added_columns, right.added_columns),
        media=MediaDiff(skipped=True)
        if "media" in skip or left.media is None or right.media is None
        else _compare_media(left.media, right.media),
    )


def _compare_history(
    left: RunTables,
    right: RunTables,
    declared: dict[str, list[tuple[str, str]]],
    max_examples: int,
) -> HistoryDiff:
    """Every column of the stores' own rows, row by row (see :class:`HistoryDiff`)."""
    if left.history is None or right.history is None:
        return HistoryDiff(skipped=True)
    lcols, rcols = set(left.history.columns), set(right.history.columns)
    rows = min(len(left.history), len(right.history))
    counts: dict[str, int] = {}
    examples = []
    for column in sorted(lcols & rcols):
        lvals = left.history[column].iloc[:rows].tolist()
        rvals = right.history[column].iloc[:rows].tolist()
        bad = [i for i in range(rows) if not _same_cell(lvals[i], rvals[i], declared)]
        if bad:
            counts[column] = len(bad)
            examples += [(i, column, lvals[i], rvals[i]) for i in bad[:max_examples]]
    only_left, only_right = sorted(lcols - rcols), sorted(rcols - lcols)
    renamed = _renamed_steps(left.history, right.history, only_left, only_right)
    for left_name, right_name in renamed:
        only_left.remove(left_name)
        only_right.remove(right_name)
    return HistoryDiff(
        renamed_steps=tuple(renamed),
        only_left_columns=tuple(only_left),
        only_right_columns=tuple(only_right),
        left_rows=len(left.history),
        right_rows=len(right.history),
        differing_cells=counts,
        examples=tuple(examples),
    )


def _renamed_steps(
    left: pd.DataFrame, right: pd.DataFrame, only_left: list[str], only_right: list[str]
) -> list[tuple[str, str]]:
    """Pairs of one-sided step columns (declared by each reader) with the same cells."""
    if len(left) != len(right):
        return []
    pairs = []
    right_steps = [c for c in right.attrs.get("step_columns", ()) if c in only_right]
    for name in left.attrs.get("step_columns", ()):
        if name not in only_left:
            continue
        cells = left[name].tolist()
        match = next((r for r in right_steps if right[r].tolist() == cells), None)
        if match is not None:
            right_steps.remove(match)
            pairs.append((name, match))
    return pairs


def _same_cell(left: str | None, right: str | None, declared) -> bool:
    """Equal text, or equal numbers once the declared encodings are applied to both."""
    if left == right:
        return True
    if left is None or right is None:
        return False
    try:
        values = np.array([float(left), float(right)])
    except ValueError:
        return False
    for name, encoding in ENCODINGS.items():
        if name in declared:
            values = encoding.apply(values)
    return bool(values[0] == values[1] or (np.isnan(values[0]) and np.isnan(values[1])))


def _encoding_name(name: str) -> str:
    if name not in ENCODINGS:
        known = sorted(ENCODINGS)
        raise ValueError(f"unknown precision {name!r}: choose from {known}")
    return name


def _declared_encodings(
    left: RunTables,
    right: RunTables,
    precision: Mapping[str, str | Iterable[str]] | None,
    store_encodings: bool,
) -> dict[str, list[tuple[str, str]]]:
    """encoding name -> [(side, reason)] for every declaration, argument or store."""
    declared: dict[str, list[tuple[str, str]]] = {}
    for side, names in (precision or {}).items():
        if side not in SIDES:
            raise ValueError(f"precision side must be 'left' or 'right', got {side!r}")
        for name in [names] if isinstance(names, str) else names:
            declared.setdefault(_encoding_name(name), []).append(
                (side, f"precision argument {name!r}")
            )
    if store_encodings:
        for side, run in zip(SIDES, (left, right), strict=True):
            for encoding in run.encodings:
                declared.setdefault(_encoding_name(encoding.name), []).append((side, STORE_REASON))
    return declared


def _adjust(
    left: np.ndarray, right: np.ndarray, declared: dict[str, list[tuple[str, str]]]
) -> tuple[np.ndarray, np.ndarray, list[Adjustment]]:
    adjustments = []
    for name, encoding in ENCODINGS.items():
        if name not in declared:
            continue
        new_left, new_right = encoding.apply(left), encoding.apply(right)
        sides = tuple(dict.fromkeys(side for side, _ in declared[name]))
        adjustments.append(
            Adjustment(
                encoding=name,
                description=encoding.description,
                declared_by=sides,
                reasons=tuple(dict.fromkeys(reason for _, reason in declared[name])),
                changed_left=_count_changed(left, new_left),
                changed_right=_count_changed(right, new_right),
            )
        )
        left, right = new_left, new_right
    return left, right, adjustments


def _count_changed(before: np.ndarray, after: np.ndarray) -> int:
    return int(np.count_nonzero(before.view(np.int64) != after.view(np.int64)))


def _metric_series(run: RunTables, column: str) -> pd.Series:
    try:
        return run.metrics[column]
    except KeyError:
        raise ValueError(
            f"metrics table of {run.source or 'a run'} has no {column!r} column; "
            "build it with tracelet.tables.metrics_frame"
        ) from None


def _metric_column(run: RunTables, column: str, dtype: type) -> np.ndarray:
    return _metric_series(run, column).to_numpy(dtype=dtype)


def _compare_metrics(
    left: RunTables,
    right: RunTables,
    left_values: np.ndarray,
    right_values: np.ndarray,
    left_raw: np.ndarray,
    right_raw: np.ndarray,
    rtol: float,
    atol: float,
    max_examples: int,
) -> tuple[list[MetricDiff], pd.DataFrame]:
    import pandas as pd

    n_left = len(left_values)
    keys = pd.concat([_metric_series(left, "key"), _metric_series(right, "key")], ignore_index=True)
    codes, names = pd.factorize(keys, sort=True, use_na_sentinel=False)
    codes = codes.astype(np.int64)
    steps = np.concatenate(
        [_metric_column(left, "step", np.int64), _metric_column(right, "step", np.int64)]
    )
    n_keys = len(names)
    a = _align(_group_ids(codes, steps, n_keys), n_left)

    values_l, values_r = left_values[a.left], right_values[a.right]
    ok, abs_diff, rel_diff = _value_match(values_l, values_r, rtol, atol)
    pair_codes = codes[a.left]
    bad = np.flatnonzero(~ok)

    def per_key(selected_codes: np.ndarray) -> np.ndarray:
        return np.bincount(selected_codes, minlength=n_keys)

    left_points, right_points = per_key(codes[:n_left]), per_key(codes[n_left:])
    matched, differing = per_key(pair_codes), per_key(pair_codes[bad])
    only_left_codes, only_right_codes = codes[a.only_left], codes[n_left + a.only_right]
    only_left, only_right = per_key(only_left_codes), per_key(only_right_codes)
    max_abs, max_rel = _max_per_key(matched, abs_diff), _max_per_key(matched, rel_diff)

    examples: dict[int, list[PointDiff]] = {}
    for i in bad[_first_per_group(pair_codes[bad], max_examples)]:
        examples.setdefault(int(pair_codes[i]), []).append(
            PointDiff(
                int(steps[a.left[i]]),
                int(a.pair_occurrence[i]),
                float(left_raw[a.left[i]]),
                float(right_raw[a.right[i]]),
            )
        )
    left_steps = _steps_per_key(only_left_codes, steps[a.only_left], max_examples)
    right_steps = _steps_per_key(only_right_codes, steps[n_left + a.only_right], max_examples)

    metrics = []
    for code, name in enumerate(names):
        if right_points[code] == 0:
            status = ONLY_LEFT
        elif left_points[code] == 0:
            status = ONLY_RIGHT
        elif differing[code] or only_left[code] or only_right[code]:
            status = DIFFERENT
        else:
            status = EQUAL
        metrics.append(
            MetricDiff(
                key=str(name),
                status=status,
                left_points=int(left_points[code]),
                right_points=int(right_points[code]),
                matched_points=int(matched[code]),
                differing_points=int(differing[code]),
                only_left_points=int(only_left[code]),
                only_right_points=int(only_right[code]),
                max_abs_diff=None if matched[code] == 0 else float(max_abs[code]),
                max_rel_diff=None if matched[code] == 0 else float(max_rel[code]),
                first_differences=tuple(examples.get(code, ())),
                only_left_steps=left_steps.get(code, ()),
                only_right_steps=right_steps.get(code, ()),
            )
        )
    differences = _differences_frame(
        names,
        [
            (VALUE, pair_codes[bad], a.left[bad], a.pair_occurrence[bad], a.right[bad]),
            (ONLY_LEFT, only_left_codes, a.only_left, a.only_left_occurrence, None),
            (ONLY_RIGHT, only_right_codes, a.only_right, a.only_right_occurrence, None),
        ],
        steps,
        n_left,
        left_raw,
        right_raw,
    )
    return metrics, differences


def _group_ids(codes: np.ndarray, steps: np.ndarray, n_keys: int) -> np.ndarray:
    """One int64 per row, ordered like ``(key code, step)``, equal for equal pairs."""
    if len(steps) == 0:
        return steps
    low = int(steps.min())
    span = int(steps.max()) - low + 1
    if n_keys * span < 2**62:
        return codes * span + (steps - low)
    step_rank = np.unique(steps, return_inverse=True)[1].astype(np.int64)
    return codes * (int(step_rank.max()) + 1) + step_rank


@dataclass
class _Alignment:
    """Row indices (into each side's table) of paired and unpaired points."""

    left: np.ndarray
    right: np.ndarray
    pair_occurrence: np.ndarray
    only_left: np.ndarray
    only_left_occurrence: np.ndarray
    only_right: np.ndarray
    only_right_occurrence: np.ndarray


def _align(group: np.ndarray, n_left: int) -> _Alignment:
    """Pair the n-th left point of each (key, step) with the n-th right point.

    One stable sort of both sides together: within a group the left rows come first
    (they come first in the concatenation), each side in order of appearance. The
    left row with occurrence ``o`` at sorted position ``p`` has its partner at
    ``p + (left rows in the group)``. Every output is ordered by (key, step, occurrence).
    """
    order = np.argsort(group, kind="stable")
    n = len(order)
    is_left = order < n_left
    starts = np.empty(n, dtype=bool)
    starts[:1] = True
    np.not_equal(group[order][1:], group[order][:-1], out=starts[1:])
    group_start = np.flatnonzero(starts)
    group_of = np.cumsum(starts) - 1
    lefts_in_group = np.add.reduceat(is_left.astype(np.intp), group_start) if n else group_start
    rights_in_group = np.diff(np.append(group_start, n)) - lefts_in_group

    at_left = np.flatnonzero(is_left)
    g = group_of[at_left]
    left_occurrence = at_left - group_start[g]
    paired = left_occurrence < rights_in_group[g]
    at_right = np.flatnonzero(~is_left)
    h = group_of[at_right]
    right_occurrence = at_right - group_start[h] - lefts_in_group[h]
    unpaired_right = right_occurrence >= lefts_in_group[h]
    return _Alignment(
        left=order[at_left[paired]],
        right=order[at_left[paired] + lefts_in_group[g[paired]]] - n_left,
        pair_occurrence=left_occurrence[paired],
        only_left=order[at_left[~paired]],
        only_left_occurrence=left_occurrence[~paired],
        only_right=order[at_right[unpaired_right]] - n_left,
        only_right_occurrence=right_occurrence[unpaired_right],
    )


def _value_match(
    left: np.ndarray, right: np.ndarray, rtol: float, atol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(within tolerance, absolute difference, relative difference) per pair."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        same = (left == right) | (np.isnan(left) & np.isnan(right))
        abs_diff = np.abs(left - right)
        scale = np.maximum(np.abs(left), np.abs(right))
        rel_diff = abs_diff / scale
        ok = same | (np.isfinite(abs_diff) & (abs_diff <= np.maximum(atol, rtol * scale)))
    for diff in (abs_diff, rel_diff):
        diff[same] = 0.0
        diff[np.isnan(diff)] = np.inf
    return ok, abs_diff, rel_diff


def _max_per_key(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Max of ``values`` over each key's contiguous run (``counts`` rows per key)."""
    result = np.full(len(counts), np.nan)
    present = counts > 0
    if present.any():
        starts = (np.cumsum(counts) - counts)[present]
        result[present] = np.maximum.reduceat(values, starts)
    return result


def _first_per_group(sorted_codes: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the first ``limit`` rows of each run of equal codes."""
    n = len(sorted_codes)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    position = np.arange(n)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=starts[1:])
    rank = position - np.maximum.accumulate(np.where(starts, position, 0))
    return np.flatnonzero(rank < limit)


def _steps_per_key(
    sorted_codes: np.ndarray, steps: np.ndarray, limit: int
) -> dict[int, tuple[int, ...]]:
    found: dict[int, list[int]] = {}
    for i in _first_per_group(sorted_codes, limit):
        found.setdefault(int(sorted_codes[i]), []).append(int(steps[i]))
    return {code: tuple(values) for code, values in found.items()}


def _differences_frame(
    names: pd.Index,
    pieces: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]],
    steps: np.ndarray,
    n_left: int,
    left_raw: np.ndarray,
    right_raw: np.ndarray,
) -> pd.DataFrame:
    """Every differing point; ``pieces`` are (kind, codes, rows, occurrence, right rows)."""
    import pandas as pd

    codes, step, occurrence, left, right, kind = [], [], [], [], [], []
    for piece_kind, piece_codes, rows, occ, right_rows in pieces:
        missing = np.full(len(rows), np.nan)
        codes.append(piece_codes)
        occurrence.append(occ)
        kind.append(np.full(len(rows), piece_kind, dtype=object))
        if piece_kind == ONLY_RIGHT:
            step.append(steps[n_left + rows])
            left.append(missing)
            right.append(right_raw[rows])
        else:
            step.append(steps[rows])
            left.append(left_raw[rows])
            right.append(missing if right_rows is None else right_raw[right_rows])
    columns = [np.concatenate(c) for c in (codes, step, occurrence, left, right, kind)]
    order = np.lexsort((columns[2], columns[1], columns[0]))
    key_names = np.asarray(names, dtype=object)
    return pd.DataFrame(
        {
            "key": key_names[columns[0][order]],
            "step": columns[1][order].astype(np.int64),
            "occurrence": columns[2][order].astype(np.int64),
            "left": columns[3][order],
            "right": columns[4][order],
            "kind": columns[5][order],
        }
    )


def _as_dict(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["key"].astype(str), frame["value"].astype(str), strict=True))


def _compare_mapping(left: pd.DataFrame, right: pd.DataFrame) -> MappingDiff:
    lmap, rmap = _as_dict(left), _as_dict(right)
    return MappingDiff(
        only_left={k: v for k, v in sorted(lmap.items()) if k not in rmap},
        only_right={k: v for k, v in sorted(rmap.items()) if k not in lmap},
        changed={k: (v, rmap[k]) for k, v in sorted(lmap.items()) if k in rmap and rmap[k] != v},
        matched=sum(1 for k, v in lmap.items() if rmap.get(k) == v),
    )


def _compare_columns(left: Mapping[str, str], right: Mapping[str, str]) -> MappingDiff:
    """Added columns match by name; their descriptions (with value counts) by text."""
    return MappingDiff(
        only_left={k: v for k, v in sorted(left.items()) if k not in right},
        only_right={k: v for k, v in sorted(right.items()) if k not in left},
        changed={k: (v, right[k]) for k, v in sorted(left.items()) if k in right and right[k] != v},
        matched=sum(1 for k, v in left.items() if right.get(k) == v),
    )


def _compare_media(left: pd.DataFrame, right: pd.DataFrame) -> MediaDiff:
    """Pair the n-th item of a kind under a key at a step on each side; compare content."""

    def items(frame: pd.DataFrame) -> dict[tuple[str, int, str, int], str]:
        seen: dict[tuple[str, int, str], int] = {}
        out = {}
        for key, step, kind, content in zip(
            frame["key"], frame["step"], frame["kind"], frame["content"], strict=True
        ):
            slot = (str(key), int(step), str(kind))
            occurrence = seen.get(slot, 0)
            seen[slot] = occurrence + 1
            out[(*slot, occurrence)] = str(content)
        return out

    lmap, rmap = items(left), items(right)
    changed = [
        MediaChange(*slot, lmap[slot], rmap[slot])
        for slot in sorted(lmap.keys() & rmap.keys())
        if lmap[slot] != rmap[slot]
    ]
    return MediaDiff(
        only_left=tuple(MediaChange(*s, lmap[s], None) for s in sorted(lmap.keys() - rmap.keys())),
        only_right=tuple(MediaChange(*s, None, rmap[s]) for s in sorted(rmap.keys() - lmap.keys())),
        changed=tuple(changed),
        matched=len(lmap.keys() & rmap.keys()) - len(changed),
    )


def _compare_artifacts(left: pd.DataFrame, right: pd.DataFrame) -> ArtifactDiff:
    """Match by name; compare sha256 when both sides know it, and sizes."""

    def by_name(frame: pd.DataFrame) -> dict[str, tuple[int, str]]:
        return {
            str(name): (int(size), str(sha or ""))
            for name, size, sha in zip(frame["name"], frame["size"], frame["sha256"], strict=True)
        }

    lmap, rmap = by_name(left), by_name(right)
    changed, matched = [], 0
    for name in sorted(lmap.keys() & rmap.keys()):
        (lsize, lsha), (rsize, rsha) = lmap[name], rmap[name]
        if lsize != rsize or (lsha and rsha and lsha != rsha):
            changed.append(ArtifactChange(name, lsize, rsize, lsha, rsha))
        else:
            matched += 1
    return ArtifactDiff(
        only_left=tuple(sorted(lmap.keys() - rmap.keys())),
        only_right=tuple(sorted(rmap.keys() - lmap.keys())),
        changed=tuple(changed),
        matched=matched,
    )
