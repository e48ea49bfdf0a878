"""wandb/examples' pytorch-cnn-mnist, migrated: the list of wandb.Image it appends to and
logs becomes a list of tracelet.Image, and the W&B store of the migrated run equals the
original's: the same history rows (decoded independently of tracelet, the `images/separated`
values with their file names and captions included), the same image files byte for byte,
and equal tables read back by tracelet's reader (tests/fixtures/vocabulary_e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.wandb_history import history, sync_file
from tests.codemods.test_vocabulary_e2e import assert_same_tables, migrate_and_run


def _run_folder(tables) -> Path:
    path = Path(tables.source)
    return path if path.name.startswith("offline-run-") else path / "latest-run"


@pytest.mark.slow
def test_mnist_example_images_list_is_stored_as_wandb_stores_it(tmp_path: Path) -> None:
    original, migrated, source = migrate_and_run(tmp_path, "wandb_mnist_example_images.py")
    code = source.split('"""', 2)[2]  # after the module docstring
    assert "example_images.append(tracelet.Image(" in code and "wandb." not in code

    original_dir, migrated_dir = _run_folder(original), _run_folder(migrated)
    rows = history(sync_file(original_dir.resolve()))
    assert [row["_step"] for row in rows] == [0, 1, 2]
    assert all(row["Examples._type"] == "images/separated" for row in rows)
    assert [row["Examples.count"] for row in rows] == [3, 3, 3]
    assert rows[0]["Examples.captions"][0].startswith("Pred: ")
    assert history(sync_file(migrated_dir.resolve())) == rows
    files = [name for row in rows for name in row["Examples.filenames"]]
    for relative in files:
        stored = (migrated_dir / "files" / relative).read_bytes()
        assert (original_dir / "files" / relative).read_bytes() == stored

    assert list(original.media["key"]) == ["Examples/0", "Examples/1", "Examples/2"] * 3
    assert_same_tables(original, migrated)
