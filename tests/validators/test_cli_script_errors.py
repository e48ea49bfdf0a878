"""``tracelet validate FILE --from TRACKER`` on a file that is not a runnable script."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelet.cli import main


def validate(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["validate", *args])
    return code, capsys.readouterr().err


def test_a_text_file_with_from_is_a_script_that_is_not_python(tmp_path: Path, capsys) -> None:
    (tmp_path / "notes.txt").write_text("notes on the wandb run\n")

    code, err = validate(capsys, "notes.txt", "--from", "wandb")

    assert code == 2
    assert err.strip().splitlines() == [
        "tracelet validate: error: notes.txt:1: not valid Python (syntax error: invalid syntax)"
    ]


def test_a_script_with_a_syntax_error_names_its_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.py").write_text("import wandb\n\nwandb.init(\nwandb.log({'a': 1})\n")

    code, err = validate(capsys, "broken.py", "--from", "wandb")

    assert code == 2
    assert err.strip().splitlines() == [
        "tracelet validate: error: broken.py:3: not valid Python "
        "(syntax error: '(' was never closed)"
    ]
    assert not list(tmp_path.glob("tracelet-validate-*"))  # stopped before any sandbox


def test_from_with_two_stores_is_still_refused(tmp_path: Path, capsys) -> None:
    code, err = validate(capsys, "left.csv", "right.csv", "--from", "wandb")

    assert code == 2
    assert "--from: not used when diffing two stores" in err
