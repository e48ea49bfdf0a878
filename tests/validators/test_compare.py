"""compare_runs: two runs' tables in, statuses, differences and adjustments out."""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest

from tracelet.backends.mlflow import SQLITE_ENCODING
from tracelet.backends.tensorboard import FLOAT32_ENCODING
from tracelet.tables import RunTables, artifacts_frame, metrics_frame, params_frame, tags_frame
from tracelet.validators import exit_codes
from tracelet.validators.compare import compare_runs
from tracelet.validators.report import verdict

MAX = 1.7976931348623157e308
INF = float("inf")
NAN = float("nan")


def run(points, encodings=(), **tables) -> RunTables:
    """A run from ``(key, step, value)`` points; wall times are irrelevant to the diff."""
    rows = [(key, step, value, float(i)) for i, (key, step, value) in enumerate(points)]
    return RunTables(metrics=metrics_frame(rows), encodings=tuple(encodings), **tables)


def by_key(comparison):
    return {m.key: m for m in comparison.metrics}


CURVE = [("loss", s, 1.0 / (s + 1)) for s in range(10)] + [("acc", s, s / 10) for s in range(10)]


def test_identical_runs_are_equal_and_exit_0():
    result = compare_runs(run(CURVE), run(CURVE))

    assert result.equal
    assert result.exit_code == exit_codes.EQUAL == 0
    assert [(m.key, m.status, m.matched_points) for m in result.metrics] == [
        ("acc", "equal", 10),
        ("loss", "equal", 10),
    ]
    assert by_key(result)["loss"].max_abs_diff == 0.0
    assert result.differences.empty


def test_one_changed_value_names_key_and_step():
    right = [(k, s, v + 0.5 if (k, s) == ("loss", 3) else v) for k, s, v in CURVE]

    result = compare_runs(run(CURVE), run(right))

    assert result.exit_code == exit_codes.DIFFERENT == 1
    assert result.differing_keys == ["loss"]
    loss = by_key(result)["loss"]
    assert loss.status == "different"
    assert loss.differing_points == 1
    assert loss.max_abs_diff == pytest.approx(0.5)
    assert loss.max_rel_diff == pytest.approx(0.5 / 0.75)
    assert [(d.step, d.left, d.right) for d in loss.first_differences] == [(3, 0.25, 0.75)]
    assert result.differences[["key", "step", "left", "right", "kind"]].values.tolist() == [
        ["loss", 3, 0.25, 0.75, "value"]
    ]
    assert by_key(result)["acc"].status == "equal"


def test_key_only_on_one_side_is_reported_not_dropped():
    left = [*CURVE, ("lr", 0, 0.1)]
    right = [*CURVE, ("grad_norm", 0, 3.0), ("grad_norm", 1, 2.0)]

    result = compare_runs(run(left), run(right))

    keys = by_key(result)
    assert keys["lr"].status == "only-left"
    assert (keys["lr"].left_points, keys["lr"].right_points) == (1, 0)
    assert keys["lr"].max_abs_diff is None
    assert keys["grad_norm"].status == "only-right"
    assert keys["grad_norm"].only_right_steps == (0, 1)
    assert result.differing_keys == ["grad_norm", "lr"]
    assert sorted(result.differences["kind"]) == ["only-left", "only-right", "only-right"]


def test_step_only_on_one_side():
    right = [p for p in CURVE if p[:2] != ("acc", 4)] + [("acc", 10, 1.0)]

    result = compare_runs(run(CURVE), run(right))

    acc = by_key(result)["acc"]
    assert acc.status == "different"
    assert (acc.only_left_points, acc.only_left_steps) == (1, (4,))
    assert (acc.only_right_points, acc.only_right_steps) == (1, (10,))
    assert acc.differing_points == 0
    assert acc.matched_points == 9


def test_nan_equals_nan_but_not_a_number():
    left = run([("m", 0, NAN), ("m", 1, NAN)])

    assert compare_runs(left, run([("m", 0, NAN), ("m", 1, NAN)])).equal
    result = compare_runs(left, run([("m", 0, NAN), ("m", 1, 0.0)]))
    m = by_key(result)["m"]
    assert m.status == "different"
    assert m.max_abs_diff == INF
    assert [(d.step, math.isnan(d.left), d.right) for d in m.first_differences] == [(1, True, 0.0)]


