"""``/api/runs/{id}/submissions``: the run's owner publishes it to its domain's board, reads
the submission's state, or withdraws it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from flageval_leaderboard.submissions import service
from flageval_leaderboard.submissions.catalog import primary_metrics
from flageval_leaderboard.submissions.schemas import SubmissionIn
from flageval_platform.identity import Identity, require_approved
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/runs/{run_id}/submissions", tags=["submissions"])

    def approved(request: Request) -> Identity:
        return require_approved(ctx.current_identity(request))

    @api.post("", status_code=201)
    async def publish(
        run_id: uuid.UUID, body: SubmissionIn, identity: Identity = Depends(approved)
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            run = await service.owned_run(session=session, run_id=run_id, identity=identity)
            result = service.publishable(run)
        # Outside any transaction: a call to eval-api (the datasets' primary metrics).
        catalog = await primary_metrics(
            peers=ctx.peers, identity=identity, domain=result.domain.value
        )
        async with ctx.db.transaction() as session:
            entry = await service.submit(
                session=session,
                run_id=run_id,
                identity=identity,
                mode=body.mode,
                catalog=catalog,
            )
            return service.owner_view(run_id, entry)

    @api.get("")
    async def read(run_id: uuid.UUID, identity: Identity = Depends(approved)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            return await service.state(session=session, run_id=run_id, identity=identity)

    @api.delete("")
    async def withdraw(run_id: uuid.UUID, identity: Identity = Depends(approved)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            entry = await service.withdraw(session=session, run_id=run_id, identity=identity)
            return service.owner_view(run_id, entry)

    return api
