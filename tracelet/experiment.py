"""The run object and its lifecycle: ``start_logging``, ``stop_logging``, ``get_active_experiment``.

One run is active at a time in a process. Starting a second one stops the first
cleanly. The run's events go through the router (training side) into the journal,
and a delivery agent process delivers them to the trackers.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tracelet import lifecycle
from tracelet import router as _router
from tracelet import tracking as tracking_switches
from tracelet.agent.launch import AgentHandle
from tracelet.agent.stop_report import StopReport, collect_report
from tracelet.backends import ensure_installed, load_backend, normalize_backends
from tracelet.distributed import process_rank, resolve_mode
from tracelet.events import ARTIFACT, METRIC, PARAMS, TAGS, TEXT
from tracelet.gitstate import read_source
from tracelet.log_steps import WandbStyleLog
from tracelet.rundir import RunSpec, create_run_dir, write_spec
from tracelet.tables import flatten_params
from tracelet.values import json_safe, to_float, to_step

DEFAULT_BACKEND = "mlflow"
DEFAULT_PROJECT = "default"
DEFAULT_STOP_TIMEOUT = 120.0
ARTIFACTS_DIR = "artifacts"

_lock = threading.RLock()
_active: Experiment | None = None


class Experiment:
    """A tracelet run: where SummaryWriter calls go while it is active.

    Created by :func:`tracelet.start_logging`; use it to log what a SummaryWriter does not
    cover::

        experiment = tracelet.start_logging(exp_name="baseline", project="mnist",
                                            backend="mlflow")
        experiment.log_params({"lr": 0.01, "batch_size": 32})
        experiment.log_metric("val/acc", 0.91, step=100)
        experiment.log_artifact("model.pth")
        tracelet.stop_logging()

    It is also a context manager: leaving the block stops logging, with status FAILED
    if an exception escaped it.
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
            self._emit = self._router.emit
            self._agent = AgentHandle(self.run_dir, self._spec, delivery)
        self._wandb_log = WandbStyleLog(self._emit)

    # -- logging API -----------------------------------------------------------------
    def log_metric(self, key: str, value: Any, step: Any = None) -> None:
        """Log one scalar; ``step=None`` is step 0 (as in MLflow and TensorBoard)."""
        self._emit((METRIC, str(key), to_float(value), to_step(step), time.time()))

    def log_metrics(self, metrics: Mapping[str, Any], step: Any = None) -> None:
        """Log several scalars at one step."""
        step, wall_time = to_step(step), time.time()
        for key, value in metrics.items():
            self._emit((METRIC, str(key), to_float(value), step, wall_time))

    def log(self, data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
        """Log a dict with ``wandb.log``'s step semantics (see :mod:`tracelet.log_steps`)."""
        self._wandb_log.log(data, step=step, commit=commit)

    def log_params(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        """Record parameters (nested dicts flattened with ``/``); returns ``params``.

        Accepts a dict, an ``argparse.Namespace`` or any object with ``__dict__``.
        """
        mapping = _as_mapping(params)
        flat = {k: json_safe(v) for k, v in flatten_params(mapping).items()}
        if flat:
            self._emit((PARAMS, flat))
        return params

    def log_param(self, key: str, value: Any) -> Any:
        self.log_params({key: value})
        return value

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set run tags (string values)."""
        clean = {str(k): str(json_safe(v)) for k, v in _as_mapping(tags).items()}
        if clean:
            self._emit((TAGS, clean))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def log_artifact(self, path: str | os.PathLike, name: str | None = None) -> None:
        """Store a file or a folder with the run under ``name`` (default: its own name).

        The file is captured now (copied into the run folder), so it may
        be changed or deleted afterwards.
        """
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"log_artifact: {source} does not exist")
        name = name or source.resolve().name
        if self._router is None:
            return
        snapshot = _snapshot(source, self.run_dir / ARTIFACTS_DIR / f"{time.time_ns()}")
        self._emit((ARTIFACT, name, str(snapshot)))

    def log_text(self, key: str, text: str, step: Any = None) -> None:
        self._emit((TEXT, str(key), to_step(step), time.time(), str(text)))

    # -- lifecycle -------------------------------------------------------------------
    def flush(self) -> None:
        """Write what is queued to the journal now (normally the flusher does this)."""
        if self._router is not None:
            self._router.flush()

    def stop(self, status: str = "FINISHED", timeout: float | None = None) -> StopReport:
        """Flush, let the agent deliver within ``timeout`` seconds, and close."""
        global _active
        with _lock:
            if self._stopped:
                return self.report
            self._stopped = True
            if _active is self:
                _active = None
                _router.activate(None)
                _uninstall_capture()
        if self._router is None:
            self.report = StopReport(self.run_dir, [])
            return self.report
        timeout = self.stop_timeout if timeout is None else timeout
        deadline = time.time() + timeout
        self._wandb_log.finish()
        self._router.close(status, deadline)
        self._agent.wait_for_delivery(deadline)
        self.report = collect_report(self.run_dir, self.backends)
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
    system_interval: float | None = None,
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
        backend_options: per-backend options, e.g. ``{"wandb": {"entity": "me"}}``.
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
            :mod:`tracelet.distributed`).
        track_system: sample CPU, memory, disk, network and GPU use of this process
            every ``system_interval`` seconds (default 10, ``$TRACELET_SYSTEM_INTERVAL``)
            in the delivery agent and record it under each tracker's own names.
        track_git: record the program, the user and the git state (commit, branch,
            remote without credentials, the uncommitted diff when dirty).
            Both switches may also be given in ``config`` (then they are not params) or
            as ``$TRACELET_TRACK_SYSTEM`` / ``$TRACELET_TRACK_GIT``; left unset, each
            backend does what its tracker does by default (see :mod:`tracelet.tracking`).

    Example::

        import tracelet
        from torch.utils.tensorboard import SummaryWriter

        tracelet.start_logging(exp_name="baseline", project="mnist", backend="mlflow")
        writer = SummaryWriter()
        writer.add_scalar("loss", 0.5, 1)
        tracelet.stop_logging()
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
        options[name] = load_backend(name).pin_options(options[name], os.getcwd())
    params, switches = tracking_switches.pop_switches(_as_mapping(config) if config else None)
    tracking = _tracking(backends, track_system, track_git, switches)
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


def stop_logging(timeout: float | None = None, status: str = "FINISHED") -> StopReport | None:
    """Flush, wait (at most ``timeout`` s) for delivery, close the run, remove the patches.

    Returns a :class:`StopReport` (None when no run is active). Anything that could not
    be delivered in time stays in the run's journal; a warning says so and names the
    ``tracelet sync`` command that delivers it later.
    """
    experiment = _active
    if experiment is None:
        return None
    return experiment.stop(status=status, timeout=timeout)


def get_active_experiment() -> Experiment | None:
    """The running :class:`Experiment`, or None."""
    return _active


def log(data: Mapping[str, Any], step: Any = None, commit: bool | None = None) -> None:
    """``wandb.log``-compatible logging on the active run (see :mod:`tracelet.log_steps`)."""
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
    from_config: Mapping[str, Any],
) -> dict[str, dict[str, bool]]:
    system = tracking_switches.resolve("track_system", track_system, from_config)
    git = tracking_switches.resolve("track_git", track_git, from_config)
    tracking = {}
    for name in backends:
        backend = load_backend(name)
        tracking[name] = {
            "system": backend.tracks_system_by_default if system is None else system,
            "git": backend.tracks_git_by_default if git is None else git,
        }
    return tracking


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


def _snapshot(source: Path, target: Path) -> Path:
    # A copy, not a hard link: torch.save rewrites a checkpoint in place, which would
    # change a linked snapshot before the agent delivers it.
    target.mkdir(parents=True)
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
