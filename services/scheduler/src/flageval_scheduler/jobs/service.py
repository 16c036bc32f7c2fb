"""The scheduler's run lifecycle: queue → executor → runner reports → terminal state.

Every change of a job is one transaction that also enqueues what eval-api must hear
(``run.status_changed``, ``run.progress``) in the outbox, and gives back the quota when the
platform is at fault. Handlers are idempotent: a report applied twice changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope, new_envelope
from flageval_contracts.enums import FailureCause, RunStatus
from flageval_contracts.events import (
    DatasetResult,
    RunProgress,
    RunRequested,
    RunStatusChanged,
    RunStopRequested,
    SampleRow,
)
from flageval_platform.errors import Conflict
from flageval_platform.logging import get_correlation_id
from flageval_platform.outbox import Messaging
from flageval_scheduler.jobs.models import Job, JobLogBatch
from flageval_scheduler.quota import service as quota
from flageval_scheduler.quota.service import RefundReason

log = logging.getLogger(__name__)

PRODUCER = "scheduler"
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
QUEUED, STARTING, RUNNING = "queued", "starting", "running"
SUCCEEDED, FAILED, STOPPED = "succeeded", "failed", "stopped"
ACTIVE = (STARTING, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, STOPPED)
DATASET_FINAL = ("succeeded", "failed", "skipped")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# -- per-run tokens ------------------------------------------------------------------------------


def _attempt_token(secret_key: str, purpose: bytes, run_id: uuid.UUID, attempt: int) -> str:
    """An HMAC of one attempt of one run under a key derived for ``purpose``: nothing to store,
    the next attempt's token differs, and a token of one purpose never passes for another."""
    key = hashlib.sha256(purpose + b":" + secret_key.encode()).digest()
    return (
        base64.urlsafe_b64encode(
            hmac.new(key, f"{run_id}:{attempt}".encode(), hashlib.sha256).digest()
        )
        .rstrip(b"=")
        .decode()
    )


def progress_token(secret_key: str, run_id: uuid.UUID, attempt: int) -> str:
    """The token one attempt of one run reports with (a superseded runner is refused)."""
    return "rt_" + _attempt_token(secret_key, b"flageval-progress", run_id, attempt)


def bundle_token(secret_key: str, run_id: uuid.UUID, attempt: int) -> str:
    """The narrower token of one attempt's bundle fetch (the Kubernetes init step): it reads the
    bundle's file list and nothing else."""
    return "bt_" + _attempt_token(secret_key, b"flageval-bundle-fetch", run_id, attempt)


# -- events to eval-api --------------------------------------------------------------------------


def _results(job: Job) -> list[DatasetResult]:
    order = [d["dataset"] for d in job.spec.get("datasets", [])]
    results = job.results or {}
    return [DatasetResult.model_validate(results[d]) for d in order if d in results]


LOG_TAIL_LINES = 30


async def log_tail(session: AsyncSession, job: Job, lines: int = LOG_TAIL_LINES) -> str | None:
    """The last ``lines`` lines the run's runner logged (its current attempt), or None."""
    batches = await session.scalars(
        select(JobLogBatch.lines)
        .where(JobLogBatch.run_id == job.run_id, JobLogBatch.attempt == job.attempt)
        .order_by(JobLogBatch.seq.desc())
        .limit(lines)
    )
    collected: list[str] = []
    for text in batches:
        collected[:0] = text.split("\n")
        if len(collected) >= lines:
            break
    return "\n".join(collected[-lines:]) or None


async def _publish_status(
    session: AsyncSession, messaging: Messaging, job: Job, *, at: datetime | None = None
) -> None:
    terminal = job.status in TERMINAL
    event = RunStatusChanged(
        run_id=job.run_id,
        evaluation_id=job.evaluation_id,
        owner_id=job.owner_id,
        status=RunStatus(job.status),
        at=at or utcnow(),
        failure_cause=FailureCause(job.failure_cause) if job.failure_cause else None,
        message=job.message,
        attempt=job.attempt,
        datasets=_results(job) if terminal else [],
        log_tail=await log_tail(session, job) if job.status == FAILED else None,
    )
    await messaging.enqueue(
        session,
        new_envelope(
            "run.status_changed", event, producer=PRODUCER, correlation_id=get_correlation_id()
        ),
    )


async def _publish_progress(
    session: AsyncSession, messaging: Messaging, job: Job, **fields: Any
) -> None:
    event = RunProgress(
        run_id=job.run_id,
        evaluation_id=job.evaluation_id,
        owner_id=job.owner_id,
        attempt=job.attempt,
        at=utcnow(),
        **fields,
    )
    await messaging.enqueue(
        session,
        new_envelope("run.progress", event, producer=PRODUCER, correlation_id=get_correlation_id()),
    )


