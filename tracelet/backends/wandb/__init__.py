"""Weights & Biases: write a tracelet run with ``wandb``, read a run directory back.

Writing (:class:`WandbBackend`, used by the delivery agent):

* **Rows of ``tracelet.log``** are W&B's own rows: ``run.log(row, step=s)`` with the
  step ``tracelet.log`` computed by ``wandb.log``'s rules, so the run's history is the
  one ``wandb.log`` would have written (same columns, ``_step``, values) and no
  ``define_metric`` record is added. A row's ``_timestamp`` is the time of its commit
  in the training process.
* **Points of a SummaryWriter** (and ``log_metric``, Lightning, images, histograms,
  text) carry a step of their own. W&B silently drops a ``wandb.log(..., step=s)``
  whose step is lower than its current one, and TensorBoard-style code logs out of
  order all the time, so such a point is never logged at W&B's step: its row is
  ``{"tracelet/step": s, key: value, ...}`` and ``_step`` is a private row counter
  that only grows. When the first such point arrives, ``tracelet/step`` is defined
  (hidden) and each key gets ``define_metric(key, step_metric="tracelet/step")`` when
  it is first logged, so W&B charts use the TensorBoard step as x axis (W&B's own
  TensorBoard sync does the same with ``global_step``, a name tracelet avoids: many
  scripts log a metric called ``global_step`` themselves). Out-of-order, repeated and
  backwards steps are all kept, in the order they were logged. The counter is kept in
  ``state["wandb_next_step"]`` so a resumed delivery continues it.
* **Rows at the program's own step** (``fabric.log_dict(metrics, step)``, a row event
  marked ``OWN_STEP``): one row per call, as ``WandbLogger.log_metrics`` writes it, at
  the next ``_step`` with the step in ``tracelet/step`` (where ``WandbLogger`` writes
  ``trainer/global_step``), even when the next call has the same step and other keys.
* **A run mixing both**: rows before the first SummaryWriter point are W&B's own; from
  then on every row, ``tracelet.log`` rows included, carries ``tracelet/step`` (the
  row's step) at the next ``_step``, and its keys get the ``define_metric`` above.
* **One ``wandb.log`` per step.** Consecutive points of one step become one row. A
  key that repeats within a step starts a new row at the same ``tracelet/step``, so
  no point is lost. The points of one logged dict (Lightning's ``log_metrics``,
  ``add_scalars``) reach the journal together, and neither a journal record nor a
  tracker call ends inside a step (unless one step has more than 1000 points), so
  they are one row whatever the load; separate ``add_scalar`` calls of one step are cut
  in two rows when the flusher writes the journal between them. A row's
  ``_timestamp`` is the ``wall_time`` of its first point.
* **Refused keys.** ``tracelet/step``, ``_step``, ``_runtime`` and ``_timestamp`` cannot
  be metric keys (they would overwrite the row's bookkeeping), and wandb-core drops an
  empty key: such points are refused (:class:`~tracelet.backends.base.RefusedError`
  with their count) after the rest of the batch was delivered.
* **Params** go to ``run.config`` as given (keys stay flat, ``a/b``).
* **Tags** (key -> value) become W&B run tags ``"key:value"`` (``"key"`` when the
  value is empty; cut to W&B's 64 characters), which is how W&B users filter runs.
  The exact mapping is also kept in ``config["tracelet_tags"]``, which the reader uses.
* **Watch.** ``experiment.watch``'s histograms, once the run has called
  ``tracelet.log``, join the next committed row (kept in the delivery state until
  then; a later histogram of a key replaces the earlier one), as ``wandb.watch``'s
  ``commit=False`` log joins the next ``wandb.log`` row; what is still pending at the
  end is committed by ``close`` at the current step, as ``run.finish`` does.
* **Media.** Images are ``wandb.Image``; histograms are
  ``wandb.Histogram(np_histogram=...)`` (more than 512 buckets are merged into at
  most 512, W&B's limit); text is a ``wandb.Html`` panel holding the text in a
  ``<pre>`` block.
* **Summary.** ``experiment.summary`` goes to ``run.summary`` (set, update, delete);
  ``define_metric`` is ``run.define_metric`` (W&B computes its aggregates itself).
* **Artifacts** are ``wandb.Artifact(type="tracelet")`` logged to the run. Names are
  reduced to W&B's ``[A-Za-z0-9_.-]``; the original name, whether it was one file and
  each file's sha256 are kept in the artifact metadata; a ``type``, ``metadata`` and
  ``aliases`` given to ``log_artifact`` are the artifact's own. A model is an artifact
  named after it, of type ``model``.
* **Resume.** ``wandb.init(id=..., resume="must" | "allow")``; offline, where W&B
  ignores ``resume``, tracelet checks the run's earlier offline folders itself.
* **Finish.** ``close`` calls ``run.finish(exit_code=...)``: 0 for FINISHED, 1 for
  FAILED, 255 for KILLED (what W&B itself records for Ctrl-C). It then waits until
  the exit record is in the ``.wandb`` file, which wandb-core may flush a moment
  after ``finish`` returns, so the run can be read back at once.
* **Options** (``backend_options={"wandb": {...}}``): ``entity``, ``mode``, ``dir``,
  ``group``, ``job_type``, ``notes``, ``id``, ``settings`` (a dict of
  ``wandb.Settings`` fields) and ``close_timeout`` (seconds, default 60). Anything not
  given is left to W&B, so ``WANDB_MODE``, ``WANDB_DIR`` and the other ``WANDB_*``
  variables apply. wandb's console capture is always off: the agent's console is not
  the user's.
* **Console** (``track_console``, on by default as in ``wandb.init``): what the training
  process printed reaches the run as the records wandb's own console capture writes
  (``output_raw``, stdout or stderr, with the time each chunk was printed), which
  wandb-core turns into the run's ``output.log`` and its Logs tab. It is delivered
  when the run ends. The run's start time (and so the runtime W&B shows) is when the
  agent opened the run: ``wandb.init`` sets it itself and takes no earlier one.
* The W&B run id defaults to tracelet's run id (cleaned), so a re-opened
  delivery lands in the same run.

Reading (:func:`read_run`, :func:`read_media`): the ``.wandb`` transaction log is
decoded with the protobuf classes that ship with ``wandb``; a file cut short by a
crash yields every complete record. See ``docs/backends/wandb.md``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import html
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from glob import escape as escape_glob
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from tracelet import summaries, tables
from tracelet.backends.base import (
    Backend,
    BackendUnavailable,
    RefusedError,
    RunInfo,
    existing_file,
    tag_label,
)
from tracelet.backends.registry import DirectReplay, ImposedRule, SandboxLayout
from tracelet.backends.tensorboard import FLOAT32_ENCODING
from tracelet.backends.wandb.logfile import Decoded, decode, wait_for_exit_record
from tracelet.errors import first_line
from tracelet.events import Point
from tracelet.runfiles import DIR_POLICY

if TYPE_CHECKING:
    import pandas as pd


STEP_KEY = "tracelet/step"
TB_SYNC_STEP_KEY = "global_step"  # the step key of runs written by W&B's own TensorBoard sync
TAGS_CONFIG_KEY = "tracelet_tags"
ARTIFACT_TYPE = "tracelet"  # the type of an artifact logged without one
MODEL_TYPE = "model"
DIFF_FILE = "diff.patch"  # the run file wandb keeps the uncommitted diff in
RESERVED_KEYS = frozenset({STEP_KEY, "_step", "_runtime", "_timestamp"})
EXIT_CODES = {"FINISHED": 0, "FAILED": 1, "KILLED": 255}
MAX_TAG_LENGTH = 64
MAX_HISTOGRAM_BUCKETS = 512
ROW_HISTOGRAMS = "wandb_row_histograms"  # state: watch histograms awaiting the next row
SEPARATED_IMAGES = "images/separated"  # the history value of wandb.log of a list of images
_TEXT_OPEN = '<pre style="white-space: pre-wrap">'
_TEXT_CLOSE = "</pre>"
_OPTION_KEYS = ("entity", "mode", "dir", "group", "job_type", "notes")


def _wandb():
    import wandb

    return wandb


class WandbBackend(Backend):
    """Deliver a tracelet run into one W&B run (see the module docstring)."""

    name = "wandb"
    tracks_system_by_default = tracks_git_by_default = tracks_console_by_default = True
    samples_system_itself = True  # wandb-core samples the pid it is given
    computes_metric_summaries = True
    _run: Any = None
    _where = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._defined: set[str] = set()  # keys whose glob definitions are applied

    @classmethod
    def pin_options(cls, options: dict[str, Any], cwd: str) -> dict[str, Any]:
        directory = options.get("dir") or os.environ.get("WANDB_DIR")
        if directory:
            return {**options, "dir": str(Path(cwd, directory).resolve())}
        return options

    def open(self) -> None:
        wandb = _wandb()
        settings = {**_tracking_settings(self.run), **(self.options.get("settings") or {})}
        settings["console"] = "off"
        kwargs = {k: self.options[k] for k in _OPTION_KEYS if self.options.get(k) is not None}
        run_id = self.state.get("wandb_run_id")
        resume = "allow"
        if not run_id and self.options.get("resume"):
            run_id, resume = self.options["resume"], self.options.get("resume_mode", "allow")
            self._check_offline_resume(run_id, resume, settings)
        run_id = run_id or self.options.get("id") or _run_id(self.run)
        try:
            self._run = wandb.init(
                project=self.run.project or None,
                name=self.run.exp_name or None,
                id=run_id,
                resume=resume,
                reinit="create_new",
                settings=wandb.Settings(**settings),
                **kwargs,
            )
        except (wandb.errors.UsageError, wandb.errors.AuthenticationError) as exc:
            raise BackendUnavailable(
                f"W&B refused the login ({first_line(exc)}): run `wandb login`, set "
                "WANDB_API_KEY, or log offline with WANDB_MODE=offline"
            ) from exc
        self.state["wandb_run_id"] = self._run.id
        # the wandb/ folder holding the run: read_run(root, run id) reads it back
        self.state["wandb_root"] = str(Path(self._run.settings.sync_file).parent.parent)
        self.state["wandb_next_step"] = max(
            int(self.state.get("wandb_next_step", 0)), int(self._run.step or 0)
        )
        if self.state.get("wandb_tags"):
            self._apply_tags()
        self._save_diff()
        self._where = _describe_run(self._run)

    def _check_offline_resume(self, run_id: str, mode: str, settings: Mapping[str, Any]) -> None:
        """Offline, ``wandb.init`` ignores ``resume`` (it asks no server) and starts the
        run's ``_step`` at 0. tracelet looks for the run's earlier offline folders
        itself: none and ``resume_mode="must"`` stops with an error; else the new rows
        continue after the last ``_step`` they hold, so the resumed run reads (and
        ``wandb sync`` uploads) as one run."""
        mode_setting = (
            settings.get("mode") or self.options.get("mode") or os.environ.get("WANDB_MODE")
        )
        if mode_setting not in ("offline", "dryrun"):
            return
        folder = self.options.get("dir") or os.environ.get("WANDB_DIR") or "."
        root = Path(folder, "wandb").resolve()
        earlier = sorted(root.glob(f"*run-*-{run_id}*/run-{run_id}.wandb"))
        if not earlier and mode == "must":
            raise BackendUnavailable(
                f'W&B has no offline run {run_id!r} to resume under {root} (resume_mode="must")'
            )
        last = max(
            (_integer(row["_step"]) for f in earlier for row in decode(f).rows if "_step" in row),
            default=-1,
        )
        self.state["wandb_next_step"] = max(int(self.state.get("wandb_next_step", 0)), last + 1)

    def run_ref(self) -> tuple[str, str]:
        run = self._run
        if run.disabled:
            return run.id, ""
        if run.offline:
            return run.id, str(Path(run.settings.sync_file).parent)
        return run.id, run.url or ""

    def _save_diff(self) -> None:
        """The uncommitted diff as the run file ``diff.patch``, where W&B keeps it."""
        git = self.run.git
        if not git or not git.get("diff") or self._run.disabled or self.state.get("wandb_diff"):
            return
        target = Path(self._run.dir, DIFF_FILE)
        shutil.copyfile(git["diff"], target)
        self._run.save(str(target), base_path=self._run.dir, policy="now")
        self.state["wandb_diff"] = True

    def log_metrics(self, points: Sequence[Point]) -> None:
        refused: list[str] = []
        for step, wall_time, values in _rows(points, refused):
            self._log(step, wall_time, values)
        if refused:
            raise RefusedError(
                f"W&B: {len(refused)} point(s) not logged: {', '.join(sorted(set(refused)))}",
                count=len(refused),
            )

    def log_row(
        self,
        step: int,
        wall_time: float,
        values: Mapping[str, Any],
        early: Sequence[str] = (),
        named_at: int | None = None,
        own_step: bool = False,
    ) -> None:
        refused = [reason for key in values if (reason := _key_problem(key))]
        row = {
            **self._take_row_histograms(),
            **{
                key: _wandb_media(key, step, value) if isinstance(value, Mapping) else value
                for key, value in values.items()
                if not _key_problem(key)
            },
        }
        if row:
            if (
                own_step
                or self.state.get("wandb_step_column")
                or step < self.state["wandb_next_step"]
            ):
                self._log(step, wall_time, row)
            else:
                self._log_native(step, wall_time, row, early, named_at)
        if refused:
            raise RefusedError(f"W&B: {'; '.join(sorted(set(refused)))}", count=len(refused))

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._run.config.update(dict(params), allow_val_change=True)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        merged = dict(self.state.get("wandb_tags") or {})
        merged.update({str(k): str(v) for k, v in tags.items()})
        self.state["wandb_tags"] = merged
        self._apply_tags()

    def set_summary(self, values: Mapping[str, Any], removed: Sequence[str]) -> None:
        self._run.summary.update(dict(values))
        for key in removed:
            with contextlib.suppress(KeyError):  # never set, or deleted already
                del self._run.summary[key]

    def define_metric(
        self, name: str, step_metric: str | None, summary: Sequence[str] | None
    ) -> None:
        """``run.define_metric``; a glob is defined again for each key it matches when
        that key is first logged: wandb-core applies only the first glob that matches a
        key, and tracelet's own ``*`` glob comes first."""
        definition = [name, step_metric, ",".join(summary) if summary else None]
        if name.endswith("*"):
            self.state.setdefault("wandb_globs", []).append(definition)
            self._defined.clear()
        else:
            self._run.define_metric(
                name, step_metric=self._step_metric(step_metric), summary=definition[2]
            )

    def _step_metric(self, step_metric: str | None) -> str | None:
        """A metric without its own step metric is charted against the run's step column:
        ``tracelet/step`` once SummaryWriter-style points made one, else W&B's ``_step``."""
        if step_metric is None and self.state.get("wandb_step_column"):
            return STEP_KEY
        return step_metric

    def _define_glob_matches(self, keys: Iterable[str]) -> None:
        globs = self.state.get("wandb_globs")
        if not globs:
            return
        for key in keys:
            if key in self._defined:
                continue
            self._defined.add(key)
            found = next((g for g in globs if summaries.matches(g[0], key)), None)
            if found is not None and key != STEP_KEY:
                self._run.define_metric(
                    key, step_metric=self._step_metric(found[1]), summary=found[2]
                )

    def log_artifact(self, name: str, path: str, info: Mapping[str, Any] | None = None) -> None:
        info = info or {}
        artifact_name, _, entry = name.partition("/")
        self._log_files(
            _artifact_name(artifact_name),
            name,
            path,
            info.get("type") or ARTIFACT_TYPE,
            info.get("metadata"),
            info.get("aliases"),
            entry,
        )

    def log_model(self, name: str, path: str, info: Mapping[str, Any]) -> None:
        """An artifact named after the model, of type ``model``, holding its file, with
        the ``metadata`` given to ``log_model`` as its metadata."""
        metadata = info.get("metadata")
        self._log_files(_artifact_name(name), Path(path).name, path, MODEL_TYPE, metadata, None)

    def save_file(self, name: str, path: str, policy: str) -> None:
        """The run file ``wandb.save`` makes: the capture copied to ``<run dir>/files/<name>``
        and ``run.save`` of it with its policy (W&B links to the user's file instead; the
        bytes are the capture's). A file the program wrote into ``experiment.dir``
        (policy ``"dir"``) is only copied there, as a program writing into ``run.dir``
        leaves it for W&B to upload at the end."""
        source = existing_file(path, f"W&B run file {name!r}:")
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
            raise RefusedError(f"run file name {name!r} must be a relative path without '..'")
        if self._run.disabled:
            return
        files = Path(self._run.dir)
        target = files.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if policy != DIR_POLICY:
            self._run.save(escape_glob(str(target)), base_path=str(files), policy=policy)

    def _log_files(
        self,
        artifact_name: str,
        name: str,
        path: str,
        artifact_type: str,
        metadata: Mapping[str, Any] | None,
        aliases: Sequence[str] | None,
        entry: str = "",
    ) -> None:
        """``entry`` is the file's name, or the folder's, inside the artifact (default: a
        file's own name, a folder's files at the artifact's root)."""
        wandb = _wandb()
        source = existing_file(path, f"W&B artifact {name!r}:")
        is_file = source.is_file()
        files = [source] if is_file else sorted(p for p in source.rglob("*") if p.is_file())
        prefix = f"{entry}/" if entry else ""
        hashes = {
            (entry or f.name if is_file else prefix + f.relative_to(source).as_posix()): (
                tables.file_sha256(f)
            )
            for f in files
        }
        info = {"tracelet_name": name, "tracelet_file": is_file, "sha256": hashes}
        if entry and not is_file:
            info["tracelet_entry"] = entry
        artifact = wandb.Artifact(
            artifact_name, type=artifact_type, metadata={**(metadata or {}), **info}
        )
        if is_file:
            artifact.add_file(str(source), name=entry or None)
        else:
            artifact.add_dir(str(source), name=entry or None)
        self._run.log_artifact(artifact, aliases=list(aliases) if aliases else None)

    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
        self._log_media(key, step, wall_time, lambda w: w.Image(png_path))

    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        self._log_media(
            key, step, wall_time, lambda w: w.Histogram(np_histogram=_np_histogram(histogram))
        )

    def log_row_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        """Kept (in the delivery state) for the next committed row, as ``wandb.watch``'s
        ``run._log(..., commit=False)``; a later histogram of the same key replaces it. In
        a run whose rows carry ``tracelet/step`` it is a row of its own, as before."""
        if self.state.get("wandb_step_column"):
            self.log_histogram(key, step, wall_time, histogram)
            return
        problem = _key_problem(key)
        if problem:
            raise RefusedError(f"W&B: {problem}")
        self.state.setdefault(ROW_HISTOGRAMS, {})[key] = dict(histogram)

    def _take_row_histograms(self) -> dict[str, Any]:
        pending = self.state.pop(ROW_HISTOGRAMS, None) or {}
        wandb = _wandb() if pending else None
        return {
            key: wandb.Histogram(np_histogram=_np_histogram(histogram))
            for key, histogram in pending.items()
        }

    def log_media(self, key: str, step: int, wall_time: float, media: Mapping[str, Any]) -> None:
        self._log_media(key, step, wall_time, lambda w: _wandb_media(key, step, media))

    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
        self._log_media(key, step, wall_time, lambda w: w.Html(_text_html(text), inject=False))

    def log_console(self, chunks: Sequence[tuple[float, str, str]]) -> None:
        if self._run.disabled:
            return
        from wandb.proto import wandb_internal_pb2 as pb

        interface = self._run._interface  # where wandb's own console capture writes
        for wall_time, stream, text in chunks:
            record = pb.OutputRawRecord(
                output_type=pb.OutputRawRecord.STDERR
                if stream == "stderr"
                else pb.OutputRawRecord.STDOUT,
                line=text,
            )
            record.timestamp.FromMicroseconds(int(wall_time * 1e6))
            interface._publish_output_raw(record, nowait=False)

    def close(self, status: str) -> None:
        if self._run is None:
            return
        if self.state.get(ROW_HISTOGRAMS):  # committed by run.finish in wandb
            self.log_row(self.state["wandb_next_step"], time.time(), {})
        run, self._run = self._run, None
        sync_file = None if run.disabled else Path(run.settings.sync_file)
        flushed = sync_file.stat().st_size if sync_file and sync_file.exists() else 0
        run.finish(exit_code=EXIT_CODES.get(status, 1))
        if sync_file is not None:
            wait_for_exit_record(sync_file, flushed, float(self.options.get("close_timeout", 60)))

    def describe(self) -> str:
        return self._where or self.name

    def _log_native(
        self,
        step: int,
        wall_time: float,
        row: dict[str, Any],
        early: Sequence[str],
        named_at: int | None = None,
    ) -> None:
        """The row as ``wandb.log`` calls build it. W&B names a media file after its own
        step counter at the call that logs it: media of the call that moved the step
        (``early``) go in a call with ``step=`` made at ``named_at``, the step before it
        (the previous row's when that row was still open in the original program, which
        W&B had not counted past), the rest in a call at the new step."""
        self._define_glob_matches(row)
        first = {key: row[key] for key in early if key in row}
        rest = {key: value for key, value in row.items() if key not in first}
        if not first and step == self._run.step:
            self._run.log({**row, "_timestamp": wall_time})
        else:
            if first and named_at is not None and hasattr(self._run, "_local_step"):
                self._run._local_step = named_at  # the counter run.log names files after
            self._run.log({**first, "_timestamp": wall_time}, step=step, commit=not rest)
            if rest:
                self._run.log(rest, commit=True)
        self.state["wandb_next_step"] = step + 1

    def _log(self, step: int, wall_time: float, values: dict[str, Any]) -> None:
        """A row at the next ``_step``, its own step in ``tracelet/step``."""
        self._define_step_metric(values)
        self._define_glob_matches(values)
        row = {STEP_KEY: step, "_timestamp": wall_time, **values}
        counter = self.state["wandb_next_step"]
        self._run.log(row, step=counter, commit=True)
        self.state["wandb_next_step"] = counter + 1

    def _define_step_metric(self, keys: Iterable[str]) -> None:
        """``tracelet/step`` as the step metric of each key, defined when first logged."""
        if not self.state.get("wandb_step_column"):
            self._run.define_metric(STEP_KEY, hidden=True)
            self.state["wandb_step_column"] = True
        defined = self.state.setdefault("wandb_step_keys", [])
        new = [key for key in keys if key not in self._step_keys]
        for key in new:
            self._run.define_metric(key, step_metric=STEP_KEY)
            self._step_keys.add(key)
            defined.append(key)

    @functools.cached_property
    def _step_keys(self) -> set[str]:
        return set(self.state.get("wandb_step_keys", []))

    def _log_media(
        self, key: str, step: int, wall_time: float, build: Callable[[Any], Any]
    ) -> None:
        problem = _key_problem(key)
        if problem:
            raise RefusedError(f"W&B: {problem}")
        try:
            media = build(_wandb())
        except (OSError, ValueError, TypeError) as error:
            raise RefusedError(f"W&B refused {key!r} at step {step}: {error}") from error
        self._log(int(step), float(wall_time), {key: media})

    def _apply_tags(self) -> None:
        tags = self.state["wandb_tags"]
        self._run.tags = [_tag_label(k, v) for k, v in tags.items() if k or v]
        self._run.config.update({TAGS_CONFIG_KEY: dict(tags)}, allow_val_change=True)