def test_signed_zeros_compare_equal():
    assert compare_runs(run([("m", 0, -0.0)]), run([("m", 0, 0.0)])).equal


def test_inf_vs_max_float_equal_only_with_mlflow_sqlite_adjustment():
    original = run([("m", 0, INF), ("m", 1, -INF), ("m", 2, -0.0), ("m", 3, 1.5)])
    mlflow = [("m", 0, MAX), ("m", 1, -MAX), ("m", 2, 0.0), ("m", 3, 1.5)]

    plain = compare_runs(original, run(mlflow))
    assert plain.differing_keys == ["m"]
    assert by_key(plain)["m"].differing_points == 2
    assert plain.adjustments == []

    by_argument = compare_runs(original, run(mlflow), precision={"right": "mlflow-sqlite"})
    by_note = compare_runs(original, run(mlflow, encodings=[SQLITE_ENCODING]))
    for result in (by_argument, by_note):
        assert result.equal
        [adjustment] = result.adjustments
        assert adjustment.encoding == "mlflow-sqlite"
        assert adjustment.declared_by == ("right",)
        assert (adjustment.changed_left, adjustment.changed_right) == (3, 0)
    assert by_note.adjustments[0].reasons == ("the store's reader",)

    ignored = compare_runs(
        original, run(mlflow, encodings=[SQLITE_ENCODING]), store_encodings=False
    )
    assert not ignored.equal


def test_float32_rounding_equal_only_with_float32_adjustment():
    exact = [("m", 0, 0.1), ("m", 1, 0.1 + 0.2), ("m", 2, 1e-300), ("m", 3, 2.0**40 + 1)]
    tensorboard = [("m", 0, 0.10000000149011612), ("m", 1, 0.30000001192092896)]
    tensorboard += [("m", 2, 0.0), ("m", 3, 1099511627776.0)]

    assert by_key(compare_runs(run(exact), run(tensorboard)))["m"].differing_points == 4
    by_argument = compare_runs(run(tensorboard), run(exact), precision={"left": ["float32"]})
    by_note = compare_runs(run(exact), run(tensorboard, encodings=[FLOAT32_ENCODING]))
    for result in (by_argument, by_note):
        assert result.equal
        assert [a.encoding for a in result.adjustments] == ["float32"]
    assert (by_note.adjustments[0].changed_left, by_note.adjustments[0].changed_right) == (4, 0)


def test_float32_adjustment_still_catches_real_differences():
    result = compare_runs(
        run([("m", 0, 0.1), ("m", 1, 0.2)]),
        run([("m", 0, 0.10000000149011612), ("m", 1, 0.2001)], encodings=[FLOAT32_ENCODING]),
    )
    m = by_key(result)["m"]
    assert m.differing_points == 1
    assert [(d.step, d.left, d.right) for d in m.first_differences] == [(1, 0.2, 0.2001)]


def test_tensorboard_against_mlflow_sqlite_uses_both_encodings():
    tensorboard = run([("m", 0, INF), ("m", 1, 0.10000000149011612)], encodings=[FLOAT32_ENCODING])
    mlflow = run([("m", 0, MAX), ("m", 1, 0.1)], encodings=[SQLITE_ENCODING])

    result = compare_runs(tensorboard, mlflow)

    assert result.equal
    assert [(a.encoding, a.declared_by) for a in result.adjustments] == [
        ("float32", ("left",)),
        ("mlflow-sqlite", ("right",)),
    ]


def test_relative_and_absolute_tolerance():
    left, right = run([("m", 0, 1.0), ("m", 1, 0.0)]), run([("m", 0, 1.001), ("m", 1, 1e-9)])

    assert not compare_runs(left, right).equal
    assert not compare_runs(left, right, rtol=1e-2).equal  # 0 vs 1e-9 needs atol
    assert compare_runs(left, right, rtol=1e-2, atol=1e-8).equal
    assert compare_runs(left, right, atol=0.01).equal
    strict = compare_runs(left, right, rtol=1e-4, atol=1e-8)
    assert [d.step for d in by_key(strict)["m"].first_differences] == [0]
    assert not compare_runs(run([("m", 0, INF)]), run([("m", 0, MAX)]), rtol=1.0).equal


