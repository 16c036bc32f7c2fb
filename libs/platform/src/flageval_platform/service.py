"""What every service is made of, and the FastAPI app built around it.

A service module exposes one :class:`ServiceDefinition`. A :class:`ServiceContext` binds it to
settings and infrastructure (database, bus, store, outbox relay). :func:`build_app` wraps its
routers with health, readiness, metrics, correlation ids, JSON logs, the request body guard
and the error mapping (one error shape, documented in the OpenAPI document).
The same pieces run one service per process (mesh) or all services in one process
(standalone): only who owns the bus and store differs.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import MetaData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flageval_platform import migrations
from flageval_platform.bus import MessageBus, Subscription, create_bus
from flageval_platform.db import Database
from flageval_platform.errors import PlatformError, error_body
from flageval_platform.identity import IDENTITY_HEADER, Identity, verify_identity
from flageval_platform.logging import (
    CORRELATION_HEADER,
    correlation_scope,
    get_correlation_id,
)
from flageval_platform.metrics import HTTP_LATENCY, HTTP_REQUESTS, render
from flageval_platform.openapi import install_error_documentation
from flageval_platform.outbox import Messaging, OutboxRelay
from flageval_platform.peers import Peers
from flageval_platform.request_guard import RequestBodyGuard
from flageval_platform.settings import Settings, schema_name
from flageval_platform.storage import ObjectStore, create_store

log = logging.getLogger(__name__)

#: Where :class:`RequestContextMiddleware` leaves the request's correlation id in the scope.
CORRELATION_SCOPE_KEY = "flageval.correlation_id"

Hook = Callable[["ServiceContext"], Awaitable[None]]


@dataclass
class ServiceDefinition:
    """The parts of one service, independent of how it is deployed."""

    name: str
    metadata: MetaData
    messaging: Messaging
    migrations: Path
    routers: Callable[[ServiceContext], Sequence[Any]]
    subscriptions: Callable[[ServiceContext], Sequence[Subscription]] = lambda _ctx: ()
    startup: Sequence[Hook] = ()
    shutdown: Sequence[Hook] = ()


@dataclass
class ServiceContext:
    """One service bound to its settings and infrastructure."""

    definition: ServiceDefinition
    settings: Settings
    bus: MessageBus
    store: ObjectStore
    owns_infrastructure: bool = True
    state: dict[str, Any] = field(default_factory=dict)
    #: Use this database instead of the one the settings name (tests: a private schema).
    database: Database | None = None

    def __post_init__(self) -> None:
        self.name = self.definition.name
        self.secret_key = self.settings.ensure_secret_key()
        self.db = self.database or Database(
            self.settings.database_url_for(self.name), schema=schema_name(self.name)
        )
        self.messaging = self.definition.messaging
        self.relay = OutboxRelay(
            self.db,
            self.messaging,
            self.bus,
            service=self.name,
            poll_seconds=self.settings.outbox_poll_seconds,
        )
        #: Synchronous calls to other services (in-process apps are registered by the launcher).
        self.peers = Peers(self.secret_key, self.settings.service_urls)
        self.started = False

    @classmethod
    def standalone_process(
        cls, definition: ServiceDefinition, settings: Settings
    ) -> ServiceContext:
        """A context that creates and owns its own bus and store (one service per process)."""
        return cls(
            definition,
            settings,
            bus=create_bus(settings.broker_url),
            store=create_store(settings),
            owns_infrastructure=True,
        )

    async def migrate(self) -> None:
        await migrations.upgrade(self.db, self.definition.migrations)

    async def start(self) -> None:
        await self.migrate()
        if self.owns_infrastructure:
            await self.bus.connect()
        self.relay.start()
        for subscription in self.definition.subscriptions(self):
            await self.bus.subscribe(subscription)
        for hook in self.definition.startup:
            await hook(self)
        self.started = True
        log.info("service started", extra={"service_name": self.name})

    async def stop(self) -> None:
        for hook in self.definition.shutdown:
            await hook(self)
        await self.relay.stop()
        await self.peers.aclose()
        if self.owns_infrastructure:
            await self.bus.close()
            await self.store.close()
        await self.db.dispose()
        self.started = False

    async def readiness(self) -> dict[str, str]:
        """``{"database": "ok"|error, "broker": "ok"|error}``."""
        checks: dict[str, str] = {}
        for name, probe in (("database", self.db.ping), ("broker", self.bus.ping)):
            try:
                await probe()
                checks[name] = "ok"
            except Exception as exc:  # readiness reports, it does not raise
                checks[name] = f"unavailable: {type(exc).__name__}"
        return checks

    def current_identity(self, request: Request) -> Identity:
        """FastAPI dependency: the caller as forwarded (and signed) by the gateway."""
        return verify_identity(request.headers.get(IDENTITY_HEADER), self.secret_key)


class RequestContextMiddleware:
    """Correlation id in and out, a JSON access log line, and Prometheus metrics (pure ASGI)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for key, value in scope.get("headers", []):
            if key == b"x-correlation-id":
                incoming = value.decode("latin-1")[:128] or None
                break
        status = 500
        started = time.perf_counter()
        with correlation_scope(incoming, self.service) as cid:
            # For the 500 handler, which runs outside this middleware (and this scope).
            scope[CORRELATION_SCOPE_KEY] = cid

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    # Replace, not append: an in-process service behind the gateway has set it too.
                    name = CORRELATION_HEADER.lower().encode()
                    headers = [h for h in message.get("headers", []) if h[0].lower() != name]
                    headers.append((name, cid.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                HTTP_REQUESTS.labels(self.service, scope["method"], template, str(status)).inc()
                HTTP_LATENCY.labels(self.service, scope["method"], template).observe(elapsed)
                if template not in ("/healthz", "/readyz", "/metrics"):
                    log.info(
                        "request",
                        extra={
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 2),
                        },
                    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error reply as ``{"detail", "code"}`` (see :mod:`flageval_platform.errors`):
    :class:`PlatformError` with its status, ``HTTPException`` (Starlette's own 404/405
    included), request validation as 422, and anything unexpected as a logged 500."""

    @app.exception_handler(PlatformError)
    async def _platform_error(_request: Request, exc: PlatformError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):  # no body allowed
            return Response(status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(
            error_body(exc.detail, exc.status_code),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad value back ("input"); that can be a password or
        # an API key, so only say where and what is wrong.
        errors = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse(error_body(errors, 422), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        cid = request.scope.get(CORRELATION_SCOPE_KEY) or get_correlation_id()
        return JSONResponse(
            {**error_body("Internal error", 500), "correlation_id": cid},
            status_code=500,
            headers={CORRELATION_HEADER: cid} if cid else None,
        )


def metrics_authorized(settings: Settings, authorization: str | None) -> bool:
    """Whether ``Authorization`` carries ``Bearer <FLAGEVAL_METRICS_TOKEN>`` (constant time)."""
    if settings.metrics_token is None or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return (
        scheme.lower() == "bearer"
        and bool(expected)
        and hmac.compare_digest(token.strip().encode(), expected.encode())
    )


def build_app(
    ctx: ServiceContext, *, manage_lifecycle: bool = True, **fastapi_kwargs: Any
) -> FastAPI:
    """The service's FastAPI app. With ``manage_lifecycle`` its lifespan starts and stops ``ctx``."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        if manage_lifecycle:
            await ctx.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await ctx.stop()

    app = FastAPI(title=f"flageval {ctx.name}", lifespan=lifespan, **fastapi_kwargs)
    app.state.ctx = ctx
    install_error_handlers(app)
    install_error_documentation(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": ctx.name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        checks = await ctx.readiness()
        ready = all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"status": "ready" if ready else "unavailable"}
        # What failed (and how) is for the operator's scraper only.
        if metrics_authorized(ctx.settings, request.headers.get("authorization")):
            body.update(service=ctx.name, checks=checks)
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        # Not public: without a configured token the endpoint does not exist.
        if ctx.settings.metrics_token is None:
            raise StarletteHTTPException(404, "Not Found")
        if not metrics_authorized(ctx.settings, request.headers.get("authorization")):
            raise StarletteHTTPException(
                401, "A valid metrics token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        body, content_type = render()
        return Response(body, media_type=content_type)

    for router in ctx.definition.routers(ctx):
        app.include_router(router)
    app.add_middleware(
        RequestBodyGuard, body_timeout_seconds=ctx.settings.request_body_timeout_seconds
    )
    app.add_middleware(RequestContextMiddleware, service=ctx.name)
    return app


def app_factory(
    definition: ServiceDefinition, settings_class: type[Settings] = Settings
) -> Callable[[Settings | None], FastAPI]:
    """``create_app(settings=None)`` for a service run as its own process (mesh mode)."""

    def create_app(settings: Settings | None = None) -> FastAPI:
        ctx = ServiceContext.standalone_process(definition, settings or settings_class())
        return build_app(ctx)

    create_app.__doc__ = f"The {definition.name} service as its own process (mesh mode)."
    return create_app
