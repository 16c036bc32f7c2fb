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
from flageval_gateway.config import GatewaySettings
from flageval_gateway.ratelimit import LoginThrottle, client_address
from flageval_platform.service import ServiceContext
from flageval_platform.settings import specialise

_ERRORS = {
    401: {"description": "Incorrect email or password"},
    409: {"description": "Email or username already taken"},
    429: {"description": "Too many failed logins; see Retry-After"},
}


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(prefix="/api/auth", tags=["auth"])
    settings = specialise(ctx.settings, GatewaySettings)
    throttle = LoginThrottle(
        db=ctx.db,
        per_address=settings.login_failures_per_address,
        per_account_address=settings.login_failures_per_account_address,
        window_seconds=settings.login_failure_window_seconds,
    )
    ctx.state["login_throttle"] = throttle

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
        # The connection's peer; behind a proxy, uvicorn's FORWARDED_ALLOW_IPS (ratelimit.py).
        address = client_address(request.client.host if request.client else None)
        attempt = await throttle.begin(email=lookup_email(body.email), address=address)
        user = await service.authenticate(db=ctx.db, email=body.email, password=body.password)
        await throttle.succeeded(attempt)
        token = issue_access_token(
            user.id, secret=ctx.secret_key, ttl_seconds=ctx.settings.access_token_ttl_seconds
        )
        return LoginResponse(
            access_token=token.token, expires_at=token.expires_at, user=UserOut.of(user)
        )

    return api
