"""ClearML: write a task from the delivery agent, and read an offline session back.

Writing (:class:`ClearmlBackend`)
---------------------------------

* ``Task.init(project_name=project, task_name=exp_name)`` always creates a new task
  (``reuse_last_task_id=False``). Its id goes into the backend state, so a later
  ``tracelet sync`` continues the *same* task (``continue_last_task=0``: steps are
  kept, not offset), online and offline alike.
* ClearML's own capture is off: framework bindings (or every ``SummaryWriter`` scalar
  would be logged twice), argparse, console streams, resource monitoring and repository
  detection (the agent is not the user's script). Reports are sent by threads in the
  agent, not by ClearML's forked reporter subprocess
  (``sdk.development.report_use_subprocess: false``, set as a configuration override
  on top of the user's ``clearml.conf``, so it holds with no ``CLEARML_CONFIG_FILE``):
  that mode made ``close()`` take 7-243 s here. ClearML's update check
  (``updates.clear.ml``) is switched off, so an offline run makes no network call. The
  signal and exception hooks ``Task.init`` installs are put back to what they were (the
  agent decides when the task ends), and so are the ``*_PROC_MASTER_ID`` variables at
  ``close()`` (a process started later would otherwise take itself for a subprocess of
  the closed task).
* Scalars: ``Logger.report_scalar(title, series, value, iteration=step)`` with
  ``(title, series)`` from :func:`tracelet.naming.clearml_title_series`. ClearML stamps
  each point with the time it was *delivered* (ms resolution), not the ``wall_time``
  tracelet recorded. NaN and ±inf become ``0.0``: ClearML replaces them before storing
  (its ``Logger.set_reporting_nan_value`` default; the server cannot store them), as it
  does for a script that calls ClearML directly. Every other float64 is kept exactly in
  the offline session (``metrics.jsonl`` holds its ``repr``).
* Params: ``task.connect(params, name=section)``, into the ``General`` section unless
  ``log_params(..., section=...)`` names another (``Args``, or any name but
  ``properties``, where ClearML keeps user properties); ClearML stores each value as a
  string (``True``, ``0.001``, ``[1, "a"]``, ``None`` becomes ``""``). A tuple or an
  Enum value (JSON has neither) is then set as ClearML sets it in a script that
  connects it: type ``tuple/int``, or the Enum member's name typed by its class.
* Summary: each numeric summary value (``experiment.summary``, ``define_metric``
  aggregates, nested values flattened with ``.``) is
  ``Logger.report_single_value(key, value)``, ClearML's "Summary" table. ClearML single
  values are numbers that cannot be removed: a string, bool or list value, and a
  deletion, are refused and reported.
* Tags: each tag is a ClearML *user property* (exact key and value, a column in the
  experiments table) and a ClearML tag ``key:value`` (just ``key`` when the value is
  empty) to filter on.
* Images: ``report_image(local_path=png)``; an image file is uploaded as it is. Option
  ``encode_images`` (set by ``tracelet migrate`` for a script that reported arrays):
  an image logged as pixels (``log_image(key, array)``, ``tracelet.Image``) is
  ``report_image(image=pixels)``, which ClearML stores as a JPEG, as in a script that
  reports the array. Text: ``report_media`` of a ``.txt`` file
  (as ClearML's TensorBoard binding does), histograms: ``report_histogram`` of the
  bucket counts over the bucket right edges. All keep every step (no rotation).
* Artifacts: ``upload_artifact(name, Path(path))``; ClearML zips a folder. An object
  (``log_artifact(obj, name=...)``) is given to ``upload_artifact(name, obj)`` itself,
  unpickled from the copy the training process wrote, so ClearML names and serialises
  it as in a script that calls ClearML (``name`` without a suffix; a DataFrame as
  ``.csv.gz``, an array as ``.npz``, a PIL image as ``.png``, others pickled); an
  object the agent cannot unpickle is uploaded as that pickle, the same bytes.
* Console (``track_console``, on by default as in ``Task.init``): what the training
  process printed, delivered when the run ends as ``report_text`` reports, stdout at
  level INFO and stderr at ERROR, as ClearML's own stream capture reports them.
* Status: ``close()`` ends the task; FAILED and KILLED then mark it failed / stopped on
  the server (an offline session does not store a status).
* Option ``task_type``: ClearML's task type (``"testing"``, ...; ``Task.init``'s
  ``task_type``), ``"training"`` unless given.
* Option ``url``: the ClearML API server (``Task.set_credentials(api_host=url)``);
  ``clearml.conf`` and ``CLEARML_*`` variables take precedence, as in ClearML.

Reading (:func:`read_run`)
--------------------------

``read_run(path)`` reads an offline session folder, its ``.zip``, or a folder holding
sessions (ClearML's ``offline/`` folder or its cache dir; ``run`` picks a task id, else
the newest session). A session that crashed before ``close()`` has no ``.zip``; its
folder reads the same, with a note.

* metrics: every scalar event, in file order, duplicates included (ClearML, like
  TensorBoard, keeps both points when a step is reported twice); keys through
  :func:`tracelet.naming.key_from_clearml`; ``wall_time`` is ClearML's timestamp.
  ``report_single_value`` rows (title ``Summary``, iteration -2**31) are the summary
  (``RunTables.summary``, the last value of each name), resource monitor rows
  (``:monitor:`` titles) are ``RunTables.system``.
* params: the ``General`` section as ``name``, any other section as ``section/name``
  (user properties are tags, not params).
* tags: user properties, plus any ClearML tag not written for one (value ``""``).
* artifacts: named as :func:`tracelet.tables.artifact_rows` names them: a file is one
  row named like the artifact, a folder (which ClearML stores zipped) one row per
  member, ``<artifact>/<member>``. ``path`` is the file, or ``<archive>!/<member>``
  for a file inside a zip.
* encodings: :data:`ZERO_ENCODING` (NaN and ±inf were stored as 0.0; left out when
  the session does hold non-finite values).
* notes: ``precision:float64``; one ``media {...}``
  JSON line per image / text / histogram key with its steps; what was skipped.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import math
import os
import pickle
import re
import signal
import sys
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tracelet.backends.base import (
    CONFIGURATION_INFO,
    OBJECT_INFO,
    REGISTERED_INFO,
    Backend,
    BackendUnavailable,
    RefusedError,
    existing_file,
    tag_label,
)
from tracelet.backends.registry import DirectReplay, ImposedRule, SandboxLayout
from tracelet.events import Point, SystemSample
from tracelet.naming import clearml_title_series, key_from_clearml
from tracelet.objects import wildcard_matches
from tracelet.summaries import flatten_summary
from tracelet.tables import (
    Encoding,
    RunTables,
    artifacts_frame,
    histogram_content,
    image_content,
    media_frame,
    metrics_frame,
    metrics_from_columns,
    params_frame,
    summary_frame,
    table_content,
    tags_frame,
)

PROPERTIES_SECTION = "properties"
"""The hyperparameter section ClearML keeps user properties in."""
CONFIGURATION_PREFIX = "configuration:"
"""The reader's artifact row of a configuration object is ``configuration:<name>``."""
SINGLE_VALUE_ITERATION = -(2**31)
"""The iteration ``Logger.report_single_value`` reports at (under title ``Summary``)."""