def _wandb_media(key: str, step: int, media: Mapping[str, Any]) -> Any:
    """The W&B media type for a :mod:`tracelet.media` descriptor, built from the same
    arguments the user gave (so W&B encodes it exactly as ``wandb.log`` would)."""
    from tracelet import media as kinds

    wandb = _wandb()
    kind = media["_type"]
    if kind == kinds.LIST:  # wandb.log of a list: W&B's images/separated for images
        return [_wandb_media(key, step, item) for item in media["items"]]
    try:
        if kind == kinds.IMAGE:
            pixels = kinds.load_pixels(dict(media))
            return wandb.Image(pixels, mode=media.get("mode"), caption=media.get("caption"))
        if kind == kinds.HISTOGRAM:  # binned as wandb.Histogram bins, when it was logged
            return wandb.Histogram(np_histogram=tuple(media["np_histogram"]))
        if kind == kinds.TABLE:
            return wandb.Table(columns=list(media["columns"]), data=list(media["data"]))
    except (OSError, ValueError, TypeError) as error:
        raise RefusedError(f"W&B refused {key!r} at step {step}: {error}") from error
    raise RefusedError(f"W&B: unknown media type {kind!r} ({key!r})")


def _tracking_settings(run: RunInfo) -> dict[str, Any]:
    """``wandb.Settings`` that make wandb record the *training* process: its program and
    git state (as ``wandb.init`` there would), and its resource use, sampled by wandb's
    own system monitor given the training process's pid."""
    settings: dict[str, Any] = {}
    program = run.source.get("program")
    if program and Path(program).is_file():
        settings["program"] = program
    git = run.git
    # tracelet's switches decide, not $WANDB_DISABLE_GIT / $WANDB_X_DISABLE_STATS
    settings["disable_git"] = not git
    if git:
        settings.update(git_commit=git["commit"], git_root=git["root"])
        if git.get("remote"):
            settings["git_remote_url"] = git["remote"]
    settings["x_disable_stats"] = not (run.track_system and run.pid)
    if not settings["x_disable_stats"]:
        settings.update(x_stats_pid=run.pid, x_stats_sampling_interval=run.system_interval)
    return settings


