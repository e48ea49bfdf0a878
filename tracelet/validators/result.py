"""What a comparison of two runs found: plain dataclasses, no computation beyond summaries.

:func:`tracelet.validators.compare.compare_runs` builds a :class:`Comparison`;
:mod:`tracelet.validators.report` renders it. Metric values shown here (in
:class:`PointDiff` and in ``Comparison.differences``) are the values as read from the
stores; differences and statuses are measured after the precision adjustments listed in
``Comparison.adjustments``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tracelet.validators import exit_codes

if TYPE_CHECKING:
    import pandas as pd

EQUAL = "equal"
DIFFERENT = "different"
ONLY_LEFT = "only-left"
ONLY_RIGHT = "only-right"
STATUSES = (EQUAL, DIFFERENT, ONLY_LEFT, ONLY_RIGHT)

VALUE = "value"
"""``kind`` of a row in ``Comparison.differences``: a paired point whose values differ."""


@dataclass(frozen=True)
class PointDiff:
    """One paired point whose values differ: the ``occurrence``-th point at ``step``."""

    step: int
    occurrence: int
    left: float
    right: float


@dataclass(frozen=True)
class MetricDiff:
    """The comparison of one metric key.

    Points are paired by ``(step, occurrence)``: the n-th point logged at a step on the
    left is paired with the n-th point at that step on the right. ``max_abs_diff`` and
    ``max_rel_diff`` are ``None`` when no point could be paired; a NaN against a number
    counts as an infinite difference.
    """

    key: str
    status: str
    left_points: int
    right_points: int
    matched_points: int
    differing_points: int
    only_left_points: int
    only_right_points: int
    max_abs_diff: float | None
    max_rel_diff: float | None
    first_differences: tuple[PointDiff, ...] = ()
    only_left_steps: tuple[int, ...] = ()
    only_right_steps: tuple[int, ...] = ()

    @property
    def equal(self) -> bool:
        return self.status == EQUAL


@dataclass(frozen=True)
class MappingDiff:
    """Differences between two string mappings (params, tags or summary)."""

    only_left: dict[str, str] = field(default_factory=dict)
    only_right: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    matched: int = 0
    skipped: bool = False

    @property
    def equal(self) -> bool:
        return self.skipped or not (self.only_left or self.only_right or self.changed)


@dataclass(frozen=True)
class ArtifactChange:
    """An artifact present on both sides whose size or checksum differs."""

    name: str
    left_size: int
    right_size: int
    left_sha256: str
    right_sha256: str


@dataclass(frozen=True)
class ArtifactDiff:
    """Differences between two artifact tables, matched by ``name``."""

    only_left: tuple[str, ...] = ()
    only_right: tuple[str, ...] = ()
    changed: tuple[ArtifactChange, ...] = ()
    matched: int = 0
    skipped: bool = False

    @property
    def equal(self) -> bool:
        return self.skipped or not (self.only_left or self.only_right or self.changed)


@dataclass(frozen=True)
class HistoryDiff:
    """The stores' own rows (``RunTables.history``), every column, the n-th row of the
    left against the n-th row of the right; compared only when both stores keep rows.

    ``differing_cells`` counts, per column, the rows whose cells differ (a value against a
    missing one included); numbers are compared after the precision adjustments.
    ``examples`` holds the first ``(row, column, left, right)`` of each column. A reader
    names its step columns in ``history.attrs["step_columns"]``.
    """

    only_left_columns: tuple[str, ...] = ()
    only_right_columns: tuple[str, ...] = ()
    left_rows: int = 0
    right_rows: int = 0
    differing_cells: dict[str, int] = field(default_factory=dict)
    examples: tuple[tuple[int, str, str | None, str | None], ...] = ()
    skipped: bool = False
    renamed_steps: tuple[tuple[str, str], ...] = ()
    """``(left, right)`` step columns (each store's own name for the column that numbers
    every metric's rows, as its reader declares) holding the same cells in every row: the
    same steps under the names the two writers use, so not a difference."""

    @property
    def equal(self) -> bool:
        return self.skipped or not (
            self.only_left_columns
            or self.only_right_columns
            or self.differing_cells
            or self.left_rows != self.right_rows
        )


@dataclass(frozen=True)
class MediaChange:
    """One media item (the ``occurrence``-th of ``kind`` under ``key`` at ``step``) on
    one or both sides; a side without it has ``None``."""

    key: str
    step: int
    kind: str
    occurrence: int
    left: str | None
    right: str | None


@dataclass(frozen=True)
class MediaDiff:
    """Differences between two media tables, matched by key, step, kind and occurrence
    and compared by ``content`` (see :mod:`tracelet.tables`)."""

    only_left: tuple[MediaChange, ...] = ()
    only_right: tuple[MediaChange, ...] = ()
    changed: tuple[MediaChange, ...] = ()
    matched: int = 0
    skipped: bool = False

    @property
    def equal(self) -> bool:
        return self.skipped or not (self.only_left or self.only_right or self.changed)


@dataclass(frozen=True)
class Adjustment:
    """A store's lossy encoding, applied to both runs' values before comparing.

    ``declared_by`` says which side's store loses this information and ``reasons`` how
    it was declared (the ``precision`` argument or a note of the reader).
    ``changed_left`` / ``changed_right`` count the values the encoding altered on each
    side: on the declaring side it is normally 0 (the store already did it).
    """

    encoding: str
    description: str
    declared_by: tuple[str, ...]
    reasons: tuple[str, ...]
    changed_left: int
    changed_right: int


@dataclass
class Comparison:
    """The full result of :func:`~tracelet.validators.compare.compare_runs`.

    ``differences`` is a tidy table of every differing point: columns ``key``, ``step``,
    ``occurrence``, ``left``, ``right`` (values as read; NaN where the side has no point)
    and ``kind`` (``value``, ``only-left`` or ``only-right``), sorted by key and step.
    """

    metrics: list[MetricDiff]
    params: MappingDiff
    tags: MappingDiff
    artifacts: ArtifactDiff
    adjustments: list[Adjustment]
    differences: pd.DataFrame = field(repr=False)
    rtol: float = 0.0
    atol: float = 0.0
    left_source: str = ""
    right_source: str = ""
    history: HistoryDiff = field(default_factory=lambda: HistoryDiff(skipped=True))
    #: the runs' summary values (``RunTables.summary``), compared as strings
    summary: MappingDiff = field(default_factory=MappingDiff)
    #: the columns each store holds that a writer added (``RunTables.added_columns``):
    #: a store with a step column the other lacks does not hold the same history
    columns: MappingDiff = field(default_factory=MappingDiff)
    #: media, compared when both stores' readers read them
    media: MediaDiff = field(default_factory=lambda: MediaDiff(skipped=True))

    @property
    def differing_keys(self) -> list[str]:
        """Metric keys whose status is not ``equal``, in key order."""
        return [m.key for m in self.metrics if not m.equal]

    @property
    def equal(self) -> bool:
        """True when metrics, params, tags, summary, artifacts, added columns, media and the
        stores' own rows all match (metrics within tolerance)."""
        return (
            not self.differing_keys
            and self.params.equal
            and self.tags.equal
            and self.summary.equal
            and self.artifacts.equal
            and self.history.equal
            and self.columns.equal
            and self.media.equal
        )

    @property
    def exit_code(self) -> int:
        """:data:`~tracelet.validators.exit_codes.EQUAL` or ``DIFFERENT``."""
        return exit_codes.EQUAL if self.equal else exit_codes.DIFFERENT

    def status_counts(self) -> dict[str, int]:
        """How many metric keys have each status (every status present, possibly 0)."""
        counts = dict.fromkeys(STATUSES, 0)
        for metric in self.metrics:
            counts[metric.status] += 1
        return counts