_THREAD_REPORTER = {"sdk": {"development": {"report_use_subprocess": False}}}
# Every binding off, and no repository detection: it would describe the agent, not the
# user's script, and it analyses imports in a background thread for seconds, taking a
# core from training. (A dict key ClearML does not list defaults to True, hence all.)
_NO_FRAMEWORKS = dict.fromkeys(
    (
        "matplotlib", "tensorflow", "tensorboard", "pytorch", "xgboost", "scikit", "fastai",
        "lightgbm", "hydra", "detect_repository", "tfdefines", "joblib", "megengine",
        "catboost", "gradio",
    ),
    False,
)  # fmt: skip
_NO_CAPTURE = {
    "auto_connect_frameworks": _NO_FRAMEWORKS,
    "auto_connect_arg_parser": False,
    "auto_connect_streams": False,
    "auto_resource_monitoring": False,
}
_HOOKED_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGSEGV", "SIGABRT", "SIGILL", "SIGFPE", "SIGQUIT")
    if hasattr(signal, name)
)
# Task.init marks the process as a task's "master" here and leaves "<pid>:" after close;
# a child process started later would take itself for a subprocess of that task.
_MASTER_ID_VARIABLES = ("CLEARML_PROC_MASTER_ID", "TRAINS_PROC_MASTER_ID")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")


@contextmanager
def _unavailable_without_config() -> Iterator[None]:
    from clearml.backend_api.session.defs import MissingConfigError

    try:
        yield
    except MissingConfigError as exc:
        raise BackendUnavailable(
            "ClearML is not configured: run `clearml-init` (or set CLEARML_API_HOST, "
            "CLEARML_API_ACCESS_KEY and CLEARML_API_SECRET_KEY), or log offline with "
            "CLEARML_OFFLINE_MODE=1"
        ) from exc