def _run_id(run) -> str | None:
    """tracelet's run id without the characters W&B refuses in an id."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", run.run_id).strip("-")
    return cleaned[:64] or None


def _describe_run(run) -> str:
    if run.disabled:
        return "wandb (disabled: nothing is stored)"
    if run.offline:
        return f"wandb offline run {run.id} in {run.settings.sync_dir} (upload: wandb sync DIR)"
    return f"wandb run {run.url or run.id}"


def _rows(
    points: Sequence[Point], refused: list[str]
) -> Iterator[tuple[int, float, dict[str, float]]]:
    """Group consecutive points of one step into rows; a repeated key starts a new row.

    A point W&B cannot store is left out and the reason appended to ``refused``.
    """
    current: dict[str, float] | None = None
    step = wall_time = None
    for point in points:
        reason = _key_problem(point.key)
        try:
            value = float(point.value)
        except (TypeError, ValueError):
            reason = reason or f"{point.key!r} has a non-numeric value"
        if reason:
            refused.append(reason)
            continue
        if current is None or point.step != step or point.key in current:
            if current:
                yield step, wall_time, current
            current, step, wall_time = {}, int(point.step), float(point.wall_time)
        current[point.key] = value
    if current:
        yield step, wall_time, current


def _key_problem(key: str) -> str | None:
    if not key:
        return "W&B refuses an empty key"
    if key in RESERVED_KEYS:
        return f"{key!r} is reserved ({', '.join(sorted(RESERVED_KEYS))})"
    return None


def _tag_label(key: str, value: str) -> str:
    label = tag_label(key, value)
    return label if len(label) <= MAX_TAG_LENGTH else label[: MAX_TAG_LENGTH - 1] + "…"


def _artifact_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "artifact"
    return cleaned[:128]


def _np_histogram(histogram: Mapping[str, Any]) -> tuple[list[float], list[float]]:
    """tracelet's histogram dict -> ``(counts, edges)``, merging buckets above W&B's 512."""
    counts = [float(c) for c in histogram["bucket_counts"]]
    edges = [float(histogram["min"]), *(float(x) for x in histogram["bucket_limits"])]
    if len(counts) > MAX_HISTOGRAM_BUCKETS:
        group = math.ceil(len(counts) / MAX_HISTOGRAM_BUCKETS)
        merged_edges = edges[::group]
        if len(counts) % group:
            merged_edges.append(edges[-1])
        counts = [sum(counts[i : i + group]) for i in range(0, len(counts), group)]
        edges = merged_edges
    return counts, edges


def _text_html(text: str) -> str:
    return f"{_TEXT_OPEN}{html.escape(text)}{_TEXT_CLOSE}"


def _html_text(document: str) -> str | None:
    """The text of an HTML panel written by :func:`_text_html`, else ``None``."""
    if document.startswith(_TEXT_OPEN) and document.endswith(_TEXT_CLOSE):
        return html.unescape(document[len(_TEXT_OPEN) : -len(_TEXT_CLOSE)])
    return None


# --- reading ------------------------------------------------------------------------

_INTERNAL_KEYS = frozenset({"_step", "_runtime", "_timestamp"})
_ADDED_COLUMNS = {
    STEP_KEY: "added by tracelet: the SummaryWriter step of the points logged through a "
    "SummaryWriter, log_metric or Lightning (W&B's _step counts rows there)"
}
_TB_SYNC_STEP = "added by W&B's TensorBoard sync: the TensorBoard step of the run's metrics"
_GLOB_STEP = 'the step metric of every key (define_metric("*", step_metric=...))'
_WANDB_INFRA_ARTIFACT_TYPES = frozenset({"run_table", "wandb-history", "job"})


def _system_rows(samples: list[tuple[float, dict[str, str]]]) -> list[tuple]:
    """System metrics as rows; the step is the sample's index in the run."""
    rows = []
    for index, (wall, items) in enumerate(samples):
        for key, raw in sorted(items.items()):
            value = _number(raw)
            if value is not None:
                rows.append((key, index, value, wall))
    return rows


