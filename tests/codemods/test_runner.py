"""The multi-file runner: discovery, pre-filter, bad files, bytes kept, pool, git safety."""

from __future__ import annotations

import codecs
import subprocess
from pathlib import Path

from tracelet.codemods import discovery, runner
from tracelet.codemods.runner import Options

WANDB = Options("wandb", ["wandb"])
SCRIPT = 'import wandb\n\nwandb.init(project="p")\nwandb.log({"loss": 0.5})  # keep me\n'
MIGRATED = (
    'import tracelet\n\ntracelet.start_logging(project="p", backend="wandb")\n'
    'tracelet.log({"loss": 0.5})  # keep me\n'
)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


def test_discovery_skips_vcs_virtualenvs_and_build_folders(tmp_path: Path) -> None:
    for rel in ("src/train.py", "src/pkg/util.py", "tools/x.py"):
        write(tmp_path / rel, "x = 1\n")
    for rel in (".git/hook.py", "build/lib/train.py", "node_modules/a.py", "pkg.egg-info/b.py",
                "env/lib/site.py", "src/__pycache__/c.py", "notes.txt"):  # fmt: skip
        write(tmp_path / rel, "x = 1\n")
    write(tmp_path / "env/pyvenv.cfg", "home = /usr\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discovery.discover([tmp_path])]
    assert found == ["src/pkg/util.py", "src/train.py", "tools/x.py"]


def test_exclude_globs(tmp_path: Path) -> None:
    for rel in ("src/train.py", "src/legacy/old.py", "tests/test_a.py", "vendored/lib/v.py"):
        write(tmp_path / rel, "x = 1\n")
    found = discovery.discover([tmp_path], exclude=["tests/*", "src/legacy/**", "vendored"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["src/train.py"]


def test_only_files_that_mention_the_tracker_are_parsed(tmp_path: Path) -> None:
    write(tmp_path / "a.py", SCRIPT)
    write(tmp_path / "b.py", "import os\nprint('enable_wandb', os.sep)\n")
    write(tmp_path / "c.py", "def broken(:\n")
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    assert outcome.report.scanned == 3
    assert outcome.report.candidates == 1
    assert [c.path.name for c in outcome.changes] == ["a.py"]
    assert outcome.changes[0].new.decode() == MIGRATED


def test_a_file_with_a_syntax_error_is_reported_and_skipped(tmp_path: Path) -> None:
    write(tmp_path / "bad.py", "import wandb\nwandb.log({'a': 1}\n")
    write(tmp_path / "good.py", SCRIPT)
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    files = {Path(f.path).name: f for f in outcome.report.files}
    assert files["bad.py"].error.startswith("syntax error")
    assert [(e.action, e.line) for e in files["bad.py"].entries] == [("error", 2)]
    assert files["good.py"].changed
    assert outcome.report.totals()["files_with_errors"] == 1
    assert any("bad.py:2: skipped: syntax error" in line for line in outcome.report.summary())


def test_an_undecodable_file_is_reported_and_skipped(tmp_path: Path) -> None:
    write(tmp_path / "latin.py", b"import wandb\n# caf\xe9\nwandb.log({})\n")
    write(tmp_path / "good.py", SCRIPT)
    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    files = {Path(f.path).name: f for f in outcome.report.files}
    assert files["latin.py"].error.startswith("cannot read")
    assert files["good.py"].changed


def test_crlf_stays_crlf_and_comments_stay(tmp_path: Path) -> None:
    path = write(tmp_path / "win.py", SCRIPT.replace("\n", "\r\n").encode())
    outcome = runner.migrate([path], WANDB, jobs=1)
    new = outcome.changes[0].new
    assert new == MIGRATED.replace("\n", "\r\n").encode()
    assert b"\n" not in new.replace(b"\r\n", b"")


def test_declared_encoding_is_kept_byte_for_byte(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\n# café\n" + SCRIPT
    path = write(tmp_path / "enc.py", source.encode("latin-1"))
    change = runner.migrate([path], WANDB, jobs=1).changes[0]
    assert change.new.startswith("# -*- coding: latin-1 -*-\n# café\n".encode("latin-1"))
    assert codecs.lookup(change.encoding).name == "iso8859-1"
    assert " # café\n" in runner.unified_diff(change).splitlines(keepends=True)


def test_process_pool_gives_the_same_result(tmp_path: Path) -> None:
    for index in range(6):
        write(tmp_path / f"s{index}.py", SCRIPT.replace('"p"', f'"p{index}"'))
    serial = runner.migrate([tmp_path], WANDB, jobs=1)
    pooled = runner.migrate([tmp_path], WANDB, jobs=2)
    assert [(c.path, c.new) for c in serial.changes] == [(c.path, c.new) for c in pooled.changes]
    assert (
        serial.report.to_json().split('"seconds"')[0]
        == pooled.report.to_json().split('"seconds"')[0]
    )


def test_diff_has_git_style_paths(tmp_path: Path) -> None:
    path = write(tmp_path / "t.py", SCRIPT)
    diff = runner.unified_diff(runner.migrate([path], WANDB, jobs=1).changes[0])
    name = path.as_posix().lstrip("/")
    assert diff.splitlines()[:2] == [f"--- a/{name}", f"+++ b/{name}"]
    assert '-wandb.init(project="p")' in diff
    assert '+tracelet.start_logging(project="p", backend="wandb")' in diff


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


def test_write_refuses_uncommitted_files_unless_forced(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    committed = write(tmp_path / "committed.py", SCRIPT)
    dirty = write(tmp_path / "dirty.py", SCRIPT)
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    write(dirty, SCRIPT + "# edited\n")
    untracked = write(tmp_path / "new.py", SCRIPT)

    outcome = runner.migrate([tmp_path], WANDB, jobs=1)
    runner.write(outcome)
    files = {Path(f.path).name: f for f in outcome.report.files}
    assert committed.read_text() == MIGRATED
    assert files["dirty.py"].refused.startswith("changes not staged in git (M)")
    assert files["new.py"].refused.startswith("not in git (untracked): git add it first")
    assert dirty.read_text() == SCRIPT + "# edited\n"
    assert untracked.read_text() == SCRIPT

    forced = runner.migrate([tmp_path], WANDB, jobs=1)
    runner.write(forced, force=True)
    assert dirty.read_text() == MIGRATED + "# edited\n"
    assert untracked.read_text() == MIGRATED


def test_files_outside_git_are_written(tmp_path: Path) -> None:
    path = write(tmp_path / "loose.py", SCRIPT)
    outcome = runner.migrate([path], WANDB, jobs=1)
    runner.write(outcome)
    assert path.read_text() == MIGRATED
    assert runner.migrate([path], WANDB, jobs=1).changes == []
