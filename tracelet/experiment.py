"""The run object and its lifecycle: ``start_logging``, ``stop_logging``, ``get_active_experiment``.

One run is active at a time in a process. Starting a second one stops the first
cleanly. The run's events go through the router (training side) into the journal,
and a delivery agent process delivers them to the trackers.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelet import router as _router
from tracelet.backends import ensure_installed, load_backend, normalize_backends
from tracelet.delivery import DeliveryState, pending_events
from tracelet.distributed import process_rank, resolve_mode
from tracelet.events import ARTIFACT, METRIC, PARAMS, TAGS, TEXT
from tracelet.rundir import AGENT_LOG, RunSpec, create_run_dir
from tracelet.tables import flatten_params
from tracelet.values import json_safe, to_float, to_step
from tracelet.wandb_compat import WandbStyleLog

DEFAULT_BACKEND = "mlflow"
DEFAULT_PROJECT = "default"
DEFAULT_STOP_TIMEOUT = 120.0
ARTIFACTS_DIR = "artifacts"
# The agent is not a rank of the training job: trackers that read these (ClearML joins
# the task of TORCHELASTIC_RUN_ID) must not see them.
LAUNCHER_VARIABLES = frozenset(
    {
        "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
        "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
        "TORCHELASTIC_ERROR_FILE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
    }
)  # fmt: skip

_lock = threading.RLock()
_active: Experiment | None = None


@dataclass
class BackendReport:
    """How delivery to one backend ended; ``tracker`` holds the tracker's own ids
    (MLflow ``run_id``, W&B run id, ClearML task id)."""

    backend: str
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    status: str | None = None
    location: str = ""
    tracker: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and self.status is not None


@dataclass
class StopReport:
    """What ``stop_logging`` returns: per backend, what arrived and what did not."""

    run_dir: Path | None
    backends: list[BackendReport]

    @property
    def complete(self) -> bool:
        return all(b.complete for b in self.backends)

    def summary(self) -> str:
        lines = []
        for b in self.backends:
            points = b.delivered.get("metrics", 0)
            state = "complete" if b.complete else f"{b.pending} events NOT delivered"
            where = f" -> {b.location}" if b.location else ""
            lines.append(f"{b.backend}: {points} points, {state}{where}")
            if b.refused:
                lines.append(f"  refused by the tracker: {b.refused} ({'; '.join(b.errors[-2:])})")
            elif not b.complete and b.errors:
                lines.append(f"  last error: {b.errors[-1]}")
        if not self.complete:
            lines.append(
                f"Undelivered events are kept in {self.run_dir}; deliver them with: "
                f"tracelet sync {self.run_dir}"
            )
        return "\n".join(lines)


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
    ):
        self.name = exp_name
        self.project = project
        self.backends = backends
        self.stop_timeout = stop_timeout
        self._spec = RunSpec.new(exp_name, project, backends, backend_options)
        self.run_id = self._spec.run_id
        self._delivery = delivery
        self._agent: subprocess.Popen | None = None
        self._agent_thread: threading.Thread | None = None
        self._stopped = False
        self.report: StopReport | None = None
        if delivery == "off":  # a non-zero rank: every call is a no-op
            self.run_dir = None
            self._router = None
            self._emit = _router.discard
        else:
            self.run_dir = create_run_dir(self._spec)
            self._router = _router.Router(self.run_dir, self.run_id, flush_interval)
            self._emit = self._router.emit
        self._wandb_log = WandbStyleLog(self._emit)
        self._start_delivery()

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
        """Log a dict with ``wandb.log``'s step semantics (see :mod:`tracelet.wandb_compat`)."""
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

        The file is captured now (hard-linked or copied into the run folder), so it may
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
        self._wait_for_delivery(deadline)
        self.report = self._collect_report()
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
    def _start_delivery(self) -> None:
        if self._delivery == "thread":
            self._start_agent_thread()
        elif self._delivery == "process":
            self._start_agent_process()
        elif self._delivery != "off":
            raise ValueError(f"delivery must be 'process' or 'thread', got {self._delivery!r}")

    def _start_agent_process(self) -> None:
        notify_fd = os.dup(sys.stderr.fileno()) if _has_fileno(sys.stderr) else None
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "tracelet.agent", str(self.run_dir)]
        cmd += ["--parent-pid", str(os.getpid())]
        if notify_fd is not None:
            cmd += ["--notify-fd", str(notify_fd)]
        with open(self.run_dir / AGENT_LOG, "ab") as log_file:
            self._agent = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(notify_fd,) if notify_fd is not None else (),
                start_new_session=True,
                env=env,
            )
        if notify_fd is not None:
            os.close(notify_fd)

    def _start_agent_thread(self) -> None:
        from tracelet.agent import Agent

        def notify(message: str) -> None:
            print(f"tracelet: {message}", file=sys.stderr)

        agent = Agent(self.run_dir, self._spec, notify, writer_alive=lambda: True)
        self._agent_thread = threading.Thread(target=agent.run, name="tracelet-agent", daemon=True)
        self._agent_thread.start()

    def _wait_for_delivery(self, deadline: float) -> None:
        """Return as soon as every backend has its end marker (the agent then exits on
        its own), or when the agent is gone, or shortly after the deadline."""
        grace = 5.0  # the agent itself stops at the deadline; let it save its cursors
        while time.time() < deadline + grace:
            if all(DeliveryState.load(self.run_dir, name).done for name in self.backends):
                break
            if not self._agent_running():
                break
            time.sleep(0.02)
        else:
            if self._agent is not None and self._agent.poll() is None:
                self._agent.kill()
        if self._agent is not None:  # reap it in the background: no zombie, no wait
            threading.Thread(target=self._agent.wait, name="tracelet-reaper", daemon=True).start()

    def _agent_running(self) -> bool:
        if self._agent is not None:
            return self._agent.poll() is None
        return self._agent_thread is not None and self._agent_thread.is_alive()

    def _collect_report(self) -> StopReport:
        reports = []
        for name in self.backends:
            state = DeliveryState.load(self.run_dir, name)
            reports.append(
                BackendReport(
                    backend=name,
                    delivered=dict(state.delivered),
                    pending=pending_events(self.run_dir, state),
                    refused=dict(state.refused),
                    errors=list(state.errors),
                    status=state.status,
                    location=state.location,
                    tracker=dict(state.tracker),
                )
            )
        return StopReport(self.run_dir, reports)


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
        )
        _active = experiment
        _router.activate(experiment._router)
        if capture:
            _install_capture()
        _install_exit_hooks()
    if config:
        experiment.log_params(config)
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
    """``wandb.log``-compatible logging on the active run (see :mod:`tracelet.wandb_compat`)."""
    experiment = _active
    if experiment is None:
        raise RuntimeError(
            "tracelet.log() needs an active run: call tracelet.start_logging() first"
        )
    experiment.log(data, step=step, commit=commit)