class ClearmlBackend(Backend):
    """Deliver a tracelet run to a ClearML task (server, or offline session)."""

    name = "clearml"
    tracks_system_by_default = tracks_git_by_default = tracks_console_by_default = True
    keeps_param_sections = serialises_objects = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._task: Any = None
        self._saved_environ: dict[str, str | None] = {}
        self._logger: Any = None
        self._names: dict[str, tuple[str, str]] = {}
        self._tags: dict[str, str] = {}
        self._previous_sample: SystemSample | None = None

    def open(self) -> None:
        task_cls = _clearml_task_class(self.options.get("url"))
        task_id = self.state.get("task_id") or self._resumed_task(task_cls)
        self._saved_environ = {name: os.environ.get(name) for name in _MASTER_ID_VARIABLES}
        with _process_hooks_kept(), _unavailable_without_config():
            task = task_cls.init(
                project_name=self.run.project,
                task_name=self.run.exp_name,
                task_type=self.options.get("task_type") or "training",
                reuse_last_task_id=task_id or False,
                continue_last_task=0 if task_id else False,
                **_NO_CAPTURE,
            )
        self._task, self._logger = task, task.get_logger()
        self.state["task_id"] = task.id
        if task_cls.is_offline():
            self.state["session"] = str(task.get_offline_mode_folder())
        if self.run.git and not task_id:
            self._set_script(self.run.git)
        prefix = "properties/"  # get_user_properties() asks the server, even offline
        self._tags = {
            key[len(prefix) :]: str(value)
            for key, value in (task.get_parameters(backwards_compatibility=False) or {}).items()
            if key.startswith(prefix)
        }

    def _resumed_task(self, task_cls: Any) -> str | None:
        """The task ``start_logging(resume=...)`` names. It is continued as a ``tracelet
        sync`` continues one (``continue_last_task=0``: the steps are kept). Offline, it
        must be a session in ClearML's offline folder; online ClearML decides (an id it
        does not know starts a new task)."""
        task_id = self.options.get("resume")
        if not task_id or not task_cls.is_offline():
            return task_id
        from clearml.config import get_offline_dir

        if (get_offline_dir(task_id) / "task.json").is_file():
            return task_id
        if self.options.get("resume_mode") == "must":
            raise BackendUnavailable(
                f"ClearML has no offline session {task_id!r} to resume in {get_offline_dir()} "
                '(resume_mode="must")'
            )
        return None

    def run_ref(self) -> tuple[str, str]:
        if "session" in self.state:
            return self._task.id, self.state["session"]
        return self._task.id, self._task.get_output_log_web_page()

    def _set_script(self, git: Mapping[str, Any]) -> None:
        """The task's "Execution" section, as ClearML's own repository detection fills it."""
        program = Path(self.run.source.get("program") or "")
        root = Path(git["root"])
        entry = program.relative_to(root) if program.is_relative_to(root) else program.name
        diff = Path(git["diff"]).read_text(errors="replace") if git.get("diff") else ""
        from clearml.backend_api.services import tasks

        # Task.set_script edits a script the task must already have; with repository
        # detection off it has none, so set the whole section (as that detection does).
        script = tasks.Script(
            repository=git.get("remote") or str(root),
            branch=git.get("branch") or "",
            version_num=git["commit"],
            diff=diff,
            working_dir=".",
            entry_point=str(entry),
        )
        self._task._update_script(script=script)

    def log_system_metrics(self, sample: SystemSample) -> None:
        """As ClearML's resource monitor: ``:monitor:machine`` / ``:monitor:gpu`` series,
        iteration = seconds since sampling started (its fallback when the monitor sees no
        iteration of its own)."""
        iteration = round(sample.elapsed)
        for title, series, value in _monitor_series(sample, self._previous_sample):
            self._logger.report_scalar(title, series, round(value * 1000) / 1000.0, iteration)
        self._previous_sample = sample
        self._flush()

    def log_metrics(self, points: Sequence[Point]) -> None:
        report, names = self._logger.report_scalar, self._names
        for key, value, step, _wall_time in points:
            pair = names.get(key)
            if pair is None:
                pair = names[key] = clearml_title_series(key)
            report(pair[0], pair[1], value, step)
        self._flush()

    def log_params(
        self,
        params: Mapping[str, Any],
        section: str | None = None,
        typed: Mapping[str, Sequence[str | None]] | None = None,
    ) -> None:
        if section == PROPERTIES_SECTION:
            raise RefusedError(
                f"ClearML keeps user properties in the {section!r} section: "
                "use set_tags, or another section name"
            )
        section = section or "General"
        self._task.connect(dict(params), name=section)
        for key, (kind, text) in (typed or {}).items():  # a tuple or an Enum, as ClearML keeps it
            self._task.set_parameter(f"{section}/{key}", text, value_type=kind)

    def set_summary(self, values: Mapping[str, Any], removed: Sequence[str]) -> None:
        refused = [f"{key!r} cannot be removed" for key in removed]
        for key, value in flatten_summary(values).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._logger.report_single_value(key, float(value))
            else:
                refused.append(f"{key!r} is not a number")
        self._flush()
        if refused:
            raise RefusedError(
                f"ClearML single values are numbers that stay: {', '.join(refused)}",
                count=len(refused),
            )

    def set_tags(self, tags: Mapping[str, str]) -> None:
        tags = {str(k): str(v) for k, v in tags.items()}
        stale = {tag_label(k, self._tags[k]) for k in tags if k in self._tags}
        self._task.set_user_properties(*({"name": k, "value": v} for k, v in tags.items()))
        self._tags.update(tags)
        labels = [t for t in self._task.get_tags() or () if t not in stale]
        labels += [t for t in (tag_label(k, v) for k, v in tags.items()) if t not in labels]
        self._task.set_tags(labels)

    def log_artifact(self, name: str, path: str, info: Mapping[str, Any] | None = None) -> None:
        info = info or {}
        source: Any = existing_file(path, "artifact")
        if CONFIGURATION_INFO in info:
            self._connect_configuration(info[CONFIGURATION_INFO], source)
            return
        if REGISTERED_INFO in info:  # ClearML uploads it when the task closes, as its own
            frame = _unpickled(info[REGISTERED_INFO]["pickle"], source)
            metadata = info.get("metadata")
            self._task.register_artifact(info[REGISTERED_INFO]["name"], frame, metadata=metadata)
            return
        record = info.get(OBJECT_INFO)
        if record:  # an object: ClearML serialises it and names it as its own call does
            name = record["name"]
            source = _unpickled(record.get("pickle"), source)
        metadata = _artifact_metadata(info)
        if not self._task.upload_artifact(
            name, artifact_object=source, metadata=metadata or None, wait_on_upload=True
        ):
            raise RuntimeError(f"ClearML did not store artifact {name!r} from {source}")

    def _connect_configuration(self, record: Mapping[str, Any], written: Path) -> None:
        """``connect_configuration`` of what the training script gave: the dict (its
        pickle, else the JSON document) or the file (a copy with the same name, so ClearML
        types it by the same suffix)."""
        value: Any = written
        if record.get("document"):
            loaded = _unpickled(record["pickle"], written) if "pickle" in record else None
            document = isinstance(loaded, dict | list)
            value = loaded if document else json.loads(written.read_text(encoding="utf-8"))
        self._task.connect_configuration(
            value, name=record["name"], description=record.get("description")
        )

    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
        title, series = clearml_title_series(key)
        local_path = str(existing_file(png_path, "image"))
        self._logger.report_image(
            title, series, iteration=step, local_path=local_path, max_image_history=-1
        )
        self._flush()

    def log_media(self, key: str, step: int, wall_time: float, media: Mapping[str, Any]) -> None:
        """An image file is uploaded as it is, as ``report_image(local_path=...)`` does.
        With option ``encode_images``, an image given as pixels (an array, a PIL image)
        is reported as pixels, so ClearML encodes it as ``report_image(image=...)`` does
        in a script (a JPEG by ClearML's default); without, as a lossless PNG. Other media
        as the base class."""
        from tracelet import media as kinds

        if media["_type"] != kinds.IMAGE:
            return super().log_media(key, step, wall_time, media)
        pixels = media["source"] != "file"
        if pixels and not self.options.get("encode_images"):
            return super().log_media(key, step, wall_time, media)
        title, series = clearml_title_series(key)
        if not pixels:
            image: dict[str, Any] = {"local_path": str(existing_file(media["path"], "image"))}
        else:
            import numpy as np

            image = {"image": np.asarray(kinds.pil_image(dict(media)))}
        self._logger.report_image(title, series, iteration=step, max_image_history=-1, **image)
        self._flush()

    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        limits, counts = histogram.get("bucket_limits"), histogram.get("bucket_counts")
        if not limits or not counts or len(limits) != len(counts):
            raise RefusedError(f"histogram {key!r} at step {step} has no matching buckets")
        kept = [(x, c) for x, c in zip(limits, counts, strict=True) if math.isfinite(x)]
        title, series = clearml_title_series(key)
        self._logger.report_histogram(
            title,
            series,
            values=[c for _, c in kept],
            iteration=step,
            xlabels=[x for x, _ in kept],
            xaxis="bucket right edge",
            yaxis="count",
        )
        self._flush()

    def log_table(
        self, key: str, step: int, wall_time: float, columns: list[str], data: list[list[Any]]
    ) -> None:
        import pandas as pd

        title, series = clearml_title_series(key)
        frame = pd.DataFrame(data, columns=columns)
        self._logger.report_table(title, series, iteration=step, table_plot=frame)
        self._flush()

    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
        title, series = clearml_title_series(key)
        self._logger.report_media(
            title,
            series,
            iteration=step,
            stream=io.StringIO(text),
            file_extension=".txt",
            max_history=-1,
        )
        self._flush()

    def log_console(self, chunks: Sequence[tuple[float, str, str]]) -> None:
        """The task's console log, as ClearML's own stream capture reports it: each run
        of output of one stream is one report, stderr at level ERROR."""
        for stream, text in _stream_runs(chunks):
            level = logging.ERROR if stream == "stderr" else logging.INFO
            self._logger.report_text(text, level=level, print_console=False)
        self._flush()

    def close(self, status: str) -> None:
        task = self._task
        if task is None:
            return
        if self._tags:
            # ClearML's background threads rewrite task.json from a snapshot of the task;
            # one that raced an earlier set_tags could leave stale properties behind.
            # Each keeps the type ClearML gave it (str, once parameters were stored after it).
            held = (task.data.hyperparams or {}).get(PROPERTIES_SECTION) or {}
            task.set_user_properties(
                *(
                    {
                        "name": k,
                        "value": v,
                        **({"type": held[k].type} if k in held and held[k].type else {}),
                    }
                    for k, v in self._tags.items()
                )
            )
        task.close()
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reason = f"tracelet: the run ended {status}"
        if status == "FAILED":
            task.mark_failed(status_reason=reason, force=True)
        elif status == "KILLED":
            task.stopped(force=True, status_reason=reason)
        self._task = self._logger = None

    def _flush(self) -> None:
        """Return once ClearML wrote (or sent) what was reported: the delivery engine
        counts a call that returned as delivered. ClearML's wait can return while its
        report thread still has events queued during a write it had already begun (a
        batch larger than its flush threshold), so flush until none is waiting."""
        reporter = self._task._reporter
        self._task.flush(wait_for_uploads=True)
        while reporter.is_alive() and reporter.events_waiting():
            self._task.flush(wait_for_uploads=True)

    def describe(self) -> str:
        if "session" in self.state:
            return f"clearml offline session {self.state['session']}"
        return f"clearml task {self.state.get('task_id', '?')}"