class _Steps:
    """Which history key gives a metric's step: its ``define_metric``, else ``_step``."""

    def __init__(self, decoded: Decoded):
        self.exact: dict[str, str] = {}
        self.globs: list[tuple[str, str]] = []
        for metric in decoded.metrics:
            if metric.name and metric.step_metric:
                self.exact[metric.name] = metric.step_metric
            elif metric.glob_name and metric.step_metric:
                self.globs.append((metric.glob_name, metric.step_metric))
        self.default = TB_SYNC_STEP_KEY if decoded.tensorboard else "_step"
        # step columns a writer added for other metrics, not metrics of their own
        self.added = dict(_ADDED_COLUMNS)
        if decoded.tensorboard:
            self.added[TB_SYNC_STEP_KEY] = _TB_SYNC_STEP
        for glob, step in self.globs:  # Lightning's WandbLogger: trainer/global_step
            if glob == "*" and step not in self.added:
                self.added[step] = _GLOB_STEP
        self._cache: dict[str, str] = {}

    def key_for(self, key: str) -> str:
        step_key = self._cache.get(key)
        if step_key is None:
            step_key = self.exact.get(key) or next(
                (s for g, s in self.globs if fnmatch.fnmatchcase(key, g)), self.default
            )
            self._cache[key] = step_key
        return step_key


