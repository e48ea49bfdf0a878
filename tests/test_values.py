"""What users log, turned into the plain values events carry (``tracelet.values``)."""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch

from tracelet.values import json_safe, to_float, to_float_as_tensorboard, to_step


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.1, 0.1),
        (3, 3.0),
        (2**60 + 1, float(2**60 + 1)),
        (True, 1.0),
        (False, 0.0),
        (np.float64(0.1), 0.1),
        (np.float32(0.1), 0.10000000149011612),
        (np.float16(0.1), 0.0999755859375),
        (np.int8(-7), -7.0),
        (np.uint64(2**63), 9.223372036854776e18),
        (np.bool_(True), 1.0),
        (np.array([2.5]), 2.5),
        (np.array([[4]], dtype=np.int32), 4.0),
        (torch.tensor(0.1), 0.10000000149011612),
        (torch.tensor([0.1], dtype=torch.float64), 0.1),
        (torch.tensor(1.5, requires_grad=True) * 2, 3.0),
        (torch.tensor(7, dtype=torch.int64), 7.0),
        (torch.tensor(True), 1.0),
    ],
    ids=repr,
)
def test_scalars_become_float64_exactly(value, expected):
    result = to_float(value)
    assert type(result) is float
    assert _bits(result) == _bits(expected)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.0, np.float32("nan")])
def test_non_finite_values_and_negative_zero_are_kept(value):
    assert _bits(to_float(value)) == _bits(float(value))


@pytest.mark.parametrize(
    "value",
    ["0.5", "abc", None, [1.0], (1.0,), {"a": 1}, np.zeros(2), torch.zeros(3), 1j, Fraction(1, 4)],
)
def test_anything_else_is_refused_with_a_type_error_naming_it(value):
    with pytest.raises(TypeError, match=type(value).__name__):
        to_float(value)


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(TypeError) as caught:
        to_float("x" * 500)
    assert str(caught.value).endswith("got str '" + "x" * 56 + "...")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", 0.5), ([0.25], 0.25), (np.float32(0.1), 0.10000000149011612), ("1e3", 1000.0)],
)
def test_what_a_summary_writer_accepted_is_recorded_as_it_recorded_it(value, expected):
    assert _bits(to_float_as_tensorboard(value)) == _bits(expected)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (None, 0),
        (0, 0),
        (12, 12),
        (True, 1),
        (3.0, 3),
        (np.int64(5), 5),
        (np.float32(6.0), 6),
        (torch.tensor(7), 7),
        (torch.tensor([8.0]), 8),
    ],
)
def test_steps_become_ints(step, expected):
    result = to_step(step)
    assert type(result) is int
    assert result == expected


@pytest.mark.parametrize("step", [1.5, np.float64(2.5), "3", [1], torch.tensor(0.5)])
def test_a_step_that_is_not_a_whole_number_is_refused(step):
    with pytest.raises(TypeError, match="a step must be"):
        to_step(step)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("text", "text"),
        (True, True),
        (3, 3),
        (0.5, 0.5),
        (math.nan, "nan"),
        (-math.inf, "-inf"),
        (np.float32(0.5), 0.5),
        (np.int64(4), 4),
        (np.array([1, 2]), [1, 2]),
        (np.array([[1.5], [math.inf]]), [[1.5], ["inf"]]),
        (torch.tensor(2.5), 2.5),
        (torch.tensor([1, 2]), [1, 2]),
        ({1: (2, np.int32(3)), "k": {"x"}}, {"1": [2, 3], "k": ["x"]}),
        (frozenset({np.float64(1.25)}), [1.25]),
        (Decimal("0.1"), "0.1"),
        (object, "<class 'object'>"),
    ],
    ids=repr,
)
def test_params_and_tags_become_json_values(value, expected):
    assert json_safe(value) == expected