def _unpickled(pickled: str | None, written: Path) -> Any:
    """The object a ``log_artifact`` call was given, for ClearML's ``upload_artifact`` to
    serialise as it does in the training script. An object the agent cannot load (a
    class of the training script) is its pickle, the bytes ClearML would store for it.
    A str is its text, unless ClearML would take that text for a path here (then its
    ``.txt`` file, the same bytes)."""
    if pickled is None:
        text = written.read_text(encoding="utf-8")
        as_path = len(text) < 2048 and (Path(text).exists() or wildcard_matches(Path(text)))
        return written if as_path else text
    try:
        with open(pickled, "rb") as handle:
            return pickle.load(handle)
    except Exception:  # any failure to load leaves the pickle as it is
        return Path(pickled)


def _artifact_metadata(info: Mapping[str, Any]) -> dict[str, str]:
    """ClearML artifact metadata (string values) from ``log_artifact``'s ``metadata``,
    ``type`` (key ``artifact_type``) and ``aliases`` (key ``aliases``, a JSON list)."""
    metadata = {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in (info.get("metadata") or {}).items()
    }
    if info.get("type"):
        metadata["artifact_type"] = info["type"]
    if info.get("aliases"):
        metadata["aliases"] = json.dumps(list(info["aliases"]))
    return metadata


