"""The run journal on its own: framing, torn tails, checksums, the end marker, reading back."""

from __future__ import annotations

import json
import math
import struct
import zlib
from pathlib import Path

import pytest

from tracelet.journal import (
    JournalWriter,
    ReadStats,
    count_events,
    encode_record,
    find_end,
    iter_events,
    iter_records,
    read_run,
)


def _journal(tmp_path: Path, *batches: list) -> Path:
    path = tmp_path / "journal.tlj"
    writer = JournalWriter(path, run_id="run-1")
    for batch in batches:
        writer.append(batch)
    writer.close()
    return path


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_a_record_is_its_checksum_a_space_and_one_line_of_json():
    record = encode_record([["m", "loss", 0.5, 3, 1.25]])
    body = b'[["m","loss",0.5,3,1.25]]'
    assert record == b"%08x " % zlib.crc32(body) + body + b"\n"


def test_the_first_record_is_the_header_and_appending_later_does_not_repeat_it(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]])
    again = JournalWriter(path, run_id="run-1")
    written = again.append([["m", "a", 2.0, 1, 0.0]])
    again.close()
    payloads = [payload for _, payload in iter_records(path)]
    assert payloads == [
        {"tracelet_journal": 1, "run_id": "run-1"},
        [["m", "a", 1.0, 0, 0.0]],
        [["m", "a", 2.0, 1, 0.0]],
    ]
    assert written == len(encode_record([["m", "a", 2.0, 1, 0.0]]))


def test_end_offsets_are_cursors_to_resume_from(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]], [["m", "b", 2.0, 1, 0.0]])
    records = list(iter_records(path))
    assert records[-1][0] == path.stat().st_size
    after_first_batch = records[1][0]
    assert list(iter_records(path, after_first_batch)) == [records[2]]
    assert list(iter_events(path, after_first_batch)) == [["m", "b", 2.0, 1, 0.0]]


def test_floats_survive_bit_for_bit(tmp_path):
    values = [0.1, 1 / 3, -0.0, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan]
    path = _journal(tmp_path, [["m", "x", v, i, 0.0] for i, v in enumerate(values)])
    read = [event[2] for event in iter_events(path)]
    assert [_bits(v) for v in read] == [_bits(v) for v in values]


def test_text_is_utf8_and_not_escaped(tmp_path):
    path = _journal(tmp_path, [["t", {"note": "grüße ✓"}]])
    assert "grüße ✓".encode() in path.read_bytes()
    assert list(iter_events(path)) == [["t", {"note": "grüße ✓"}]]


def test_a_torn_last_write_is_not_read_until_it_is_complete(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]])
    complete = path.stat().st_size
    late = encode_record([["m", "late", 2.0, 1, 0.0]])
    with open(path, "ab") as handle:
        handle.write(late[:-7])
    assert [e[1] for e in iter_events(path)] == ["a"]
    assert list(iter_records(path))[-1][0] == complete
    with open(path, "ab") as handle:
        handle.write(late[-7:])
    assert [e[1] for e in iter_events(path, complete)] == ["late"]


@pytest.mark.parametrize("flip", [0, 3, 9, 20], ids=["crc", "crc-digit", "json", "value"])
def test_a_record_whose_checksum_fails_is_skipped_and_counted(tmp_path, flip):
    path = _journal(tmp_path, [["m", "before", 1.0, 0, 0.0]])
    bad = bytearray(encode_record([["m", "bad", 2.0, 1, 0.0]]))
    bad[flip] = ord("f") if bad[flip] != ord("f") else ord("0")
    with open(path, "ab") as handle:
        handle.write(bytes(bad))
        handle.write(encode_record([["m", "after", 3.0, 2, 0.0]]))
    stats = ReadStats()
    batches = [batch for _, batch in iter_records(path, stats=stats) if isinstance(batch, list)]
    assert [event[1] for batch in batches for event in batch] == ["before", "after"]
    assert stats.corrupt_records == 1