async def refund(session: AsyncSession, job: Job, reason: RefundReason) -> None:
    """Give back what the run was charged (formal runs); a run never charged is fine."""
    for kind in job.spec.get("charged", []):
        try:
            await quota.refund(
                session=session, user_id=job.owner_id, kind=kind, run_id=job.run_id, reason=reason
            )
        except Conflict:
            log.warning("nothing to refund", extra={"run_id": str(job.run_id), "kind": kind})


async def finish(
    session: AsyncSession,
    messaging: Messaging,
    job: Job,
    status: str,
    *,
    cause: str | None = None,
    message: str | None = None,
) -> None:
    """Move ``job`` to a terminal ``status``, refund what the rules say, tell eval-api."""
    if job.status in TERMINAL:
        return
    was = job.status
    job.status = status
    job.finished_at = utcnow()
    if status == FAILED:
        job.failure_cause = cause or FailureCause.PLATFORM.value
    job.message = message
    if status == FAILED and job.failure_cause in (
        FailureCause.PLATFORM.value,
        FailureCause.PREEMPTED.value,
    ):
        await refund(session, job, RefundReason.PLATFORM_FAULT)
    elif status == STOPPED and was in (QUEUED, STARTING):
        await refund(session, job, RefundReason.STOPPED_BEFORE_START)
    # Datasets the runner never finished end as skipped in the snapshot eval-api receives.
    results = dict(job.results or {})
    for step in job.spec.get("datasets", []):
        current = results.get(step["dataset"])
        if current is None or current.get("status") not in DATASET_FINAL:
            results[step["dataset"]] = {
                **(current or {"task": step["task"], "dataset": step["dataset"]}),
                "status": "skipped",
            }
    job.results = results
    await _publish_status(session, messaging, job)


# -- run.requested / run.stop_requested ----------------------------------------------------------


async def record_requested(session: AsyncSession, envelope: Envelope, *, executor: str) -> None:
    """Consumer of ``run.requested``: queue the run (a second delivery finds it queued)."""
    event = RunRequested.model_validate(envelope.payload)
    if await session.get(Job, event.run_id) is not None:
        return
    session.add(
        Job(
            run_id=event.run_id,
            evaluation_id=event.evaluation_id,
            owner_id=event.owner_id,
            kind=event.kind.value,
            domain=event.domain.value,
            priority=event.priority.value,
            priority_rank=PRIORITY_RANK[event.priority.value],
            status=QUEUED,
            attempt=1,
            resumes=0,
            executor=executor,
            spec=event.model_dump(mode="json"),
            results={},
            stop_requested=False,
            created_at=utcnow(),
        )
    )


class JobNotYetKnown(Exception):
    """A stop arrived before the run it stops; the bus delivers it again later."""


async def record_stop(
    session: AsyncSession, envelope: Envelope, messaging: Messaging
) -> str | None:
    """Consumer of ``run.stop_requested``: a queued run stops at once (refunded); a started one
    is marked, and the handle to kill is returned for the caller to stop after commit."""
    event = RunStopRequested.model_validate(envelope.payload)
    job = await session.get(Job, event.run_id)
    if job is None:
        raise JobNotYetKnown(str(event.run_id))
    if job.status in TERMINAL:
        return None
    job.stop_requested = True
    handle = job.handle
    await finish(session, messaging, job, STOPPED, message="Stopped at the user's request.")
    return handle


# -- the queue -----------------------------------------------------------------------------------


async def claim_queued(session: AsyncSession, limit: int) -> list[Job]:
    """The next ``limit`` queued jobs: high before medium before low, then first come. On
    PostgreSQL rows another scheduler replica holds are skipped."""
    query = (
        select(Job)
        .where(Job.status == QUEUED)
        .order_by(Job.priority_rank, Job.created_at, Job.run_id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(await session.scalars(query))


async def active_count(session: AsyncSession) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE)))
        or 0
    )


async def mark_submitted(
    session: AsyncSession, messaging: Messaging, job: Job, handle: str
) -> None:
    job.status = STARTING
    job.handle = handle
    job.submitted_at = job.submitted_at or utcnow()
    if job.attempt == 1:
        await _publish_status(session, messaging, job)


# -- the progress channel ------------------------------------------------------------------------


def _dataset_step(job: Job, dataset: str) -> dict[str, Any] | None:
    for step in job.spec.get("datasets", []):
        if step["dataset"] == dataset:
            return dict(step)
    return None


