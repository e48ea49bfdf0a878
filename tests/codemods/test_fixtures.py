"""Every before/after pair in tests/fixtures/codemods, with its expected report entries.

A fixture is a folder named after the pattern it shows (``wandb_log_implicit_step``):
``before.py``, ``after.py``, ``report.txt`` (one ``Entry.short()`` per line) and, when the
migration needs options, ``args.txt`` (``--to mlflow,wandb``, ``--unsafe``,
``--disable WB002``, ``--style tracelet``). The source tracker is the name's prefix
(``trains_`` is ClearML).

Each fixture also checks that the output parses and that migrating it again changes
nothing. ``TRACELET_UPDATE_FIXTURES=1`` rewrites ``after.py`` and ``report.txt`` from the
current codemods (review the diff before committing it).
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

import pytest

from tracelet.codemods.runner import Options, transform_bytes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "codemods"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "before.py").is_file())
UPDATE = os.environ.get("TRACELET_UPDATE_FIXTURES") == "1"
PREFIXES = {
    "wandb": "wandb",
    "mlflow": "mlflow",
    "clearml": "clearml",
    "trains": "clearml",
    "lightning": "lightning",
}


def options_for(case: str) -> Options:
    source = PREFIXES[case.split("_", 1)[0]]
    parser = argparse.ArgumentParser()
    parser.add_argument("--to", default=source)
    parser.add_argument("--unsafe", action="store_true")
    parser.add_argument("--disable", action="append", default=[])
    parser.add_argument("--style", default="summarywriter")
    args_file = FIXTURES / case / "args.txt"
    argv = shlex.split(args_file.read_text()) if args_file.exists() else []
    args = parser.parse_args(argv)
    return Options(source, args.to.split(","), args.unsafe, tuple(args.disable), args.style)


def migrate(case: str, data: bytes) -> tuple[bytes, list[str]]:
    new, file_report, _ = transform_bytes(data, f"{case}/before.py", options_for(case))
    assert file_report.error is None, file_report.error
    return new, [entry.short() for entry in file_report.entries]


@pytest.mark.parametrize("case", CASES)
def test_fixture(case: str) -> None:
    folder = FIXTURES / case
    before = (folder / "before.py").read_bytes()
    after, entries = migrate(case, before)
    if UPDATE:
        (folder / "after.py").write_bytes(after)
        (folder / "report.txt").write_text("".join(f"{line}\n" for line in entries))
    assert after.decode() == (folder / "after.py").read_bytes().decode()  # CRLF kept
    assert entries == (folder / "report.txt").read_text().splitlines()


@pytest.mark.parametrize("case", CASES)
def test_output_parses_and_second_run_changes_nothing(case: str) -> None:
    after = (FIXTURES / case / "after.py").read_bytes()
    compile(after, f"{case}/after.py", "exec")
    again, _ = migrate(case, after)
    assert again == after


def test_every_fixture_has_a_report() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        assert (FIXTURES / case / "report.txt").is_file(), case
        assert case.split("_", 1)[0] in PREFIXES, case
