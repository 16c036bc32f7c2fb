"""``GET /api/runs/{id}/logs``: what the runner reported, then what the executor captured
(every container for Kubernetes, the process output for local runs), live while it runs."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from flageval_platform.errors import NotFound
from flageval_platform.identity import Identity, require_approved
from flageval_platform.service import ServiceContext
from flageval_scheduler.executors import Executor
from flageval_scheduler.jobs.models import Job, JobLogBatch


def router(ctx: ServiceContext, executor: Any) -> APIRouter:
    api = APIRouter(tags=["runs"])

    def approved(request: Request) -> Identity:
        return require_approved(ctx.current_identity(request))

    @api.get("/api/runs/{run_id}/logs", response_class=PlainTextResponse)
    async def logs(
        run_id: str,
        tail: int | None = Query(default=None, ge=1, le=100_000),
        identity: Identity = Depends(approved),
    ) -> PlainTextResponse:
        try:
            key = uuid.UUID(run_id)
        except ValueError:
            raise NotFound("Run not found") from None
        async with ctx.db.transaction() as session:
            job = await session.get(Job, key)
            if job is None or job.owner_id != identity.user_id:
                raise NotFound("Run not found")
            batches = list(
                await session.scalars(
                    select(JobLogBatch)
                    .where(JobLogBatch.run_id == key)
                    .order_by(JobLogBatch.attempt, JobLogBatch.seq)
                )
            )
            handle, attempt = job.handle, job.attempt
        lines: list[str] = []
        several = len({b.attempt for b in batches}) > 1
        current = None
        for batch in batches:
            if several and batch.attempt != current:
                lines.append(f"---- attempt {batch.attempt} ----")
            current = batch.attempt
            lines.extend(batch.lines.split("\n"))
        live: Executor = executor()
        if handle:
            output = await live.logs(handle, tail_lines=tail)
            if output:
                lines.append(f"---- process output (attempt {attempt}) ----")
                lines.extend(output.rstrip("\n").split("\n"))
        if tail is not None:
            lines = lines[-tail:]
        return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""))

    return api