MONITOR_MACHINE, MONITOR_GPU = ":monitor:machine", ":monitor:gpu"
_MIB, _GIB = 1024**2, 1024**3
# ClearML series <- tracelet sample name, and the factor from MB (10^6 bytes)
_MACHINE_SERIES = {
    "cpu_usage": ("cpu_utilization_percentage", 1.0),
    "memory_used_gb": ("process_rss_megabytes", 1e6 / _GIB),
    "memory_free_gb": ("system_memory_available_megabytes", 1e6 / _GIB),
}
_RATE_SERIES = {  # ClearML reports these as MiB per second between readouts
    "network_tx_mbs": "network_transmit_megabytes",
    "network_rx_mbs": "network_receive_megabytes",
    "io_read_mbs": "disk_read_megabytes",
    "io_write_mbs": "disk_write_megabytes",
}
_GPU_SERIES = {
    "utilization": ("utilization_percentage", 1.0),
    "mem_used_gb": ("memory_usage_megabytes", 1e6 / _GIB),
    "mem_usage": ("memory_usage_percentage", 1.0),
    "temperature": ("temperature_celsius", 1.0),
    "power_draw": ("power_usage_watts", 1.0),
}
_GPU_NAME = re.compile(r"gpu_(\d+)_(.+)")


def _monitor_series(
    sample: SystemSample, previous: SystemSample | None
) -> Iterator[tuple[str, str, float]]:
    values = sample.values
    for series, (name, factor) in _MACHINE_SERIES.items():
        if name in values:
            yield MONITOR_MACHINE, series, values[name] * factor
    if "disk_usage_percentage" in values:
        yield MONITOR_MACHINE, "disk_free_percent", 100.0 - values["disk_usage_percentage"]
    if previous is not None and sample.elapsed > previous.elapsed:
        seconds = sample.elapsed - previous.elapsed
        for series, name in _RATE_SERIES.items():
            if name in values and name in previous.values:
                delta = (values[name] - previous.values[name]) * 1e6 / _MIB
                yield MONITOR_MACHINE, series, delta / seconds
    gpu_names = {v: k for k, (v, _) in _GPU_SERIES.items()}
    for name, value in values.items():
        match = _GPU_NAME.fullmatch(name)
        if match and match[2] in gpu_names:
            series = gpu_names[match[2]]
            yield MONITOR_GPU, f"gpu_{match[1]}_{series}", value * _GPU_SERIES[series][1]


def _clearml_task_class(url: str | None) -> Any:
    """ClearML's ``Task`` with the agent's configuration applied (before ``Task.init``)."""
    from clearml.config import ConfigSDKWrapper, ConfigWrapper

    ConfigWrapper.set_overrides(_THREAD_REPORTER)
    ConfigSDKWrapper.clear_config_impl()
    from clearml import Task
    from clearml.utilities.check_updates import CheckPackageUpdates

    # A private flag: the only way to skip the update request to updates.clear.ml.
    CheckPackageUpdates._package_version_checked = True
    if url:
        Task.set_credentials(api_host=url)
    return Task


