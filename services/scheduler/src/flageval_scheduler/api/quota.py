"""Quota over HTTP: ``GET /api/me/quota``, the admin overrides under ``/api/admin/quotas``, and
``/internal/quota/…`` that eval-api calls (with the user's signed identity) when a run starts or
is refunded. The gateway never routes ``/internal``: only services reach it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from flageval_platform.identity import Identity, require_admin, require_approved
from flageval_platform.service import ServiceContext
from flageval_scheduler.quota import service
from flageval_scheduler.quota.service import Limits, QuotaKind, RefundReason

LimitValue = Annotated[int, Field(strict=True, ge=0, le=1000)]


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    formal_runs_per_month: LimitValue
    human_evaluations_total: LimitValue


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: QuotaKind
    run_id: uuid.UUID


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: QuotaKind
    run_id: uuid.UUID
    reason: RefundReason


def _limits_out(user_id: uuid.UUID, limits: Limits) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "formal_runs_per_month": limits.formal_runs_per_month,
        "human_evaluations_total": limits.human_evaluations_total,
        "custom": limits.custom,
        "updated_by": str(limits.updated_by) if limits.updated_by else None,
        "updated_at": limits.updated_at.isoformat() if limits.updated_at else None,
    }


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["quota"])
    timezone = ctx.settings.timezone

    def authenticated(request: Request) -> Identity:
        return ctx.current_identity(request)

    def admin(request: Request) -> Identity:
        # A dependency, so 401/403 come before any complaint about the body.
        return require_admin(ctx.current_identity(request))

    def approved(request: Request) -> Identity:
        return require_approved(ctx.current_identity(request))

    @api.get("/api/me/quota")
    async def my_quota(identity: Identity = Depends(authenticated)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            return await service.summary(
                session=session, user_id=identity.user_id, timezone=timezone
            )

    @api.get("/api/admin/quotas/{user_id}")
    async def get_limits(user_id: uuid.UUID, _admin: Identity = Depends(admin)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            limits = await service.limits_for(session, user_id)
            usage = await service.summary(session=session, user_id=user_id, timezone=timezone)
        return {**_limits_out(user_id, limits), "usage": usage}

    @api.put("/api/admin/quotas/{user_id}")
    async def put_limits(
        user_id: uuid.UUID, body: LimitsIn, identity: Identity = Depends(admin)
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            limits = await service.set_limits(
                session=session,
                user_id=user_id,
                formal_runs_per_month=body.formal_runs_per_month,
                human_evaluations_total=body.human_evaluations_total,
                updated_by=identity.user_id,
            )
        return _limits_out(user_id, limits)

    @api.post("/internal/quota/charges", include_in_schema=False)
    async def charge(
        body: ChargeIn, response: Response, identity: Identity = Depends(approved)
    ) -> dict[str, object]:
        async with ctx.db.transaction() as session:
            entry = await service.charge(
                session=session,
                user_id=identity.user_id,
                kind=body.kind,
                run_id=body.run_id,
                timezone=timezone,
            )
            out = service.entry_out(entry)
        response.status_code = 201 if entry.created_now else 200
        return out

    @api.post("/internal/quota/refunds", include_in_schema=False)
    async def refund(
        body: RefundIn, response: Response, identity: Identity = Depends(authenticated)
    ) -> dict[str, object]:
        async with ctx.db.transaction() as session:
            entry = await service.refund(
                session=session,
                user_id=identity.user_id,
                kind=body.kind,
                run_id=body.run_id,
                reason=body.reason,
            )
            out = service.entry_out(entry)
        response.status_code = 201 if entry.created_now else 200
        return out

    return api
