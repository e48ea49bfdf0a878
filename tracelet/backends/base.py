"""The backend protocol: what the delivery agent asks of each tracker.

A backend lives in the delivery agent process (never on the training thread). It owns
both directions for its tracker: writing (a :class:`Backend` subclass) and reading a
stored run back into :class:`tracelet.tables.RunTables` (a module-level ``read_run``).

Error contract, relied on by :mod:`tracelet.agent.delivery`:

* raise :class:`RefusedError` when the tracker rejects *this data* for good (an
  invalid key, a param that may not change). The event is reported and skipped.
* any other exception is treated as transient (network, server down): the same batch
  is retried with backoff, and nothing after it is delivered out of order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tracelet.events import Point


class RefusedError(Exception):
    """The tracker refused this data permanently; retrying cannot help.

    ``count`` says how many of the items passed to the call were refused (default: all
    of them); a backend that delivered the rest of a batch says how many it could not.
    """

    def __init__(self, message: str, count: int | None = None):
        super().__init__(message)
        self.count = count


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


class Backend(ABC):
    """One tracker, written from the delivery agent.

    ``state`` is persisted between the live agent and a later ``tracelet sync`` (for
    example the tracker's own run id), so a resumed delivery writes into the same run.
    """

    name: ClassVar[str]

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
    def log_artifact(self, name: str, path: str) -> None:
        """Store a file or a folder under ``name``."""

    @abstractmethod
    def log_image(self, key: str, step: int, wall_time: float, png_path: str) -> None: ...

    @abstractmethod
    def log_histogram(
        self, key: str, step: int, wall_time: float, histogram: Mapping[str, Any]
    ) -> None: ...

    @abstractmethod
    def log_text(self, key: str, step: int, wall_time: float, text: str) -> None: ...

    @abstractmethod
    def close(self, status: str) -> None:
        """Finish the tracker run with FINISHED, FAILED or KILLED."""

    def describe(self) -> str:
        """A short human description of where the data went (shown at stop)."""
        return self.name
