"""The ``.wandb`` transaction log: LevelDB log framing and W&B's protobuf records.

A ``.wandb`` file is a header (``:W&B`` and a version) followed by 32 KiB blocks of
CRC-checked chunks; a record longer than a block is split into first / middle / last
chunks. The records are ``wandb_internal_pb2.Record`` messages, decoded with the classes
that ship with ``wandb`` (imported only here, when a file is read).
"""

from __future__ import annotations

import functools
import json
import logging
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tracelet.backends.wandb")

_BLOCK = 32768
_HEADER = 7
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_TYPE_SEED = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}


@functools.cache
def _skipped_record_tags() -> frozenset[int]:
    """First bytes of records the reader never needs (console, telemetry...).

    A record serialises ``num`` (field 1) first and then its type; these types have
    field numbers below 16, so their tag is one byte.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    fields = pb.Record.DESCRIPTOR.fields_by_name
    names = ("output", "output_raw", "telemetry")
    return frozenset((fields[n].number << 3) | 2 for n in names if fields[n].number < 16)


def payloads(data: bytes, notes: list[str], whole_file: bool = True) -> Iterator[bytes]:
    """Records of a ``.wandb`` file (LevelDB log framing); stops at a torn end.

    ``data`` is the whole file, or (``whole_file=False``) its tail from a 32 KiB block
    boundary: chunks never cross blocks, so reading can start at any block.
    """
    if whole_file and (data[:4] != b":W&B" or data[4:6] != b"\xe1\xbe"):
        raise ValueError("not a W&B transaction log (.wandb): bad header")
    pos, size, parts = _HEADER if whole_file else 0, len(data), None
    crc32, unpack = zlib.crc32, _CHUNK.unpack_from
    while True:
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left
            continue
        if pos + _HEADER > size:
            if data[pos:].strip(b"\0"):
                notes.append(f"the file ends inside a record header ({size - pos} bytes ignored)")
            break
        crc, length, kind = unpack(data, pos)
        start = pos + _HEADER
        end = start + length
        if kind == 0 and length == 0:
            pos += left
            continue
        if end > size:
            notes.append(f"the file ends inside a record ({size - pos} bytes ignored)")
            return
        payload = data[start:end]
        seed = _TYPE_SEED.get(kind)
        if seed is None or crc32(payload, seed) != crc:
            notes.append(f"corrupt record at byte {pos}: skipped to the next 32 KiB block")
            pos, parts = pos + left, None
            continue
        pos = end
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            parts = [payload]
        elif parts is not None:
            parts.append(payload)
            if kind == _LAST:
                yield b"".join(parts)
                parts = None
    if parts is not None:
        notes.append("the file ends inside a record split over blocks (ignored)")


def wait_for_exit_record(path: Path, flushed: int, timeout: float) -> None:
    """Wait until the run's exit record is on disk (at most ``timeout`` seconds).

    ``run.finish()`` returns once wandb-core has *handled* the exit record, but its
    writer may flush the file a little later; a reader right after ``close`` (a
    validator, ``tracelet export``) would find a run without its last records.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    start = flushed // _BLOCK * _BLOCK
    deadline = time.monotonic() + timeout
    record = pb.Record()
    while True:
        with open(path, "rb") as handle:
            handle.seek(start)
            tail = handle.read()
        if len(tail) >= _HEADER or start:
            for payload in payloads(tail, [], whole_file=start == 0):
                record.ParseFromString(payload)
                if record.WhichOneof("record_type") == "exit":
                    return
        if time.monotonic() >= deadline:
            log.warning("W&B: no exit record in %s after %.0f s", path, timeout)
            return
        time.sleep(0.02)


