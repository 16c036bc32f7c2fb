"""``/api/admin/leaderboards/entries``: administrators list entries and hide (with a reason
the owner sees) or unhide them."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request

from flageval_contracts.enums import Domain
from flageval_leaderboard.submissions import service
from flageval_leaderboard.submissions.schemas import HideIn
from flageval_platform.identity import Identity, require_admin
from flageval_platform.params import Limit, Offset
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/admin/leaderboards/entries", tags=["leaderboards admin"])

    def admin(request: Request) -> Identity:
        return require_admin(ctx.current_identity(request))

    @api.get("")
    async def entries(
        domain: Domain | None = None,
        status: Literal["published", "hidden", "withdrawn"] | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
        _admin: Identity = Depends(admin),
    ) -> list[dict[str, Any]]:
        async with ctx.db.transaction() as session:
            rows = await service.list_entries(
                session=session,
                domain=domain.value if domain else None,
                status=status,
                limit=limit,
                offset=offset,
            )
            return [service.admin_view(e) for e in rows]

    @api.post("/{entry_id}/hide")
    async def hide(
        entry_id: uuid.UUID, body: HideIn, identity: Identity = Depends(admin)
    ) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            entry = await service.hide(
                session=session, entry_id=entry_id, admin=identity, reason=body.reason
            )
            return service.admin_view(entry)

    @api.post("/{entry_id}/unhide")
    async def unhide(entry_id: uuid.UUID, _admin: Identity = Depends(admin)) -> dict[str, Any]:
        async with ctx.db.transaction() as session:
            return service.admin_view(await service.unhide(session=session, entry_id=entry_id))

    return api
