"""Runs over HTTP: start one (``POST /api/evaluations/{id}/runs``), the version history, the run
detail, stop, and a formal run's per-item predictions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from flageval_contracts.enums import RunKind
from flageval_eval_api.config import ServiceSettings
from flageval_eval_api.runs import service
from flageval_platform.errors import NotFound
from flageval_platform.identity import Identity, require_approved
from flageval_platform.service import ServiceContext
from flageval_platform.settings import specialise
from flageval_platform.storage import ObjectNotFound


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RunKind


def predictions_key(run_id: str, dataset: str) -> str:
    """Where the scheduler stores what the runner uploaded for one dataset of a run."""
    return f"runs/{run_id}/predictions/{dataset}.jsonl"


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["runs"])

    def approved(request: Request) -> Identity:
        return require_approved(ctx.current_identity(request))

    settings = specialise(ctx.settings, ServiceSettings)

    def slots() -> int:
        return settings.local_slots if settings.executor == "local" else 1

    @api.post("/api/evaluations/{evaluation_id}/runs", status_code=201)
    async def start_run(
        evaluation_id: str, body: RunCreate, identity: Identity = Depends(approved)
    ) -> dict[str, Any]:
        run = await service.start_run(
            db=ctx.db,
            messaging=ctx.messaging,
            peers=ctx.peers,
            identity=identity,
            evaluation_id=evaluation_id,
            kind=body.kind,
        )
        async with ctx.db.transaction() as session:
            return await service.detail(session, run, slots=slots())

    @api.get("/api/evaluations/{evaluation_id}/runs")
    async def run_history(
        evaluation_id: str, identity: Identity = Depends(approved)
    ) -> list[dict[str, Any]]:
        async with ctx.db.transaction() as session:
            return await service.history(session, identity, evaluation_id)

    @api.get("/api/runs/{run_id}")
    async def get_run(run_id: str, identity: Identity = Depends(approved)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            run = await service.own_run(session, identity, run_id)
            return await service.detail(session, run, slots=slots())

    @api.post("/api/runs/{run_id}/stop", status_code=202)
    async def stop_run(run_id: str, identity: Identity = Depends(approved)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            run = await service.request_stop(
                session=session, messaging=ctx.messaging, identity=identity, run_id=run_id
            )
            return {"id": str(run.id), "status": run.status, "stop_requested": True}

    @api.get("/api/runs/{run_id}/predictions/{dataset}")
    async def predictions(
        run_id: str, dataset: str, identity: Identity = Depends(approved)
    ) -> StreamingResponse:
        async with ctx.db.transaction() as session:
            run = await service.own_run(session, identity, run_id)
            datasets = await service.run_datasets(session, run.id)
        if dataset not in datasets:
            raise NotFound("This run has no such dataset.")
        key = predictions_key(str(run.id), dataset)
        try:
            await ctx.store.stat(key)
        except ObjectNotFound:
            raise NotFound("No predictions were stored for this dataset (yet).") from None
        return StreamingResponse(ctx.store.get(key), media_type="application/x-ndjson")

    return api
