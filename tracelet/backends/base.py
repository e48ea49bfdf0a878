"""The backend protocol: what the delivery agent asks of each tracker.

A backend lives in the delivery agent process (never on the training thread). Its
module owns everything about its tracker: writing (a :class:`Backend` subclass), reading
a stored run back into :class:`tracelet.tables.RunTables` (a module-level ``read_run``)
and what the readers and validators ask of it (see :mod:`tracelet.backends.registry`).
Media (images, histograms, text) is optional: the default methods refuse it.

Error contract, relied on by :mod:`tracelet.agent.delivery`:

* raise :class:`RefusedError` when the tracker rejects *this data* for good (an
  invalid key, a param that may not change). The event is reported and skipped.
* raise :class:`BackendUnavailable` from ``open()`` when the tracker cannot be used
  until the user changes something (no credentials, no configuration, a refused login,
  an unknown host). Delivery to that backend stops at once and the message is shown.
* any other exception is treated as transient (network, server down): the same batch
  is retried with backoff, and nothing after it is delivered out of order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from tracelet.events import Point, SystemSample


class RefusedError(Exception):
    """The tracker refused this data permanently; retrying cannot help.

    ``count`` says how many of the items passed to the call were refused (default: all
    of them); a backend that delivered the rest of a batch says how many it could not.
    """

    def __init__(self, message: str, count: int | None = None):
        super().__init__(message)
        self.count = count


class BackendUnavailable(Exception):
    """The tracker cannot be reached or used as configured, and retrying cannot heal it.

    The message says what to change, e.g. "W&B has no API key: run `wandb login`".
    """


def probe_url(url: str, timeout: float = 1.0) -> bool | None:
    """Whether an ``http(s)://`` URL's host accepts a TCP connection on its port; None
    for any other kind of location."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def unknown_host(error: BaseException) -> str | None:
    """The host name a failed connection could not resolve at all (not a temporary DNS
    failure), found anywhere in the exception's chain; None otherwise."""
    import socket

    permanent = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, socket.gaierror) and error.errno in permanent:
            return getattr(error, "host", None) or str(error)
        error = error.__cause__ or error.__context__
    return None


class BackendNotInstalled(ImportError):
    """The tracker's client library is missing; the message names the pip extra."""


@dataclass(frozen=True)
class RunInfo:
    """What every backend knows about the run it writes."""

    run_id: str
    exp_name: str
    project: str
    run_dir: str
    created: float
    options: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    track_system: bool = False
    track_git: bool = False
    track_console: bool = False
    system_interval: float = 10.0
    pid: int = 0  # the training process

    @property
    def git(self) -> Mapping[str, Any] | None:
        """The git state to record (see :mod:`tracelet.gitstate`), or None."""
        return self.source.get("git") if self.track_git else None