def _number(raw: str) -> float | None:
    try:
        return float(raw)
    except ValueError:
        value = json.loads(raw)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        return int(float(raw))


def _metric_columns(
    decoded: Decoded, notes: list[str], added: dict[str, int]
) -> tuple[list, list, list, list]:
    """The metrics of one file; the values of each added step column are counted in
    ``added`` instead."""
    steps_for = _Steps(decoded)
    keys: list[str] = []
    steps: list[int] = []
    values: list[float] = []
    walls: list[float] = []
    skipped: dict[str, int] = {}
    fallback: set[str] = set()
    hidden = steps_for.added
    for row in decoded.rows:
        wall = float(row.get("_timestamp", "nan"))
        for key, raw in sorted(row.items()):  # W&B stores a row's keys in no set order
            if type(raw) is not str or key in _INTERNAL_KEYS:
                continue
            if key in hidden:
                added[key] = added.get(key, 0) + 1
                continue
            step_key = steps_for.key_for(key)
            step_raw = row.get(step_key)
            if step_raw is None:
                fallback.add(key)
                step_raw = row.get("_step", "0")
            value = _number(raw)
            if value is None:
                skipped[key] = skipped.get(key, 0) + 1
                continue
            keys.append(key)
            steps.append(_integer(step_raw))
            values.append(value)
            walls.append(wall)
    for key, count in sorted(skipped.items()):
        notes.append(f"{key!r}: {count} non-numeric value(s) are not metrics (skipped)")
    for key in sorted(fallback):
        notes.append(f"{key!r}: some rows lack its step metric; used _step there")
    return keys, steps, values, walls


