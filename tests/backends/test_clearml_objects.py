"""Object and wildcard artifacts reach ClearML as ClearML's own ``upload_artifact`` stores them.

A script calls ClearML's ``upload_artifact`` directly (allegroai/clearml's
examples/reporting/artifacts.py: a DataFrame, a dict, a numpy array, a PIL image, an
object ClearML pickles, a folder and a wildcard); tracelet logs the same values with
``log_artifact`` to its ClearML backend. Both offline sessions are read back with
tracelet's ClearML reader (names, sizes, sha256 of every file) and from ClearML's own
``task.json`` (artifact keys, types, file names): equal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tracelet
from tests.conftest import run_python
from tracelet.readers import read_store
from tracelet.validators.compare import compare_runs

VALUES = """
import numpy as np
import pandas as pd
from PIL import Image

df = pd.DataFrame({"num_legs": [2, 4, 8, 0]}, index=["falcon", "dog", "spider", "fish"])
objects = {
    "Pandas": df,
    "dictionary": df.to_dict(),
    "Numpy Eye": np.eye(10, 10),
    "pillow_image": Image.open("data_samples/dancing.jpg"),
    "a set": {1, 2, 3},
    "a list": [1, "two", 3.0],
    "notes": "plain text",
}
paths = {"local folder": "data_samples", "wildcard jpegs": "data_samples/*.jpg"}
"""
ORIGINAL = f"""
{VALUES}
from clearml import Task

task = Task.init(project_name="examples", task_name="artifacts")
for name, value in {{**objects, **paths}}.items():
    task.upload_artifact(name, artifact_object=value)
task.close()
"""


def _samples(folder: Path) -> None:
    samples = folder / "data_samples"
    (samples / "more").mkdir(parents=True)
    pixels = (np.arange(48 * 48 * 3) % 251).astype("uint8").reshape(48, 48, 3)
    Image.fromarray(pixels).save(samples / "dancing.jpg")
    Image.fromarray(pixels[::2, ::2].copy()).save(samples / "more" / "small.jpg")
    (samples / "notes.txt").write_text("not a jpeg")


def _session_artifacts(session: Path) -> dict[str, tuple[str, str]]:
    """ClearML's own record: key -> (type, stored file name)."""
    task = json.loads((session / "task.json").read_text())
    return {
        a["key"]: (a["type"], a["uri"].rsplit("/", 1)[-1]) for a in task["execution"]["artifacts"]
    }


@pytest.mark.slow
def test_objects_and_wildcards_are_stored_as_clearml_stores_them(isolated: Path) -> None:
    _samples(isolated)
    result = run_python(ORIGINAL, isolated)
    assert result.returncode == 0, result.stderr
    [original_session] = [p for p in (Path(os.environ["CLEARML_CACHE_DIR"]) / "offline").iterdir()
                          if p.is_dir()]  # fmt: skip
    original = read_store(str(original_session))

    namespace: dict = {}
    exec(VALUES, namespace)  # the same values, built the same way
    with tracelet.start_logging(exp_name="artifacts", project="examples", backend="clearml") as run:
        for name, value in {**namespace["objects"], **namespace["paths"]}.items():
            run.log_artifact(value, name=name)
    assert run.report.complete, run.report.summary()
    migrated = read_store(run.urls["clearml"])

    names = sorted(original.artifacts["name"])
    assert names == sorted(migrated.artifacts["name"])
    assert {"Pandas", "Numpy Eye", "pillow_image", "a set", "wildcard jpegs/more/small.jpg"} <= set(
        names
    )
    assert "wildcard jpegs/notes.txt" not in names and "local folder/notes.txt" in names
    assert compare_runs(original, migrated).artifacts.changed == ()
    assert compare_runs(original, migrated).exit_code == 0
    stored = _session_artifacts(Path(run.urls["clearml"]))
    assert stored == _session_artifacts(original_session)
    assert stored["Pandas"] == ("pandas", "Pandas.csv.gz")
    assert stored["a set"] == ("pickle", "a set.pkl")


def test_other_objects_are_pickled_for_every_tracker(isolated: Path) -> None:
    start = {"backend": "tensorboard", "delivery": "thread"}
    with tracelet.start_logging(exp_name="pickles", **start) as run:
        run.log_artifact({1, 2}, name="ids")
        run.log_artifact(pd.Timestamp("2024-01-02"), name="when.pkl")
        with pytest.raises(TypeError, match="does not pickle"):
            run.log_artifact(lambda: 1, name="f")
    stored = {Path(p).name: Path(p) for p in read_store(str(run.run_dir)).artifacts["path"]}
    assert pd.read_pickle(stored["ids.pkl"]) == {1, 2}
    assert pd.read_pickle(stored["when.pkl"]) == pd.Timestamp("2024-01-02")


