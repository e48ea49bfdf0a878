"""``log_model`` and ``log_artifact`` of objects, read back from real stores with each
tracker's own client (and loader) and with tracelet's readers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

import tracelet
from tracelet.backends.mlflow import read_run as read_mlflow
from tracelet.backends.wandb.logfile import decode
from tracelet.readers import read_store


@pytest.fixture
def store(mlflow_db: Path) -> str:
    """This test's MLflow store, also for MLflow's own ``models:/`` loaders (MLflow
    caches stores by URI: a relative one would reach an earlier test's folder)."""
    uri = f"sqlite:///{mlflow_db}"
    mlflow.set_tracking_uri(uri)
    return uri


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def logged_models(store: str, project: str) -> list:
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name(project)
    return list(client.search_logged_models([experiment.experiment_id]))


def artifact_row(tables, name: str) -> pd.Series:
    return tables.artifacts.set_index("name").loc[name]


@pytest.mark.slow
def test_torch_model_is_a_loadable_mlflow_logged_model_and_a_state_dict(store: str):
    torch.manual_seed(0)
    net = Net()
    with tracelet.start_logging(exp_name="train", project="models", backend="mlflow") as run:
        run.log_model(net)
    assert run.report.complete, run.report.summary()

    [model] = logged_models(store, "models")
    assert (model.name, str(model.status), model.source_run_id) == (
        "model",
        "READY",
        run.ids["mlflow"],
    )
    loaded = mlflow.pytorch.load_model(f"models:/{model.model_id}")
    assert isinstance(loaded, Net)
    assert same_weights(loaded.state_dict(), net.state_dict())
    run_outputs = MlflowClient(store).get_run(run.ids["mlflow"]).outputs.model_outputs
    assert [o.model_id for o in run_outputs] == [model.model_id]

    names = set(read_mlflow(store, "train").artifacts["name"])
    assert {"models:/model/MLmodel", "models:/model/data/model.pth"} <= names
    # like mlflow.pytorch.log_model: the model is a logged model, not also a run artifact
    assert not any(name.startswith("model.") for name in names)


@pytest.mark.slow
def test_sklearn_model_is_a_loadable_mlflow_logged_model(store: str):
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.8]])
    y = np.array([0, 1, 1, 0])
    classifier = LogisticRegression().fit(x, y)
    with tracelet.start_logging(exp_name="sk", project="models", backend="mlflow") as run:
        run.log_model(classifier, name="classifier")
    assert run.report.complete, run.report.summary()

    [model] = logged_models(store, "models")
    loaded = mlflow.sklearn.load_model(f"models:/{model.model_id}")
    assert loaded.predict(x).tolist() == classifier.predict(x).tolist()
    assert loaded.coef_.tolist() == classifier.coef_.tolist()
    assert "classifier.pkl" not in set(read_mlflow(store, "sk").artifacts["name"])


@pytest.mark.slow
def test_torch_model_on_a_real_mlflow_server(isolated: Path, mlflow_server):
    net = Net()
    with tracelet.start_logging(
        exp_name="served", project="models-srv", backend_url=mlflow_server.url
    ) as run:
        run.log_model(net, name="net")
    assert run.report.complete, run.report.summary()
    client = MlflowClient(mlflow_server.url)
    [model] = client.search_logged_models(
        [client.get_experiment_by_name("models-srv").experiment_id],
        filter_string=f"source_run_id = '{run.ids['mlflow']}'",
    )
    mlflow.set_tracking_uri(mlflow_server.url)
    loaded = mlflow.pytorch.load_model(f"models:/{model.model_id}")
    assert same_weights(loaded.state_dict(), net.state_dict())
    tables = read_mlflow(mlflow_server.url, run.ids["mlflow"])
    assert "models:/net/MLmodel" in set(tables.artifacts["name"])
    assert "net.pt" not in set(tables.artifacts["name"])


@pytest.mark.slow
def test_torch_model_reaches_wandb_and_clearml_offline_as_a_state_dict(isolated: Path):
    net = Net()
    with tracelet.start_logging(exp_name="both", project="m", backend=["wandb", "clearml"]) as run:
        run.log_model(net)
    assert run.report.complete, run.report.summary()
    for backend in ("wandb", "clearml"):
        tables = read_store(run.urls[backend])
        row = artifact_row(tables, "model.pt")
        path = row["path"]
        if "!/" in path:  # inside ClearML's zipped session
            archive, member = path.split("!/")
            with zipfile.ZipFile(archive) as z:
                path = z.extract(member, isolated / "extracted")
        assert same_weights(torch.load(path), net.state_dict()), backend
    [sync_file] = Path(run.urls["wandb"]).glob("*.wandb")
    [artifact] = decode(sync_file).artifacts
    assert (artifact.name, artifact.type) == ("model", "model")


