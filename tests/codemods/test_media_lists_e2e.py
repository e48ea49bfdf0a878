"""The two W&B corpus entries of the media-list work, as runnable reductions
(tests/fixtures/vocabulary_e2e), migrated and run into W&B offline stores: the store of the
migrated run equals the original's, history rows decoded independently of tracelet (media
file names and captions included), image files byte for byte, and tables read back by
tracelet's reader compared as `tracelet validate` compares them.

* wandb/examples' pytorch-cnn-mnist: the list of wandb.Image it appends to and logs becomes
  a list of tracelet.Image (W&B's `images/separated` value);
* huggingface's vqgan-clip: images and a one-element loss tensor from a generator, a run
  started with reinit=True in a method, and `wandb.log("Original Image", ...)`, which
  raises TypeError in W&B and in the migrated copy alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.wandb_history import history, sync_file
from tests.codemods.test_examples_e2e import start_script
from tests.codemods.test_vocabulary_e2e import assert_same_tables, migrate_and_run
from tests.test_media_lists import _without_client_ids


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


@pytest.mark.slow
def test_vqgan_clip_logging_is_stored_as_wandb_stores_it_and_fails_where_it_fails(
    tmp_path: Path,
) -> None:
    script = "wandb_vqgan_clip_generate.py"
    original, migrated, source = migrate_and_run(tmp_path, script)
    assert 'tracelet.log("Original Image", tracelet.Image(image))' in source
    rows = history(sync_file(_run_folder(original).resolve()))
    assert len(rows) == 8 and "CLIP Loss" in rows[0] and rows[1]["Image._type"] == "image-file"
    assert _without_client_ids(history(sync_file(_run_folder(migrated).resolve()))) == rows
    assert_same_tables(original, migrated)

    # with an image path the original raises in wandb.log("Original Image", ...): so does
    # the migrated copy, at the same line
    failures = {}
    for side in ("original", "migrated"):
        folder = tmp_path / side
        (folder / "launch.py").write_text(
            "import runpy, sys\n"
            f"sys.argv = [{script!r}, '--image', 'original.png']\n"
            f"runpy.run_path({script!r}, run_name='__main__')\n"
        )
        process, _ = start_script(folder, "launch.py", tmp_path / f"{side}-image-env")
        _, stderr = process.communicate(timeout=600)
        assert process.returncode != 0, stderr
        failures[side] = [line for line in stderr.splitlines() if "Error" in line][-1:]
        assert 'log("Original Image"' in stderr, stderr
    assert failures["original"][0].startswith("TypeError: "), failures
    assert failures["migrated"][0].startswith("TypeError: "), failures