def _artifact_rows(decoded: Decoded, notes: list[str]) -> list[tuple[str, str, int, str]]:
    """Rows named as :func:`tracelet.tables.artifact_rows` names them.

    A tracelet file artifact is one row named after the artifact; every other entry is
    ``<artifact name>/<path in the artifact>``.
    """
    rows = []
    for artifact in decoded.artifacts:
        if artifact.type in _WANDB_INFRA_ARTIFACT_TYPES:
            continue
        metadata = json.loads(artifact.metadata) if artifact.metadata else {}
        ours = "tracelet_name" in metadata
        name = metadata["tracelet_name"] if ours else artifact.name
        hashes = (metadata.get("sha256") or {}) if ours else {}
        folder = f"{metadata['tracelet_entry']}/" if ours and "tracelet_entry" in metadata else ""
        for entry in artifact.manifest.contents:
            digest = hashes.get(entry.path)
            if digest is None and entry.local_path and Path(entry.local_path).is_file():
                digest = tables.file_sha256(entry.local_path)
            if digest is None:
                notes.append(f"artifact {name!r}: no local copy of {entry.path!r} (sha256 unknown)")
            inside = entry.path.removeprefix(folder)
            row_name = name if ours and metadata.get("tracelet_file") else f"{name}/{inside}"
            rows.append((row_name, entry.local_path, entry.size, digest or ""))
    return rows


def _run_file_rows(run_files: Mapping[str, Path], notes: list[str]) -> list[tuple]:
    """The files ``run.save`` kept, as artifact rows named by their path among the run
    files (how every tracker stores ``experiment.save``), read through W&B's links; the
    uncommitted diff W&B keeps as ``diff.patch`` is the run's origin, not a saved file."""
    rows = []
    for name, root in run_files.items():
        file = root / name
        if name == DIFF_FILE:
            continue
        if not file.is_file():
            notes.append(f"run file {name!r}: {file} is gone (sha256 unknown)")
            continue
        rows.append((name, str(file), file.stat().st_size, tables.file_sha256(file)))
    return rows


def _written_files(files: Path) -> list[str]:
    """The files a program wrote into ``run.dir`` (the run's ``files`` folder), which W&B
    uploads at the end of the run with no ``files`` record: every file there but those
    W&B writes itself (its config, summary, metadata, console, requirements, diffs, media,
    saved code)."""
    from wandb.sdk.lib import filenames

    own = {
        filenames.CONFIG_FNAME,
        filenames.OUTPUT_FNAME,
        filenames.DIFF_FNAME,
        filenames.SUMMARY_FNAME,
        filenames.METADATA_FNAME,
        filenames.REQUIREMENTS_FNAME,
        filenames.CONDA_ENVIRONMENTS_FNAME,
        filenames.HISTORY_FNAME,
        filenames.EVENTS_FNAME,
    }
    names = []
    for file in sorted(files.rglob("*")):
        name = file.relative_to(files).as_posix()
        if (
            not file.is_file()
            or name in own
            or name.startswith(("media/", "code/", "upstream_diff_"))
        ):
            continue
        names.append(name)
    return names


def _summary(decoded: Decoded) -> dict[str, Any]:
    """What ``run.summary`` was given, plus the ``define_metric`` aggregates; not the
    last value W&B keeps for every logged key."""
    summarised = [
        metric.name or metric.glob_name
        for metric in decoded.metrics
        if metric.summary.ListFields() and not metric.summary.none
    ]
    derived = {
        key: value
        for key, value in decoded.history_summary.items()
        if isinstance(value, dict) and any(summaries.matches(m, key) for m in summarised)
    }
    return {**decoded.summary, **derived}


def _tags(decoded: Decoded) -> dict[str, str]:
    exact = decoded.config.get(TAGS_CONFIG_KEY)
    if isinstance(exact, dict):
        return {str(k): str(v) for k, v in exact.items()}
    tags = {}
    for label in decoded.tags:
        key, _, value = label.partition(":")
        tags[key] = value
    return tags


def _run_files(path: Path, run: str | None) -> tuple[list[Path], list[str]]:
    """The ``.wandb`` file(s) to read for ``path``, oldest first, and notes about the choice."""
    if path.is_file():
        return [path], []
    own = sorted(path.glob("*.wandb"))
    if own:
        if len(own) > 1:
            raise ValueError(f"{path} holds several .wandb files: {[p.name for p in own]}")
        return own, []
    if (path / "wandb").is_dir() and not any(path.glob("*run-*")):
        path = path / "wandb"
    runs: dict[str, list[Path]] = {}
    for run_dir in sorted(p for p in path.glob("*run-*") if p.is_dir() and not p.is_symlink()):
        for sync_file in run_dir.glob("run-*.wandb"):
            runs.setdefault(sync_file.stem[len("run-") :], []).append(sync_file)
    if not runs:
        raise FileNotFoundError(f"no W&B run (run-*.wandb) under {path}")
    if run is None:
        latest = path / "latest-run"
        if latest.exists():
            run = next(latest.resolve().glob("run-*.wandb")).stem[len("run-") :]
        elif len(runs) == 1:
            run = next(iter(runs))
        else:
            raise ValueError(f"{path} holds several runs {sorted(runs)}: pass run=ID")
    if run not in runs:
        raise FileNotFoundError(f"no W&B run {run!r} under {path}; found {sorted(runs)}")
    files = sorted(runs[run], key=lambda p: _resume_order(p.parent.name, run))
    notes = []
    if len(files) > 1:
        dirs = ", ".join(p.parent.name for p in files)
        notes.append(f"run {run} was resumed: read {len(files)} run directories ({dirs})")
    return files, notes


def _resume_order(dirname: str, run_id: str) -> tuple[str, int]:
    """``offline-run-<time>-<id>[-<n>]`` sorts by time, then by W&B's ``-n`` suffix."""
    head, _, suffix = dirname.partition(f"-{run_id}")
    return head, int(suffix[1:]) if suffix[1:].isdigit() else 0


