"""log_params(section=...) and set_tags with any value: ClearML's sections and user
properties natively, ``section/key`` elsewhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import tracelet
from tracelet.readers import delivered_store, read_store


def log_section_calls(experiment: tracelet.Experiment) -> None:
    args = argparse.Namespace(lr=0.1, epochs=3, name="run")
    assert experiment.log_params(args, section="Args") is args
    experiment.log_params({"optimizer": {"beta": 0.9}}, section="Training")
    experiment.log_params({"batch_size": 32})
    experiment.log_params({"seed": 7}, section="General")
    experiment.set_tags({"val_split": 0.2, "rank": 0, "owner": "me", "final": False, "x": None})


PARAMS = {
    "Args/lr": "0.1",
    "Args/epochs": "3",
    "Args/name": "run",
    "Training/optimizer/beta": "0.9",
    "batch_size": "32",
    "seed": "7",
}
TAGS = {"val_split": "0.2", "rank": "0", "owner": "me", "final": "False", "x": "None"}


def mapping(frame) -> dict[str, str]:
    return dict(zip(frame["key"], frame["value"], strict=True))


@pytest.mark.slow  # over 3 s on 2 cores: the fast tier stays under 3 min
def test_sections_read_back_as_section_slash_key_from_mlflow(isolated: Path):
    from mlflow import MlflowClient

    experiment = tracelet.start_logging(exp_name="sections", project="p", backend="mlflow")
    log_section_calls(experiment)
    with pytest.raises(TypeError):
        experiment.log_params({"a": 1}, section=3)
    report = tracelet.stop_logging()
    assert report.complete, report.summary()

    store = delivered_store(experiment.run_dir, "mlflow")
    uri, _, run_id = store.rpartition("#")  # absolute: MLflow caches stores by URI
    data = MlflowClient(uri).get_run(run_id).data
    assert data.params == PARAMS
    assert {k: v for k, v in data.tags.items() if k in TAGS} == TAGS
    tables = read_store(store)
    assert mapping(tables.params) == PARAMS
    assert mapping(tables.tags) == TAGS
    journal = read_store(str(experiment.run_dir))
    assert mapping(journal.params) == PARAMS and mapping(journal.tags) == TAGS


@pytest.mark.slow
def test_clearml_keeps_sections_and_user_properties(isolated: Path):
    experiment = tracelet.start_logging(exp_name="sections", project="p", backend="clearml")
    log_section_calls(experiment)
    experiment.log_params({"a": 1}, section="properties")  # ClearML's user properties
    with pytest.warns(UserWarning, match="refused by the tracker"):
        report = tracelet.stop_logging()
    (backend,) = report.backends
    assert backend.refused == {"params": 1}, report.summary()

    session = Path(delivered_store(experiment.run_dir, "clearml"))
    hyperparams = json.loads((session / "task.json").read_text())["hyperparams"]
    sections = {
        section: {name: entry["value"] for name, entry in entries.items()}
        for section, entries in hyperparams.items()
    }
    assert sections == {
        "Args": {"lr": "0.1", "epochs": "3", "name": "run"},
        "Training": {"optimizer/beta": "0.9"},
        "General": {"batch_size": "32", "seed": "7"},
        "properties": TAGS,
    }
    tables = read_store(str(session))
    assert mapping(tables.params) == PARAMS
    assert mapping(tables.tags) == TAGS