@pytest.mark.parametrize("garbage", [b"\n", b"nonsense\n", b"zzzzzzzz []\n", b"00000000\n"])
def test_lines_that_are_not_records_count_as_corrupt(tmp_path, garbage):
    path = _journal(tmp_path)
    with open(path, "ab") as handle:
        handle.write(garbage)
    stats = ReadStats()
    assert [payload for _, payload in iter_records(path, stats=stats)] == [
        {"tracelet_journal": 1, "run_id": "run-1"}
    ]
    assert stats.corrupt_records == 1


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 22])
def test_records_are_read_whole_whatever_the_read_size(tmp_path, chunk_size):
    batches = [[["m", f"k{i}", float(i), i, 0.0]] * (i + 1) for i in range(20)]
    path = _journal(tmp_path, *batches)
    with open(path, "ab") as handle:
        handle.write(encode_record([["m", "torn", 0.0, 0, 0.0]])[:-1])
    expected = list(iter_records(path))
    assert list(iter_records(path, chunk_size=chunk_size)) == expected
    assert len(expected) == 21


def test_count_events_leaves_out_the_end_marker(tmp_path):
    path = _journal(
        tmp_path,
        [["m", "a", 1.0, 0, 0.0], ["p", {"lr": 0.1}]],
        [["m", "a", 2.0, 1, 0.0]],
        [["e", "FINISHED", 123.0]],
    )
    assert count_events(path) == 3
    first_batch_end = list(iter_records(path))[1][0]
    assert count_events(path, first_batch_end) == 1


def test_find_end_reports_the_end_marker_and_where_complete_records_stop(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]])
    assert find_end(path) == (path.stat().st_size, None)
    with open(path, "ab") as handle:
        handle.write(encode_record([["e", "KILLED", 99.5]]))
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b"0000")  # a torn write after the end marker
    assert find_end(path) == (size, ["e", "KILLED", 99.5])
    assert find_end(path, size) == (size, None)


def test_find_end_ignores_an_end_marker_whose_checksum_fails(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]])
    bad = bytearray(encode_record([["e", "FINISHED", 1.0]]))
    bad[-3] = ord("2")
    with open(path, "ab") as handle:
        handle.write(bytes(bad))
    assert find_end(path) == (path.stat().st_size, None)


def test_find_end_ignores_an_end_marker_torn_before_its_newline(tmp_path):
    path = _journal(tmp_path, [["m", "a", 1.0, 0, 0.0]])
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(encode_record([["e", "FINISHED", 1.0]])[:-1])
    assert find_end(path) == (size, None)


def test_read_run_gives_the_shared_tables(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "media" / "img").mkdir(parents=True)
    (run_dir / "media" / "img" / "3.png").write_bytes(b"\x89PNG fake")
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"12345")
    writer = JournalWriter(run_dir / "journal.tlj", run_id="r")
    writer.append([["m", "loss", 0.5, 2, 10.0], ["m", "loss", 0.25, 1, 11.0]])
    writer.append([["p", {"lr": 0.1, "layers": [1, 2]}], ["t", {"phase": "a"}]])
    writer.append([["p", {"lr": 0.2}], ["t", {"phase": "b", "user": "me"}]])
    writer.append([["a", "model", str(weights)], ["a", "gone", str(tmp_path / "missing")]])
    writer.append([["i", "samples", 3, 12.0, "media/img/3.png"]])
    writer.append([["i", "samples", 4, 13.0, "media/img/4.png"]])  # its file is missing
    writer.append([["e", "FINISHED", 0.0]])
    writer.close()

    tables = read_run(run_dir)
    assert tables.source == str(run_dir / "journal.tlj")
    assert tables.metrics.to_dict("list") == {
        "key": ["loss", "loss"],
        "step": [2, 1],
        "value": [0.5, 0.25],
        "wall_time": [10.0, 11.0],
    }
    assert dict(tables.params.itertuples(index=False)) == {"layers": "[1, 2]", "lr": "0.2"}
    assert dict(tables.tags.itertuples(index=False)) == {"phase": "b", "user": "me"}
    assert tables.artifacts[["name", "size"]].to_dict("records") == [
        {"name": "media/samples/3.png", "size": 9},
        {"name": "model", "size": 5},
    ]
    assert read_run(run_dir / "journal.tlj").metrics.equals(tables.metrics)


def test_the_header_names_the_format_version_and_the_run(tmp_path):
    path = _journal(tmp_path)
    crc, body = path.read_bytes().rstrip(b"\n").split(b" ", 1)
    assert int(crc, 16) == zlib.crc32(body)
    assert json.loads(body) == {"tracelet_journal": 1, "run_id": "run-1"}