# -- helpers ---------------------------------------------------------------------------
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
    target.mkdir(parents=True)
    destination = target / source.resolve().name

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        shutil.copytree(source, destination, copy_function=link_or_copy)
    else:
        link_or_copy(str(source), str(destination))
    return destination


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


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


# -- process exit, crashes and signals -----------------------------------------------------
_hooks_installed = False
_crash_status: str | None = None
_previous_excepthook = sys.excepthook


def _excepthook(exc_type, exc, tb) -> None:
    global _crash_status
    _crash_status = "KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED"
    _previous_excepthook(exc_type, exc, tb)


def _at_exit() -> None:
    experiment = _active
    if experiment is not None:
        experiment.stop(status=_crash_status or "FINISHED")


def _on_sigterm(signum, frame) -> None:
    experiment = _active
    if experiment is not None:
        experiment.stop(status="KILLED", timeout=min(experiment.stop_timeout, 10.0))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_exit_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    _previous_excepthook = sys.excepthook
    sys.excepthook = _excepthook
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def _after_fork_in_child() -> None:
    global _active
    if _active is not None and _active._router is not None:
        _active._router.after_fork_in_child()
        _active._emit = _active._router.emit
        _active._stopped = True
        _active = None


os.register_at_fork(after_in_child=_after_fork_in_child)
