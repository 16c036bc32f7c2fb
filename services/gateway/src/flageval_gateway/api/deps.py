"""FastAPI dependencies shared by the gateway's routers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flageval_gateway.accounts.bearer import ADMIN_ONLY, NOT_AUTHENTICATED, user_from_token
from flageval_gateway.models import User
from flageval_platform.errors import Forbidden, Unauthorized
from flageval_platform.service import ServiceContext

bearer_scheme = HTTPBearer(
    auto_error=False, description="The access_token returned by POST /api/auth/login"
)


def current_user_dependency(ctx: ServiceContext) -> Callable[..., Awaitable[User]]:
    async def current_user(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
    ) -> User:
        if credentials is None or not credentials.credentials:
            raise Unauthorized(NOT_AUTHENTICATED)
        return await user_from_token(
            db=ctx.db, secret=ctx.secret_key, token=credentials.credentials
        )

    return current_user


def admin_user_dependency(ctx: ServiceContext) -> Callable[..., Awaitable[User]]:
    current_user = current_user_dependency(ctx)

    async def admin_user(user: User = Depends(current_user)) -> User:
        if not user.is_admin:
            raise Forbidden(ADMIN_ONLY)
        return user

    return admin_user