@dataclass
class Decoded:
    """What one ``.wandb`` file holds, before it becomes tables."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metrics: list[Any] = field(default_factory=list)
    artifacts: list[Any] = field(default_factory=list)
    tensorboard: bool = False
    exit_code: int | None = None
    notes: list[str] = field(default_factory=list)
    stats: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)
    #: what ``run.summary`` was given (W&B writes those updates by ``key``)
    summary: dict[str, Any] = field(default_factory=dict)
    #: the summary W&B derives from the history (written by ``nested_key``): last
    #: values, and the ``define_metric`` aggregates as ``{"min": ...}`` dicts
    history_summary: dict[str, Any] = field(default_factory=dict)
    #: the run files published by ``run.save`` (not W&B's own, nor media), in order
    saved_files: list[str] = field(default_factory=list)


def decode(path: Path) -> Decoded:
    from wandb.proto import wandb_internal_pb2 as pb

    out = Decoded()
    skipped = _skipped_record_tags()
    record = pb.Record()
    for payload in payloads(path.read_bytes(), out.notes):
        if _record_tag(payload) in skipped:
            continue
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history":
            out.rows.append(_history_row(record.history.item))
        elif kind == "config":
            _apply_config(out.config, record.config)
        elif kind == "run":
            _apply_config(out.config, record.run.config)
            out.tags = list(record.run.tags)
            _read_git(out.origin, record.run.git)
        elif kind == "stats":
            out.stats.append(_stats_sample(record.stats))
        elif kind == "environment":
            _read_environment(out.origin, record.environment)
        elif kind == "metric":
            out.metrics.append(_copy(pb.MetricRecord, record.metric))
        elif kind == "artifact":
            out.artifacts.append(_copy(pb.ArtifactRecord, record.artifact))
        elif kind == "summary":
            _apply_summary(out, record.summary)
        elif kind == "files":
            out.saved_files.extend(
                item.path
                for item in record.files.files
                if item.type != pb.FilesItem.WANDB and not item.path.startswith("media/")
            )
        elif kind == "tbrecord":
            out.tensorboard = True
        elif kind == "exit":
            out.exit_code = record.exit.exit_code
    out.config.pop("_wandb", None)
    return out


def _apply_summary(out: Decoded, record) -> None:
    for item in record.update:
        if item.key and not item.key.startswith("_"):
            out.summary[item.key] = json.loads(item.value_json)
        elif len(item.nested_key) == 1 and not item.nested_key[0].startswith("_"):
            out.history_summary[item.nested_key[0]] = json.loads(item.value_json)
    for item in record.remove:
        out.summary.pop(item.key, None)


def _read_git(origin: dict[str, str], git) -> None:
    if git.commit:
        origin["git.commit"] = git.commit
    if git.remote_url:
        origin["git.remote"] = git.remote_url


def _read_environment(origin: dict[str, str], environment) -> None:
    if environment.program:
        origin["program"] = environment.program
    _read_git(origin, environment.git)


def _stats_sample(stats) -> tuple[float, dict[str, str]]:
    """One system-monitor sample: (wall time, ``key -> raw JSON``)."""
    wall = stats.timestamp.seconds + stats.timestamp.nanos / 1e9
    return wall, {item.key: item.value_json for item in stats.item}


def _copy(cls, message):
    copy = cls()
    copy.CopyFrom(message)
    return copy


def _record_tag(payload: bytes) -> int:
    """The tag byte of the field after ``num``: the record type for types below 16."""
    pos = 0
    if payload[:1] == b"\x08":
        pos = 1
        while pos < len(payload) and payload[pos] & 0x80:
            pos += 1
        pos += 1
    return payload[pos] if pos < len(payload) else -1


def _history_row(items) -> dict[str, Any]:
    """``key -> raw JSON``; a media value (nested keys with ``_type``) is one ``{sub: raw}``.

    Other nested keys (``wandb.log({"train": {"loss": 1}})``) are flattened with ``.``.
    """
    row: dict[str, Any] = {}
    groups: dict[str, dict[str, str]] | None = None
    for item in items:
        nested = item.nested_key
        if len(nested) == 1:
            row[nested[0]] = item.value_json or _typed_json(item)
        elif not nested:
            row[item.key] = item.value_json or _typed_json(item)
        else:
            groups = groups if groups is not None else {}
            prefix = ".".join(nested[:-1])
            groups.setdefault(prefix, {})[nested[-1]] = item.value_json or _typed_json(item)
    for prefix, group in (groups or {}).items():
        if "_type" in group:
            row[prefix] = group
        else:
            row.update((f"{prefix}.{sub}", raw) for sub, raw in group.items())
    return row


def _typed_json(item) -> str:
    which = item.WhichOneof("value")
    if which is None or which == "none":
        return "null"
    value = getattr(item, which)
    return value if which == "json" else json.dumps(value)


def _apply_config(config: dict[str, Any], record) -> None:
    for item in record.update:
        keys = list(item.nested_key) or [item.key]
        target = config
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = json.loads(item.value_json) if item.value_json else None
    for item in record.remove:
        config.pop(item.key, None)
