"""``tracelet validate FILE --from TRACKER`` on a file that is not a runnable script, or whose
migration is not complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.validators.test_cli import assert_one_error_line
from tracelet.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "validate"


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


def test_a_held_back_migration_stops_before_running_and_names_the_sites(
    tmp_path: Path, capsys
) -> None:
    script = FIXTURES / "wandb_held_back.py"
    workdir = tmp_path / "work"

    code = main(["validate", str(script), "--from", "wandb", "--workdir", str(workdir)])
    out, err = capsys.readouterr()

    assert code == 2
    assert_one_error_line(
        err, "kept 4 tracker call site(s), so nothing was run: 1 left at wandb_held_back.py:9 "
    )
    assert "wandb_held_back.py:9: left WB103" in out
    for line in (8, 11, 12):
        assert f"wandb_held_back.py:{line}: held" in out
    assert not (workdir / "original-store").exists()  # no sandbox was started