def read_run(path: str, run: str | None = None) -> tables.RunTables:
    """Read a W&B run from disk (no server) into tracelet's four tables.

    ``path`` is a run directory (``wandb/offline-run-*``), its ``.wandb`` file, or a
    ``wandb/`` directory (then ``run`` names the run id; default: ``latest-run``, or
    the only run). A run resumed into several offline directories is read as one.

    Example:
        ```python
        tables = read_run("wandb/latest-run")
        tables.metrics.head()
        ```
    """
    files, notes = _run_files(Path(path), run)
    keys, steps, values, walls = [], [], [], []
    config: dict[str, Any] = {}
    tags: dict[str, str] = {}
    summary: dict[str, Any] = {}
    artifacts = []
    run_files: dict[str, Path] = {}  # name -> the files folder of the run part that saved it
    system: list[tuple[float, dict[str, str]]] = []
    origin: dict[str, str] = {}
    history: list[dict[str, str]] = []
    step_columns: set[str] = set()
    synced = False
    added: dict[str, int] = {}
    media: list[tuple] = []
    for sync_file in files:
        decoded = decode(sync_file)
        history.extend(_history_cells(row) for row in decoded.rows)
        step_columns.update(_Steps(decoded).added)
        synced |= decoded.tensorboard
        system.extend(decoded.stats)
        origin.update(decoded.origin)
        notes.extend(f"{sync_file.name}: {note}" for note in decoded.notes)
        if decoded.exit_code is None:
            notes.append(f"{sync_file.name}: no exit record (the run crashed or is still running)")
        elif decoded.exit_code:
            notes.append(f"{sync_file.name}: exit code {decoded.exit_code}")
        columns = _metric_columns(decoded, notes, added)
        media.extend(_media_rows(decoded, sync_file.parent / "files", notes))
        for target, column in zip((keys, steps, values, walls), columns, strict=True):
            target.extend(column)
        config.update(decoded.config)
        summary.update(_summary(decoded))
        tags.update(_tags(decoded))
        artifacts.extend(_artifact_rows(decoded, notes))
        run_files.update(dict.fromkeys(decoded.saved_files, sync_file.parent / "files"))
        run_files.update(
            dict.fromkeys(_written_files(sync_file.parent / "files"), sync_file.parent / "files")
        )
    config.pop(TAGS_CONFIG_KEY, None)
    artifacts.extend(_run_file_rows(run_files, notes))
    metrics = tables.metrics_from_columns(keys, steps, values, walls)
    if synced:
        notes.append(TB_SYNC_NOTE)
    return tables.RunTables(
        metrics=metrics,
        params=tables.params_frame(tables.flatten_params(config)),
        tags=tables.tags_frame(tags),
        summary=tables.summary_frame(summary),
        artifacts=tables.artifacts_frame(artifacts),
        source=str(path),
        notes=notes,
        system=tables.metrics_frame(_system_rows(system)),
        origin=origin,
        history=_history_frame(history, step_columns),
        encodings=(FLOAT32_ENCODING,) if synced else (),
        added_columns={key: f"{_column_origin(key)} ({n} values)" for key, n in added.items()},
        media=tables.media_frame(media),
    )


def _column_origin(key: str) -> str:
    if key in _ADDED_COLUMNS:
        return _ADDED_COLUMNS[key]
    return _TB_SYNC_STEP if key == TB_SYNC_STEP_KEY else _GLOB_STEP


_CLOCK_KEYS = frozenset({"_runtime", "_timestamp"})
TB_SYNC_NOTE = (
    "written by W&B's TensorBoard sync: float32 values (TensorBoard's), one row per "
    "TensorBoard step numbered by global_step, only the last value of a key logged twice "
    "at one step, and add_text not in the history"
)


def _history_cells(row: dict[str, Any]) -> dict[str, str]:
    """One history row as text cells (a media value as its sorted JSON), clocks left out."""
    return {
        key: raw if type(raw) is str else json.dumps(raw, sort_keys=True)
        for key, raw in row.items()
        if key not in _CLOCK_KEYS
    }