@contextmanager
def _process_hooks_kept() -> Iterator[None]:
    """Undo the signal handlers and excepthook ``Task.init`` installs in this process."""
    handlers = {sig: signal.getsignal(sig) for sig in _HOOKED_SIGNALS}
    excepthook = sys.excepthook
    try:
        yield
    finally:
        sys.excepthook = excepthook
        for sig, handler in handlers.items():
            if signal.getsignal(sig) is not handler and handler is not None:
                signal.signal(sig, handler)


# -- reading -------------------------------------------------------------------------


def read_run(path: str, run: str | None = None) -> RunTables:
    """Read a ClearML offline session into the four tables.

    ``path`` is a session folder (``offline-<id>``), its ``.zip``, or a folder holding
    sessions (``$CLEARML_CACHE_DIR`` or its ``offline/``); there ``run`` names the task
    id (with or without the ``offline-`` prefix), else the newest session is read.

    Example:
        ```python
        tables = read_run("clearml-cache/offline")
        tables.metrics.groupby("key").size()
        ```
    """
    session = _Session(_find_session(Path(path), run))
    try:
        return _read_session(session)
    finally:
        session.close()


def _find_session(path: Path, run: str | None) -> Path:
    if path.is_file():
        return path
    if is_store_folder(path):
        return path
    folder = path / "offline" if (path / "offline").is_dir() else path
    sessions: dict[str, Path] = {}
    for entry in sorted(folder.glob("offline-*")):
        task_id = entry.name.removesuffix(".zip")
        if entry.is_dir() or (entry.suffix == ".zip" and task_id not in sessions):
            sessions[task_id] = entry
    if not sessions:
        raise FileNotFoundError(f"no ClearML offline session in {path}")
    if run is not None:
        for task_id in (run, f"offline-{run}"):
            if task_id in sessions:
                return sessions[task_id]
        raise FileNotFoundError(f"no ClearML offline session {run!r} in {folder}")
    return max(sessions.values(), key=_session_mtime)


def _session_mtime(path: Path) -> float:
    marker = path / "task.json" if path.is_dir() else path
    return (marker if marker.exists() else path).stat().st_mtime


class _Session:
    """The files of one offline session, in a folder or a zip."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        self.names = set(self.zip.namelist()) if self.zip else None

    def read(self, name: str) -> bytes | None:
        if self.zip is None:
            file = self.path / name
            return file.read_bytes() if file.is_file() else None
        return self.zip.read(name) if name in self.names else None

    def location(self, name: str) -> str:
        return f"{self.path}!/{name}" if self.zip else str(self.path / name)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _read_session(session: _Session) -> RunTables:
    task = json.loads(session.read("task.json") or b"{}")
    notes = ["precision:float64"]
    if session.zip is None and not session.path.with_name(session.path.name + ".zip").exists():
        notes.append("incomplete: no .zip next to the session (the task was not closed)")
    metrics, system, singles, media_events, event_notes = _read_metrics(
        session.read("metrics.jsonl") or b""
    )
    # All finite: ClearML replaced NaN and ±inf by 0.0 (a session holding them did not).
    encodings = (ZERO_ENCODING,) if metrics["value"].abs().lt(math.inf).all() else ()
    params, tags = _read_hyperparams(task)
    artifacts, artifact_notes = _read_artifacts(session, task)
    return RunTables(
        metrics=metrics,
        params=params_frame(params),
        tags=tags_frame(tags),
        summary=summary_frame(singles),
        artifacts=artifacts_frame(artifacts),
        source=str(session.path),
        notes=notes + event_notes + artifact_notes,
        encodings=encodings,
        system=system,
        origin=_script_origin(task.get("script") or {}),
        media=media_frame(_media_row(session, *item) for item in media_events),
    )


def _script_origin(script: Mapping[str, Any]) -> dict[str, str]:
    """The task's script information in the names of ``RunTables.origin``."""
    fields = {"entry_point": "program", "version_num": "git.commit", "branch": "git.branch"}
    origin = {name: str(script[f]) for f, name in fields.items() if script.get(f)}
    if script.get("repository"):
        origin["git.remote"] = str(script["repository"])
        origin["git.dirty"] = str(bool(script.get("diff"))).lower()
    return origin