class Backend(ABC):
    """One tracker, written from the delivery agent.

    ``state`` is persisted between the live agent and a later ``tracelet sync`` (for
    example the tracker's own run id), so a resumed delivery writes into the same run.
    """

    name: ClassVar[str]
    #: What the tracker's own users get by default (see :mod:`tracelet.tracking`).
    tracks_system_by_default: ClassVar[bool] = False
    tracks_git_by_default: ClassVar[bool] = False
    tracks_console_by_default: ClassVar[bool] = False
    #: The tracker samples the training process itself (given its pid), so the agent's
    #: sampler does not call :meth:`log_system_metrics`.
    samples_system_itself: ClassVar[bool] = False
    #: The tracker computes ``define_metric`` summaries from the history itself (W&B);
    #: for the others the delivery engine computes them (:mod:`tracelet.summaries`).
    computes_metric_summaries: ClassVar[bool] = False
    #: The tracker keeps parameter sections (ClearML): :meth:`log_params` then takes
    #: ``section`` and ``typed`` (``{key: [type, string]}`` for tuple and Enum values,
    #: :func:`tracelet.parameters.typed_hints`); the others receive keys as ``section/key``.
    keeps_param_sections: ClassVar[bool] = False
    #: The tracker serialises an object artifact itself (ClearML): ``log_artifact``'s
    #: ``info`` then holds :data:`OBJECT_INFO`, the name the object was given and its
    #: pickle, beside the file tracelet wrote for every tracker.
    serialises_objects: ClassVar[bool] = False

    def __init__(self, run: RunInfo, options: Mapping[str, Any], state: dict[str, Any]):
        self.run = run
        self.options = dict(options)
        self.state = state

    @classmethod
    def pin_options(cls, options: dict[str, Any], cwd: str) -> dict[str, Any]:
        """Fix what the options leave to the working directory or the environment.

        Called by ``start_logging`` in the training process (so it must not import the
        tracker); the delivery agent, or a ``tracelet sync`` started from another folder,
        then writes exactly where the training process would have.
        """
        return options

    @classmethod
    def probe(cls, options: Mapping[str, Any]) -> bool | None:
        """Whether the tracker accepts connections now: True, False, or None when it
        cannot tell (the default).

        Called by ``stop_logging`` in the training process for a tracker whose run is not
        open yet (so it must not import the tracker and must return within a second):
        a refused connection means the stop need not wait for the agent's next attempt.
        """
        return None

    @abstractmethod
    def open(self) -> None:
        """Create the tracker run, or resume the one named in ``self.state``."""

    @abstractmethod
    def log_metrics(self, points: Sequence[Point]) -> None:
        """Deliver scalar points, in the order given."""

    def replay(self, points: Sequence[Point]) -> None:
        """Points delivered by an earlier process (the live agent before a ``tracelet
        sync``), in the calls they were delivered in; nothing is sent. A backend whose
        encoding of a point depends on the points before it rebuilds that here, so a
        resumed delivery sends exactly the rows the first try would have."""
        return None

    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def set_tags(self, tags: Mapping[str, str]) -> None: ...

    @abstractmethod
    def log_artifact(self, name: str, path: str, info: Mapping[str, Any] | None = None) -> None:
        """Store a file or a folder under ``name``; ``info`` holds the ``type``,
        ``metadata`` and ``aliases`` given to ``log_artifact`` (see :mod:`tracelet.events`)."""

    def save_file(self, name: str, path: str, policy: str) -> None:
        """Keep a run file (``experiment.save``) under ``name``, its path among the run
        files; saved again, it replaces the earlier one. By default an artifact of that
        name (MLflow: a run artifact at that path; ClearML: an artifact of that name)."""
        self.log_artifact(name, path)

    def log_model(self, name: str, path: str, info: Mapping[str, Any]) -> None:
        """Store a model: by default its portable file, as an artifact of type ``model``
        named like the file (``model.pt``)."""
        self.log_artifact(Path(path).name, path, {"type": "model"})

    def link_model_metrics(  # noqa: B027 (optional)
        self, model_path: str, points: Sequence[Sequence[Any]]
    ) -> None:
        """Make the run's delivered points ``[key, step]`` also metrics of the model logged
        from ``model_path``; a tracker without model metrics keeps them as run points only."""

    def set_summary(self, values: Mapping[str, Any], removed: Sequence[str]) -> None:
        """Set summary values (JSON values, nested dicts possible) and delete ``removed``
        keys; a tracker without a place for them keeps this refusal."""
        raise RefusedError(f"the {self.name} backend does not store summary values")

    def define_metric(  # noqa: B027 (optional)
        self, name: str, step_metric: str | None, summary: Sequence[str] | None
    ) -> None:
        """``define_metric`` for a tracker that has it (W&B); the others need nothing."""

    def log_row(
        self,
        step: int,
        wall_time: float,
        values: Mapping[str, Any],
        early: Sequence[str] = (),
        named_at: int | None = None,
        own_step: bool = False,
    ) -> None:
        """One committed ``tracelet.log`` row (``wandb.log``'s unit). By default its
        scalars are one :meth:`log_metrics` call and its media go to :meth:`log_media`;
        a tracker with rows of its own (W&B) stores the row as it is (``early``,
        ``named_at`` and ``own_step``, a step of the program's own: see
        :mod:`tracelet.events`)."""
        points = row_points(step, wall_time, values)
        if points:
            self.log_metrics(points)
        for key, value in values.items():
            if isinstance(value, Mapping):
                self.log_media(key, step, wall_time, value)

    def log_media(self, key: str, step: int, wall_time: float, media: Mapping[str, Any]) -> None:
        """A media value (a :mod:`tracelet.media` descriptor, files as absolute paths).
        By default an image goes to :meth:`log_image` as a PNG, a histogram to
        :meth:`log_histogram` and a table to :meth:`log_table`; the items of a list go
        one by one under ``key/0``, ``key/1``, ... (as ``experiment.log_images`` names them)."""
        from tracelet import media as kinds

        kind = media["_type"]
        if kind == kinds.LIST:
            for suffix, item in kinds.items_of(dict(media)):
                self.log_media(f"{key}{suffix}", step, wall_time, item)
        elif kind == kinds.IMAGE:
            self.log_image(key, step, wall_time, kinds.png_file(dict(media)))
        elif kind == kinds.HISTOGRAM:
            self.log_histogram(key, step, wall_time, kinds.histogram_dict(dict(media)))
        elif kind == kinds.TABLE:
            self.log_table(key, step, wall_time, list(media["columns"]), list(media["data"]))
        else:
            raise RefusedError(f"unknown media type {kind!r} ({key!r})")

    def log_table(
        self, key: str, step: int, wall_time: float, columns: list[str], data: list[list[Any]]
    ) -> None:
        """Store a table (cells are JSON values)."""
        self._refuse_media("table", key)

    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None:
        """Store a PNG image; a tracker without images keeps this refusal."""
        self._refuse_media("image", key)

    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        """Store a histogram (``bucket_limits``, ``bucket_counts``, ...)."""
        self._refuse_media("histogram", key)

    def log_row_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None:
        """Store a histogram logged while a ``tracelet.log`` row was pending
        (``experiment.watch``): a tracker whose history is rows adds it to the next
        committed row, as ``wandb.watch`` does; by default it is :meth:`log_histogram`'s."""
        self.log_histogram(key, step, wall_time, histogram)

    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None:
        self._refuse_media("text", key)

    def _refuse_media(self, kind: str, key: str) -> None:
        raise RefusedError(f"the {self.name} backend does not store {kind}s ({key!r})")

    @abstractmethod
    def close(self, status: str) -> None:
        """Finish the tracker run with FINISHED, FAILED or KILLED."""

    def log_system_metrics(self, sample: SystemSample) -> None:  # noqa: B027 (optional)
        """Deliver one system-metrics sample under the tracker's own names (default:
        the tracker has no place for them, they are not recorded)."""

    def log_console(self, chunks: Sequence[tuple[float, str, str]]) -> None:  # noqa: B027
        """Deliver the training process's console, ``(wall_time, "stdout"|"stderr",
        text)`` chunks in order, once, when the run ends (default: the tracker has no
        console view, nothing is recorded)."""

    def describe(self) -> str:
        """A short human description of where the data went (shown at stop)."""
        return self.name

    def run_ref(self) -> tuple[str, str]:
        """The open run's id in the tracker, and its URL (a local path or store location
        for an offline store); read by ``Experiment.ids`` / ``Experiment.urls``."""
        return "", ""