def _history_frame(rows: list[dict[str, str]], step_columns: set[str]) -> pd.DataFrame:
    """The rows as a frame; ``attrs["step_columns"]`` names the hidden columns that number
    the rows for every metric (``define_metric("*", step_metric=...)``, the TensorBoard
    sync's ``global_step``)."""
    import pandas as pd

    columns = sorted({key for row in rows for key in row})
    frame = pd.DataFrame.from_records(rows, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    frame.attrs["step_columns"] = sorted(step_columns & set(columns))
    return frame


def read_media(path: str, run: str | None = None) -> pd.DataFrame:
    """Images, histograms and text panels of a W&B run, one row per logged item.

    Columns: ``key``, ``step``, ``kind`` (``image``, ``histogram``, ``html``, ``table``,
    ...), ``wall_time`` and ``value``: the absolute file path for files, the
    ``{"bins", "values"}`` dict for histograms, the text for tracelet's text panels.
    """
    import pandas as pd

    files, _ = _run_files(Path(path), run)
    records = []
    for sync_file in files:
        decoded = decode(sync_file)
        steps_for = _Steps(decoded)
        media_root = sync_file.parent / "files"
        for row in decoded.rows:
            wall = float(row.get("_timestamp", "nan"))
            for key, name, item in _row_media(row):
                step = row.get(steps_for.key_for(key)) or row.get("_step", "0")
                kind, value = _media_value(item, media_root)
                records.append((name, _integer(step), kind, wall, value))
    return pd.DataFrame.from_records(
        records, columns=["key", "step", "kind", "wall_time", "value"]
    ).astype({"step": "int64", "wall_time": "float64"})


def _media_rows(decoded: Decoded, media_root: Path, notes: list[str]) -> list[tuple]:
    """The media table rows of one file (see :mod:`tracelet.tables`)."""
    steps_for = _Steps(decoded)
    rows = []
    for row in decoded.rows:
        for key, name, item in _row_media(row):
            step = _integer(row.get(steps_for.key_for(key)) or row.get("_step", "0"))
            rows.append(_media_row(name, step, item, media_root, notes))
    return rows


def _row_media(row: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(key, name, info)`` of each media value of a history row. The items of a list are
    named ``key/0``, ``key/1``, ... as tracelet names them: W&B stores a list of images as
    one ``images/separated`` value with a file per image, other lists as JSON lists."""
    for key, raw in sorted(row.items()):
        if isinstance(raw, dict) and "_type" in raw:
            info = {k: json.loads(v) for k, v in raw.items()}
            if info["_type"] != SEPARATED_IMAGES:
                yield key, key, info
                continue
            for index, filename in enumerate(info.get("filenames") or []):
                yield key, f"{key}/{index}", {"_type": "image-file", "path": filename}
        elif isinstance(raw, str) and raw.startswith("[{"):
            values = json.loads(raw)
            if all(isinstance(v, dict) and "_type" in v for v in values):
                for index, info in enumerate(values):
                    yield key, f"{key}/{index}", info


def _media_row(
    key: str, step: int, info: dict[str, Any], media_root: Path, notes: list[str]
) -> tuple:
    kind = str(info["_type"]).removesuffix("-file")
    if kind == "histogram":
        content = tables.histogram_content(info.get("values", []), info.get("bins", [])[1:])
        return (key, step, kind, -1, "", content)
    path = media_root / info["path"] if info.get("path") else None
    if path is None or not path.is_file():
        notes.append(f"{key!r} at step {step}: no local copy of its {kind} file")
        return (key, step, kind, int(info.get("size", -1)), "", "")
    return tables.media_file_row(key, step, *_media_content(kind, path))


def _media_content(kind: str, path: Path) -> tuple[str, Path, str]:
    if kind == "image":
        return kind, path, tables.image_content(path)
    if kind == "table":
        stored = json.loads(path.read_text(encoding="utf-8"))
        return kind, path, tables.table_content(stored["columns"], stored["data"])
    if kind == "html":
        text = _html_text(path.read_text(encoding="utf-8"))
        if text is not None:
            return "text", path, text
    return kind, path, ""


def _media_value(info: dict[str, Any], media_root: Path) -> tuple[str, Any]:
    kind = str(info["_type"]).removesuffix("-file")
    if kind == "histogram":
        return kind, {"bins": info.get("bins"), "values": info.get("values")}
    file_path = media_root / info["path"] if info.get("path") else None
    if kind == "html" and file_path is not None and file_path.is_file():
        text = _html_text(file_path.read_text(encoding="utf-8"))
        if text is not None:
            return "text", text
    return kind, str(file_path) if file_path else info


# -- recognising stores, and validation ----------------------------------------------------
STORE_LABEL = "a W&B run"
STORE_HINT = "W&B run (.wandb file, run folder, wandb/ folder)"
MENTION = re.compile(rb"\bwandb\b")
ENCODINGS = ()


def claims_file(path: Path) -> bool:
    return path.suffix.lower() == ".wandb"


def is_store_folder(path: Path) -> bool:
    return any(path.glob("*.wandb"))


def holds_stores(path: Path) -> bool:
    return any(path.glob("*run-*/run-*.wandb")) or any(path.glob("wandb/*run-*/run-*.wandb"))


def delivered_location(
    state: Mapping[str, Any], options: Mapping[str, Any], cwd: str, environ: Mapping[str, str]
) -> str | None:
    """The ``wandb/`` folder the run went to (a ``dir=`` option wins over ``$WANDB_DIR``,
    as in W&B), with the W&B run id."""
    if not state.get("wandb_run_id"):
        return None
    folder = options.get("dir") or environ.get("WANDB_DIR") or "."
    root = Path(state.get("wandb_root") or Path(cwd, folder, "wandb").resolve())
    return f"{root}#{state['wandb_run_id']}" if root.is_dir() else None


def _sandbox_environ(root: Path) -> dict[str, str]:
    cache = str(root / "wandb-cache")
    return {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(root / "wandb"),
        "WANDB_CACHE_DIR": cache,
        "WANDB_CONFIG_DIR": str(root / "wandb-config"),
        "WANDB_DATA_DIR": cache,
        "WANDB_ARTIFACT_DIR": cache,
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_CONSOLE": "off",
        "WANDB_X_DISABLE_STATS": "true",
    }


def _prepare_sandbox(root: Path) -> None:
    for name in ("wandb", "wandb-cache", "wandb-config"):
        (root / name).mkdir(parents=True, exist_ok=True)


SANDBOX = SandboxLayout(
    prefixes=("WANDB_",),
    environ=_sandbox_environ,
    store=lambda root: str(root / "wandb" / "wandb"),
    prepare=_prepare_sandbox,
    local_stores=lambda folder: [(folder / "wandb", str(folder / "wandb"))],
    outputs=frozenset({"wandb"}),
)


def log_calls(keys: list[str], steps: list[int]) -> Iterator[list[int]]:
    """Row indices of each ``wandb.log(row, step=s)`` call of the direct writer: consecutive
    points of one step form a row; a key repeating within the step starts a new call."""
    call: list[int] = []
    seen: set[str] = set()
    for index, (key, step) in enumerate(zip(keys, steps, strict=True)):
        if call and (step != steps[call[0]] or key in seen):
            yield call
            call, seen = [], set()
        call.append(index)
        seen.add(key)
    if call:
        yield call


def _direct_kept(keys: list[str], steps: list[int]):
    """Simulate the direct writer's ``wandb.log(row, step=s)`` calls against W&B's rules."""
    import numpy as np

    kept = np.zeros(len(keys), dtype=bool)
    dropped = np.zeros(len(keys), dtype=bool)
    replaced = np.zeros(len(keys), dtype=bool)
    current = 0
    pending: dict[str, int] = {}
    for call in log_calls(keys, steps):
        step = steps[call[0]]
        if step < current:
            dropped[call] = True
            continue
        if step > current:
            kept[list(pending.values())] = True
            pending, current = {}, step
        for index in call:
            earlier = pending.get(keys[index])
            if earlier is not None:
                replaced[earlier] = True
            pending[keys[index]] = index
    kept[list(pending.values())] = True
    rules = []
    if dropped.any():
        rules.append(
            ImposedRule(
                "wandb-lower-step",
                "W&B drops wandb.log(..., step=s) when s is lower than the run's current "
                f"step; tracelet logs every point with the TensorBoard step in {STEP_KEY}, "
                "so the routed path keeps them",
                dropped,
            )
        )
    if replaced.any():
        rules.append(
            ImposedRule(
                "wandb-same-step",
                "W&B keeps one value per key and step: a key logged again at the same "
                "step replaces the earlier value (the earlier points are listed); tracelet "
                f"writes a repeated key as a new row with the same {STEP_KEY}",
                replaced,
            )
        )
    return kept, rules


def _kept_name(kind: str, key: str) -> str:
    if kind == "tag":
        return (
            f"tracelet writes the label cut to {MAX_TAG_LENGTH} characters and keeps the "
            f"exact tag in config[{TAGS_CONFIG_KEY!r}], which it reads back"
        )
    return "tracelet stores it as given"


def _write_direct(rows, params, tags, project: str, name: str) -> list[dict[str, Any]]:
    """``wandb.init(config=params, tags=[...])`` and one ``wandb.log`` per step."""
    wandb = _wandb()
    labels, refused = [], []
    for key, value in tags.items():
        label = tag_label(key, value)
        if 1 <= len(label) <= MAX_TAG_LENGTH:
            labels.append(label)
        else:  # wandb.init raises for the whole run
            message = (
                f"W&B run tags must be 1 to {MAX_TAG_LENGTH} characters, "
                f"{label[:20]!r}... has {len(label)}"
            )
            refused.append({"kind": "tag", "key": key, "message": message})
    run = wandb.init(
        project=project,
        name=name,
        config=dict(params),
        tags=labels or None,
        settings=wandb.Settings(console="off"),
    )
    keys = [row[0] for row in rows]
    steps = [row[1] for row in rows]
    for call in log_calls(keys, steps):
        run.log({keys[i]: rows[i][2] for i in call}, step=steps[call[0]])
    run.finish()
    return refused


REPLAY = DirectReplay(
    api="one wandb.log per step",
    write=_write_direct,
    direct=_direct_kept,
    kept_name=_kept_name,
)