def _read_metrics(raw: bytes) -> tuple[Any, Any, dict[str, float], list[tuple], list[str]]:
    """(metrics, resource-monitor rows keyed ``<title>/<series>``, single values, media
    events as ``(key, step, kind, event)``, notes)."""

    keys: list[str] = []
    steps: list[int] = []
    values: list[float] = []
    times: list[float] = []
    key_of: dict[tuple[str, str], str] = {}
    media: dict[tuple[str, str], list[int]] = {}
    singles: dict[str, float] = {}
    skipped: dict[str, int] = {}
    system: list[tuple] = []
    media_events: list[tuple] = []
    lines = raw.splitlines()
    for number, line in enumerate(lines):
        try:
            batch = json.loads(line) if line.strip() else []
        except ValueError:
            if number == len(lines) - 1:
                skipped["torn last line"] = 1
                break
            raise
        for event in batch:
            kind = event.get("type")
            pair = (event.get("metric", ""), event.get("variant", ""))
            if kind == "training_stats_scalar":
                step = event.get("iter", 0)
                if step == SINGLE_VALUE_ITERATION and pair[0] == "Summary":
                    singles[pair[1]] = event["value"]
                    continue
                if pair[0].startswith(":monitor:"):
                    system.append(
                        (
                            f"{pair[0]}/{pair[1]}",
                            step,
                            event["value"],
                            event.get("timestamp", 0) / 1e3,
                        )
                    )
                    continue
                key = key_of.get(pair)
                if key is None:
                    key = key_of[pair] = key_from_clearml(*pair)
                keys.append(key)
                steps.append(step)
                values.append(event["value"])
                times.append(event.get("timestamp", 0) / 1000.0)
            elif kind in ("training_debug_image", "plot"):
                media_kind = _media_kind(kind, event)
                media_key = key_from_clearml(*pair)
                media.setdefault((media_kind, media_key), []).append(event.get("iter", 0))
                media_events.append((media_key, event.get("iter", 0), media_kind, event))
            else:
                skipped[f"{kind} events"] = skipped.get(f"{kind} events", 0) + 1
    frame = metrics_from_columns(keys, steps, values, times)
    notes = [_media_note(kind, key, s) for (kind, key), s in sorted(media.items())]
    notes += [f"skipped {n} {what}" for what, n in sorted(skipped.items())]
    return frame, metrics_frame(system), singles, media_events, notes


def _media_kind(kind: str, event: Mapping[str, Any]) -> str:
    if kind == "plot":
        kind = _plot_data(event).get("type")
        return {"bar": "histogram", "table": "table"}.get(kind, "plot")
    url = str(event.get("url") or event.get("key") or "").lower()
    if url.endswith(".txt"):
        return "text"
    return "image" if url.endswith(_IMAGE_SUFFIXES) else "media"


