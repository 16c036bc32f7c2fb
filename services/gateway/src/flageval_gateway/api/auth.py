"""``/api/auth``: register and log in."""

from __future__ import annotations

from fastapi import APIRouter, Request

from flageval_gateway.accounts import service
from flageval_gateway.accounts.schemas import (
    LoginRequest,
    LoginResponse,
    Registration,
    UserOut,
    lookup_email,
)
from flageval_gateway.accounts.tokens import issue_access_token
from flageval_gateway.ratelimit import LoginRateLimiter
from flageval_platform.service import ServiceContext

_ERRORS = {
    401: {"description": "Incorrect email or password"},
    409: {"description": "Email or username already taken"},
    429: {"description": "Too many failed logins; see Retry-After"},
}


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/auth", tags=["auth"])
    limiter = LoginRateLimiter(
        limit=ctx.settings.login_rate_limit,
        window_seconds=ctx.settings.login_rate_window_seconds,
    )
    ctx.state["login_rate_limiter"] = limiter

    @api.post(
        "/register",
        status_code=201,
        response_model=UserOut,
        responses={409: _ERRORS[409]},
        summary="Create an account (status registered)",
    )
    async def register(body: Registration) -> UserOut:
        user = await service.register(db=ctx.db, messaging=ctx.messaging, registration=body)
        return UserOut.of(user)

    @api.post(
        "/login",
        response_model=LoginResponse,
        responses={401: _ERRORS[401], 429: _ERRORS[429]},
        summary="Exchange email and password for a bearer token",
    )
    async def login(body: LoginRequest, request: Request) -> LoginResponse:
        ip = request.client.host if request.client else "unknown"
        attempt = limiter.begin(email=lookup_email(body.email), ip=ip)
        user = await service.authenticate(db=ctx.db, email=body.email, password=body.password)
        limiter.succeeded(attempt)
        token = issue_access_token(
            user.id, secret=ctx.secret_key, ttl_seconds=ctx.settings.access_token_ttl_seconds
        )
        return LoginResponse(
            access_token=token.token, expires_at=token.expires_at, user=UserOut.of(user)
        )

    return api