REGISTERED = """
import pandas as pd

df = pd.DataFrame({"num_legs": [2, 4, 8, 0]}, index=["falcon", "dog", "spider", "fish"])
metadata = {"counting": "legs", "max legs": 69}
"""


# ClearML syncs registered frames from a thread that, once the task closes, ends after the
# pass it is in. Under load the first pass (started by register_artifact) can still be
# running at exit, so ClearML's own store then holds the frame as it was before the change.
# The twin waits for the pass that stored the changed frame, as a run longer than a few
# milliseconds always gets; tracelet registers the final frame, so it needs no wait.
WAIT_FOR_CLEARML_SYNC = """
import time

from clearml.binding.artifacts import Artifacts
from clearml.storage.hashing import sha256sum

manager = task._artifacts_manager
final_csv = manager._push_temp_file(prefix="train.", suffix=".csv.gz")  # the name is hashed
manager._store_compressed_pd_csv(df, final_csv, index=False)
final_hash, _ = sha256sum(final_csv, skip_header=32, block_size=Artifacts._hash_block_size)
manager._delete_temp_file(final_csv)
manager.flush()
deadline = time.monotonic() + 120
while not any(a.key == "train" and a.type_data and a.type_data.data_hash == final_hash
              for a in manager._task_artifact_list):
    assert time.monotonic() < deadline, "ClearML never synced the changed frame"
    time.sleep(0.05)
"""


def _registered_record(session: Path) -> dict:
    """ClearML's own record of the artifact ``train``, less its timestamp and location."""
    task = json.loads((session / "task.json").read_text())
    [artifact] = task["execution"]["artifacts"]
    artifact["uri"] = artifact["uri"].rsplit("/", 1)[-1]
    del artifact["timestamp"]
    return artifact


@pytest.mark.slow
def test_registered_frames_are_stored_at_the_end_as_clearml_stores_them(isolated: Path) -> None:
    original_script = f"""
{REGISTERED}
from clearml import Task

task = Task.init(project_name="examples", task_name="registered")
task.register_artifact("train", df, metadata=metadata)
assert task.get_registered_artifacts()["train"] is df
df["num_wings"] = [2, 0, 0, 0]
{WAIT_FOR_CLEARML_SYNC}
"""
    result = run_python(original_script, isolated)
    assert result.returncode == 0, result.stderr
    [original_session] = [p for p in (Path(os.environ["CLEARML_CACHE_DIR"]) / "offline").iterdir()
                          if p.is_dir()]  # fmt: skip

    namespace: dict = {}
    exec(REGISTERED, namespace)
    df = namespace["df"]
    start = {"exp_name": "registered", "project": "examples", "backend": "clearml"}
    with tracelet.start_logging(**start) as run:
        run.register_artifact("train", df, metadata=namespace["metadata"])
        assert run.get_registered_artifacts()["train"] is df
        df["num_wings"] = [2, 0, 0, 0]
    assert run.report.complete, run.report.summary()

    stored = _registered_record(Path(run.urls["clearml"]))
    assert stored == _registered_record(original_session)
    assert (stored["type"], stored["uri"]) == ("data-audit-table", "train.csv.gz")
    assert "num_wings" in stored["type_data"]["preview"]
    original, migrated = read_store(str(original_session)), read_store(run.urls["clearml"])
    assert list(migrated.artifacts["name"]) == ["train"]
    assert compare_runs(original, migrated).exit_code == 0


@pytest.mark.slow
def test_registered_frames_reach_other_trackers_without_their_index(isolated: Path) -> None:
    namespace: dict = {}
    exec(REGISTERED, namespace)
    df = namespace["df"]
    with tracelet.start_logging(exp_name="registered", backend="mlflow") as run:
        run.register_artifact("train", df)
        df["num_wings"] = [2, 0, 0, 0]
        with pytest.raises(TypeError, match="takes a pandas DataFrame, not dict"):
            run.register_artifact("rows", {"num_legs": [2]})
    assert run.report.complete, run.report.summary()
    [path] = read_store(run.urls["mlflow"]).artifacts["path"]
    assert Path(path).name == "train.csv"
    assert Path(path).read_text() == "num_legs,num_wings\n2,2\n4,0\n8,0\n0,0\n"
