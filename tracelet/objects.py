"""Objects given to ``log_artifact`` and ``log_model``, written to files in the run folder.

This runs in the training process, at an explicit (and rare) call: the object is
written now, so later changes to it are not logged. The formats (documented in
``docs/models.md``):

=====================  ===========  ==============================================
object                 file         how
=====================  ===========  ==============================================
dict, list             ``.json``    ``json.dump(indent=2)`` (UTF-8)
pandas DataFrame       ``.csv``     ``to_csv``; the index is written unless it is the
                                    default ``0..n-1``
numpy array            ``.npy``     ``numpy.save`` (``allow_pickle=False``)
str                    ``.txt``     UTF-8 text
any other object       ``.pkl``     ``pickle.dump`` (default protocol), as ClearML's
                                    ``upload_artifact`` pickles an object
torch ``nn.Module``    ``.pt``      ``torch.save(model.state_dict())``
scikit-learn model     ``.pkl``     ``pickle.dump`` (protocol 5)
xgboost model          ``.ubj``     the model's own ``save_model`` (UBJSON), which
                                    ``xgboost.Booster().load_model`` reads back
=====================  ===========  ==============================================

Libraries are looked up in ``sys.modules``, never imported: an object of a library
the program has not imported cannot be an instance of it.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

TORCH, SKLEARN, XGBOOST = "pytorch", "sklearn", "xgboost"  # MLflow's flavour names


def _instance(obj: Any, module: str, attribute: str) -> bool:
    owner = sys.modules.get(module)
    cls = getattr(owner, attribute, None) if owner is not None else None
    return cls is not None and isinstance(obj, cls)


def object_suffix(obj: Any) -> str | None:
    """The file suffix ``obj`` is written with, or None for a path (``os.PathLike``)."""
    if isinstance(obj, dict | list):
        return ".json"
    if isinstance(obj, str):
        return ".txt"
    if _instance(obj, "pandas", "DataFrame"):
        return ".csv"
    if _instance(obj, "numpy", "ndarray"):
        return ".npy"
    if isinstance(obj, PathLike):
        return None
    return ".pkl"


def wildcard_matches(pattern: Path) -> list[Path]:
    """The files a path ending in a wildcard (``*`` or ``?``) matches anywhere below its
    folder, ClearML's ``upload_artifact`` rule; empty for a path without one."""
    if not any(ch in pattern.name for ch in "*?") or not pattern.parent.parts:
        return []
    if not pattern.parent.is_dir():
        return []
    return sorted(p for p in pattern.parent.rglob(pattern.name) if p.is_file())


def file_name(name: str, suffix: str) -> str:
    """``name`` with ``suffix`` appended unless it already ends with it."""
    return name if name.endswith(suffix) else f"{name}{suffix}"


def write_object(obj: Any, target: Path) -> None:
    """Write ``obj`` (see :func:`object_suffix`) to ``target``."""
    suffix = object_suffix(obj)
    if suffix == ".json":
        target.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    elif suffix == ".txt":
        target.write_text(obj, encoding="utf-8")
    elif suffix == ".csv":
        import pandas as pd

        default_index = isinstance(obj.index, pd.RangeIndex) and obj.index.equals(
            pd.RangeIndex(len(obj))
        )
        obj.to_csv(target, index=not default_index)
    elif suffix == ".npy":
        import numpy as np

        np.save(target, obj, allow_pickle=False)
    else:
        pickle_object(obj, target)


def pickle_object(obj: Any, target: Path) -> None:
    """``pickle.dump(obj)`` with the default protocol, the bytes ClearML's
    ``upload_artifact`` stores for an object it has no format for."""
    try:
        data = pickle.dumps(obj)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise unsupported_object(obj) from exc
    target.write_bytes(data)


def unsupported_object(obj: Any) -> TypeError:
    return TypeError(
        f"log_artifact takes a path or an object that pickles; {type(obj).__name__} does not pickle"
    )


def model_flavor(model: Any) -> str:
    """``"pytorch"`` for a torch ``nn.Module``, ``"xgboost"`` for an xgboost ``Booster`` or
    scikit-learn-style ``XGBModel`` (checked before scikit-learn: ``XGBRegressor`` is also a
    scikit-learn estimator, and MLflow saves it with its xgboost flavour), ``"sklearn"`` for
    any other scikit-learn estimator."""
    if _instance(model, "torch.nn", "Module"):
        return TORCH
    if _instance(model, "xgboost.core", "Booster") or _instance(
        model, "xgboost.sklearn", "XGBModel"
    ):
        return XGBOOST
    if _instance(model, "sklearn.base", "BaseEstimator"):
        return SKLEARN
    raise TypeError(
        "log_model takes a torch nn.Module, a scikit-learn estimator or an xgboost model, "
        f"not {type(model).__name__}"
    )


def save_weights(model: Any, flavor: str, folder: Path, name: str) -> Path:
    """The model's portable file: a torch state dict, xgboost's own UBJSON file, or the
    pickled estimator."""
    if flavor == TORCH:
        import torch

        path = folder / file_name(name, ".pt")
        torch.save(model.state_dict(), path)
    elif flavor == XGBOOST:
        path = folder / file_name(name, ".ubj")
        model.save_model(str(path))
    else:
        path = folder / file_name(name, ".pkl")
        with open(path, "wb") as handle:
            pickle.dump(model, handle, protocol=5)
    return path


def save_mlflow_model(
    model: Any, flavor: str, target: Path, annotations: Mapping[str, Any] | None = None
) -> None:
    """An MLflow model folder (``MLmodel`` and the flavour's files), written here in the
    training process because MLflow's flavours serialise the live object. The pip
    requirements are inferred as ``mlflow.<flavor>.log_model`` infers them (MLflow loads
    the model again in a subprocess for that), so the folder holds what MLflow's own call
    stores. ``annotations`` (``input_example``, ``signature``, ``metadata``) go to the
    flavour's ``save_model`` as ``log_model`` passes them: ``input_example.json`` and
    ``serving_input_example.json``, and the signature (given, or inferred from the
    example) and metadata in ``MLmodel``. A torch model is saved in MLflow's ``pickle``
    format: its default, ``pt2``, needs an input example to trace the model with."""
    options: dict[str, Any] = {k: v for k, v in (annotations or {}).items() if v is not None}
    if flavor == TORCH:
        import mlflow.pytorch as mlflow_flavor

        options["serialization_format"] = "pickle"
    elif flavor == XGBOOST:
        import mlflow.xgboost as mlflow_flavor
    else:
        import mlflow.sklearn as mlflow_flavor
    mlflow_flavor.save_model(model, str(target), **options)
