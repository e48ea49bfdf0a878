"""MLflow: writing a tracelet run into MLflow, and reading an MLflow run back.

Mapping (documented in ``docs/backends/mlflow.md``):

* ``project`` is the MLflow experiment (created if missing), ``exp_name`` the run name;
  the run carries the tag ``tracelet.run_id``. With no project, the run goes where
  MLflow's own calls would: ``MLFLOW_EXPERIMENT_NAME`` / ``MLFLOW_EXPERIMENT_ID``, else
  MLflow's default experiment (``Default``, id 0).
* the store is ``backend_url`` if given, else ``MLFLOW_TRACKING_URI``, else MLflow's own
  default (a sqlite ``mlflow.db`` in the working directory in MLflow 3).
* metrics go through ``MlflowClient.log_batch`` (1000 per request), ``wall_time`` as
  integer milliseconds. Keys MLflow would reject are mapped by :func:`mlflow_key`, and a
  key whose name an earlier key already holds gets ``_2``, ``_3``... (so distinct keys
  stay distinct). The renamed keys are one readable tag, ``tracelet.renamed_keys`` (JSON
  ``{stored: logged}``, more tags ``tracelet.renamed_keys.2``, ... past MLflow's
  8000-character tag value), so the UI's tag list stays short and :func:`read_run` gives
  the original keys back.
* images become MLflow images (``log_image``, with key and step, shown in the UI's
  image view), histograms JSON files under ``histograms/<key>/``, text files under
  ``text/<key>/``, artifacts files or folders at the artifact root (their ``type`` /
  ``metadata`` / ``aliases`` in the tag ``tracelet.artifact_info``).
* summary values (``experiment.summary``, ``define_metric`` aggregates) become run tags
  ``summary.<key>`` (nested values flattened with ``.``: ``summary.val/loss.min``), each
  value as JSON. A tag, not a metric: a summary value may be a string or a dict, may be
  changed and deleted (``delete_tag``), and reads back exactly (a metric could only hold
  a float, and one logged twice would be two points of history).
* ``log_model``: the state dict (or pickle) as an artifact, and the MLflow model folder
  the training process wrote as a logged model of the run (see ``log_model`` below).
* ``resume``: the run with that ``run_id`` is continued (``"must"``: it has to exist).
* MLflow's own limits apply to what it stores: its sqlite/SQL stores turn ±inf into
  ±1.7976931348623157e308 and -0.0 into 0.0 (NaN is kept); a param longer than 6000
  characters is truncated by MLflow; a param may not change its value once set (a
  change is refused and reported, the first value stays).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tracelet.agent.priority import share_level
from tracelet.backends import mlflow_template
from tracelet.backends.base import (
    TRACKER_INFO,
    Backend,
    BackendUnavailable,
    RefusedError,
    RunInfo,
    probe_url,
    unknown_host,
)
from tracelet.backends.registry import DirectReplay, ImposedRule, SandboxLayout
from tracelet.errors import first_line
from tracelet.events import Point, SystemSample
from tracelet.experiment import DEFAULT_PROJECT
from tracelet.summaries import flatten_summary
from tracelet.tables import (
    Encoding,
    RunTables,
    artifacts_frame,
    file_sha256,
    histogram_content,
    image_content,
    media_file_row,
    media_frame,
    metrics_frame,
    param_value,
    params_frame,
    summary_frame,
    table_content,
    tags_frame,
)

MAX_KEY_LENGTH = 250
MAX_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
KEYMAP_TAG = "tracelet.renamed_keys"
MAX_TAG_VALUE = 8000
RUN_ID_TAG = "tracelet.run_id"
SUMMARY_TAG_PREFIX = "summary."
ARTIFACT_INFO_TAG = "tracelet.artifact_info"  # {artifact name: {type, metadata, aliases}}
LOGGED_MODEL_PREFIX = "models:/"  # artifact rows of the run's logged models
GIT_DIRTY_TAG = "tracelet.git.dirty"
SOURCE_NAME_TAG = "mlflow.source.name"
SYSTEM_PREFIX = "system/"  # MLflow's system metrics monitor's prefix
_INVALID_KEY_CHARS = re.compile(r"[^/\w.\- :]")
_REFUSED_CODES = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "BAD_REQUEST"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# MLflow retries a failed HTTP request for up to ~4 minutes by default; the delivery
# engine has its own backoff, and a reader should fail fast on an unreachable server, so
# keep each attempt short unless the user said otherwise.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}


def mlflow_key(key: str) -> str:
    """The name MLflow stores for ``key``: the one mapping used by writer and reader.

    Characters MLflow refuses (anything but letters, digits, ``_ - . / : space``) become
    ``_``; empty, ``.`` and ``..`` path segments (``a//b``, ``/a``, ``a/``) are dropped
    or become ``_``; keys over 250 characters are cut to 241 plus ``-`` and 8 hex digits
    of their SHA-256. Keys MLflow accepts are returned unchanged.
    """
    name = _INVALID_KEY_CHARS.sub("_", key)
    segments = [seg for seg in name.split("/") if seg != ""]
    segments = ["_" * len(seg) if seg in (".", "..") else seg for seg in segments]
    name = "/".join(segments) or "_"
    if len(name) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        name = f"{name[: MAX_KEY_LENGTH - 9]}-{digest}"
    return name


def _keymap_tag(number: int) -> str:
    return KEYMAP_TAG if number == 1 else f"{KEYMAP_TAG}.{number}"


def _is_keymap_tag(tag: str) -> bool:
    return tag == KEYMAP_TAG or tag.startswith(f"{KEYMAP_TAG}.")


def _free_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f"_{n}"
        candidate = name[: MAX_KEY_LENGTH - len(suffix)] + suffix
    return candidate


class _DistinctTimestamps:
    """MLflow's SQL stores keep one row per (key, timestamp, step, value): a point equal
    to an earlier one in the same millisecond (Lightning logs ``epoch`` twice at one step)
    would vanish. Such a point gets the next free millisecond instead.

    The decision is made once per point: :meth:`assign` decides a batch's timestamps
    from what was delivered before it, and :meth:`commit` records them once the tracker
    has stored the batch. A retried batch gets exactly the same rows again, which
    MLflow's primary key turns into a no-op. Memory is bounded: an identity is
    forgotten once it is ``WINDOW_MS`` older than the newest timestamp (only recent
    points can collide) or when more than ``MAX_ENTRIES`` are held, oldest use first;
    each point costs O(1) at any run length.
    """

    WINDOW_MS = 60_000
    MAX_ENTRIES = 200_000

    def __init__(self) -> None:
        self._last: OrderedDict[tuple, int] = OrderedDict()
        self._newest = 0

    def assign(self, points: Sequence[Point]) -> tuple[list[int], dict[tuple, int]]:
        """The timestamp of each point, and the decisions to :meth:`commit`."""
        decided: dict[tuple, int] = {}
        timestamps = []
        for key, value, step, wall_time in points:
            timestamp = int(wall_time * 1000)
            identity = (key, step, value if value == value else "nan")
            last = decided.get(identity, self._last.get(identity))
            if last is not None and timestamp <= last:
                timestamp = last + 1
            decided[identity] = timestamp
            timestamps.append(timestamp)
        return timestamps, decided

    def commit(self, decided: dict[tuple, int]) -> None:
        last = self._last
        for identity, timestamp in decided.items():
            last[identity] = timestamp
            last.move_to_end(identity)
            if timestamp > self._newest:
                self._newest = timestamp
        horizon = self._newest - self.WINDOW_MS
        while last and (len(last) > self.MAX_ENTRIES or next(iter(last.values())) < horizon):
            last.popitem(last=False)


def default_tracking_uri(cwd: str) -> str:
    """MLflow 3's default store for a working directory: ``./mlruns`` when it already
    holds experiments (MLflow's backward-compatible fallback), else ``./mlflow.db``."""
    mlruns = Path(cwd, "mlruns")
    if mlruns.is_dir() and any(
        p.name.isdigit() and (p / "meta.yaml").is_file() for p in mlruns.iterdir()
    ):
        return mlruns.resolve().as_uri()
    return f"sqlite:///{Path(cwd, 'mlflow.db').resolve()}"


def _absolute_uri(uri: str, cwd: str) -> str:
    """Make a relative ``sqlite:///x.db`` or file path absolute (the agent may move)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(cwd, uri[len("sqlite:///") :]).resolve())
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return Path(cwd, unquote(uri[len("file:") :])).resolve().as_uri()
    if "://" not in uri and not uri.startswith("file:"):
        return str(Path(cwd, uri).resolve())
    return uri


class MlflowBackend(Backend):
    """Writes one tracelet run into one MLflow run."""

    name = "mlflow"
    tracks_git_by_default = True  # MLflow tags every run with its git state

    def __init__(self, run: RunInfo, options: Mapping[str, Any], state: dict[str, Any]):
        super().__init__(run, options, state)
        # key as logged -> name MLflow stores, for every key seen (kept for a resumed sync).
        self._names: dict[str, str] = state.setdefault("names", {})
        self._taken = set(self._names.values())
        # The renamed keys, one dict per keymap tag: {name MLflow stores: name as logged}.
        self._keymap: list[dict[str, str]] = state.get("keymap", [{}])
        self._timestamps = _DistinctTimestamps()

    @classmethod
    def pin_options(cls, options: dict[str, Any], cwd: str) -> dict[str, Any]:
        """Record the store as an absolute URI: ``url``, else the training process's own
        ``mlflow.get_tracking_uri()`` when it imported MLflow (so ``set_tracking_uri``
        is honoured), else ``MLFLOW_TRACKING_URI``, else MLflow's default for ``cwd``."""
        uri = options.get("url")
        if not uri:
            mlflow = sys.modules.get("mlflow")
            if mlflow is not None and hasattr(mlflow, "get_tracking_uri"):
                uri = mlflow.get_tracking_uri()
            else:
                uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(cwd)
        return {**options, "url": _absolute_uri(str(uri), cwd)}

    @classmethod
    def probe(cls, options: Mapping[str, Any]) -> bool | None:
        return probe_url(str(options.get("url") or ""))

    def open(self) -> None:
        _apply_http_defaults()
        pinned = self.state.get("tracking_uri") or self.options.get("url")
        fresh = pinned and _fresh_sqlite_store(_absolute_uri(str(pinned), os.getcwd()))
        creating = _start_store_creation(fresh) if fresh else None  # while MLflow imports
        import mlflow
        from mlflow import MlflowClient

        uri = _absolute_uri(str(pinned or mlflow.get_tracking_uri()), os.getcwd())
        self.state["tracking_uri"] = uri
        if creating is not None:
            _finish_store_creation(creating, fresh, self.run.run_dir)
        elif uri.startswith("sqlite:///") and _sqlite_revision(sqlite_path(uri)) != (
            _latest_revision()
        ):
            path = sqlite_path(uri)
            _finish_store_creation(_start_store_creation(path), path, self.run.run_dir)
        with _unavailable_if_permanent(uri):
            self.client = MlflowClient(tracking_uri=uri)
            self._open_run()

    def _open_run(self) -> None:
        run_id = self.state.get("run_id") or self._resumed_run()
        if run_id:
            self.client.update_run(run_id, status="RUNNING")
            self.state["run_id"] = run_id
            info = self.client.get_run(run_id).info
            self.state.setdefault("experiment_id", info.experiment_id)
            self.state.setdefault(
                "experiment_name", self.client.get_experiment(info.experiment_id).name
            )
        else:
            experiment_id = self._experiment_id(self.run.project)
            run = self.client.create_run(
                experiment_id,
                run_name=self.run.exp_name,
                start_time=int(self.run.created * 1000),
                tags={RUN_ID_TAG: self.run.run_id, **source_tags(self.run)},
            )
            self.state["run_id"] = run.info.run_id
            self.state["experiment_id"] = experiment_id
            self.state["experiment_name"] = self.client.get_experiment(experiment_id).name
            git = self.run.git
            if git and git.get("diff"):
                self.client.log_artifact(run.info.run_id, git["diff"])

    def _resumed_run(self) -> str | None:
        """The run ``start_logging(resume=...)`` names, if it exists (else None with
        ``resume_mode="allow"``: a new run is created)."""
        from mlflow.exceptions import MlflowException

        run_id = self.options.get("resume")
        if not run_id:
            return None
        try:
            return self.client.get_run(run_id).info.run_id
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            if self.options.get("resume_mode") == "must":
                raise BackendUnavailable(
                    f"MLflow has no run {run_id!r} to resume in {self.state['tracking_uri']} "
                    '(resume_mode="must")'
                ) from exc
            return None

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID

        if name == DEFAULT_PROJECT:  # no project given: where MLflow's own calls would log
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "")
            if not name:
                return os.environ.get("MLFLOW_EXPERIMENT_ID") or DEFAULT_EXPERIMENT_ID
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # created meanwhile by another process
            return self.client.get_experiment_by_name(name).experiment_id

    @property
    def run_id(self) -> str:
        return self.state["run_id"]

    def run_ref(self) -> tuple[str, str]:
        uri, run_id = self.state["tracking_uri"], self.run_id
        if uri.startswith(("http://", "https://")):
            return (
                run_id,
                f"{uri.rstrip('/')}/#/experiments/{self.state['experiment_id']}/runs/{run_id}",
            )
        return run_id, f"{uri}#{run_id}"

    def describe(self) -> str:
        uri, run_id = self.state.get("tracking_uri"), self.state.get("run_id")
        name = self.state.get("experiment_name")
        experiment = repr(name) if name else self.state.get("experiment_id")
        return f"{uri} (experiment {experiment}, run {run_id})"

    # -- metrics, params, tags -------------------------------------------------------
    def _key(self, key: str) -> str:
        """The stored name of ``key``: :func:`mlflow_key`, made unique in this run. A key
        whose name is taken by an earlier, different key (``a@b`` and ``a#b`` are both
        ``a_b``) gets ``_2``, ``_3``...; first come in journal order, so a resumed
        delivery picks the same names (they are kept in the tracker state)."""
        stored = self._names.get(key)
        if stored is None:
            stored = _free_name(mlflow_key(key), self._taken)
            if stored != key:
                self._record_renamed(stored, key)
            self._names[key] = stored
            self._taken.add(stored)
        return stored

    def _record_renamed(self, mapped: str, key: str) -> None:
        chunks = [*self._keymap[:-1], {**self._keymap[-1], mapped: key}]
        value = json.dumps(chunks[-1], ensure_ascii=False)
        if len(value) > MAX_TAG_VALUE:
            chunks = [*self._keymap, {mapped: key}]
            value = json.dumps(chunks[-1], ensure_ascii=False)
        self._log_batch(tags=[(_keymap_tag(len(chunks)), value)])
        self._keymap = self.state["keymap"] = chunks

    def log_metrics(self, points: Sequence[Point]) -> None:
        from mlflow.entities import Metric

        accepted, refused = _int64_steps(points)
        timestamps, decided = self._timestamps.assign(accepted)
        # as MLflow's log_metrics: a point at a step the run output models at is also
        # a metric of each of those models
        models_at: dict[int, list[str | None]] = {}
        for model_id, model_step in self.state.get("model_steps", {}).items():
            models_at.setdefault(model_step, []).append(model_id)
        metrics = [
            Metric(self._key(key), value, timestamp, step, model_id=model_id)
            for (key, value, step, _), timestamp in zip(accepted, timestamps, strict=True)
            for model_id in models_at.get(step, [None])
        ]
        for start in range(0, len(metrics), MAX_BATCH):
            self._log_batch(metrics=metrics[start : start + MAX_BATCH])
        self._timestamps.commit(decided)
        if refused:
            raise RefusedError(
                f"MLflow steps are int64; {len(refused)} points refused ({', '.join(refused[:3])})",
                count=len(refused),
            )

    def replay(self, points: Sequence[Point]) -> None:
        """Points an earlier process delivered: their timestamps were decided then."""
        self._timestamps.commit(self._timestamps.assign(_int64_steps(points)[0])[1])

    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [(self._key(k), param_value(v)) for k, v in params.items()]
        refused = []
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            chunk = items[start : start + MAX_PARAMS_PER_BATCH]
            try:
                self._log_batch(params=chunk)
            except RefusedError:
                for item in chunk:  # find the offending ones, keep the rest
                    try:
                        self._log_batch(params=[item])
                    except RefusedError as exc:
                        refused.append(f"{item[0]}: {exc}")
        if refused:
            raise RefusedError("; ".join(refused), count=len(refused))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        items = [(self._key(k), str(v)) for k, v in tags.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self._log_batch(tags=items[start : start + MAX_PARAMS_PER_BATCH])

    def set_summary(self, values: Mapping[str, Any], removed: Sequence[str]) -> None:
        flat = flatten_summary(values)
        stored: list[str] = self.state.setdefault("summary_keys", [])
        replaced = [*values, *removed]
        for key in [k for k in stored if k not in flat and _under(k, replaced)]:
            self.client.delete_tag(self.run_id, self._key(SUMMARY_TAG_PREFIX + key))
            stored.remove(key)
        self.set_tags(
            {SUMMARY_TAG_PREFIX + k: json.dumps(v, allow_nan=True) for k, v in flat.items()}
        )
        stored.extend(k for k in flat if k not in stored)

    def _log_batch(self, metrics=(), params=(), tags=()) -> None:
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        try:
            self.client.log_batch(
                self.run_id,
                metrics=metrics,
                params=[Param(k, v) for k, v in params],
                tags=[RunTag(k, v) for k, v in tags],
            )
        except MlflowException as exc:
            if exc.error_code in _REFUSED_CODES:
                raise RefusedError(first_line(exc.message)) from exc
            raise

    # -- media and artifacts -------------------------------------------------------------
    def log_artifact(self, name: str, path: str, info: Mapping[str, Any] | None = None) -> None:
        self._store_artifact(name, path)
        info = {k: v for k, v in (info or {}).items() if k not in TRACKER_INFO}
        if info:  # MLflow artifacts have no type or metadata: one tag holds them all
            infos = {**self.state.get("artifact_info", {}), name: info}
            self._log_batch(tags=[(ARTIFACT_INFO_TAG, json.dumps(infos, ensure_ascii=False))])
            self.state["artifact_info"] = infos

    def log_model(self, name: str, path: str, info: Mapping[str, Any]) -> None:
        """The MLflow model folder the training process wrote, as a logged model of this
        run, exactly as ``mlflow.<flavor>.log_model`` does: a LoggedModel
        (``source_run_id`` = this run) whose artifacts are the folder, with the ``MLmodel``
        file naming the model and the run, recorded as the run's output and marked READY.
        Like MLflow's own call it adds no run artifact; without a folder (an older run
        journal) the portable file is a run artifact instead."""
        if info.get("mlflow_model"):
            self._log_logged_model(name, Path(info["mlflow_model"]), path, info)
        else:
            self._store_artifact(Path(path).name, path)

    def _log_logged_model(self, name: str, folder: Path, key: str, info: Mapping[str, Any]) -> None:
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model

        models = self.state.setdefault("logged_models", {})
        model_id = models.get(key)  # a retried delivery finishes the same model
        autolog = info.get("autolog", False)
        if model_id is None:
            run = self.client.get_run(self.run_id)
            params, tags = dict(info.get("params", {})), dict(info.get("tags") or {})
            if autolog:  # created by MLflow's fluent API before the fit: no params yet
                tags = {k: v for k, v in source_tags(self.run).items() if k in _MODEL_SOURCE_TAGS}
            else:
                params.update(run.data.params)
            model = self.client.create_logged_model(
                run.info.experiment_id,
                name=name,
                source_run_id=self.run_id,
                params=params,
                tags=tags or None,
                model_type=info.get("model_type"),
            )
            model_id = models[key] = model.model_id
            step = info.get("step", 0)
            self.client.log_outputs(self.run_id, [LoggedModelOutput(model_id, step=step)])
            if not autolog:  # its metrics come as link_model_metrics
                self._link_metrics(model_id, step)
                self.state.setdefault("model_steps", {})[model_id] = step
        model = self.client.get_logged_model(model_id)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, "model")
            shutil.copytree(folder, local)
            mlmodel = Model.load(str(local))
            mlmodel.artifact_path = model.artifact_location
            mlmodel.model_uuid = mlmodel.model_id = model_id
            mlmodel.run_id = self.run_id
            mlmodel.save(str(local / "MLmodel"))
            self.client.log_model_artifacts(model_id, str(local))
        self.client.finalize_logged_model(model_id, LoggedModelStatus.READY)

    def link_model_metrics(self, model_path: str, points: Sequence[Sequence[Any]]) -> None:
        """The run's points ``[key, step]`` also become metrics of the model logged from
        ``model_path``, as ``mlflow.log_metrics(..., model_id=)`` stores them."""
        model_id = self.state.get("logged_models", {}).get(model_path)
        if model_id is None:
            raise RefusedError(f"no logged model from {model_path} to link metrics to")
        wanted: dict[str, set[int]] = {}
        for key, step in points:
            wanted.setdefault(self._key(key), set()).add(int(step))
        self._link_metrics(model_id, wanted)

    def _link_metrics(self, model_id: str, wanted: int | Mapping[str, set[int]]) -> None:
        """The run's points so far at step ``wanted`` (or at the steps it maps each key
        to) also become metrics of the model, as ``mlflow.<flavor>.log_model(step=)``
        links them (later ones: ``log_metrics``)."""
        from mlflow.entities import Metric

        metrics = self.client.get_run(self.run_id).data.metrics
        steps = {key: {wanted} for key in metrics} if isinstance(wanted, int) else wanted
        points = [
            Metric(
                m.key,
                m.value,
                m.timestamp,
                m.step,
                dataset_name=m.dataset_name,
                dataset_digest=m.dataset_digest,
                run_id=self.run_id,
                model_id=model_id,
            )
            for key in steps
            if key in metrics
            for m in self.client.get_metric_history(self.run_id, key)
            if m.step in steps[key] and m.model_id is None
        ]
        if points:
            self.client.log_batch(self.run_id, metrics=points)

    def _store_artifact(self, name: str, path: str) -> None:
        source = Path(path)
        if source.is_dir():
            self.client.log_artifacts(self.run_id, str(source), artifact_path=name)
            return
        folder, _, file_name = name.rpartition("/")
        if file_name == source.name:
            self.client.log_artifact(self.run_id, str(source), artifact_path=folder or None)
            return
        with tempfile.TemporaryDirectory() as tmp:
            renamed = Path(tmp, file_name)
            shutil.copyfile(source, renamed)
            self.client.log_artifact(self.run_id, str(renamed), artifact_path=folder or None)

    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
        from PIL import Image

        with Image.open(png_path) as image:
            image.load()
            self.client.log_image(
                self.run_id, image, key=self._key(key), step=step, timestamp=int(wall_time * 1000)
            )

    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        record = {"key": key, "step": step, "wall_time": wall_time, **histogram}
        path = f"histograms/{mlflow_key(key)}/step_{step}"
        self.client.log_dict(self.run_id, record, f"{path}.json")
        # MLflow has no histogram view: a bar plot next to the data shows one
        self.client.log_image(self.run_id, histogram_plot(key, step, histogram), f"{path}.png")

    def log_table(
        self, key: str, step: int, wall_time: float, columns: list[str], data: list[list[Any]]
    ) -> None:
        import pandas as pd

        frame = pd.DataFrame(data, columns=columns)
        path = f"tables/{mlflow_key(key)}/step_{step}.json"
        self.client.log_table(self.run_id, frame, path)

    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
        self.client.log_text(self.run_id, text, f"text/{mlflow_key(key)}/step_{step}.txt")

    def log_console(self, chunks: Sequence[tuple[float, str, str]]) -> None:
        """The console as one text artifact, ``console.log`` (MLflow has no console view;
        off by default, as MLflow's client does not capture the console)."""
        self.client.log_text(self.run_id, "".join(c[2] for c in chunks), CONSOLE_ARTIFACT)

    def log_system_metrics(self, sample: SystemSample) -> None:
        """As MLflow's own system metrics monitor: ``system/<name>``, step = sample index."""
        from mlflow.entities import Metric

        timestamp = int(sample.wall_time * 1000)
        self._log_batch(
            metrics=[
                Metric(SYSTEM_PREFIX + name, value, timestamp, sample.index)
                for name, value in sample.values.items()
            ]
        )

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status, end_time=int(time.time() * 1000))