OBJECTS = {
    "labels": ({"classes": ["cat", "dog"], "n": 2}, "labels.json"),
    "order": ([3, 1, 2], "order.json"),
    "predictions": (pd.DataFrame({"id": [1, 2], "label": ["cat", "dog"]}), "predictions.csv"),
    "weights": (np.arange(6, dtype=np.float32).reshape(2, 3), "weights.npy"),
    "notes": ("lr halved after epoch 3\n", "notes.txt"),
}


def assert_object_files(tables) -> None:
    def path(name: str) -> str:
        return artifact_row(tables, OBJECTS[name][1])["path"]

    assert json.loads(Path(path("labels")).read_text()) == OBJECTS["labels"][0]
    assert json.loads(Path(path("order")).read_text()) == OBJECTS["order"][0]
    pd.testing.assert_frame_equal(pd.read_csv(path("predictions")), OBJECTS["predictions"][0])
    weights = np.load(path("weights"))
    assert weights.dtype == np.float32 and weights.tolist() == OBJECTS["weights"][0].tolist()
    assert Path(path("notes")).read_text() == OBJECTS["notes"][0]


@pytest.mark.slow
def test_objects_are_written_in_their_documented_formats(store: str):
    with tracelet.start_logging(exp_name="objects", project="a", backend="mlflow") as run:
        for name, (value, _) in OBJECTS.items():
            run.log_artifact(value, name=name)
        run.log_artifact({"k": 1}, name="cfg", type="config", metadata={"rows": 2})
    assert run.report.complete, run.report.summary()
    tables = read_mlflow(store, "objects")
    assert_object_files(tables)
    assert tables.tags.empty  # the artifact info tag is tracelet's bookkeeping
    tags = MlflowClient(store).get_run(run.ids["mlflow"]).data.tags
    assert json.loads(tags["tracelet.artifact_info"]) == {
        "cfg.json": {"type": "config", "metadata": {"rows": 2}}
    }


def test_objects_need_a_name_and_must_pickle(isolated: Path):
    with tracelet.start_logging(exp_name="bad", backend="tensorboard", delivery="thread") as run:
        with pytest.raises(TypeError, match="needs name="):
            run.log_artifact({"a": 1})
        with pytest.raises(TypeError, match="does not pickle"):
            run.log_artifact(lambda: 1, name="s")
        with pytest.raises(FileNotFoundError):
            run.log_artifact("missing.pth")
        with pytest.raises(TypeError, match=r"nn\.Module, a scikit-learn estimator or an xgboost"):
            run.log_model(object())


def test_artifact_type_metadata_and_aliases_reach_wandb_and_clearml(isolated: Path):
    with tracelet.start_logging(exp_name="arts", project="a", backend=["wandb", "clearml"]) as run:
        for name, (value, _) in OBJECTS.items():
            run.log_artifact(value, name=name)
        run.log_artifact(
            OBJECTS["predictions"][0],
            name="dataset",
            type="dataset",
            metadata={"rows": 2, "source": "val"},
            aliases=["latest", "v1"],
        )
    assert run.report.complete, run.report.summary()

    assert_object_files(read_store(run.urls["wandb"]))
    [sync_file] = Path(run.urls["wandb"]).glob("*.wandb")
    artifacts = {a.name: a for a in decode(sync_file).artifacts}
    dataset = artifacts["dataset.csv"]
    assert dataset.type == "dataset"
    assert sorted(dataset.aliases) == ["latest", "v1"]  # W&B keeps them as a set
    metadata = json.loads(dataset.metadata)
    assert (metadata["rows"], metadata["source"]) == (2, "val")
    assert artifacts["labels.json"].type == "tracelet"

    # ClearML serialises the objects itself and names them as its upload_artifact does
    session = json.loads((Path(run.urls["clearml"]) / "task.json").read_text())
    [entry] = [a for a in session["execution"]["artifacts"] if a["key"] == "dataset"]
    assert dict(map(tuple, entry["display_data"])) == {
        "rows": "2",
        "source": "val",
        "artifact_type": "dataset",
        "aliases": '["latest", "v1"]',
    }
    assert {"labels", "predictions", "weights", "notes", "order"} <= set(
        read_store(run.urls["clearml"]).artifacts["name"]
    )
    assert entry["type"] == "pandas" and entry["uri"].endswith("/dataset.csv.gz")


