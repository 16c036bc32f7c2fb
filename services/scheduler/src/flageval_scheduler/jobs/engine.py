"""The scheduler's background work: dispatching queued runs to the executor, following what the
executor reports, re-adopting runs after a restart, and the watchdog.

One :class:`Engine` per scheduler process. Dispatch takes the queue in priority order up to the
executor's capacity; on PostgreSQL several replicas can dispatch at once (claimed rows are
locked with SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from flageval_contracts.enums import FailureCause
from flageval_platform.service import ServiceContext
from flageval_platform.settings import specialise
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors import (
    TERMINAL_STATES,
    ExecEvent,
    ExecState,
    Executor,
    ExecutorError,
    JobRequest,
)
from flageval_scheduler.jobs import service
from flageval_scheduler.jobs.models import Job

log = logging.getLogger(__name__)

#: At most this many submissions to the executor run concurrently.
SUBMIT_CONCURRENCY = 32
#: The watchdog asks the executor about at most this many jobs per pass.
WATCHDOG_BATCH = 50


def create_executor(settings: ServiceSettings) -> Executor:
    if settings.executor == "kubernetes":
        from flageval_scheduler.executors.kubernetes import KubernetesExecutor

        return KubernetesExecutor.from_settings(settings)
    from flageval_scheduler.executors.local import LocalExecutor

    return LocalExecutor.from_settings(settings)


class Engine:
    """Dispatch loop, executor-event loop and watchdog of one scheduler process."""

    def __init__(self, ctx: ServiceContext, executor: Executor) -> None:
        self.ctx = ctx
        self.executor = executor
        self.settings = specialise(ctx.settings, ServiceSettings)
        self.capacity = (
            self.settings.local_slots if executor.name == "local" else self.settings.max_active_jobs
        )
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatch_lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.executor.start()
        await self.readopt()
        self._tasks = [
            asyncio.create_task(
                self._loop(self.dispatch, self.settings.dispatch_interval_seconds, wakeable=True),
                name="scheduler-dispatch",
            ),
            asyncio.create_task(self._follow_executor(), name="scheduler-executor-events"),
            asyncio.create_task(
                self._loop(self.watchdog, self.settings.watchdog_interval_seconds),
                name="scheduler-watchdog",
            ),
        ]
        self.wake()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.executor.close()

    def wake(self) -> None:
        """Dispatch now (a run was queued, or a slot came free)."""
        self._wake.set()

    async def _loop(
        self, step: Callable[[], Awaitable[Any]], interval: float, *, wakeable: bool = False
    ) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler step failed", extra={"step": step.__name__})
            if wakeable:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
                self._wake.clear()
            else:
                await asyncio.sleep(interval)

    # -- dispatch -------------------------------------------------------------------------------

    def job_request(self, job: Job) -> JobRequest:
        spec = job.spec
        return JobRequest(
            run_id=job.run_id,
            attempt=job.attempt,
            evaluation_id=job.evaluation_id,
            evaluation_name=spec.get("evaluation_name", ""),
            owner_id=job.owner_id,
            domain=job.domain,
            kind=job.kind,
            priority=job.priority,
            deploy_mode=spec.get("deploy_mode", "private"),
            progress_url=self.settings.effective_progress_url,
            progress_token=service.progress_token(self.ctx.secret_key, job.run_id, job.attempt),
            bundle_token=service.bundle_token(self.ctx.secret_key, job.run_id, job.attempt),
            image=spec.get("image"),
            card_type=spec.get("card_type"),
            gpus=int(spec.get("gpus") or 0),
            deadline_seconds=self.settings.run_deadline_seconds,
        )

    async def dispatch(self) -> int:
        """Hand queued runs to the executor while it has room; returns how many were."""
        async with self._dispatch_lock:
            total = 0
            while True:
                submitted = await self._dispatch_batch()
                total += submitted
                if submitted == 0:
                    return total

    async def _dispatch_batch(self) -> int:
        """Claim up to the free capacity (committed as ``starting`` without a handle), submit
        outside any transaction, then record each handle. No database connection or row lock
        is held while the executor talks to the cluster. A crash between claim and record
        leaves ``starting`` jobs without a handle, which :meth:`readopt` queues again (submit is
        idempotent per run attempt)."""
        async with self.ctx.db.transaction() as session:
            free = self.capacity - await service.active_count(session)
            if free <= 0:
                return 0
            jobs = await service.claim_queued(session, min(free, SUBMIT_CONCURRENCY))
            if not jobs:
                return 0
            for job in jobs:
                job.status = service.STARTING
                job.handle = None
                job.submitted_at = service.utcnow()
            claimed = [(job.run_id, job.attempt, self.job_request(job)) for job in jobs]
        outcomes = await asyncio.gather(
            *(self.executor.submit(request) for _, _, request in claimed), return_exceptions=True
        )
        orphans: list[str] = []
        async with self.ctx.db.transaction() as session:
            for (run_id, attempt, _request), outcome in zip(claimed, outcomes, strict=True):
                job = await session.get(Job, run_id)
                current = job is not None and job.attempt == attempt and job.handle is None
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, ExecutorError):
                        log.error(
                            "executor failed to submit",
                            exc_info=outcome,
                            extra={"run_id": str(run_id)},
                        )
                    if current and job is not None:
                        await service.finish(
                            session,
                            self.ctx.messaging,
                            job,
                            service.FAILED,
                            cause=FailureCause.PLATFORM.value,
                            message=f"The platform could not start the run: {outcome}",
                        )
                elif current and job is not None and job.status == service.STARTING:
                    await service.mark_submitted(session, self.ctx.messaging, job, outcome)
                else:
                    orphans.append(outcome)  # stopped meanwhile: nothing may keep running
        for handle in orphans:
            await self._stop_quietly(handle)
        return len(claimed)

    # -- executor reports -----------------------------------------------------------------------

    async def _follow_executor(self) -> None:
        while True:
            try:
                async for event in self.executor.events():
                    try:
                        await self.on_exec_event(event)
                    except Exception:
                        log.exception("applying an executor event failed")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("executor event stream failed; reconnecting")
            await asyncio.sleep(1.0)

    async def on_exec_event(self, event: ExecEvent, *, restarting: bool = False) -> None:
        """Apply what the executor saw. Only terminal states matter: the runner reports its own
        progress; an end the runner did not report is the platform's fault (or a preemption,
        or — when the platform itself restarted meanwhile — a reason to resume)."""
        if event.state not in TERMINAL_STATES:
            return
        freed = False
        async with self.ctx.db.transaction() as session:
            job = await session.get(Job, event.run_id)
            if job is None or job.attempt != event.attempt or job.status in service.TERMINAL:
                return
            if job.status == service.QUEUED:
                return  # already resumed as a new attempt
            messaging = self.ctx.messaging
            if job.stop_requested:
                await service.finish(session, messaging, job, service.STOPPED)
            elif event.state == ExecState.PREEMPTED or (
                restarting and event.state == ExecState.VANISHED
            ):
                await service.resume_or_fail(
                    session,
                    messaging,
                    job,
                    max_resumes=self.settings.max_resumes,
                    cause=(
                        FailureCause.PREEMPTED.value
                        if event.state == ExecState.PREEMPTED
                        else FailureCause.PLATFORM.value
                    ),
                    message=event.message
                    or (
                        "The job was preempted."
                        if event.state == ExecState.PREEMPTED
                        else "The runner was lost while the platform restarted."
                    ),
                )
            elif event.state == ExecState.VANISHED:
                await service.finish(
                    session,
                    messaging,
                    job,
                    service.FAILED,
                    cause=FailureCause.PLATFORM.value,
                    message=f"The run's job vanished: {event.message or 'no longer known'}.",
                )
            else:
                code = f" (exit code {event.exit_code})" if event.exit_code is not None else ""
                detail = f": {event.message}" if event.message else ""
                await service.finish(
                    session,
                    messaging,
                    job,
                    service.FAILED,
                    cause=FailureCause.PLATFORM.value,
                    message=f"The runner ended without reporting a result{code}{detail}.",
                )
            freed = True
        if freed:
            self.wake()

    # -- restart --------------------------------------------------------------------------------

    async def readopt(self) -> None:
        """After a (re)start: ask the executor about every job it was running; those alive are
        followed again, those that ended meanwhile are settled (formal runs resume)."""
        async with self.ctx.db.transaction() as session:
            unrecorded = await session.scalars(
                select(Job).where(Job.status == service.STARTING, Job.handle.is_(None))
            )
            for job in unrecorded:  # claimed, then the process died before recording
                job.status = service.QUEUED
            jobs = list(
                await session.scalars(
                    select(Job).where(Job.status.in_(service.ACTIVE), Job.handle.is_not(None))
                )
            )
        for job in jobs:
            assert job.handle is not None
            try:
                event = await self.executor.state(job.handle)
            except Exception:
                log.exception("could not ask the executor about a run")
                continue
            if event.state in TERMINAL_STATES:
                await self.on_exec_event(
                    ExecEvent(
                        run_id=job.run_id,
                        attempt=job.attempt,
                        handle=job.handle,
                        state=event.state,
                        message=event.message,
                        exit_code=event.exit_code,
                    ),
                    restarting=True,
                )
            else:
                adopt = getattr(self.executor, "adopt", None)
                if adopt is not None:
                    adopt(job.handle)

    # -- watchdog -------------------------------------------------------------------------------

    async def watchdog(self) -> None:
        """End runs whose runner went silent, and ask the executor about the jobs checked
        longest ago (an event the watch missed, a job deleted behind our back)."""
        now = service.utcnow()
        timeout = self.settings.heartbeat_timeout_seconds
        async with self.ctx.db.transaction() as session:
            jobs = list(
                await session.scalars(
                    select(Job)
                    .where(Job.status.in_(service.ACTIVE), Job.handle.is_not(None))
                    .order_by(Job.checked_at.is_not(None), Job.checked_at)
                    .limit(WATCHDOG_BATCH)
                )
            )
            silent = []
            for job in jobs:
                job.checked_at = now
                if service.heartbeat_deadline(job, timeout, now):
                    silent.append(job.handle)
                    await service.finish(
                        session,
                        self.ctx.messaging,
                        job,
                        service.FAILED,
                        cause=FailureCause.PLATFORM.value,
                        message=f"The runner sent no heartbeat for {timeout:g} s; the platform "
                        "ended the run.",
                    )
            probe = [
                (job.run_id, job.attempt, job.handle)
                for job in jobs
                if job.status in service.ACTIVE
            ]
        for handle in silent:
            await self._stop_quietly(handle)
        if silent:
            self.wake()
        for run_id, attempt, handle in probe:
            assert handle is not None
            try:
                event = await self.executor.state(handle)
            except Exception:
                log.exception("watchdog could not ask the executor")
                continue
            if event.state in TERMINAL_STATES:
                await self.on_exec_event(
                    ExecEvent(
                        run_id=run_id,
                        attempt=attempt,
                        handle=handle,
                        state=event.state,
                        message=event.message,
                        exit_code=event.exit_code,
                    )
                )

    async def _stop_quietly(self, handle: str | None) -> None:
        if not handle:
            return
        try:
            await self.executor.stop(handle)
        except Exception:
            log.exception("stopping a job failed")

    # -- stop -----------------------------------------------------------------------------------

    async def stop_handle(self, handle: str | None) -> None:
        await self._stop_quietly(handle)
        self.wake()