def _under(flat_key: str, keys: Sequence[str]) -> bool:
    """Whether a flattened summary key belongs to one of the top-level ``keys``."""
    return any(flat_key == k or flat_key.startswith(f"{k}.") for k in keys)


def histogram_plot(key: str, step: int, histogram: Mapping[str, Any]) -> Any:
    """A bar plot of a histogram's buckets, as a PIL image (matplotlib, no display)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from PIL import Image

    edges = [histogram["min"], *histogram["bucket_limits"]]
    figure = Figure(figsize=(6, 3.5), dpi=100)
    axes = figure.subplots()
    widths = [right - left for left, right in itertools.pairwise(edges)]
    axes.bar(edges[:-1], histogram["bucket_counts"], width=widths, align="edge")
    axes.set_title(f"{key} (step {step})")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer)


#: The context tags MLflow's fluent API puts on a logged model it creates.
_MODEL_SOURCE_TAGS = (
    SOURCE_NAME_TAG,
    "mlflow.source.type",
    "mlflow.user",
    "mlflow.source.git.commit",
)


def source_tags(run: RunInfo) -> dict[str, str]:
    """The tags MLflow itself sets on a run it starts (its UI's "Source", "Created by"
    and git fields), plus ``tracelet.git.dirty``; git tags only when git is tracked."""
    source = run.source
    tags = {}
    if source.get("program"):
        tags[SOURCE_NAME_TAG] = source["program"]
        tags["mlflow.source.type"] = "LOCAL"
    if source.get("user"):
        tags["mlflow.user"] = source["user"]
    git = run.git
    if git:
        tags["mlflow.source.git.commit"] = git["commit"]
        if git.get("branch"):
            tags["mlflow.source.git.branch"] = git["branch"]
        if git.get("remote"):
            tags["mlflow.source.git.repoURL"] = git["remote"]
        tags[GIT_DIRTY_TAG] = str(bool(git.get("dirty"))).lower()
    return tags


def _int64_steps(points: Sequence[Point]) -> tuple[list[Point], list[str]]:
    """The points MLflow can store (int64 steps), and the ones it cannot, named."""
    accepted, refused = [], []
    for point in points:
        if INT64_MIN <= point[2] <= INT64_MAX:
            accepted.append(point)
        else:
            refused.append(f"{point[0]}@{point[2]}")
    return accepted, refused


CONSOLE_ARTIFACT = "console.log"

# A half-created store that has not changed for this long is nobody's work in progress.
STORE_STILL_SECONDS = float(os.environ.get("TRACELET_MLFLOW_STORE_STILL", "10"))


class BrokenStoreError(RuntimeError):
    """A sqlite store MLflow cannot open; the message says the way out."""


def _fresh_sqlite_store(uri: str) -> Path | None:
    """The path of a sqlite store that holds no MLflow tables yet (checked without MLflow)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = sqlite_path(uri)
    return None if _sqlite_revision(path) else path