@pytest.mark.slow
def test_the_same_model_logged_by_two_runs_compares_equal(store: str):
    from tracelet.validators.compare import compare_runs

    net = Net()
    for name in ("original", "migrated"):
        with tracelet.start_logging(exp_name=name, project="twice", backend="mlflow") as run:
            run.log_model(net)
        assert run.report.complete, run.report.summary()
    original, migrated = read_mlflow(store, "original"), read_mlflow(store, "migrated")
    diff = compare_runs(original, migrated).artifacts
    assert diff.equal, diff
    assert diff.matched == len(original.artifacts) == 6  # the logged model's files
    mlmodel = artifact_row(original, "models:/model/MLmodel")
    assert mlmodel["size"] < Path(mlmodel["path"]).stat().st_size  # the ids are left out


def fitted_booster():
    """A small seeded regression booster (one thread, so both runs train the same trees)."""
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    data = xgb.DMatrix(x, label=x @ np.array([1.0, -2.0, 0.5]))
    params = {"max_depth": 2, "seed": 42, "nthread": 1}
    return xgb.train(params, data, num_boost_round=5), data


def test_xgboost_models_have_the_xgboost_flavor_and_their_own_ubj_file(tmp_path: Path):
    import xgboost as xgb

    from tracelet.objects import model_flavor, save_weights

    booster, data = fitted_booster()
    regressor = xgb.XGBRegressor(n_estimators=2, n_jobs=1).fit(np.eye(3), [0.0, 1.0, 2.0])
    assert model_flavor(booster) == model_flavor(regressor) == "xgboost"  # not "sklearn"
    path = save_weights(booster, "xgboost", tmp_path, "booster")
    assert path.name == "booster.ubj"
    assert (
        xgb.Booster(model_file=str(path)).predict(data).tolist() == booster.predict(data).tolist()
    )


@pytest.mark.slow
def test_xgboost_booster_is_stored_as_mlflow_xgboost_log_model_stores_it(store: str):
    import xgboost as xgb

    booster, data = fitted_booster()
    with tracelet.start_logging(exp_name="migrated", project="xgb", backend="mlflow") as run:
        run.log_params({"max_depth": 2})
        run.log_model(booster, name="models_mlflow")
    assert run.report.complete, run.report.summary()
    mlflow.set_experiment("xgb")
    with mlflow.start_run(run_name="original"):
        mlflow.log_params({"max_depth": 2})
        mlflow.xgboost.log_model(booster, artifact_path="models_mlflow")

    models = {m.source_run_id: m for m in logged_models(store, "xgb")}
    model = models[run.ids["mlflow"]]
    assert (model.name, str(model.status), model.params) == (
        "models_mlflow",
        "READY",
        {"max_depth": "2"},
    )
    from tracelet.validators.compare import compare_runs

    original, migrated = read_mlflow(store, "original"), read_mlflow(store, "migrated")
    assert "models:/models_mlflow/model.ubj" in set(migrated.artifacts["name"])
    diff = compare_runs(original, migrated).artifacts
    assert diff.equal, diff
    assert diff.matched == len(original.artifacts) == len(migrated.artifacts)
    # loaded after comparing: a models:/ load writes registered_model_meta into the store
    loaded = mlflow.xgboost.load_model(f"models:/{model.model_id}")
    assert isinstance(loaded, xgb.Booster)
    assert loaded.predict(data).tolist() == booster.predict(data).tolist()


@pytest.mark.slow
def test_xgboost_model_reaches_wandb_and_clearml_as_its_own_ubj_file_with_metadata_on_wandb(
    isolated: Path,
):
    import xgboost as xgb
    from sklearn.datasets import make_regression

    x, y = make_regression(n_samples=30, n_features=3, random_state=0)
    regressor = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(x, y)
    with tracelet.start_logging(exp_name="xgb", project="m", backend=["wandb", "clearml"]) as run:
        run.log_model(regressor, name="regressor", metadata={"model_data_version": 1})
    assert run.report.complete, run.report.summary()
    [sync_file] = Path(run.urls["wandb"]).glob("*.wandb")
    [artifact] = decode(sync_file).artifacts
    assert (artifact.type, json.loads(artifact.metadata)["model_data_version"]) == ("model", 1)
    for backend in ("wandb", "clearml"):
        path = artifact_row(read_store(run.urls[backend]), "regressor.ubj")["path"]
        if "!/" in path:  # inside ClearML's zipped session
            archive, member = path.split("!/")
            with zipfile.ZipFile(archive) as z:
                path = z.extract(member, isolated / "extracted" / backend)
        loaded = xgb.XGBRegressor()
        loaded.load_model(path)
        assert loaded.predict(x).tolist() == regressor.predict(x).tolist(), backend


