"""An independent decode of a ``.wandb`` file, for tests: what W&B itself stored.

wandb 0.31 ships no Python reader of its transaction log (``wandb.sdk.internal.datastore``
is gone), so this is written from the LevelDB log format (7-byte header ``:W&B`` +
version, 32 KiB blocks of ``crc32 u32, length u16, type u8`` chunks) and decodes the
records with W&B's own protobuf classes. It shares no code with
:mod:`tracelet.backends.wandb.logfile`, so a test can check tracelet's reader and
tracelet's writer against it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
CHUNK_HEADER = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """Every record of the file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a .wandb file"
    out, parts, pos = [], b"", 7
    while pos + CHUNK_HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < CHUNK_HEADER.size:
            pos += room
            continue
        _, length, kind = CHUNK_HEADER.unpack_from(data, pos)
        body = data[pos + CHUNK_HEADER.size : pos + CHUNK_HEADER.size + length]
        pos += CHUNK_HEADER.size + length
        if kind == 0:
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        parts = body if kind in (FULL, FIRST) else parts + body
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(parts)
            out.append(record)
    return out


def history(path: Path, wall_clock: bool = False) -> list[dict[str, Any]]:
    """The history rows as ``{key: decoded JSON value}``; nested keys joined with ``.``.
    ``_runtime`` and ``_timestamp`` are left out unless ``wall_clock``."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") != "history":
            continue
        row = {}
        for item in record.history.item:
            key = ".".join(item.nested_key) if item.nested_key else item.key
            if wall_clock or key not in ("_runtime", "_timestamp"):
                row[key] = json.loads(item.value_json)
        rows.append(row)
    return rows


def metric_definitions(path: Path) -> list[str]:
    """The ``define_metric`` records, as text."""
    return [
        str(record.metric).replace("\n", " ").strip()
        for record in records(path)
        if record.WhichOneof("record_type") == "metric"
    ]


def sync_file(run_dir: Path) -> Path:
    (found,) = run_dir.glob("run-*.wandb")
    return found