# A store that is not complete is created by a child process in its own session: MLflow
# creates its tables in about fifty steps, and a process killed in between (the agent at
# a stop deadline) leaves a file MLflow cannot open again, while the child finishes even
# when the agent is killed. Its own session is its own scheduling group, which gets the
# agent's CPU priority from its start (tracelet.agent.priority; else it would take a core
# from training at normal priority) and a share of the CPU of its own at the stop. It
# also waits, silently, while another process (MLflow called directly, another run) is
# creating the store, instead of creating tables next to it.
def _start_store_creation(db_path: Path) -> tuple[subprocess.Popen, Any]:
    package_root = str(Path(__file__).resolve().parents[2])
    path_entries = (package_root, os.environ.get("PYTHONPATH"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path_entries))}
    code = "import sys; from tracelet.backends.mlflow import _create_store as c; c(sys.argv[1])"
    # a file, not a pipe: the child may outlive us
    output = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in _finish_store_creation)
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path)],
        env=env,
        stdout=output,
        stderr=output,
        start_new_session=True,
    )
    share_level(child.pid)
    return child, output


def _finish_store_creation(
    creating: tuple[subprocess.Popen, Any], db_path: Path, run_dir: str
) -> None:
    child, output = creating
    with output:
        returncode = child.wait()
        output.seek(0)
        lines = output.read().strip().splitlines()
    if returncode != 0:
        errors = [line for line in lines if re.match(r"[\w.]+(Error|Exception): ", line)]
        reason = errors[-1] if errors else f"exit status {returncode}"
        raise BrokenStoreError(
            f"cannot use the MLflow store {db_path} ({reason}). If a process was stopped "
            f"while creating it, move it away (mv {db_path} {db_path}.broken) and deliver "
            f"this run into a fresh store: tracelet sync {run_dir}. If an older MLflow "
            f"made it: mlflow db upgrade sqlite:///{db_path}"
        )


