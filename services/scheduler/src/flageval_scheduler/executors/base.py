"""The interface every executor implements: turn one run attempt into a process or a GPU Job.

The scheduler owns run state; an executor only starts, watches, stops and reads the logs of
what it started. Each run attempt gets one *handle* (a string the executor chooses: a pid
record for ``local``, ``namespace/job-name`` for ``kubernetes``) that the scheduler stores,
so a restarted scheduler can ask about the same process or Job again.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum


class ExecutorError(Exception):
    """The executor could not do what was asked (the API refused, the process could not start).
    The scheduler treats it as a platform fault of this attempt."""


class ExecState(StrEnum):
    PENDING = "pending"  # accepted, not running yet (pod pending, waiting for GPUs/admission)
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # the process/Job ended with exit code 0
    FAILED = "failed"  # it ended otherwise (exit code, deadline exceeded, image pull…)
    PREEMPTED = "preempted"  # evicted or preempted by the cluster; the attempt may be resumed
    VANISHED = "vanished"  # the executor knows nothing of the handle (deleted, lost)


TERMINAL_STATES = frozenset(
    {ExecState.SUCCEEDED, ExecState.FAILED, ExecState.PREEMPTED, ExecState.VANISHED}
)


@dataclass(frozen=True)
class BundleFileUrl:
    """One bundle file the init step downloads (the URL is presigned and expires)."""

    path: str
    url: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class JobRequest:
    """Everything an executor needs to start one attempt of one run.

    The runner it starts gets only ``progress_url``, ``run_id``, ``attempt`` and
    ``progress_token`` (environment ``FLAGEVAL_PROGRESS_URL``, ``FLAGEVAL_RUN_ID``,
    ``FLAGEVAL_RUN_ATTEMPT``, ``FLAGEVAL_RUN_TOKEN``): never broker or database credentials.
    It fetches the rest (datasets, API key, bundle URLs) from the progress channel.
    ``bundle_token`` is narrower: it only reads the bundle's file list
    (``GET /api/runner/runs/{id}/bundle``), for a bundle fetch that runs apart from the runner
    (the Kubernetes init step, ``FLAGEVAL_BUNDLE_TOKEN``).
    """

    run_id: uuid.UUID
    attempt: int
    evaluation_id: uuid.UUID
    evaluation_name: str
    owner_id: uuid.UUID
    domain: str
    kind: str  # validation | formal
    priority: str  # high | medium | low
    deploy_mode: str  # private | api
    progress_url: str
    progress_token: str = field(repr=False)  # secrets stay out of logs and reprs
    bundle_token: str = field(default="", repr=False)
    image: str | None = None  # the user's image (private deployment)
    card_type: str | None = None
    gpus: int = 0
    bundle_files: tuple[BundleFileUrl, ...] = ()
    deadline_seconds: int = 24 * 3600


@dataclass(frozen=True)
class ExecEvent:
    """A change of what the executor sees for one handle."""

    run_id: uuid.UUID
    attempt: int
    handle: str
    state: ExecState
    message: str = ""
    exit_code: int | None = None
    details: dict[str, str] = field(default_factory=dict)


class Executor(abc.ABC):
    """Local processes or Kubernetes Jobs behind one interface."""

    name: str = "executor"

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Begin watching (called once when the scheduler starts)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop watching and release connections; what was started keeps running."""

    @abc.abstractmethod
    async def submit(self, job: JobRequest) -> str:
        """Start ``job``; return its handle. Idempotent for the same run and attempt: when the
        process/Job exists already (a retry after a crash, a 409 from the API) the existing
        one's handle is returned and nothing is started twice."""

    @abc.abstractmethod
    async def stop(self, handle: str) -> None:
        """Kill/delete what ``handle`` names. Idempotent: a handle already gone is fine."""

    @abc.abstractmethod
    async def state(self, handle: str) -> ExecEvent:
        """What ``handle`` is doing now (``VANISHED`` when the executor knows nothing of it).
        Used on scheduler start (re-adoption) and by the watchdog."""

    @abc.abstractmethod
    async def logs(self, handle: str, *, tail_lines: int | None = None) -> str | None:
        """The captured output of ``handle`` (every container for Kubernetes), or ``None`` when
        none can be had any more."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[ExecEvent]:
        """State changes as they happen, for every handle this executor started or adopted.
        Implementations reconnect a dropped watch themselves; a change may be reported more
        than once (consumers are idempotent)."""
