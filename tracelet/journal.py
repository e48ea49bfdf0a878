"""The run journal: an append-only, line-framed file of event batches.

Format (version 1), one record per line::

    <crc32 of the JSON bytes, 8 lowercase hex digits> <space> <JSON> <newline>

The first record is a header object ``{"tracelet_journal": 1, "run_id": ...}``; every
later record is a JSON array of events (see :mod:`tracelet.events`). JSON is written
with Python's ``allow_nan`` (``NaN``, ``Infinity``, ``-Infinity`` literals, which
Python and JavaScript's JSON5 read) and floats in shortest round-trip form, so float64
values survive bit for bit. A line without its newline at the end of the file is a torn
last write (a crash, or a write still in progress) and is not read; a complete line whose
checksum does not match is skipped and counted. The format never uses pickle: journals
may come from another machine.

A record is written whole or not at all: a write that fails part-way (disk full) is cut
back to the end of the previous record, so a later record is never glued to a torn one.
The writer also refuses a record that would leave less than :data:`MIN_FREE_BYTES` free
on the journal's filesystem, keeping room for the delivery agent's state files and the
run's end marker.
"""

from __future__ import annotations

import errno
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracelet.events import (
    ARTIFACT,
    DEFINE_METRIC,
    END,
    FILE,
    HISTOGRAM,
    IMAGE,
    MEDIA,
    METRIC,
    PARAMS,
    ROW,
    SUMMARY,
    TAGS,
    TEXT,
)
from tracelet.tables import (
    RunTables,
    artifacts_frame,
    media_frame,
    metrics_frame,
    params_frame,
    summary_frame,
    tags_frame,
)

FORMAT_VERSION = 1
MIN_FREE_BYTES = 256 * 1024
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode


def encode_record(payload: Any) -> bytes:
    body = _dumps(payload).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


class JournalWriter:
    """Appends whole records; used by one thread of the training process at a time."""

    def __init__(self, path: Path, run_id: str):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size
        if self._size == 0:
            header = {"tracelet_journal": FORMAT_VERSION, "run_id": run_id}
            self._write(encode_record(header), keep_free=0)

    def _write(self, record: bytes, keep_free: int) -> None:
        if keep_free:
            stats = os.statvfs(self.path.parent)
            if stats.f_bavail * stats.f_frsize - len(record) < keep_free:
                raise OSError(
                    errno.ENOSPC,
                    f"No space left on device (less than {keep_free // 1024} KiB free)",
                    str(self.path),
                )
        if os.fstat(self._fd).st_size != self._size:  # a torn write the last cut-back missed
            os.ftruncate(self._fd, self._size)
        view, written = memoryview(record), 0
        try:
            while written < len(record):
                written += os.write(self._fd, view[written:])
        except OSError:
            if written:
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(record)

    def append(self, events: list, keep_free: int = MIN_FREE_BYTES) -> int:
        """Append one batch as one record; returns the number of bytes written.

        Raises ``OSError`` (the journal unchanged) when the record does not fit.
        """
        record = encode_record(events)
        self._write(record, keep_free)
        return len(record)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class ReadStats:
    corrupt_records: int = 0


