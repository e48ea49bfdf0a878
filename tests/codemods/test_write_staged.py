"""The pre-commit flow: the hook blocks a staged W&B script, ``--write`` then migrates it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.codemods.test_cli import REPO, SCRIPT
from tracelet.cli import main


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "README").write_text("x\n")
    git(tmp_path, "add", "README")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


def test_hook_blocks_then_write_migrates_the_staged_file(repo: Path, capsys) -> None:
    script = repo / "train.py"
    script.write_text(SCRIPT)
    git(repo, "add", "train.py")  # staged, never committed: what a pre-commit hook sees
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    hook = shlex.split(hooks["tracelet-no-wandb"]["entry"])[1:]

    assert main([*hook, "train.py"]) == 1
    capsys.readouterr()
    assert main(["migrate", "train.py", "--from", "wandb", "--write", "--no-progress"]) == 0

    err = capsys.readouterr().err
    assert "1 file changed, 3 call sites rewritten" in err
    assert "import tracelet" in script.read_text()
    assert "+import tracelet" in git(repo, "diff", "train.py")  # the migration, on its own
    git(repo, "checkout", "--", "train.py")  # and undone from the index
    assert script.read_text() == SCRIPT


@pytest.mark.parametrize(
    ("stage", "reason"),
    [
        ("untracked", "not in git (untracked): git add it first, or pass --force"),
        ("edited after git add", "changes not staged in git (AM): git add or stash them"),
    ],
)
def test_a_file_git_cannot_restore_is_refused_with_what_it_would_rewrite(
    repo: Path, capsys, stage: str, reason: str
) -> None:
    script = repo / "train.py"
    script.write_text(SCRIPT)
    if stage != "untracked":
        git(repo, "add", "train.py")
        script.write_text(SCRIPT + "# edited\n")

    code = main(["migrate", "train.py", "--from", "wandb", "--write", "--no-progress"])

    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[0].startswith("0 files changed, 0 call sites rewritten, 0 call sites left;")
    assert err[1] == "1 file not written (3 call sites it would rewrite):"
    assert err[2].startswith(f"  train.py: would rewrite 3 call sites; {reason}")
    assert "import wandb" in script.read_text()