def _plot_data(event: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return (json.loads(event.get("plot_str") or "{}").get("data") or [{}])[0]
    except ValueError:
        return {}


def _media_row(session: _Session, key: str, step: int, kind: str, event: Mapping) -> tuple:
    """A media table row: a debug image or text file of the session, or a plot's data
    (a histogram's bars, a table's header and cells)."""
    if kind in ("histogram", "table"):
        data = _plot_data(event)
        if kind == "histogram":
            content = histogram_content(data.get("y", []), data.get("x", []))
        else:
            columns = [
                str(v[0]) if isinstance(v, list) else str(v) for v in data["header"]["values"]
            ]
            rows = [list(row) for row in zip(*data["cells"]["values"], strict=True)]
            content = table_content(columns, rows)
        return (key, step, kind, -1, "", content)
    stored = session.read(f"data/{event.get('key', '')}") if event.get("key") else None
    if stored is None:
        return (key, step, kind, -1, "", "")
    if kind == "image":
        content = image_content(stored)
    else:
        content = stored.decode("utf-8", "replace") if kind == "text" else ""
    return (key, step, kind, len(stored), _sha256(stored), content)


def _media_note(kind: str, key: str, steps: list[int]) -> str:
    return "media " + json.dumps(
        {"kind": kind, "key": key, "steps": sorted(steps)}, ensure_ascii=False
    )


def _read_hyperparams(task: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    params: dict[str, str] = {}
    properties: dict[str, str] = {}
    for section, entries in (task.get("hyperparams") or {}).items():
        for name, entry in entries.items():
            value = str(entry.get("value", ""))
            if section == PROPERTIES_SECTION:
                properties[name] = value
            else:
                params[name if section == "General" else f"{section}/{name}"] = value
    labels = {tag_label(k, v) for k, v in properties.items()}
    tags = {t: "" for t in task.get("tags") or () if t not in labels}
    tags.update(properties)
    return params, tags


def _read_artifacts(session: _Session, task: Mapping[str, Any]) -> tuple[list[tuple], list[str]]:
    rows: list[tuple] = []
    notes: list[str] = []
    folder = str(task.get("offline_folder") or "").rstrip("/")
    for artifact in (task.get("execution") or {}).get("artifacts") or ():
        name, uri = artifact.get("key", ""), str(artifact.get("uri") or "")
        data, location = _artifact_bytes(session, folder, uri)
        if data is None:
            notes.append(f"artifact {name!r}: file {uri or '(none)'} not found")
            continue
        if artifact.get("type") == "archive" and zipfile.is_zipfile(io.BytesIO(data)):
            rows.extend(_archive_rows(name, location, data))
        else:
            rows.append((name, location, len(data), _sha256(data)))
    for name, entry in (task.get("configuration") or {}).items():
        text = str(entry.get("value") or "").encode("utf-8")
        location = f"{session.location('task.json')}#configuration/{name}"
        rows.append((f"{CONFIGURATION_PREFIX}{name}", location, len(text), _sha256(text)))
        notes.append(f"configuration {json.dumps({'name': name, 'type': entry.get('type')})}")
    return rows, notes


def _artifact_bytes(session: _Session, folder: str, uri: str) -> tuple[bytes | None, str]:
    if folder and uri.startswith(folder + "/"):
        relative = uri[len(folder) + 1 :]
        data = session.read(relative)
        if data is not None:
            return data, session.location(relative)
    file = Path(uri)
    if uri and file.is_file():
        return file.read_bytes(), uri
    return None, uri


def _archive_rows(name: str, location: str, data: bytes) -> Iterator[tuple]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if not info.is_dir():
                member = archive.read(info)
                yield (
                    f"{name}/{info.filename}",
                    f"{location}!/{info.filename}",
                    len(member),
                    _sha256(member),
                )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- recognising stores, and validation ----------------------------------------------------
STORE_LABEL = "a ClearML offline session"
STORE_HINT = "ClearML offline session (folder, .zip, offline/ folder)"
MENTION = re.compile(rb"\bclearml\b|\b(?:from|import)[ \t]+trains\b")  # ClearML's former name
_SESSION_FILES = {"task.json", "metrics.jsonl"}


def _nonfinite_to_zero(values):
    import numpy as np

    return np.where(np.isfinite(values), values, 0.0)


ZERO_ENCODING = Encoding(
    "clearml-zero",
    "NaN and ±inf stored as 0.0 (ClearML's scalar reports)",
    _nonfinite_to_zero,
    rank=1,
)
ENCODINGS = (ZERO_ENCODING,)


def claims_file(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and _is_session_zip(path)


def is_store_folder(path: Path) -> bool:
    return any((path / name).is_file() for name in _SESSION_FILES)


def holds_stores(path: Path) -> bool:
    return any(_is_session(p) for p in path.glob("offline-*")) or any(
        _is_session(p) for p in path.glob("offline/offline-*")
    )


def _is_session(path: Path) -> bool:
    if path.is_dir():
        return is_store_folder(path)
    return path.suffix == ".zip" and _is_session_zip(path)


def _is_session_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names & _SESSION_FILES)


def delivered_location(
    state: Mapping[str, Any], options: Mapping[str, Any], cwd: str, environ: Mapping[str, str]
) -> str | None:
    """The offline session folder (a task on a server cannot be read back)."""
    return str(state["session"]) if state.get("session") else None


def _sandbox_environ(root: Path) -> dict[str, str]:
    return {
        "CLEARML_OFFLINE_MODE": "1",
        "CLEARML_CACHE_DIR": str(root / "clearml"),
        "CLEARML_CONFIG_FILE": str(root / "clearml.conf"),
        "CLEARML_LOG_LEVEL": "ERROR",
    }


def _prepare_sandbox(root: Path) -> None:
    """The sessions folder, and a ``clearml.conf`` with the reporter the agent uses."""
    (root / "clearml").mkdir(parents=True, exist_ok=True)
    (root / "clearml.conf").write_text(json.dumps(_THREAD_REPORTER) + "\n")


SANDBOX = SandboxLayout(
    prefixes=("CLEARML_",),
    environ=_sandbox_environ,
    store=lambda root: str(root / "clearml" / "offline"),
    prepare=_prepare_sandbox,
)


def _stored_values(values):
    import numpy as np

    nonfinite = ~np.isfinite(values)
    rules = []
    if nonfinite.any():
        text = (
            "ClearML stores NaN and ±inf as 0.0 (its Logger.set_reporting_nan_value "
            "default; the server cannot store them)"
        )
        rules.append(ImposedRule("clearml-nonfinite", text, nonfinite))
    return _nonfinite_to_zero(values), rules


def _write_direct(rows, params, tags, project: str, name: str) -> list[dict[str, Any]]:
    """``Task.init`` offline, ``task.connect(params)``, tags as user properties and one
    ``Logger.report_scalar`` per point, reporting in-process (threads)."""
    from clearml import Task

    task = Task.init(project_name=project, task_name=name, **_NO_CAPTURE)
    if params:
        task.connect(dict(params), name="General")
    if tags:
        task.set_user_properties(*({"name": k, "value": v} for k, v in tags.items()))
    logger = task.get_logger()
    names: dict[str, tuple[str, str]] = {}
    for key, step, value, _ in rows:
        pair = names.get(key) or names.setdefault(key, clearml_title_series(key))
        logger.report_scalar(pair[0], pair[1], value, iteration=step)
    task.close()
    return []


REPLAY = DirectReplay(api="Logger.report_scalar", write=_write_direct, stored=_stored_values)


def _stream_runs(chunks: Sequence[tuple[float, str, str]]) -> Iterator[tuple[str, str]]:
    """Consecutive chunks of one stream, joined, without the last line break."""
    for stream, group in itertools.groupby(chunks, key=lambda chunk: chunk[1]):
        text = "".join(chunk[2] for chunk in group).removesuffix("\n")
        if text:
            yield stream, text
