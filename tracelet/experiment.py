"""The run object and its lifecycle: ``start_logging``, ``stop_logging``, ``get_active_experiment``.

One run is active at a time in a process. Starting a second one stops the first
cleanly. The run's events go through the router (training side) into the journal,
and a delivery agent process delivers them to the trackers.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tracelet import lifecycle
from tracelet import router as _router
from tracelet import tracking as tracking_switches
from tracelet.agent.delivery import DeliveryState
from tracelet.agent.launch import AgentHandle
from tracelet.agent.stop_report import StopReport, collect_report
from tracelet.backends import ensure_installed, load_backend, normalize_backends
from tracelet.backends.base import CONFIGURATION_INFO, OBJECT_INFO, REGISTERED_INFO
from tracelet.config import RunConfig
from tracelet.console import ConsoleCapture
from tracelet.distributed import process_rank, resolve_mode
from tracelet.events import ARTIFACT, DEFINE_METRIC, MEDIA, METRIC, MODEL, PARAMS, TAGS, TEXT
from tracelet.gitstate import read_source
from tracelet.log_steps import WandbStyleLog
from tracelet.media import Histogram, Image, Media, Table
from tracelet.objects import (
    file_name,
    model_flavor,
    object_suffix,
    pickle_object,
    save_mlflow_model,
    save_weights,
    wildcard_matches,
    write_object,
)
from tracelet.parameters import ConnectedParams, ParameterSections, typed_hints
from tracelet.pictures import is_picture, write_picture
from tracelet.rundir import CONSOLE_FILE, RunSpec, create_run_dir, write_spec
from tracelet.runfiles import RunFiles
from tracelet.summaries import RunSummary, check_metric_name, parse_summary_ops
from tracelet.tables import flatten_params
from tracelet.values import json_safe, to_float, to_step

DEFAULT_BACKEND = "mlflow"
DEFAULT_PROJECT = "default"
DEFAULT_STOP_TIMEOUT = 120.0
ARTIFACTS_DIR = "artifacts"
MODELS_DIR = "models"
IDENTITY_TIMEOUT = 30.0  # seconds; $TRACELET_IDENTITY_TIMEOUT overrides
IDENTITY_POLL_SECONDS = 0.05
RESUME_MODES = ("allow", "must")

_lock = threading.RLock()
_active: Experiment | None = None
# backend -> options set by set_backend_options, for the runs started after it
_backend_defaults: dict[str, dict[str, Any]] = {}


class Experiment:
    """A tracelet run: where SummaryWriter calls go while it is active.

    Created by [`start_logging`][tracelet.start_logging]; use it to log what a
    SummaryWriter does not cover. It is also a context manager: leaving the block stops
    logging, with status ``FAILED`` if an exception escaped it (``KILLED`` for Ctrl-C).

    Attributes:
        name: the run's name (``exp_name``).
        project: the MLflow experiment, W&B project or ClearML project.
        backends: the trackers the run delivers to, e.g. ``["mlflow", "wandb"]``.
        run_id: tracelet's own id for the run (also the run folder's name).
        run_dir: the run folder holding the journal (None on a non-zero rank).
        report: the [`StopReport`][tracelet.StopReport], once the run is stopped.
        summary: the run's summary values, a dict delivered to every tracker
            ([`RunSummary`][tracelet.summaries.RunSummary]).
        config: the run's params as ``wandb.config`` gives them: read them back, or set
            one to log it ([`RunConfig`][tracelet.config.RunConfig]).

    Example:
        ```python
        import tracelet

        experiment = tracelet.start_logging(exp_name="baseline", project="mnist",
                                            backend="mlflow")
        experiment.log_params({"lr": 0.01, "batch_size": 32})
        experiment.log_metric("val/acc", 0.91, step=100)
        experiment.log_artifact("model.pth")
        tracelet.stop_logging()

        with tracelet.start_logging(exp_name="finetune", project="mnist") as experiment:
            experiment.log_metric("loss", 0.4, step=1)
        ```
    """

    def __init__(
        self,
        exp_name: str,
        project: str,
        backends: list[str],
        backend_options: dict[str, dict[str, Any]],
        *,
        delivery: str = "process",
        flush_interval: float = 0.2,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        tracking: dict[str, dict[str, bool]] | None = None,
        system_interval: float = tracking_switches.DEFAULT_SYSTEM_INTERVAL,
    ):
        self.name = exp_name
        self.project = project
        self.backends = backends
        self.stop_timeout = stop_timeout
        self._spec = RunSpec.new(exp_name, project, backends, backend_options)
        self._spec.tracking = tracking or {}
        self._spec.system_interval = system_interval
        self.run_id = self._spec.run_id
        self._agent: AgentHandle | None = None
        self._stopped = False
        self.report: StopReport | None = None
        if delivery == "off":  # a non-zero rank: every call is a no-op
            self.run_dir = None
            self._router = None
            self._emit = _router.discard
        else:
            self.run_dir = create_run_dir(self._spec)
            track_git = any(t.get("git") for t in self._spec.tracking.values())
            self._spec.source = read_source(self._spec.cwd, track_git, self.run_dir)
            write_spec(self.run_dir, self._spec)
            self._router = _router.Router(self.run_dir, self.run_id, flush_interval)
            if any(t.get("console") for t in self._spec.tracking.values()):
                self._router.console = ConsoleCapture(self.run_dir / CONSOLE_FILE)
                self._router.console.install()
            self._emit = self._router.emit
            self._agent = AgentHandle(self.run_dir, self._spec, delivery)
        self._wandb_log = WandbStyleLog(self._emit)
        # a tracker that serialises objects itself is given the object's pickle too
        self._objects_for_tracker = any(load_backend(b).serialises_objects for b in backends)
        self._files = RunFiles(self.run_dir, self._emit)
        self._logs_dicts = False  # tracelet.log was called: watch() uses its step
        self._registered: dict[str, tuple[Any, Mapping[str, Any] | None]] = {}
        self._watcher = None
        self.summary = RunSummary(lambda event: self._emit(event))
        self.config = RunConfig(self.log_params)
        self._parameters = ParameterSections()

    # -- logging API -----------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: Any = None) -> None:
        """Log one scalar; ``step=None`` is step 0 (as in MLflow and TensorBoard).

        Example:
            ```python
            experiment.log_metric("val/acc", 0.91, step=100)
            experiment.log_metric("test/acc", 0.89)  # step 0
            ```
        """
        self._emit((METRIC, str(key), to_float(value), to_step(step), time.time()))

    def log_metrics(self, metrics: Mapping[str, Any], step: Any = None) -> None:
        """Log several scalars at one step.

        Example:
            ```python
            experiment.log_metrics({"val/loss": 0.31, "val/acc": 0.91}, step=100)
            ```
        """
        step, wall_time = to_step(step), time.time()
        for key, value in metrics.items():
            self._emit((METRIC, str(key), to_float(value), step, wall_time))

    def log(self, data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
        """Log a dict with ``wandb.log``'s step semantics (see [`tracelet.log_steps`][]).

        Example:
            ```python
            experiment.log({"loss": 0.5})                   # step 0
            experiment.log({"loss": 0.4})                   # step 1
            experiment.log({"acc": 0.8}, commit=False)      # joins the next row
            experiment.log({"loss": 0.3})                   # step 2: loss and acc
            experiment.log({"val/loss": 0.35}, step=10)     # the counter moves to 10
            ```
        """
        self._logs_dicts = True
        self._wandb_log.log(data, step=step, commit=commit)

    def log_params(
        self, params: Mapping[str, Any], section: str | None = None
    ) -> Mapping[str, Any]:
        """Record parameters (nested dicts flattened with ``/``); returns ``params``, a
        dict as a connected dict.

        Accepts a dict, an ``argparse.Namespace`` or any object with ``__dict__``.
        ``section`` names a parameter section: ClearML keeps it (``Args``, ``General``,
        or any name, as ``Task.connect(params, name=section)``); the other trackers store
        the keys as ``section/key``, which is also how every reader gives them back.
        ``None`` and ``"General"`` are ClearML's default section: the keys stay as they are.

        A dict comes back connected, as from ClearML's ``Task.connect``: setting one of
        its items (or ``update``) logs the whole dict again, on every tracker. An Enum
        value is recorded as ``str()`` (ClearML: the member's name, typed by its class).

        Example:
            ```python
            experiment.log_params({"lr": 0.01, "model": {"hidden": 16}})
            # recorded as lr=0.01 and model/hidden=16

            args = experiment.log_params(parser.parse_args(), section="Args")
            # ClearML: section Args; MLflow, W&B, TensorBoard: Args/lr, Args/epochs, ...

            params = experiment.log_params({"lr": 0.01})
            params["lr"] = 0.02  # lr is logged again, now 0.02
            ```
        """
        if section is not None and not isinstance(section, str):
            raise TypeError(f"section must be a string, got {type(section).__name__}")
        mapping = _as_mapping(params)
        self._record_params(mapping, section, replace=_is_task_parameters(params))
        if section in (None, "General"):
            self.config._remember(mapping)
        if type(params) is dict:
            return ConnectedParams(params, lambda d: self._record_params(d, section))
        return params

    def _record_params(
        self, mapping: Mapping[str, Any], section: str | None, replace: bool = False
    ) -> None:
        raw = flatten_params(mapping)
        flat = {k: json_safe(v) for k, v in raw.items()}
        hints = typed_hints(raw)
        # what the ClearML backend stores: the JSON form, a tuple or an Enum as it is
        kept = {k: raw[k] if k in hints else v for k, v in flat.items()}
        self._parameters.log(kept, section, replace=replace)
        if not flat:
            return
        section = None if section == "General" else section
        if hints:
            self._emit((PARAMS, flat, section, hints))
        else:
            self._emit((PARAMS, flat, section) if section else (PARAMS, flat))

    def get_parameters(
        self, backwards_compatibility: bool = True, cast: bool = False
    ) -> dict[str, Any]:
        """The run's parameters as ClearML's ``Task.get_parameters()`` returns them:
        ``{"section/name": value}``, every section the run holds (``General`` for
        ``log_params`` without a section, ``properties`` for tags), values as the strings
        ClearML stores (``cast=True``: back to the type each was first logged with), in
        ClearML's order. Answered from what the program logged, with every backend
        alike; ``backwards_compatibility`` changes nothing for a run tracelet started
        (it concerns tasks from ClearML servers before 0.16). See
        [`tracelet.parameters`][] for ClearML's rules.

        Example:
            ```python
            experiment.log_params({"lr": 0.01, "layers": [64, 32]})
            experiment.set_tags({"stage": "pretrain"})
            experiment.get_parameters()
            # {'General/layers': '[64, 32]', 'General/lr': '0.01', 'properties/stage': 'pretrain'}
            experiment.get_parameters(cast=True)["General/lr"]  # 0.01
            ```
        """
        del backwards_compatibility  # no legacy section in a tracelet run
        return self._parameters.flat(cast=cast)

    def log_param(self, key: str, value: Any) -> Any:
        """Record one parameter; returns ``value``.

        Example:
            ```python
            lr = experiment.log_param("lr", 0.01)
            ```
        """
        self.log_params({key: value})
        return value

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags; any value (what ClearML's ``set_user_properties`` holds: numbers,
        strings, bools, None) is recorded as its string (``str``; ``None`` is ``"None"``).

        ClearML stores each tag as a user property (the native equivalent), MLflow as a
        run tag, W&B as a ``key:value`` run tag.

        Example:
            ```python
            experiment.set_tags({"dataset": "mnist", "seed": 0})  # seed is tagged "0"
            experiment.set_tags({"val_split": 0.1})                 # tagged "0.1"
            ```
        """
        clean = {str(k): str(json_safe(v)) for k, v in _as_mapping(tags).items()}
        if clean:
            self._parameters.set_properties(clean)
            self._emit((TAGS, clean))

    def set_tag(self, key: str, value: Any) -> None:
        """Set one run tag.

        Example:
            ```python
            experiment.set_tag("stage", "pretrain")
            ```
        """
        self.set_tags({key: value})

    def log_artifact(
        self,
        path_or_object: str | os.PathLike | Any,
        name: str | None = None,
        *,
        type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        aliases: Iterable[str] | None = None,
    ) -> None:
        """Store a file, a folder or an object with the run under ``name``.

        A path is captured now (copied into the run folder), so it may be changed or
        deleted afterwards; ``name`` defaults to its own name. An object needs a
        ``name`` and is written now: a dict or list as ``.json``, a pandas DataFrame as
        ``.csv``, a numpy array as ``.npy``, a str as ``.txt``, any other object pickled
        as ``.pkl`` (the suffix is added to ``name`` unless it has it; formats in
        :mod:`tracelet.objects`). A str is a path when that file or folder exists or no
        ``name`` is given, else text; a path whose last part is a wildcard
        (``"data/*.jpg"``) is a folder of the files it matches below that folder, as in
        ClearML's ``upload_artifact``. A matplotlib or plotly figure, a PIL image, and an
        image array whose ``name`` ends in an image suffix, is written to the file
        ``name`` as ``mlflow.log_figure`` / ``mlflow.log_image(image,
        artifact_file=name)`` write it (:mod:`tracelet.pictures`). ``type``,
        ``metadata`` and ``aliases`` are W&B's artifact type, metadata and aliases;
        the other trackers keep them as documented in the models page of these docs.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            TypeError: an object that does not pickle, or one without ``name``.

        Example:
            ```python
            torch.save(model.state_dict(), "model.pth")
            experiment.log_artifact("model.pth")
            experiment.log_artifact("outputs/plots", name="plots")  # a whole folder
            experiment.log_artifact({"classes": ["cat", "dog"]}, name="labels")  # labels.json
            experiment.log_artifact(fig, name="plots/roc.png")  # fig.savefig, as MLflow
            experiment.log_artifact(df, name="predictions", type="dataset",
                                    metadata={"rows": len(df)}, aliases=["latest"])
            ```
        """
        info = {"type": type, "metadata": metadata and json_safe(dict(metadata))}
        info["aliases"] = [str(a) for a in aliases] if aliases is not None else None
        info = {k: v for k, v in info.items() if v is not None}
        if is_picture(path_or_object, name):
            if not name:
                raise TypeError("log_artifact of a figure or image needs name= ('plots/roc.png')")
            self._write_artifact(name, lambda target: write_picture(path_or_object, target), info)
            return
        if _is_object(path_or_object, name):
            suffix = object_suffix(path_or_object)
            if not name:
                kind = path_or_object.__class__.__name__
                raise TypeError(f"log_artifact of a {kind} needs name=")
            given, name = name, file_name(name, suffix)

            def write(target: Path) -> None:
                write_object(path_or_object, target)
                if self._objects_for_tracker:
                    info[OBJECT_INFO] = _object_record(path_or_object, given, target)

            self._write_artifact(name, write, info)
            return
        source = Path(path_or_object)
        matches = None if source.exists() else wildcard_matches(source)
        if not source.exists() and not matches:
            raise FileNotFoundError(f"log_artifact: {source} does not exist")
        name = name or (source.parent if matches else source).resolve().name
        if self._router is None:
            return
        folder = self._new_folder(ARTIFACTS_DIR)
        snapshot = _copy_matches(source, matches, folder) if matches else _snapshot(source, folder)
        self._emit((ARTIFACT, name, str(snapshot), *([info] if info else [])))

    def log_configuration(
        self,
        name: str,
        config_or_path: Mapping[str, Any] | list | str | os.PathLike,
        description: str | None = None,
    ) -> Any:
        """Store a configuration document with the run under ``name``; returns
        ``config_or_path``.

        A dict or list is the configuration itself, a str or path a configuration file
        whose text is read now. ClearML keeps it as ``Task.connect_configuration(...,
        name=name, description=description)`` does: a configuration object
        (Configuration tab) holding ClearML's HOCON text of the dict, or the file's text
        typed by its suffix. The other trackers store a file artifact: the dict as JSON,
        ``<name>.json``, or a copy of the file, ``<name><suffix>`` (``.txt`` without one).
        Unlike ClearML's returned dict, later changes to the dict are not stored.

        Raises:
            FileNotFoundError: the path is not a file.

        Example:
            ```python
            config = experiment.log_configuration("model", {"layers": [64, 32]})
            experiment.log_configuration("data", "configs/data.yaml", description="splits")
            ```
        """
        record = {"name": name, **({"description": description} if description else {})}
        info = {CONFIGURATION_INFO: record}
        self._parameters.reload()
        if isinstance(config_or_path, Mapping | list):
            record["document"] = True
            document = json_safe(config_or_path)

            def write(target: Path) -> None:
                write_object(document, target)
                pickled = target.with_name(target.name + ".object.pkl")
                with contextlib.suppress(TypeError):  # ClearML then reads the JSON
                    pickle_object(config_or_path, pickled)
                    record["pickle"] = str(pickled)

            self._write_artifact(file_name(name, ".json"), write, info)
            return config_or_path
        source = Path(config_or_path)
        if not source.is_file():
            raise FileNotFoundError(f"log_configuration: {source} is not a file")
        if self._router is not None:
            copy = self._new_folder(ARTIFACTS_DIR) / source.name
            shutil.copy2(source, copy)
            self._emit((ARTIFACT, file_name(name, source.suffix or ".txt"), str(copy), info))
        return config_or_path

    def register_artifact(
        self, name: str, df: Any, metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Store the pandas DataFrame ``df`` with the run under ``name`` as it is when the
        run stops (later changes included), without its index, as ClearML's
        ``Task.register_artifact`` does. ClearML: that call itself, made at the stop (a
        ``data-audit-table`` artifact ``<name>.csv.gz``); the others: the artifact
        ``<name>.csv``. ``metadata`` as in :meth:`log_artifact`. Registering a name again
        replaces the frame.

        Example:
            ```python
            experiment.register_artifact("train", df, metadata={"counting": "legs"})
            df["seen"] = 1  # stored too
            ```

        Raises:
            TypeError: ``df`` is not a pandas DataFrame (ClearML registers only those).
        """
        kind = type(df)
        if kind.__name__ != "DataFrame" or not kind.__module__.startswith("pandas"):
            raise TypeError(f"register_artifact takes a pandas DataFrame, not {kind.__name__}")
        self._registered[name] = (df, metadata)

    def get_registered_artifacts(self) -> dict[str, Any]:
        """The frames given to :meth:`register_artifact`, by name (the objects
        themselves, as ClearML's ``Task.get_registered_artifacts`` returns them).

        Example:
            ```python
            experiment.get_registered_artifacts()["train"]["seen"] = 1
            ```
        """
        return {name: df for name, (df, _) in self._registered.items()}

    def _log_registered(self) -> None:
        for name, (df, metadata) in self._registered.items():
            frame = df.reset_index(drop=True)
            record = {"name": name}
            info = {REGISTERED_INFO: record}
            if metadata:
                info["metadata"] = json_safe(dict(metadata))

            def write(target: Path, df=df, frame=frame, record=record) -> None:
                write_object(frame, target)
                pickled = target.with_name(target.name + ".object.pkl")
                pickle_object(df, pickled)
                record["pickle"] = str(pickled)

            self._write_artifact(file_name(name, ".csv"), write, info)

    def _write_artifact(self, name: str, write: Callable[[Path], None], info: dict) -> None:
        """An object artifact: ``write`` makes the file ``name`` in a new artifact folder."""
        if self._router is None:
            return
        target = self._new_folder(ARTIFACTS_DIR) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
        self._emit((ARTIFACT, name, str(target), *([info] if info else [])))

    def save(
        self,
        glob_or_path: str | os.PathLike,
        base_path: str | os.PathLike | None = None,
        policy: str = "live",
    ) -> list[str]:
        """Keep the files ``glob_or_path`` matches among the run's files, as ``wandb.save``.

        Each file is named by its path relative to ``base_path`` (default: the working
        directory for a relative glob; for an absolute one, the folder above the file's
        folder), the name W&B gives it. The glob is expanded now. ``policy`` says when
        the file is captured: ``"now"`` (at this call), ``"live"`` (now and again when
        the run stops, so the run keeps its last version) or ``"end"`` (at the stop).
        W&B stores the files as the run's own files (``run.save``), MLflow as run
        artifacts at those paths, ClearML as artifacts of those names, TensorBoard's
        folder under ``artifacts/``. Returns the names saved (none when nothing matched,
        as ``wandb.save`` saves nothing then).

        Raises:
            ValueError: an unknown ``policy``, or a glob outside ``base_path``.

        Example:
            ```python
            torch.save(model.state_dict(), "vae.pt")
            experiment.save("./vae.pt")             # the run file vae.pt, last version
            experiment.save("ckpt/*.pt", policy="now")  # ckpt/<file>.pt, as they are now
            ```
        """
        return self._files.save(glob_or_path, base_path, policy)

    @property
    def dir(self) -> str:
        """The run's files folder, W&B's ``run.dir``, created on first use: every file
        written under it is kept with the run when it stops, named by its path in the
        folder, as ``save(f"{experiment.dir}/**", base_path=experiment.dir, policy="end")``
        would keep it (with ``**`` spanning folders), also for files written after this
        call. W&B keeps them as W&B keeps the files of its ``run.dir`` (run files uploaded
        at the end), MLflow as run artifacts at those paths, ClearML as artifacts of those
        names. A file also given to [`save`][tracelet.Experiment.save] is kept once. On a
        non-zero rank it is a temporary folder no tracker receives.

        Example:
            ```python
            torch.save(model.state_dict(), os.path.join(experiment.dir, "model.pt"))
            # the run file model.pt once the run stops
            ```
        """
        return str(self._files.folder())

    def log_model(
        self,
        model: Any,
        name: str = "model",
        *,
        input_example: Any = None,
        signature: Any = None,
        metadata: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        model_type: str | None = None,
        step: int = 0,
    ) -> None:
        """Store a torch ``nn.Module``, a scikit-learn estimator or an xgboost model
        (``Booster``, ``XGBRegressor``, ...) with the run.

        Every tracker receives the model's portable file, ``<name>.pt`` (its
        ``state_dict``, ``torch.save``), ``<name>.ubj`` (xgboost's own ``save_model``) or
        ``<name>.pkl`` (the pickled estimator): W&B as an
        artifact of type ``model``, ClearML as an artifact, TensorBoard's folder as a
        file. Where MLflow is a backend, the model is also written as an MLflow model
        (``mlflow.pytorch`` / ``sklearn`` / ``xgboost`` ``save_model``) here, in the training
        process, because MLflow serialises the live object; the agent then logs it as
        an MLflow logged model of the run, loadable with ``mlflow.pytorch.load_model``.
        The files are written now (a later change to the model is not logged).

        The keyword arguments are ``mlflow.<flavor>.log_model``'s, stored as MLflow stores
        them: ``input_example`` (``input_example.json``, ``serving_input_example.json``
        and the signature inferred from it), ``signature`` (a ``ModelSignature``, e.g.
        ``mlflow.models.infer_signature(x, y)``) and ``metadata`` in the model folder;
        ``params`` (with the run's params, which win), ``tags`` and ``model_type`` on the
        MLflow logged model; ``step``, the run output's step, whose metrics MLflow also
        links to the model. W&B keeps ``metadata`` as the model artifact's metadata;
        the other trackers, and W&B for the rest, keep none of them.

        Raises:
            TypeError: ``model`` is none of these.

        Example:
            ```python
            experiment.log_model(net)                     # model.pt (+ MLflow model "model")
            experiment.log_model(classifier, name="rf")   # rf.pkl
            experiment.log_model(booster, name="xgb")     # xgb.ubj
            experiment.log_model(classifier, input_example=x_test[:5], metadata={"v": 1})
            ```
        """
        self._log_model(model, name, input_example=input_example, signature=signature,
                        metadata=metadata, params=params, tags=tags, model_type=model_type,
                        step=step)  # fmt: skip

    def _log_model(
        self,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        signature: Any = None,
        metadata: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        model_type: str | None = None,
        step: int = 0,
        autolog: bool = False,
    ) -> str | None:
        """``log_model``; returns the path that names the model in its events
        (:data:`tracelet.events.MODEL_METRICS`), None on a rank that logs nothing."""
        flavor = model_flavor(model)
        if self._router is None:
            return None
        folder = self._new_folder(MODELS_DIR)
        weights = save_weights(model, flavor, folder, name)
        mlflow_model = None
        if "mlflow" in self.backends:
            mlflow_model = folder / "mlflow-model"
            annotations = dict(input_example=input_example, signature=signature, metadata=metadata)
            save_mlflow_model(model, flavor, mlflow_model, annotations)
        info = {
            "name": name,
            "flavor": flavor,
            "mlflow_model": mlflow_model and str(mlflow_model),
            "metadata": json_safe(dict(metadata)) if metadata else None,
            # MLflow keeps a logged model's params and tags as str(value)
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": {k: str(v) for k, v in (tags or {}).items()},
            "model_type": model_type,
            "step": to_step(step),
        }
        if autolog:
            info["autolog"] = True
        self._emit((MODEL, name, str(weights), info))
        return str(weights)

    def _new_folder(self, kind: str) -> Path:
        folder = self.run_dir / kind / f"{time.time_ns()}"
        folder.mkdir(parents=True)
        return folder

    @property
    def ids(self) -> dict[str, str]:
        """Each tracker's own id of the run: ``{"mlflow": run_id, "wandb": run id,
        "clearml": task id, ...}``.

        The delivery agent opens the tracker runs after ``start_logging`` returns;
        this waits until every backend has answered, at most 30 s
        (``$TRACELET_IDENTITY_TIMEOUT``), and returns the ids known by then (a tracker
        that cannot be reached is left out). Empty on a non-zero rank.

        Example:
            ```python
            experiment = tracelet.start_logging(exp_name="baseline", backend="mlflow")
            run_id = experiment.ids["mlflow"]  # for tracelet.start_logging(resume=run_id)
            ```
        """
        return {name: ref[0] for name, ref in self._run_refs().items() if ref[0]}

    @property
    def urls(self) -> dict[str, str]:
        """Where each tracker shows the run: its web page for a server, else the local
        store location tracelet's readers accept (an MLflow ``URI#run_id``, a W&B offline
        run folder, a ClearML offline session folder). Waits as [`ids`][tracelet.Experiment.ids].

        Example:
            ```python
            print(experiment.urls["wandb"])  # https://wandb.ai/me/mnist/runs/abc123
            ```
        """
        return {name: ref[1] for name, ref in self._run_refs().items() if ref[1]}

    def _run_refs(self) -> dict[str, tuple[str, str]]:
        if self.run_dir is None:
            return {}
        states = self._delivery_states()
        if not self._all_answered(states):
            timeout = float(os.environ.get("TRACELET_IDENTITY_TIMEOUT") or IDENTITY_TIMEOUT)
            deadline = time.monotonic() + timeout
            with self._agent.full_priority() as hurry:
                while not self._all_answered(states) and time.monotonic() < deadline:
                    hurry()
                    time.sleep(IDENTITY_POLL_SECONDS)  # polling the files the agent writes
                    states = self._delivery_states()
        return {s.backend: (s.tracker_run_id, s.url) for s in states}

    def _delivery_states(self) -> list[DeliveryState]:
        return [DeliveryState.load(self.run_dir, name) for name in self.backends]

    def _all_answered(self, states: list[DeliveryState]) -> bool:
        """Every tracker run is open (or never will be), or no agent will open one."""
        return all(s.location or s.unavailable or s.done for s in states) or self._agent_gone()

    def _agent_gone(self) -> bool:
        return self._agent is None or not self._agent.running()

    def log_text(self, key: str, text: str, step: Any = None) -> None:
        """Log a text record under ``key`` (``step=None`` is step 0).

        Example:
            ```python
            experiment.log_text("notes", "lr halved after epoch 3", step=300)
            ```
        """
        self._emit((TEXT, str(key), to_step(step), time.time(), str(text)))

    def define_metric(
        self, name: str, step_metric: str | None = None, summary: str | None = None
    ) -> None:
        """Say how a metric is summarised and charted, with ``wandb.define_metric``'s meaning.

        ``name`` is a key or a glob ending in ``*`` (``"val/*"``). ``summary`` is one of
        ``"min"``, ``"max"``, ``"mean"``, ``"last"``, ``"first"``, ``"none"`` or several
        comma-joined (``"min,max"``): the run's summary then holds ``<key>.min`` etc. for
        every matching key. ``step_metric`` names the metric W&B charts it against.
        W&B receives the call itself (``run.define_metric``); for the other trackers the
        delivery agent computes the aggregates of the points it delivers and stores them
        as summary values when the run ends (``step_metric`` has no equivalent there).

        Raises:
            ValueError: an unknown summary, or ``*`` elsewhere than at the end of ``name``.

        Example:
            ```python
            experiment.define_metric("val/loss", summary="min")
            experiment.define_metric("val/*", step_metric="epoch")
            experiment.define_metric("acc", summary="max,mean")
            ```
        """
        check_metric_name(name)
        if step_metric is not None and not isinstance(step_metric, str):
            raise TypeError(f"step_metric must be a string, got {type(step_metric).__name__}")
        self._emit((DEFINE_METRIC, name, step_metric, parse_summary_ops(summary)))

    def watch(self, model: Any, log: str | None = "gradients", log_freq: int = 1000) -> None:
        """Log histograms of a torch model's gradients and/or parameters, as ``wandb.watch``.

        ``log`` is ``"gradients"``, ``"parameters"``, ``"all"`` or None; every
        ``log_freq``-th backward (gradients, per parameter) or forward pass (parameters)
        logs one histogram per parameter, named ``gradients/<name>`` /
        ``parameters/<name>``, to every tracker. See [`tracelet.watch`][] for buckets and
        steps. ``model`` may be a list of models. On a rank that does not deliver, watch
        adds no hooks.

        Example:
            ```python
            experiment.watch(model, log="all", log_freq=100)
            ...
            experiment.unwatch(model)
            ```
        """
        from tracelet.watch import Watcher

        if self._router is None:  # a non-zero rank: no hooks, no histograms to compute
            return
        if self._watcher is None:
            self._watcher = Watcher(
                lambda event: self._emit(event), self._watch_step, lambda: self._logs_dicts
            )
        self._watcher.watch(model, log=log, log_freq=log_freq)

    def unwatch(self, model: Any = None) -> None:
        """Remove the hooks ``watch`` put on ``model`` (default: on every watched model).

        Example:
            ```python
            experiment.unwatch()
            ```
        """
        if self._watcher is not None:
            self._watcher.unwatch(model)

    def _watch_step(self, hook_calls: int) -> int:
        return self._wandb_log.step if self._logs_dicts else hook_calls

    def log_image(self, key: str, image: Any, step: Any = None, caption: str | None = None) -> None:
        """Log an image under ``key`` (``step=None`` is step 0): a numpy array (HW, HWC),
        a torch tensor (CHW), a PIL image, a file path or a [`tracelet.Image`][tracelet.Image].

        The pixels are copied here (later in-place changes are not logged) and encoded
        off the training thread.

        Example:
            ```python
            experiment.log_image("samples/real", batch[0], step=epoch, caption="real")
            ```
        """
        if not isinstance(image, Image):
            image = Image(image, caption=caption)
        elif caption is not None:
            image = copy.copy(image)  # the pixels were copied when it was made
            image.caption = caption
        self._emit_media(key, image, step)

    def log_images(
        self, key: str, images: Iterable[Any], step: Any = None, captions: Iterable | None = None
    ) -> None:
        """Log several images at one step, as ``key/0``, ``key/1``, ...

        Example:
            ```python
            experiment.log_images("samples", [img_a, img_b], step=3, captions=["a", "b"])
            ```
        """
        images = list(images)
        captions = list(captions) if captions is not None else [None] * len(images)
        for index, (image, caption) in enumerate(zip(images, captions, strict=True)):
            self.log_image(f"{key}/{index}", image, step=step, caption=caption)

    def log_figure(self, key: str, figure: Any, step: Any = None) -> None:
        """Log a matplotlib figure as a PNG image. The figure is drawn now (the caller
        may close it right after), the file is written by the flusher.

        Example:
            ```python
            fig, ax = plt.subplots()
            ax.plot(losses)
            experiment.log_figure("curves/loss", fig, step=epoch)
            plt.close(fig)
            ```
        """
        import io

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        self._emit_media(key, Image(buffer.getvalue()), step)

    def log_histogram(
        self, key: str, values_or_np_histogram: Any, step: Any = None, num_bins: int = 64
    ) -> None:
        """Log a histogram: raw values (binned into ``num_bins``) or a
        ``numpy.histogram`` result ``(counts, edges)``.

        Example:
            ```python
            experiment.log_histogram("weights/fc1", model.fc1.weight, step=epoch)
            experiment.log_histogram("lengths", np.histogram(lengths, bins=10), step=0)
            ```
        """
        value = values_or_np_histogram
        if not isinstance(value, Histogram):
            if isinstance(value, tuple) and len(value) == 2:
                value = Histogram(np_histogram=value, num_bins=num_bins)
            else:
                value = Histogram(value, num_bins=num_bins)
        self._emit_media(key, value, step)

    def log_table(
        self, key: str, dataframe_or_rows: Any, columns: list[str] | None = None, step: Any = None
    ) -> None:
        """Log a table: a pandas DataFrame, or a list of rows with ``columns``.

        Example:
            ```python
            experiment.log_table("predictions", [[1, "cat", 0.9]], columns=["id", "label", "p"])
            experiment.log_table("metrics_by_class", frame, step=epoch)
            ```
        """
        value = dataframe_or_rows
        if not isinstance(value, Table):
            if hasattr(value, "columns") and hasattr(value, "to_numpy"):
                value = Table(dataframe=value)
            else:
                value = Table(columns=columns, data=value)
        self._emit_media(key, value, step)

    def _emit_media(self, key: str, value: Media, step: Any) -> None:
        self._emit((MEDIA, str(key), to_step(step), time.time(), value))

    # -- lifecycle -------------------------------------------------------------------
    def flush(self) -> None:
        """Write what is queued to the journal now (normally the flusher does this).

        A journal that cannot be written (disk full) does not raise: the events stay
        queued, and ``stop_logging`` reports what never made it.

        Example:
            ```python
            experiment.log_metric("loss", 0.25, step=7)
            experiment.flush()  # on disk in the run folder; the agent delivers it
            ```
        """
        if self._router is not None:
            with contextlib.suppress(OSError):
                self._router.flush()

    def stop(self, status: str = "FINISHED", timeout: float | None = None) -> StopReport:
        """Flush, let the agent deliver within ``timeout`` seconds, and close.

        ``status`` is the run's final state in the tracker: ``"FINISHED"``,
        ``"FAILED"`` or ``"KILLED"``. ``timeout=None`` waits ``stop_timeout`` seconds
        (see [`start_logging`][tracelet.start_logging]). Stopping twice returns the
        same report.

        Example:
            ```python
            report = experiment.stop()
            print(report.summary())  # mlflow: 1200 points, complete -> sqlite:///mlflow.db (...)
            ```
        """
        global _active
        with _lock:
            if self._stopped:
                return self.report
            self._stopped = True
            self.unwatch()
            self._files.capture_at_stop()
            if _active is self:
                _active = None
                _router.activate(None)
                _uninstall_capture()
        if self._router is None:
            self.report = StopReport(self.run_dir, [])
            return self.report
        timeout = self.stop_timeout if timeout is None else timeout
        deadline = time.time() + timeout
        self._log_registered()
        self._wandb_log.finish()
        router = self._router
        router.close(status, deadline)
        if router.end_written:  # else the agent closes the runs as KILLED when we exit
            self._agent.wait_for_delivery(deadline, router.points_written)
        self.report = collect_report(self.run_dir, self.backends)
        if router.lost or not router.end_written:
            self.report.journal_lost = router.lost
            self.report.journal_error = router.last_journal_error or "end marker not written"
        _warn_if_incomplete(self.report, self._wandb_log)
        return self.report

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
        self.stop(status)

    def __repr__(self) -> str:
        return (
            f"Experiment(name={self.name!r}, project={self.project!r}, "
            f"backends={self.backends!r}, run_dir='{self.run_dir}')"
        )

    # -- delivery --------------------------------------------------------------------


# -- module-level API ------------------------------------------------------------------
def start_logging(
    exp_name: str | None = None,
    project: str | None = None,
    backend: str | Iterable[str] | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    backend_url: str | None = None,
    backend_options: Mapping[str, Mapping[str, Any]] | None = None,
    tags: Mapping[str, Any] | None = None,
    capture: bool = True,
    delivery: str = "process",
    flush_interval: float = 0.2,
    stop_timeout: float | None = None,
    ranks: str | None = None,
    track_system: bool | None = None,
    track_git: bool | None = None,
    track_console: bool | None = None,
    system_interval: float | None = None,
    resume: str | Mapping[str, str] | None = None,
    resume_mode: str = "allow",
) -> Experiment:
    """Start a run: from now on every SummaryWriter call also reaches ``backend``.

    Args:
        exp_name: the run's name (MLflow run name, W&B run name, ClearML task name).
            Default ``$TRACELET_EXPERIMENT``, else the script's file name.
        project: MLflow experiment, W&B project, ClearML project.
            Default ``$TRACELET_PROJECT``, else ``"default"``.
        backend: ``"mlflow"``, ``"wandb"``, ``"clearml"``, ``"tensorboard"`` or a list
            of several. Default ``$TRACELET_BACKEND``, else ``"mlflow"``.
        config: parameters to record (nested dicts are flattened with ``/``).
        backend_url: the tracker's address: MLflow tracking URI, W&B base URL,
            ClearML API server. Default: the tracker's own configuration.
        backend_options: per-backend options, e.g. ``{"wandb": {"entity": "me"}}``
            (over the defaults [`set_backend_options`][tracelet.set_backend_options] set).
        tags: run tags.
        capture: patch ``SummaryWriter`` (torch and tensorboardX) to route its calls.
        delivery: ``"process"`` (default: a separate delivery agent process) or
            ``"thread"`` (in-process fallback; slower, as tracker clients then share
            the training process's GIL).
        flush_interval: seconds between journal writes on the training side.
        stop_timeout: how long ``stop_logging`` waits for delivery (default 120 s,
            or ``$TRACELET_STOP_TIMEOUT``).
        ranks: in a distributed job, ``"zero"`` (default, ``$TRACELET_RANKS``): only
            rank 0 delivers, other ranks get a disabled run; ``"all"``: each rank
            delivers into its own run ``<exp_name>-rank<N>`` (see
            the distributed page of these docs).
        track_system: sample CPU, memory, disk, network and GPU use of this process
            every ``system_interval`` seconds (default 10, ``$TRACELET_SYSTEM_INTERVAL``)
            in the delivery agent and record it under each tracker's own names.
        track_git: record the program, the user and the git state (commit, branch,
            remote without credentials, the uncommitted diff when dirty).
        track_console: record what this process prints to ``sys.stdout`` /
            ``sys.stderr`` and deliver it when the run ends: W&B's Logs tab, ClearML's
            console, MLflow's ``console.log`` artifact (default: on for W&B and
            ClearML, whose clients capture the console, off for MLflow).
            The switches may also be given in ``config`` (then they are not params) or
            as ``$TRACELET_TRACK_SYSTEM`` / ``$TRACELET_TRACK_GIT``; left unset, each
            backend does what its tracker does by default (see :mod:`tracelet.tracking`).
        resume: continue a tracker's run instead of starting one: its run id (a str,
            with a single backend) or ``{backend: run id}`` (the ids
            [`Experiment.ids`][tracelet.Experiment.ids] gives). New points are appended
            to the run's own (see the models page of these docs for each tracker).
        resume_mode: ``"allow"`` (default): a run that does not exist is started anew;
            ``"must"``: a run that does not exist stops delivery to that tracker with an
            error naming the id (W&B's meanings).

    Returns:
        The new active [`Experiment`][tracelet.Experiment] (an active run is stopped first).

    Example:
        ```python
        import tracelet
        from torch.utils.tensorboard import SummaryWriter

        tracelet.start_logging(exp_name="baseline", project="mnist", backend="mlflow",
                               config={"lr": 0.01})
        writer = SummaryWriter()
        writer.add_scalar("loss", 0.5, 1)  # also reaches MLflow
        tracelet.stop_logging()
        ```
    """
    global _active
    backends = normalize_backends(backend or os.environ.get("TRACELET_BACKEND") or DEFAULT_BACKEND)
    for name in backends:
        ensure_installed(name)
    exp_name = exp_name or os.environ.get("TRACELET_EXPERIMENT") or _default_exp_name()
    project = project or os.environ.get("TRACELET_PROJECT") or DEFAULT_PROJECT
    options = {}
    for name in backends:
        options[name] = dict((backend_options or {}).get(name, {}))
        if backend_url:
            options[name].setdefault("url", backend_url)
        for key, value in _backend_defaults.get(name, {}).items():
            options[name].setdefault(key, value)
        options[name] = load_backend(name).pin_options(options[name], os.getcwd())
    for name, run in _resume_ids(backends, resume, resume_mode).items():
        options[name].update(resume=run, resume_mode=resume_mode)
    params, switches = tracking_switches.pop_switches(_as_mapping(config) if config else None)
    tracking = _tracking(backends, track_system, track_git, track_console, switches)
    if stop_timeout is None:
        stop_timeout = float(os.environ.get("TRACELET_STOP_TIMEOUT", DEFAULT_STOP_TIMEOUT))
    rank = process_rank()
    if rank is not None and resolve_mode(ranks) == "all":
        exp_name = f"{exp_name}-rank{rank}"
    elif rank not in (None, 0):
        delivery, capture = "off", False
    with _lock:
        if _active is not None:
            _active.stop()
        experiment = Experiment(
            str(exp_name),
            str(project),
            backends,
            options,
            delivery=delivery,
            flush_interval=flush_interval,
            stop_timeout=stop_timeout,
            tracking=tracking,
            system_interval=tracking_switches.system_interval(system_interval),
        )
        _active = experiment
        _router.activate(experiment._router)
        if capture:
            _install_capture()
        lifecycle.install_exit_hooks(_active_experiment)
    if params:
        experiment.log_params(params)
    if tags:
        experiment.set_tags(tags)
    return experiment


def set_backend_options(backend: str, **options: Any) -> None:
    """Default options of one backend for every run started from now on in this process.

    What ``mlflow.set_tracking_uri(uri)`` is for MLflow's own runs, without importing
    MLflow: the runs [`start_logging`][tracelet.start_logging] starts later are delivered
    with these options. A run's own ``backend_options`` and ``backend_url`` win, key by
    key; a run already started keeps the options it started with. Calling it again
    updates the keys given; a value of ``None`` removes that default.

    Args:
        backend: ``"mlflow"``, ``"wandb"``, ``"clearml"`` or ``"tensorboard"``.
        **options: the backend's options (each tracker's page lists them), e.g.
            ``url`` (MLflow: the tracking URI; a relative ``sqlite:///mlflow.db`` is
            resolved against the working directory when the run starts, as MLflow
            resolves it when it opens the store).

    Raises:
        ValueError: ``backend`` is not a tracelet backend.

    Example:
        ```python
        tracelet.set_backend_options("mlflow", url="sqlite:///mlflow.db")
        ...
        with tracelet.start_logging(project="nyc-taxi", backend="mlflow"):
            ...  # stored in ./mlflow.db
        ```
    """
    [name] = normalize_backends([backend])
    with _lock:
        defaults = _backend_defaults.setdefault(name, {})
        for key, value in options.items():
            if value is None:
                defaults.pop(key, None)
            else:
                defaults[key] = value


def stop_logging(timeout: float | None = None, status: str = "FINISHED") -> StopReport | None:
    """Flush, wait (at most ``timeout`` s) for delivery, close the run, remove the patches.

    Returns a [`StopReport`][tracelet.StopReport] (None when no run is active).
    Anything that could not be delivered in time stays in the run's journal; a warning
    says so and names the ``tracelet sync`` command that delivers it later.

    Example:
        ```python
        report = tracelet.stop_logging(timeout=30)
        if not report.complete:
            print(report.summary())  # names the `tracelet sync <run folder>` command
        ```
    """
    experiment = _active
    if experiment is None:
        return None
    return experiment.stop(status=status, timeout=timeout)


def get_active_experiment() -> Experiment | None:
    """The running [`Experiment`][tracelet.Experiment], or None.

    Example:
        ```python
        experiment = tracelet.get_active_experiment()
        if experiment is not None:
            experiment.log_metric("epoch_time", 12.5, step=epoch)
        ```
    """
    return _active


def log(data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
    """``wandb.log``-compatible logging on the active run (see [`tracelet.log_steps`][]).

    Raises:
        RuntimeError: no run is active.

    Example:
        ```python
        tracelet.start_logging(exp_name="baseline", backend="wandb")
        for step, batch in enumerate(loader):
            tracelet.log({"loss": train_step(batch)})  # steps 0, 1, 2, ...
        tracelet.stop_logging()
        ```
    """
    experiment = _active
    if experiment is None:
        raise RuntimeError(
            "tracelet.log() needs an active run: call tracelet.start_logging() first"
        )
    experiment.log(data, step=step, commit=commit)


# -- helpers ---------------------------------------------------------------------------
def _tracking(
    backends: list[str],
    track_system: bool | None,
    track_git: bool | None,
    track_console: bool | None,
    from_config: Mapping[str, Any],
) -> dict[str, dict[str, bool]]:
    system = tracking_switches.resolve("track_system", track_system, from_config)
    git = tracking_switches.resolve("track_git", track_git, from_config)
    console = tracking_switches.resolve("track_console", track_console, from_config)
    tracking = {}
    for name in backends:
        backend = load_backend(name)
        tracking[name] = {
            "system": backend.tracks_system_by_default if system is None else system,
            "git": backend.tracks_git_by_default if git is None else git,
            "console": backend.tracks_console_by_default if console is None else console,
        }
    return tracking


def _resume_ids(
    backends: list[str], resume: str | Mapping[str, str] | None, mode: str
) -> dict[str, str]:
    if mode not in RESUME_MODES:
        raise ValueError(f"resume_mode must be 'allow' or 'must', got {mode!r}")
    if resume is None:
        return {}
    if isinstance(resume, str):
        if len(backends) != 1:
            raise ValueError(
                f"resume={resume!r} names one run, but the run has {len(backends)} backends: "
                "pass resume={backend: run_id, ...}"
            )
        return {backends[0]: resume}
    unknown = set(resume) - set(backends)
    if unknown:
        raise ValueError(f"resume names backends the run does not have: {sorted(unknown)}")
    return {name: str(run) for name, run in resume.items()}


def _default_exp_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).stem if path else "tracelet-run"


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    raise TypeError(f"expected a dict, got {type(value).__name__}")


def _is_task_parameters(value: Any) -> bool:
    """A ClearML ``TaskParameters``-like object: ClearML sets its section anew."""
    return callable(getattr(value, "to_dict", None)) and callable(
        getattr(value, "update_from_dict", None)
    )


def _is_object(value: Any, name: str | None) -> bool:
    """Whether ``log_artifact`` was given an object rather than a path."""
    if object_suffix(value) is None:
        return False
    if not isinstance(value, str):
        return True
    path = Path(value)
    return bool(name) and not path.exists() and not wildcard_matches(path)


def _object_record(obj: Any, name: str, written: Path) -> dict[str, str]:
    """The name the object was given, and its pickle (the written file when that is
    one; none for a str, which a tracker reads from its ``.txt``)."""
    record = {"name": name}
    if isinstance(obj, str):
        return record
    if written.suffix != ".pkl":
        pickled = written.with_name(written.name + ".object.pkl")
        pickle_object(obj, pickled)
        written = pickled
    record["pickle"] = str(written)
    return record


def _copy_matches(pattern: Path, matches: list[Path], target: Path) -> Path:
    """The files a wildcard matched, copied into ``target/<folder>`` at their paths
    below the wildcard's folder."""
    destination = target / pattern.parent.resolve().name
    for file in matches:
        copy = destination / file.relative_to(pattern.parent)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, copy)
    return destination


