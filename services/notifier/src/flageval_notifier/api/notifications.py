from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from flageval_notifier.notifications import service
from flageval_notifier.notifications.schemas import NotificationOut
from flageval_platform.identity import Identity
from flageval_platform.params import Limit
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/me/notifications", tags=["notifications"])

    @api.get("", response_model=list[NotificationOut])
    async def list_notifications(
        unread: bool = False,
        limit: Limit = 50,
        identity: Identity = Depends(ctx.current_identity),
    ) -> list[NotificationOut]:
        async with ctx.db.transaction() as session:
            rows = await service.list_for_user(
                session=session, user_id=identity.user_id, unread_only=unread, limit=limit
            )
            return [NotificationOut.model_validate(r) for r in rows]

    @api.post("/{notification_id}/read", response_model=NotificationOut)
    async def mark_read(
        notification_id: uuid.UUID, identity: Identity = Depends(ctx.current_identity)
    ) -> NotificationOut:
        async with ctx.db.transaction() as session:
            row = await service.mark_read(
                session=session, user_id=identity.user_id, notification_id=notification_id
            )
            return NotificationOut.model_validate(row)

    return api
