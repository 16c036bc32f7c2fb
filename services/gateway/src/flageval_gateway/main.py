"""The gateway: accounts, the public REST surface, and routing to the internal services.

Public interface for launchers:

* :data:`definition` — the service (tables, migrations, own routers, bootstrap-admin hook).
* :func:`build_gateway_app` — the app for a context and a backend per routed service
  (standalone passes :class:`InProcessBackend`\\ s, mesh :class:`RemoteBackend`\\ s).
* :func:`create_app` — mesh mode: this process is the gateway only, every service is remote.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from flageval_gateway.accounts import service as accounts
from flageval_gateway.api import admin, auth, health, me
from flageval_gateway.config import GatewaySettings
from flageval_gateway.errors import install_gateway_error_handlers
from flageval_gateway.models import messaging, metadata
from flageval_gateway.routing.backends import Backend, RemoteBackend, close_all
from flageval_gateway.routing.openapi import PublicOpenAPI
from flageval_gateway.routing.proxy import ControlCharacterRoute, proxy_routes
from flageval_gateway.web import web_routes
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app
from flageval_platform.settings import Settings, specialise

log = logging.getLogger(__name__)

OPENAPI_URL = "/api/openapi.json"


async def bootstrap_admin(ctx: ServiceContext) -> None:
    """Make sure the administrator named by FLAGEVAL_ADMIN_EMAIL/PASSWORD exists."""
    email = ctx.settings.admin_email
    password = ctx.settings.admin_password.get_secret_value() if ctx.settings.admin_password else ""
    if not email or not password:
        log.info("no bootstrap admin configured (FLAGEVAL_ADMIN_EMAIL / FLAGEVAL_ADMIN_PASSWORD)")
        return
    await accounts.ensure_admin(db=ctx.db, email=email, password=password)


def _storage_routers(ctx: ServiceContext) -> list[APIRouter]:
    """Serve presigned URLs of the local-directory store (S3 serves its own)."""
    try:
        from flageval_platform.storage.local import LocalObjectStore, presigned_router
    except ImportError:
        return []
    if isinstance(ctx.store, LocalObjectStore):
        return [presigned_router(ctx.store)]
    return []


def _routers(ctx: ServiceContext) -> list[APIRouter]:
    return [
        auth.router(ctx),
        me.router(ctx),
        admin.router(ctx),
        health.router(ctx),
        *_storage_routers(ctx),
    ]


definition = ServiceDefinition(
    name="gateway",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=_routers,
    startup=[bootstrap_admin],
)


def build_gateway_app(
    ctx: ServiceContext, backends: Mapping[str, Backend], *, manage_lifecycle: bool = True
) -> FastAPI:
    """The public app: own endpoints, then the route table over ``backends``, then the web
    console (the built single-page app) for every other ``GET``.

    The app owns ``backends``: they are closed when its lifespan ends. With
    ``manage_lifecycle`` the lifespan also starts and stops ``ctx``.
    """
    backends = dict(backends)
    metrics_token = ctx.settings.metrics_token
    for backend in backends.values():
        if isinstance(backend, RemoteBackend):
            if backend.timeout_seconds is None:
                backend.timeout_seconds = ctx.settings.proxy_timeout_seconds
            if backend.metrics_token is None and metrics_token is not None:
                backend.metrics_token = metrics_token.get_secret_value()
    ctx.state["backends"] = backends
    app = build_app(
        ctx,
        manage_lifecycle=manage_lifecycle,
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
    )
    app.title = "FlagEval API"
    app.description = (
        "The public REST API of the FlagEval platform. Log in with POST /api/auth/login and "
        "send the access token as `Authorization: Bearer <token>`."
    )
    install_gateway_error_handlers(app)
    # The published document covers the routed services' public paths too.
    public_openapi = PublicOpenAPI(app.openapi, backends)
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != OPENAPI_URL]

    @app.get(OPENAPI_URL, include_in_schema=False)
    async def openapi_document() -> JSONResponse:
        return JSONResponse(await public_openapi.document())

    app.router.routes.extend(proxy_routes(ctx, backends))
    # First: a path with a control character names nothing (Starlette's `$` would let
    # `/api/me%0a` reach `/api/me`).
    app.router.routes.insert(0, ControlCharacterRoute())
    # Last: the SPA's catch-all must never shadow an API or proxied path.
    app.router.routes.extend(web_routes(specialise(ctx.settings, GatewaySettings).web_dir))

    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        try:
            async with inner_lifespan(app_) as state:
                yield state
        finally:
            await close_all(backends)

    app.router.lifespan_context = lifespan
    return app


def create_app(settings: Settings | None = None) -> FastAPI:
    """Mesh mode: this process is the gateway; each of ``settings.service_urls`` is remote."""
    settings = settings or GatewaySettings()
    ctx = ServiceContext.standalone_process(definition, settings)
    backends: dict[str, Backend] = {
        name: RemoteBackend(url, timeout_seconds=settings.proxy_timeout_seconds)
        for name, url in settings.service_urls.items()
        if name != definition.name
    }
    return build_gateway_app(ctx, backends)
