"""``/api/admin/users``: administrators review new accounts."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query

from flageval_contracts.enums import UserStatus
from flageval_gateway.accounts import service
from flageval_gateway.accounts.schemas import Review, UserOut
from flageval_gateway.api.deps import admin_user_dependency
from flageval_gateway.models import User
from flageval_platform.params import Limit, Offset
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/admin/users", tags=["admin"])
    admin_user = admin_user_dependency(ctx)

    @api.get("", response_model=list[UserOut], summary="Users, optionally by status")
    async def list_users(
        status: UserStatus | None = Query(default=None),
        limit: Limit = 100,
        offset: Offset = 0,
        _admin: User = Depends(admin_user),
    ) -> list[UserOut]:
        async with ctx.db.transaction() as session:
            users = await service.list_users(
                session=session, status=status, limit=limit, offset=offset
            )
        return [UserOut.of(u) for u in users]

    @api.post(
        "/{user_id}/review",
        response_model=UserOut,
        responses={404: {"description": "No such user"}, 409: {"description": "Not pending"}},
        summary="Approve or reject a user waiting for review",
    )
    async def review(
        user_id: uuid.UUID, body: Review, admin: User = Depends(admin_user)
    ) -> UserOut:
        async with ctx.db.transaction() as session:
            user = await service.review_user(
                session=session,
                messaging=ctx.messaging,
                reviewer_id=admin.id,
                user_id=user_id,
                review=body,
            )
        return UserOut.of(user)

    return api