def _snapshot(source: Path, target: Path) -> Path:
    # A copy, not a hard link: torch.save rewrites a checkpoint in place, which would
    # change a linked snapshot before the agent delivers it.
    destination = target / source.resolve().name
    if source.is_dir():
        shutil.copytree(source, destination)
    else:
        shutil.copy2(source, destination)
    return destination


def _warn_if_incomplete(report: StopReport, wandb_log: WandbStyleLog) -> None:
    if not report.complete or any(b.refused for b in report.backends):
        warnings.warn("tracelet: delivery incomplete\n" + report.summary(), stacklevel=3)
    if wandb_log.dropped_calls or wandb_log.skipped_values:
        warnings.warn(
            f"tracelet.log: {wandb_log.dropped_calls} calls dropped for a lower step, "
            f"{wandb_log.skipped_values} non-scalar values not logged",
            stacklevel=3,
        )


def _install_capture() -> None:
    from tracelet.capture import install

    install()


def _uninstall_capture() -> None:
    from tracelet.capture import uninstall

    uninstall()


def _active_experiment() -> Experiment | None:
    return _active


def _drop_after_fork() -> None:
    # The router's own fork hook has already closed its side; a child logs nothing.
    global _active
    if _active is not None:
        _active._emit = _active._wandb_log._emit = _router.discard
        _active._stopped = True
        _active = None


lifecycle.on_fork_in_child(_drop_after_fork)