def row_points(step: int, wall_time: float, values: Mapping[str, Any]) -> list[Point]:
    """The scalar values of a row as float points, in the row's order."""
    return [
        Point(k, float(v), step, wall_time) for k, v in values.items() if not isinstance(v, Mapping)
    ]


OBJECT_INFO = "object"
#: ``log_artifact``'s ``info`` key of a configuration (``Experiment.log_configuration``):
#: ``{"name": str, "description": str, "document": True, "pickle": path}``
#: (``description`` when given; ``document`` for a dict or list, written as JSON, and
#: ``pickle``, the object itself, when it pickles). ClearML connects it as a
#: configuration object; the others store the file.
CONFIGURATION_INFO = "configuration"
#: ``log_artifact``'s ``info`` key of a registered DataFrame
#: (``Experiment.register_artifact``): ``{"name": str, "pickle": path}``, the frame with
#: its index as it was at the stop; the file is the frame without its index (``.csv``).
REGISTERED_INFO = "registered"
#: the ``info`` keys only a tracker that reads them uses (not artifact metadata)
TRACKER_INFO = (OBJECT_INFO, CONFIGURATION_INFO, REGISTERED_INFO)


def existing_file(path: str, what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path`, refused (:class:`RefusedError`) when missing."""
    source = Path(path)
    if not source.exists():
        raise RefusedError(f"{what} file {path} does not exist")
    return source


def tag_label(key: str, value: str) -> str:
    """A tag as a tracker's single-string label: ``key:value``, or ``key`` without a value."""
    return f"{key}:{value}" if value else key