def test_duplicate_points_at_one_step_are_matched_in_order():
    left = run([("m", 0, 1.0), ("m", 1, 5.0), ("m", 0, 2.0)])

    assert compare_runs(left, run([("m", 0, 1.0), ("m", 0, 2.0), ("m", 1, 5.0)])).equal

    swapped = by_key(compare_runs(left, run([("m", 0, 2.0), ("m", 0, 1.0), ("m", 1, 5.0)])))["m"]
    assert [(d.step, d.occurrence, d.left, d.right) for d in swapped.first_differences] == [
        (0, 0, 1.0, 2.0),
        (0, 1, 2.0, 1.0),
    ]

    extra = compare_runs(run([("m", 0, 1.0), ("m", 0, 2.0), ("m", 0, 3.0)]), left)
    m = by_key(extra)["m"]
    assert (m.matched_points, m.only_left_points, m.only_left_steps) == (2, 1, (0,))
    assert (m.only_right_points, m.only_right_steps) == (1, (1,))
    only_left = extra.differences[extra.differences["kind"] == "only-left"]
    assert only_left[["step", "occurrence", "left"]].values.tolist() == [[0, 2, 3.0]]


def test_interleaved_keys_and_unsorted_steps():
    left = run([("a", 2, 1.0), ("b", 0, 5.0), ("a", 0, 3.0), ("b", 1, 6.0)])
    right = run([("b", 1, 6.0), ("a", 0, 3.0), ("a", 2, 1.0), ("b", 0, 5.0)])

    assert compare_runs(left, right).equal


def _reference(left_points, right_points, max_examples):
    """Pure-Python pairing: the n-th point at (key, step) on each side."""

    def grouped(points):
        groups = defaultdict(list)
        for key, step, value in points:
            groups[key, step].append(value)
        return groups

    lg, rg = grouped(left_points), grouped(right_points)
    result = defaultdict(lambda: {"differing": [], "only_left": [], "only_right": []})
    for key, step in sorted(lg.keys() | rg.keys()):
        lv, rv = lg.get((key, step), []), rg.get((key, step), [])
        entry = result[key]
        for a, b in zip(lv, rv, strict=False):
            if not (a == b or (math.isnan(a) and math.isnan(b))):
                entry["differing"].append(step)
        entry["only_left"] += [step] * max(0, len(lv) - len(rv))
        entry["only_right"] += [step] * max(0, len(rv) - len(lv))
    return {key: {k: v[:max_examples] for k, v in e.items()} for key, e in result.items()}


@pytest.mark.parametrize("step_scale", [1, 2**60])
def test_vectorised_pairing_agrees_with_a_plain_reference(step_scale):
    rng = random.Random(7)
    values = [0.0, 1.0, 2.0, NAN]

    def points(n):
        return [
            (rng.choice("abcd"), rng.randrange(6) * step_scale - 4 * step_scale, rng.choice(values))
            for _ in range(n)
        ]

    for _ in range(20):
        left_points, right_points = points(rng.randrange(40)), points(rng.randrange(40))
        result = compare_runs(run(left_points), run(right_points), max_examples=100)
        expected = _reference(left_points, right_points, 100)
        assert sorted(expected) == [m.key for m in result.metrics]
        for m in result.metrics:
            assert [d.step for d in m.first_differences] == expected[m.key]["differing"]
            assert list(m.only_left_steps) == expected[m.key]["only_left"]
            assert list(m.only_right_steps) == expected[m.key]["only_right"]


def test_max_examples_bounds_the_listed_points_not_the_counts():
    left = run([("m", s, 0.0) for s in range(20)])
    right = run([("m", s, 1.0) for s in range(20)])

    m = by_key(compare_runs(left, right, max_examples=3))["m"]

    assert m.differing_points == 20
    assert [d.step for d in m.first_differences] == [0, 1, 2]