def model_record(store: str, run_name: str, model_name: str) -> dict:
    """What MLflow keeps of a run's logged model besides its files."""
    client = MlflowClient(store)
    [run] = client.search_runs(
        [client.get_experiment_by_name("notes").experiment_id],
        f"attributes.run_name = '{run_name}'",
    )
    [model] = [
        m
        for m in logged_models(store, "notes")
        if m.source_run_id == run.info.run_id and m.name == model_name
    ]
    return {
        "status": str(model.status),
        "params": model.params,
        "tags": {k: v for k, v in model.tags.items() if not k.startswith("mlflow.")},
        "model_type": model.model_type,
        "steps": [o.step for o in run.outputs.model_outputs if o.model_id == model.model_id],
        "metrics": sorted((m.key, m.value, m.step) for m in model.metrics or []),
    }


@pytest.mark.slow
def test_log_model_annotations_are_stored_as_mlflow_log_model_stores_them(store: str):
    """input_example, signature, metadata, params, tags, model_type and step, each as
    MLflow's own log_model of the same model stores it: every file of the logged models
    (MLmodel without its ids, input_example.json, serving_input_example.json, ...) and
    the logged model's params, tags, type, output step and linked metrics (the run's
    points at that step, before and after the call)."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import Ridge

    from tracelet.validators.compare import compare_runs

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(20, 3)), columns=["price", "promo", "weekday"])
    ridge = Ridge(alpha=1.0).fit(x, x @ [1.0, -2.0, 0.5])
    signature = infer_signature(x, ridge.predict(x))
    booster, _ = fitted_booster()
    ridge_args = {"name": "ridge", "input_example": x.iloc[:5], "signature": signature}
    booster_args = {
        "name": "booster",
        "input_example": x.iloc[[0]].to_numpy(),
        "metadata": {"model_data_version": 1},
        "params": {"rounds": 5, "max_depth": 9},
        "tags": {"stage": "tuned"},
        "model_type": "regressor",
        "step": 3,
    }

    with tracelet.start_logging(exp_name="migrated", project="notes", backend="mlflow") as run:
        run.log_params({"max_depth": 2})
        run.log_metrics({"rmse": 0.5}, step=3)
        run.log_metrics({"rmse": 0.7}, step=4)
        run.log_model(ridge, **ridge_args)
        run.log_model(booster, **booster_args)
        run.log_metrics({"r2": 0.9}, step=3)  # also a metric of the model output at step 3
    assert run.report.complete, run.report.summary()
    mlflow.set_experiment("notes")
    with mlflow.start_run(run_name="original"):
        mlflow.log_params({"max_depth": 2})
        mlflow.log_metrics({"rmse": 0.5}, step=3)
        mlflow.log_metrics({"rmse": 0.7}, step=4)
        mlflow.sklearn.log_model(ridge, **ridge_args)
        mlflow.xgboost.log_model(booster, **booster_args)
        mlflow.log_metrics({"r2": 0.9}, step=3)

    original, migrated = read_mlflow(store, "original"), read_mlflow(store, "migrated")
    for model in ("ridge", "booster"):
        examples = {f"models:/{model}/{e}_example.json" for e in ("input", "serving_input")}
        assert examples <= set(migrated.artifacts["name"]), model
    diff = compare_runs(original, migrated)
    assert diff.artifacts.equal, diff.artifacts
    assert diff.artifacts.matched == len(original.artifacts) == len(migrated.artifacts)
    assert diff.equal, diff
    mlmodel = Path(artifact_row(migrated, "models:/booster/MLmodel")["path"]).read_text()
    assert "model_data_version: 1" in mlmodel and "signature:" in mlmodel
    for model in ("ridge", "booster"):
        assert model_record(store, "original", model) == model_record(store, "migrated", model)
    assert model_record(store, "migrated", "booster") == {
        "status": "READY",
        "params": {"rounds": "5", "max_depth": "2"},  # the run's params win
        "tags": {"stage": "tuned"},
        "model_type": "regressor",
        "steps": [3],
        "metrics": [("r2", 0.9, 3), ("rmse", 0.5, 3)],
    }
