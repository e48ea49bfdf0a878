"""Every warning of a migration reaches the terminal, not only the ``--report`` file."""

from __future__ import annotations

from pathlib import Path

from tracelet.cli import main

WITH_WRITER = """\
import wandb
from torch.utils.tensorboard import SummaryWriter

wandb.init(project="p")
writer = SummaryWriter()
wandb.log({"loss": 0.5})
"""
NOTE = "this file also uses a SummaryWriter: once tracelet runs, its add_* calls reach wandb too"


def test_a_warning_is_printed_with_its_file_and_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "train.py").write_text(WITH_WRITER)

    assert main(["migrate", "train.py", "--from", "wandb", "--no-progress"]) == 0

    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["1 warning:", f"  train.py:4 WB001: {NOTE}"]


def test_the_same_warning_in_several_files_is_grouped_and_counted(tmp_path: Path, capsys) -> None:
    (tmp_path / "src").mkdir()
    for name in ("a.py", "b.py"):
        (tmp_path / "src" / name).write_text(WITH_WRITER)
    report = tmp_path / "report.txt"

    code = main(["migrate", "src", "--from", "wandb", "--write", "--report", str(report),
                 "--no-progress"])  # fmt: skip

    assert code == 0
    err = capsys.readouterr().err.splitlines()
    start = err.index("2 warnings:")
    assert err[start + 1 : start + 4] == [
        f"  {NOTE} (2):",
        "    src/a.py:4 WB001",
        "    src/b.py:4 WB001",
    ]
    assert report.read_text().count(NOTE) == 2  # the same warnings as in the report