def test_params_and_tags_differences():
    left = run(CURVE, params=params_frame({"lr": 0.1, "bs": 32}), tags=tags_frame({"a": "1"}))
    right = run(CURVE, params=params_frame({"lr": 0.2, "opt": "adam"}), tags=tags_frame({"a": "1"}))

    result = compare_runs(left, right)

    assert result.exit_code == 1
    assert result.differing_keys == []
    assert result.params.changed == {"lr": ("0.1", "0.2")}
    assert result.params.only_left == {"bs": "32"}
    assert result.params.only_right == {"opt": "adam"}
    assert result.tags.equal and result.tags.matched == 1
    assert compare_runs(left, right, skip=["params"]).equal


def test_artifact_names_and_checksums():
    left = run(
        [],
        artifacts=artifacts_frame(
            [
                ("model.pt", "/a/model.pt", 10, "a" * 64),
                ("same.txt", "/a/same.txt", 3, "c" * 64),
                ("gone.txt", "/a/gone.txt", 1, "d" * 64),
                ("nosha.bin", "/a/nosha.bin", 4, ""),
            ]
        ),
    )
    right = run(
        [],
        artifacts=artifacts_frame(
            [
                ("model.pt", "/b/model.pt", 10, "b" * 64),
                ("same.txt", "/b/same.txt", 3, "c" * 64),
                ("new.txt", "/b/new.txt", 1, "e" * 64),
                ("nosha.bin", "/b/nosha.bin", 4, "f" * 64),
            ]
        ),
    )

    art = compare_runs(left, right).artifacts

    assert [(c.name, c.left_sha256[0], c.right_sha256[0]) for c in art.changed] == [
        ("model.pt", "a", "b")
    ]
    assert (art.only_left, art.only_right, art.matched) == (("gone.txt",), ("new.txt",), 2)
    assert not art.equal


def test_empty_tables():
    both_empty = compare_runs(RunTables.empty(), RunTables.empty())
    assert both_empty.equal and both_empty.metrics == [] and both_empty.differences.empty

    one_empty = compare_runs(RunTables.empty(), run(CURVE))
    assert {m.status for m in one_empty.metrics} == {"only-right"}
    assert one_empty.exit_code == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rtol": -1.0}, "tolerances"),
        ({"precision": {"left": "float16"}}, "unknown precision"),
        ({"precision": {"middle": "float32"}}, "left' or 'right"),
        ({"skip": ["metrics"]}, "cannot skip"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_runs(run(CURVE), run(CURVE), **kwargs)


def test_media_are_paired_by_key_step_kind_and_compared_by_content():
    from tracelet.tables import media_frame

    image = ("img", 3, "image", 10, "aa", "2x2 RGB 00")
    left = RunTables(
        metrics_frame(), media=media_frame([image, ("h", 1, "histogram", -1, "", "x")])
    )
    right = RunTables(
        metrics_frame(),
        media=media_frame([(*image[:5], "2x2 RGB 11"), ("t", 0, "table", 5, "bb", "{}")]),
    )

    result = compare_runs(left, right)

    assert not result.equal and result.exit_code == 1
    assert [(c.key, c.step, c.left, c.right) for c in result.media.changed] == [
        ("img", 3, "2x2 RGB 00", "2x2 RGB 11")
    ]
    assert [c.key for c in result.media.only_left] == ["h"]
    assert [c.key for c in result.media.only_right] == ["t"]
    assert "media differ: h@1, img@3, t@0" in verdict(result)
    assert compare_runs(left, left).media.matched == 2
    # a reader that does not read media (None) leaves them out
    assert compare_runs(left, RunTables(metrics_frame())).media.skipped


def test_added_columns_are_compared_and_named():
    left = RunTables(metrics_frame())
    right = RunTables(
        metrics_frame(), added_columns={"tracelet/step": "added by tracelet (3 values)"}
    )

    result = compare_runs(left, right)

    assert not result.equal
    assert result.columns.only_right == {"tracelet/step": "added by tracelet (3 values)"}
    assert "added columns differ: tracelet/step" in verdict(result)
    assert compare_runs(left, right, skip=("columns",)).equal
    assert "both stores hold the same 1 column a writer added" in verdict(
        compare_runs(right, right)
    )