async def apply_runner_events(
    session: AsyncSession, messaging: Messaging, job: Job, events: list[dict[str, Any]]
) -> None:
    """Apply one batch of runner events (validated by the API layer) in order."""
    now = utcnow()
    job.heartbeat_at = now
    for event in events:
        if job.status in TERMINAL:
            break
        kind = event["type"]
        if kind == "started":
            if job.status in (QUEUED, STARTING):
                job.status = RUNNING
                job.started_at = job.started_at or now
                await _publish_status(session, messaging, job)
        elif kind in ("dataset_started", "dataset_finished", "samples"):
            step = _dataset_step(job, event["dataset"])
            if step is None:
                continue  # not a dataset of this run; the API layer already refused most
            await _apply_dataset_event(session, messaging, job, step, event, now)
        elif kind == "log":
            exists = await session.scalar(
                select(JobLogBatch.id).where(
                    JobLogBatch.run_id == job.run_id,
                    JobLogBatch.attempt == job.attempt,
                    JobLogBatch.seq == event["seq"],
                )
            )
            if exists is None:
                session.add(
                    JobLogBatch(
                        run_id=job.run_id,
                        attempt=job.attempt,
                        seq=event["seq"],
                        lines="\n".join(event["lines"]),
                        created_at=now,
                    )
                )
                await session.flush()
        elif kind == "finished":
            if job.status in (QUEUED, STARTING):
                job.status = RUNNING
                job.started_at = job.started_at or now
            if event["status"] == "succeeded":
                await finish(session, messaging, job, SUCCEEDED)
            else:
                await finish(
                    session,
                    messaging,
                    job,
                    FAILED,
                    cause=event.get("failure_cause") or FailureCause.USER.value,
                    message=event.get("message"),
                )


async def _apply_dataset_event(
    session: AsyncSession,
    messaging: Messaging,
    job: Job,
    step: dict[str, Any],
    event: dict[str, Any],
    now: datetime,
) -> None:
    dataset, task = step["dataset"], step["task"]
    results = dict(job.results or {})
    current = results.get(dataset) or {"task": task, "dataset": dataset, "status": "pending"}
    if event["type"] == "dataset_started":
        if current.get("status") in DATASET_FINAL:
            return
        results[dataset] = {**current, "status": "running", "started_at": now.isoformat()}
        job.results = results
        await _publish_progress(
            session, messaging, job, type="dataset_started", task=task, dataset=dataset
        )
    elif event["type"] == "dataset_finished":
        if current.get("status") in DATASET_FINAL:
            return
        results[dataset] = {
            **current,
            "status": event["status"],
            "started_at": current.get("started_at") or now.isoformat(),
            "finished_at": now.isoformat(),
            "metrics": event.get("metrics") or {},
            "error": event.get("error"),
            "dataset_version": event.get("dataset_version"),
            "dataset_sha256": event.get("dataset_sha256"),
        }
        job.results = results
        await _publish_progress(
            session,
            messaging,
            job,
            type="dataset_finished",
            task=task,
            dataset=dataset,
            status=event["status"],
            metrics=event.get("metrics") or {},
            error=event.get("error"),
            dataset_version=event.get("dataset_version"),
            dataset_sha256=event.get("dataset_sha256"),
        )
    else:
        await _publish_progress(
            session,
            messaging,
            job,
            type="samples",
            task=task,
            dataset=dataset,
            samples=[SampleRow.model_validate(row) for row in event.get("rows", [])],
        )


def remaining_steps(job: Job) -> tuple[list[dict[str, Any]], list[str]]:
    """(steps still to run, datasets already done): a resumed attempt skips what succeeded."""
    results = job.results or {}
    todo, done = [], []
    for step in job.spec.get("datasets", []):
        if (results.get(step["dataset"]) or {}).get("status") == "succeeded":
            done.append(step["dataset"])
        else:
            todo.append(step)
    return todo, done


async def resume_or_fail(
    session: AsyncSession,
    messaging: Messaging,
    job: Job,
    *,
    max_resumes: int,
    cause: str,
    message: str,
) -> bool:
    """After a preemption or a runner lost in a platform restart: a formal run with resumes
    left goes back to the queue as a new attempt (finished datasets keep their results);
    otherwise it fails with ``cause``. Returns True when resumed."""
    if job.status in TERMINAL:
        return False
    if job.kind == "formal" and job.resumes < max_resumes and not job.stop_requested:
        job.resumes += 1
        job.attempt += 1
        job.status = QUEUED
        job.handle = None
        job.heartbeat_at = None
        job.message = f"Resumed (attempt {job.attempt}): {message}"
        results = dict(job.results or {})
        for dataset, result in results.items():
            if result.get("status") == "running":
                results[dataset] = {**result, "status": "pending"}
        job.results = results
        log.info("run resumed", extra={"run_id": str(job.run_id), "attempt": job.attempt})
        return True
    await finish(session, messaging, job, FAILED, cause=cause, message=message)
    return False


def heartbeat_deadline(job: Job, timeout: float, now: datetime) -> bool:
    """True when a running job's runner has been silent longer than ``timeout`` seconds."""
    last = aware(job.heartbeat_at) or aware(job.started_at)
    return job.status == RUNNING and last is not None and now - last > timedelta(seconds=timeout)