def _create_store(db_path: str) -> None:
    """The child of :func:`_start_store_creation`: wait while another process creates
    the store, else create (or let MLflow repair) it; exit non-zero if MLflow cannot."""
    import fcntl

    path = Path(db_path)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir(), f"tracelet-mlflow-{digest}.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # tracelet's own processes take turns
        if _has_tables(path):
            if _wait_while_created(path, _latest_revision()):
                return
        elif mlflow_template.copy_into(path):  # no import of MLflow, no migrations
            return
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        try:
            SqlAlchemyStore(f"sqlite:///{path}", str(path.parent / "mlruns"))
        except Exception:
            # another process began creating it at the same moment: let it finish
            if not _wait_while_created(path, _latest_revision()):
                raise
        else:
            mlflow_template.save(path)


def _wait_while_created(path: Path, latest: str) -> bool:
    """Wait while the store changes towards revision ``latest``; True once it is there,
    False when it stands still short of it."""
    seen, still_since = None, time.monotonic()
    while (revision := _sqlite_revision(path)) != latest:
        now = (revision, _table_count(path))
        if now != seen:
            seen, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > STORE_STILL_SECONDS:
            return False
        time.sleep(0.2)
    return True


def _latest_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _table_count(db_path: Path) -> int:
    import sqlite3

    if not db_path.exists() or db_path.stat().st_size == 0:
        return 0
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as connection:
        return connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]