def iter_records(
    path: Path, offset: int = 0, stats: ReadStats | None = None, chunk_size: int = 1 << 22
) -> Iterator[tuple[int, Any]]:
    """Yield ``(end_offset, payload)`` for each complete record from ``offset`` on.

    ``end_offset`` is the byte offset just after the record: a cursor to resume from.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        pending = b""
        position = offset
        while True:
            data = handle.read(chunk_size)
            if not data:
                return
            data = pending + data
            last_newline = data.rfind(b"\n")
            if last_newline < 0:
                pending = data
                continue
            pending = data[last_newline + 1 :]
            for line in data[: last_newline + 1].splitlines(keepends=True):
                position += len(line)
                payload = _decode_line(line)
                if payload is _CORRUPT:
                    if stats is not None:
                        stats.corrupt_records += 1
                    continue
                yield position, payload


_CORRUPT = object()


def _decode_line(line: bytes) -> Any:
    try:
        crc_text, body = line.rstrip(b"\n").split(b" ", 1)
        if int(crc_text, 16) != zlib.crc32(body):
            return _CORRUPT
        return json.loads(body)
    except ValueError:
        return _CORRUPT


def find_end(path: Path, offset: int = 0) -> tuple[int, list | None]:
    """Scan complete records from ``offset`` for the end marker without decoding the
    others. Returns the offset after the last complete record, and the end event."""
    end_event = None
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.splitlines(keepends=True):
        if line.startswith(b' [["e",', 8):
            payload = _decode_line(line)
            if payload is not _CORRUPT:
                end_event = payload[-1]
    return offset + len(complete), end_event


def iter_events(path: Path, offset: int = 0) -> Iterator[list]:
    """Every event in the journal, in order (header skipped)."""
    for _, payload in iter_records(path, offset):
        if isinstance(payload, list):
            yield from payload


def count_events(path: Path, offset: int = 0) -> int:
    """How many events (the end marker excluded) lie after ``offset``."""
    return sum(1 for event in iter_events(path, offset) if event[0] != END)


def read_run(path: str | Path, run: str | None = None) -> RunTables:
    """Read a journal (or a run folder holding ``journal.tlj``) into the shared tables.

    Metrics keep every point in journal order (a ``tracelet.log`` row's values in
    the row's order). Params and tags are last-wins, as a tracker would show them; params
    of a section read as ``section/key``. The summary is what ``experiment.summary`` ended
    with, plus the ``define_metric`` aggregates of the journal's points. Image events are
    listed as artifacts ``media/<key>/<step>``, run files (``experiment.save``) as
    artifacts named by their path among the run files, each once. Images, histograms, texts and
    ``tracelet.log`` / ``experiment.log_*`` media are the media table.
    """
    from tracelet.media import media_table_rows, with_absolute_paths
    from tracelet.rundir import JOURNAL_FILE
    from tracelet.summaries import MetricSummaries
    from tracelet.tables import artifact_rows, file_sha256, histogram_content, image_content

    path = Path(path)
    journal = path / JOURNAL_FILE if path.is_dir() else path
    metrics: list[tuple] = []
    params: dict[str, Any] = {}
    tags: dict[str, str] = {}
    artifacts: list[tuple] = []
    run_files: dict[str, str] = {}
    summary: dict[str, Any] = {}
    aggregates = MetricSummaries()
    media_rows: list[tuple] = []
    run_dir = journal.parent

    for event in iter_events(journal):
        kind = event[0]
        if kind == METRIC:
            metrics.append((event[1], event[3], event[2], event[4]))
            aggregates.add(event[1], event[2])
        elif kind == ROW:
            step, wall_time, values = event[1:4]
            for key, value in values.items():
                if not isinstance(value, dict):
                    metrics.append((key, step, float(value), wall_time))
                    aggregates.add(key, float(value))
            for key, value in values.items():
                if isinstance(value, dict):
                    media_rows.extend(
                        media_table_rows(key, step, with_absolute_paths(value, run_dir))
                    )
        elif kind == MEDIA:
            media_rows.extend(
                media_table_rows(event[1], event[2], with_absolute_paths(event[4], run_dir))
            )
        elif kind == HISTOGRAM:
            counts, limits = event[4]["bucket_counts"], event[4]["bucket_limits"]
            media_rows.append(
                (event[1], event[2], "histogram", -1, "", histogram_content(counts, limits))
            )
        elif kind == TEXT:
            media_rows.append((event[1], event[2], "text", -1, "", event[4]))
        elif kind == PARAMS:
            section = event[2] if len(event) > 2 else None
            params.update(
                {f"{section}/{k}": v for k, v in event[1].items()} if section else event[1]
            )
        elif kind == SUMMARY:
            summary.update(event[1])
            for key in event[2]:
                summary.pop(key, None)
        elif kind == DEFINE_METRIC:
            aggregates.define(event[1], event[3])
        elif kind == TAGS:
            tags.update(event[1])
        elif kind == ARTIFACT:
            if Path(event[2]).exists():
                artifacts.extend(artifact_rows(event[2], event[1]))
        elif kind == FILE:
            run_files[event[1]] = event[2]  # saved again: the last capture is the file
        elif kind == IMAGE:
            media = journal.parent / event[4]
            if media.exists():
                name = f"media/{event[1]}/{event[2]}.png"
                artifacts.append((name, str(media), media.stat().st_size, file_sha256(media)))
                row = (event[1], event[2], "image", media.stat().st_size, file_sha256(media))
                media_rows.append((*row, image_content(media)))
    for name, file in run_files.items():
        if Path(file).exists():
            artifacts.extend(artifact_rows(file, name))
    return RunTables(
        metrics=metrics_frame(metrics),
        params=params_frame(params),
        tags=tags_frame(tags),
        summary=summary_frame({**summary, **aggregates.values()}),
        artifacts=artifacts_frame(artifacts),
        source=str(journal),
        media=media_frame(media_rows),
    )
