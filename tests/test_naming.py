"""The ClearML key mapping is invertible for every string a user can log."""

from __future__ import annotations

import random

import pytest

from tracelet.naming import clearml_title_series, key_from_clearml

TRICKY_KEYS = [
    "",
    "/",
    "//",
    "///",
    "loss",
    "Loss/Train",
    "a/b/c",
    "a/b/c/d/e",
    "/lead",
    "trail/",
    "/both/",
    "a//b",
    "x/x",
    "x/x/x",
    "/x",
    "x/",
    "a/a/b",
    "b/a/a",
    "with space/and more",
    " leading and trailing ",
    "ünïcödé/ключ/鍵",
    "emoji/🚀",
    "tab\there/new\nline",
    "dots.../..",
    "../../etc/passwd",
    "Summary/best",
    ":monitor:gpu/util",
    "title/series/",
    "NoSlash",
]


def _random_keys(count: int) -> list[str]:
    rng = random.Random(20240607)
    alphabet = ["a", "b", "/", "/", " ", "é", "鍵", "x", ".", "_", ":", "\\"]
    keys = []
    for _ in range(count):
        length = rng.randint(0, 12)
        keys.append("".join(rng.choice(alphabet) for _ in range(length)))
    return keys


ALL_KEYS = TRICKY_KEYS + _random_keys(5000)


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_tricky_keys_round_trip(key: str) -> None:
    assert key_from_clearml(*clearml_title_series(key)) == key


def test_random_keys_round_trip_and_never_collide() -> None:
    pairs = {}
    for key in ALL_KEYS:
        pair = clearml_title_series(key)
        assert key_from_clearml(*pair) == key
        assert pairs.setdefault(pair, key) == key, f"{key!r} and {pairs[pair]!r} share {pair}"


def test_pairs_written_by_tracelet_round_trip_the_other_way() -> None:
    for key in ALL_KEYS:
        pair = clearml_title_series(key)
        assert clearml_title_series(key_from_clearml(*pair)) == pair


def test_split_is_the_one_clearml_users_expect() -> None:
    assert clearml_title_series("Loss/Train") == ("Loss", "Train")
    assert clearml_title_series("a/b/c") == ("a/b", "c")
    assert clearml_title_series("acc") == ("acc", "acc")
    assert clearml_title_series("loss/") == ("loss", "")
    assert clearml_title_series("acc/acc") == ("acc", "/acc")


def test_pairs_from_other_clearml_code_read_as_title_slash_series() -> None:
    assert key_from_clearml("train", "loss") == "train/loss"
    assert key_from_clearml("NoSlash", "NoSlash") == "NoSlash"
    assert key_from_clearml("a_b", "c") == "a_b/c"
    assert key_from_clearml("Summary", "best_acc") == "Summary/best_acc"
