"""``GET /api/health``: can the platform serve? The gateway and every routed service."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from flageval_gateway.routing.backends import Backend
from flageval_platform.errors import error_body
from flageval_platform.service import ServiceContext, metrics_authorized

CHECK_TIMEOUT_SECONDS = 5.0


async def _check(probe: Awaitable[str]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await probe
    except TimeoutError:
        return "unavailable: no answer in time"
    except Exception as exc:  # health reports, it does not raise
        return f"unavailable: {type(exc).__name__}"


async def _gateway_readiness(ctx: ServiceContext) -> str:
    checks = await ctx.readiness()
    failed = {k: v for k, v in checks.items() if v != "ok"}
    return "ok" if not failed else "; ".join(f"{k}: {v}" for k, v in failed.items())


def router(ctx: ServiceContext) -> APIRouter:
    api = APIRouter(tags=["health"])

    @api.get(
        "/api/health",
        summary="200 when the gateway and every routed service can serve, 503 otherwise",
        responses={503: {"description": "Something cannot serve; see services"}},
    )
    async def health(request: Request) -> JSONResponse:
        backends: dict[str, Backend] = ctx.state.get("backends", {})
        names = [ctx.name, *backends]
        results = await asyncio.gather(
            _check(_gateway_readiness(ctx)), *(_check(b.readiness()) for b in backends.values())
        )
        ok = all(v == "ok" for v in results)
        # What failed and why (dependency names, exception classes) only for the operator's
        # scrapers (FLAGEVAL_METRICS_TOKEN); anyone else learns which service cannot serve.
        if not metrics_authorized(ctx.settings, request.headers.get("authorization")):
            results = ["ok" if v == "ok" else "unavailable" for v in results]
        services = dict(zip(names, results, strict=True))
        if ok:
            return JSONResponse({"status": "ok", "services": services})
        failing = ", ".join(name for name, v in services.items() if v != "ok")
        # A 503 carries the error shape too; status and services stay for the console.
        return JSONResponse(
            {
                **error_body(f"Cannot serve right now: {failing}", 503),
                "status": "unavailable",
                "services": services,
            },
            status_code=503,
        )

    return api
