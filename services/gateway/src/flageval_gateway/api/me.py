"""``/api/me``: the caller's own account and profile."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from flageval_gateway.accounts import service
from flageval_gateway.accounts.schemas import ProfileUpdate, UserOut
from flageval_gateway.api.deps import current_user_dependency
from flageval_gateway.models import User
from flageval_platform.service import ServiceContext


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/me", tags=["me"])
    current_user = current_user_dependency(ctx)

    @api.get("", response_model=UserOut, summary="The logged-in user")
    async def me(user: User = Depends(current_user)) -> UserOut:
        return UserOut.of(user)

    @api.put(
        "/profile",
        response_model=UserOut,
        summary="Fill in or edit the profile; submits a new account for review",
    )
    async def put_profile(body: ProfileUpdate, user: User = Depends(current_user)) -> UserOut:
        async with ctx.db.transaction() as session:
            updated = await service.submit_profile(
                session=session, messaging=ctx.messaging, user_id=user.id, profile=body
            )
        return UserOut.of(updated)

    return api