def _has_tables(db_path: Path) -> bool:
    return _table_count(db_path) > 0


def _sqlite_revision(db_path: Path) -> str | None:
    """The schema revision a sqlite store records, or None (no store, or none yet)."""
    import sqlite3

    if not _has_tables(db_path):
        return None
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None


def _apply_http_defaults() -> None:
    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for any other URI)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///") :]).split("?")[0]).resolve()


@contextlib.contextmanager
def _unavailable_if_permanent(uri: str) -> Iterator[None]:
    """A refused login or a host that does not exist cannot heal by retrying."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        if exc.error_code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            raise BackendUnavailable(
                f"MLflow at {uri} refused the login ({first_line(exc.message)}): set "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
            ) from exc
        if unknown_host(exc):
            raise BackendUnavailable(
                f"MLflow server {uri}: unknown host; check backend_url or MLFLOW_TRACKING_URI"
            ) from exc
        raise


# -- reading back ------------------------------------------------------------------------
def read_run(location: str, run: str | None = None) -> RunTables:
    """Read one MLflow run into the shared tables.

    ``location`` is a tracking URI (``sqlite:///mlflow.db``, ``http://127.0.0.1:5000``,
    ``file:./mlruns``) or a path to a ``.db`` file. ``run`` is a run id or run name; when
    omitted the store must hold exactly one run. Metric keys mapped by
    :func:`mlflow_key` are given back as the user wrote them; MLflow's own ``mlflow.*``
    tags and tracelet's bookkeeping tags are left out of the tags table.
    """
    uri = _reader_uri(location)
    if uri.startswith("file:"):
        # MLflow 3 refuses its file store unless told otherwise; reading changes nothing.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if uri.startswith(("http://", "https://")):
        _apply_http_defaults()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run_info = _find_run(client, run, uri)
    run_id = run_info.info.run_id
    tags = dict(run_info.data.tags)
    keymap = {}
    for tag, value in tags.items():
        if _is_keymap_tag(tag):
            keymap.update(json.loads(value))
    user_tags = {
        keymap.get(k, k): v
        for k, v in tags.items()
        if not (k.startswith("mlflow.") or _is_keymap_tag(k) or k in _BOOKKEEPING_TAGS)
    }
    summary = {
        k[len(SUMMARY_TAG_PREFIX) :]: json.loads(user_tags.pop(k))
        for k in list(user_tags)
        if k.startswith(SUMMARY_TAG_PREFIX)
    }
    if sqlite_path(uri) is not None:
        rows = _sqlite_metrics(uri, run_id)
    else:
        rows = [
            (m.key, m.step, m.value, m.timestamp / 1000.0)
            for key in run_info.data.metrics
            for m in client.get_metric_history(run_id, key)
        ]
    if keymap:
        rows = [(keymap.get(r[0], r[0]), *r[1:]) for r in rows]
    params = {keymap.get(k, k): v for k, v in run_info.data.params.items()}
    artifacts = _artifact_rows(client, run_id, run_info.info.artifact_uri)
    system = [r for r in rows if r[0].startswith(SYSTEM_PREFIX)]
    if system:
        rows = [r for r in rows if not r[0].startswith(SYSTEM_PREFIX)]
    return RunTables(
        metrics=metrics_frame(rows),
        system=metrics_frame(system),
        origin={name: tags[tag] for tag, name in _ORIGIN_TAGS.items() if tag in tags},
        params=params_frame(params),
        tags=tags_frame(user_tags),
        summary=summary_frame(summary),
        artifacts=artifacts_frame(artifacts + _logged_model_rows(client, run_info)),
        media=media_frame(_media_rows(artifacts, keymap)),
        source=f"{uri}#{run_id}",
        encodings=(SQLITE_ENCODING,) if not uri.startswith(("file:", "/")) else (),
    )


_BOOKKEEPING_TAGS = (RUN_ID_TAG, GIT_DIRTY_TAG, ARTIFACT_INFO_TAG)

_ORIGIN_TAGS = {
    SOURCE_NAME_TAG: "program",
    "mlflow.user": "user",
    "mlflow.source.git.commit": "git.commit",
    "mlflow.source.git.branch": "git.branch",
    "mlflow.source.git.repoURL": "git.remote",
    GIT_DIRTY_TAG: "git.dirty",
}


def _reader_uri(location: str) -> str:
    if "://" in location or location.startswith("file:"):
        # MLflow caches stores by URI: a relative sqlite path must not hit another folder's.
        return _absolute_uri(location, os.getcwd())
    path = Path(location)
    if path.suffix == ".db" or _is_sqlite_file(path):
        return f"sqlite:///{path.resolve()}"
    return f"file:{path.resolve()}"


def _find_run(client, run: str | None, uri: str):
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    if run:
        try:
            return client.get_run(run)
        except MlflowException:
            pass  # not a run id: look it up as a run name below
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs(
        [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=50000
    )
    if run:
        runs = [r for r in runs if r.info.run_name == run]
    if len(runs) == 1:
        return runs[0]
    if not runs:
        raise LookupError(f"no MLflow run {run or ''} in {uri}".replace("  ", " "))
    names = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in runs[:10])
    raise LookupError(f"{uri} holds {len(runs)} runs; name one with #RUN_ID: {names}")


_IMAGE_NAME = re.compile(r"images/(?P<key>.+?)[+%]step[+%](?P<step>-?\d+)[+%]timestamp[+%]")
_STEP_FILE = re.compile(r"(?P<folder>histograms|tables|text)/(?P<key>.+)/step_(?P<step>-?\d+)\.")


def _media_rows(artifacts: list[tuple], keymap: Mapping[str, str]) -> list[tuple]:
    """Media rows from the artifacts tracelet's writer (and ``mlflow.log_image``) leave:
    ``images/<key>+step+<n>+...png`` (not the ``+compressed`` preview),
    ``histograms/<key>/step_<n>.json`` (its ``.png`` plot is not a media item of its
    own), ``tables/<key>/step_<n>.json`` and ``text/<key>/step_<n>.txt``."""
    rows = []
    for name, path, _, _ in artifacts:
        image = _IMAGE_NAME.match(name)
        if image and name.endswith(".png") and "compressed" not in name:
            key = keymap.get(image["key"].replace("~", "/"), image["key"].replace("~", "/"))
            rows.append(media_file_row(key, int(image["step"]), "image", path, image_content(path)))
            continue
        found = _STEP_FILE.match(name)
        if found is None or name.endswith(".png"):
            continue
        key, step = keymap.get(found["key"], found["key"]), int(found["step"])
        if found["folder"] == "text":
            rows.append(media_file_row(key, step, "text", path, Path(path).read_text("utf-8")))
            continue
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
        if found["folder"] == "histograms":
            key = stored.get("key", key)
            content = histogram_content(stored["bucket_counts"], stored["bucket_limits"])
            rows.append(media_file_row(key, step, "histogram", path, content))
        else:
            content = table_content(stored["columns"], stored["data"])
            rows.append(media_file_row(key, step, "table", path, content))
    return sorted(rows, key=lambda row: row[1])


def _sqlite_metrics(uri: str, run_id: str) -> list[tuple]:
    """Direct SQL: about 20x faster than the public API on 100k points (see notes)."""
    import sqlite3

    db_path = sqlite_path(uri)
    with sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True) as connection:
        cursor = connection.execute(
            "SELECT key, step, value, timestamp, is_nan FROM metrics WHERE run_uuid = ? "
            "ORDER BY rowid",
            (run_id,),
        )
        return [
            (key, step, float("nan") if is_nan else value, timestamp / 1000.0)
            for key, step, value, timestamp, is_nan in cursor
        ]


def _artifact_rows(client, run_id: str, artifact_uri: str, prefix: str = "") -> list[tuple]:
    """The files under ``artifact_uri``: a run's (``run_id``) or a logged model's (its
    model id, with ``client.list_logged_model_artifacts``)."""
    local_root = _local_path(artifact_uri)
    listing = client.list_logged_model_artifacts if prefix else client.list_artifacts
    rows = []
    pending = [None]
    while pending:
        folder = pending.pop()
        for info in listing(run_id, folder):
            if info.is_dir:
                pending.append(info.path)
                continue
            if local_root is not None:
                path = local_root / info.path
            elif prefix:
                from mlflow.artifacts import download_artifacts

                path = Path(
                    download_artifacts(
                        artifact_uri=f"{artifact_uri.rstrip('/')}/{info.path}",
                        dst_path=tempfile.mkdtemp(),
                        tracking_uri=client.tracking_uri,
                    )
                )
            else:
                path = Path(client.download_artifacts(run_id, info.path, tempfile.mkdtemp()))
            if prefix and info.path == "MLmodel":
                size, digest = _mlmodel_identity(path)
            elif prefix and zipfile.is_zipfile(path):
                size, digest = path.stat().st_size, _zip_members_sha256(path)
            else:
                size, digest = path.stat().st_size, file_sha256(path)
            rows.append((prefix + info.path, str(path), size, digest))
    return rows


def _zip_members_sha256(path: Path) -> str:
    """sha256 of a zip's member names and contents, not of its bytes: a flavour that saves
    a zip (sklearn's ``model.skops``) stamps each member with the time it was written, and
    skops names objects by their ``id()`` in the process that saved them, so those ids are
    numbered in order of appearance first."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = members.get("schema.json", b"")
    ids: dict[bytes, bytes] = {}
    for found in re.finditer(rb'"__id__": (\d+)|"(\d+)\.npy"', schema):
        ids.setdefault(found.group(1) or found.group(2), str(len(ids)).encode())
    if ids:
        number = re.compile(rb"\b(" + b"|".join(map(re.escape, ids)) + rb")\b")
        members = {
            number.sub(lambda m: ids[m.group(1)], name.encode()).decode(): (
                number.sub(lambda m: ids[m.group(1)], data) if name == "schema.json" else data
            )
            for name, data in members.items()
        }
    digest = hashlib.sha256()
    for name in sorted(members):
        digest.update(name.encode() + b"\0" + members[name])
    return digest.hexdigest()


# What MLflow writes into a logged model's MLmodel file that differs from run to run.
_MLMODEL_RUN_FIELDS = ("artifact_path:", "model_id:", "model_uuid:", "run_id:", "utc_time_created:")


def _mlmodel_identity(path: Path) -> tuple[int, str]:
    """Size and sha256 of an MLmodel file without its ids, store path and creation time,
    so that the same model logged by two runs compares equal."""
    lines = path.read_bytes().splitlines(keepends=True)
    kept = b"".join(line for line in lines if not line.decode().startswith(_MLMODEL_RUN_FIELDS))
    return len(kept), hashlib.sha256(kept).hexdigest()


def _logged_model_rows(client, run_info) -> list[tuple]:
    """The files of the logged models this run produced, named
    ``models:/<model name>/<path in the model>``."""
    models = client.search_logged_models(
        [run_info.info.experiment_id],
        filter_string=f"source_run_id = '{run_info.info.run_id}'",
    )
    rows = []
    for model in models:
        prefix = f"{LOGGED_MODEL_PREFIX}{model.name}/"
        rows += _artifact_rows(client, model.model_id, model.artifact_location, prefix)
    return rows


def _local_path(artifact_uri: str) -> Path | None:
    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    return None


# -- recognising stores, and validation ----------------------------------------------------
STORE_LABEL = "an MLflow store"
STORE_HINT = "MLflow (URI, .db file, mlruns folder)"
MENTION = re.compile(rb"\bmlflow\b")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MAX_FLOAT = sys.float_info.max


def _inf_to_max_float(values):
    import numpy as np

    # clip keeps NaN; adding 0.0 turns -0.0 into 0.0 (IEEE round-to-nearest).
    return np.clip(values, -_MAX_FLOAT, _MAX_FLOAT) + 0.0


SQLITE_ENCODING = Encoding(
    "mlflow-sqlite",
    "±inf stored as ±1.7976931348623157e308 and -0.0 as 0.0 (MLflow's sqlite store)",
    _inf_to_max_float,
    rank=2,
)
ENCODINGS = (SQLITE_ENCODING,)


def claims_uri(text: str) -> bool:
    """Any ``scheme://`` URI, and ``file:``: MLflow tracking URIs."""
    scheme, sep, _ = text.partition("://")
    return (bool(sep) and scheme.replace("+", "").isalnum()) or text.startswith("file:")


def claims_file(path: Path) -> bool:
    return path.suffix.lower() in (".db", ".sqlite") or _is_sqlite_file(path)


def is_store_folder(path: Path) -> bool:
    return path.name == "mlruns" or any(path.glob("[0-9]*/meta.yaml"))


def _is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def delivered_location(
    state: Mapping[str, Any], options: Mapping[str, Any], cwd: str, environ: Mapping[str, str]
) -> str | None:
    if state.get("tracking_uri") and state.get("run_id"):
        return f"{state['tracking_uri']}#{state['run_id']}"
    return None


def _sandbox_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


SANDBOX = SandboxLayout(
    prefixes=("MLFLOW_",),
    environ=lambda root: {"MLFLOW_TRACKING_URI": _sandbox_uri(root)},
    store=_sandbox_uri,
    local_stores=lambda folder: [
        (folder / "mlflow.db", f"sqlite:///{folder / 'mlflow.db'}"),
        (folder / "mlruns", f"file:{folder / 'mlruns'}"),
    ],
    outputs=frozenset({"mlruns", "mlflow.db"}),
)


def _stored_values(values):
    """MLflow's SQL stores keep ±inf as ±max-float and -0.0 as 0.0 (both paths)."""
    import numpy as np

    rules = []
    for mask, rule, what in (
        (np.isinf(values), "mlflow-inf", "±inf is stored as ±1.7976931348623157e308"),
        ((values == 0) & np.signbit(values), "mlflow-negative-zero", "-0.0 is stored as 0.0"),
    ):
        if mask.any():
            rules.append(ImposedRule(rule, f"MLflow's sqlite store: {what}", mask))
    return _inf_to_max_float(values), rules


def _kept_name(kind: str, key: str) -> str:
    return (
        f"tracelet stores it as {mlflow_key(key)!r}, records the mapping in a "
        "tracelet.renamed_keys tag and reads the original name back"
    )


def _write_direct(rows, params, tags, project: str, name: str) -> list[dict[str, Any]]:
    """``MlflowClient.log_batch`` per key (a refused name loses only that key)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    experiment = client.get_experiment_by_name(project)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(project)
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    refused: list[dict[str, Any]] = []

    def attempt(kind: str, key: str, call) -> None:
        try:
            call()
        except MlflowException as exc:
            refused.append({"kind": kind, "key": key, "message": first_line(exc.message)})

    by_key: dict[str, list[Metric]] = {}
    for key, step, value, wall_time in rows:
        by_key.setdefault(key, []).append(Metric(key, value, int(wall_time * 1000), step))
    for key, metrics in by_key.items():
        attempt("metric", key, lambda m=metrics: client.log_batch(run_id, metrics=m))
    for key, value in params.items():
        attempt("param", key, lambda k=key, v=value: client.log_batch(run_id, params=[Param(k, v)]))
    for key, value in tags.items():
        attempt("tag", key, lambda k=key, v=value: client.set_tag(run_id, k, v))
    client.set_terminated(run_id)
    return refused


REPLAY = DirectReplay(
    api="MlflowClient.log_batch",
    write=_write_direct,
    stored=_stored_values,
    kept_name=_kept_name,
)
