"""A path named on the command line that is not Python is an error; in a folder, a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelet.cli import main

BROKEN = """\
import wandb

def log(:
    wandb.log({"loss": 0.5})
"""
GOOD = """\
import wandb

wandb.init(project="p")
wandb.log({"loss": 0.5})
"""


def migrate(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["migrate", *args, "--from", "wandb", "--no-progress"])
    return code, capsys.readouterr().err


def test_a_named_text_file_is_an_error_naming_file_and_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("notes on the wandb run\n")

    code, err = migrate(capsys, "notes.txt")

    assert code == 2
    assert err.strip().splitlines() == [
        "tracelet migrate: error: notes.txt:1: not valid Python (syntax error: invalid syntax)"
    ]


def test_a_named_script_with_a_syntax_error_is_an_error_and_nothing_is_written(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    (tmp_path / "good.py").write_text(GOOD)

    code, err = migrate(capsys, "good.py", "broken.py", "--write")

    assert code == 2
    assert "tracelet migrate: error: broken.py:3: not valid Python (syntax error:" in err
    assert (tmp_path / "good.py").read_text() == GOOD  # nothing written when one fails
    assert (tmp_path / "broken.py").read_text() == BROKEN


def test_a_named_python_file_without_the_tracker_is_fine(tmp_path: Path, capsys) -> None:
    (tmp_path / "plain.txt").write_text("x = 1\n")

    code, err = migrate(capsys, "plain.txt")

    assert code == 0
    assert "No file mentions wandb (1 Python file scanned)." in err


def test_a_broken_file_found_in_a_folder_is_skipped_and_reported(tmp_path: Path, capsys) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "broken.py").write_text(BROKEN)
    (tmp_path / "src" / "good.py").write_text(GOOD)

    code, err = migrate(capsys, "src", "--write")

    assert code == 0
    assert "src/broken.py:3: skipped: syntax error: invalid syntax" in err
    assert "import tracelet" in (tmp_path / "src" / "good.py").read_text()
    assert (tmp_path / "src" / "broken.py").read_text() == BROKEN
