"""A gateway built in-process on SQLite or PostgreSQL, with real internal services behind it.

The internal services are small FastAPI apps made with the platform's ``build_app`` (so they
verify forwarded identities exactly like the real ones); they echo what they received.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import MetaData, select, text

from flageval_contracts import Envelope
from flageval_gateway.accounts import passwords
from flageval_gateway.config import GatewaySettings
from flageval_gateway.main import build_gateway_app, definition
from flageval_gateway.routing import Backend, InProcessBackend
from flageval_platform.bus import Subscription
from flageval_platform.bus.memory import MemoryBus
from flageval_platform.identity import IDENTITY_HEADER, Identity
from flageval_platform.outbox import Messaging
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app
from flageval_platform.settings import Settings
from flageval_platform.storage import create_store
from flageval_platform.testing import PG_URL, free_port

SECRET = "gateway-test-secret-" + "x" * 24
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "Admin-pass-123"
PASSWORD = "Correct-horse-9"
ALL_SERVICES = ("eval-api", "upload", "leaderboard", "scheduler", "notifier", "image-registry")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with test-sized cost: the behaviour is the same, the suite stays fast."""
    monkeypatch.setattr(
        passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(passwords, "_dummy_hash", None)


# ------------------------------------------------------------------ internal echo services


def echo_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter()

    @router.get("/api/leaderboards/whoami")
    async def whoami(identity: Identity = Depends(ctx.current_identity)) -> dict[str, Any]:
        return {"service": ctx.name, "identity": _identity_json(identity)}

    @router.get("/api/leaderboards/stream")
    async def stream(chunks: int = 10, size: int = 65536) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for i in range(chunks):
                yield bytes([i % 256]) * size

        return StreamingResponse(body(), media_type="application/octet-stream")

    @router.get("/api/leaderboards/slow")
    async def slow(seconds: float = 2.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "late"}

    @router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(path: str, request: Request) -> dict[str, Any]:
        identity = None
        if IDENTITY_HEADER in request.headers:
            identity = _identity_json(ctx.current_identity(request))  # 401 unless signed
        digest, length = hashlib.sha256(), 0
        async for chunk in request.stream():
            digest.update(chunk)
            length += len(chunk)
        return {
            "service": ctx.name,
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "identity": identity,
            "authorization": request.headers.get("authorization"),
            "correlation_id": request.headers.get("x-correlation-id"),
            "body_sha256": digest.hexdigest(),
            "body_length": length,
        }

    return router


def _identity_json(identity: Identity) -> dict[str, str]:
    return {
        "user_id": str(identity.user_id),
        "username": identity.username,
        "role": identity.role.value,
        "status": identity.status.value,
    }


def echo_service(name: str, data_dir: Path, bus: MemoryBus) -> tuple[FastAPI, ServiceContext]:
    """A real internal service (platform ``build_app``) that echoes what reaches it."""
    md = MetaData()
    svc = ServiceDefinition(
        name=name,
        metadata=md,
        messaging=Messaging(md, service=name),
        migrations=Path(__file__).parent,  # never migrated: it has no tables of its own
        routers=lambda ctx: [echo_router(ctx)],
    )
    settings = Settings(data_dir=data_dir, secret_key=SECRET)
    ctx = ServiceContext(
        svc, settings, bus=bus, store=create_store(settings), owns_infrastructure=False
    )
    return build_app(ctx, manage_lifecycle=False), ctx


# ------------------------------------------------------------------ the gateway harness


@dataclass
class Gateway:
    # Test modules cannot import this conftest (importlib mode), so constants travel here.
    secret: ClassVar[str] = SECRET
    password: ClassVar[str] = PASSWORD
    admin_email: ClassVar[str] = ADMIN_EMAIL
    admin_password: ClassVar[str] = ADMIN_PASSWORD

    ctx: ServiceContext
    app: FastAPI
    client: httpx.AsyncClient
    bus: MemoryBus
    events: list[Envelope] = field(default_factory=list)

    def client_from(self, ip: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(ip, 40000)),
            base_url="http://test",
        )

    async def register(
        self, username: str | None = None, email: str | None = None, password: str = PASSWORD
    ) -> dict[str, Any]:
        username = username or f"u{uuid.uuid4().hex[:10]}"
        email = email or f"{username}@example.com"
        r = await self.client.post(
            "/api/auth/register", json={"email": email, "username": username, "password": password}
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        r = await self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def admin(self) -> dict[str, str]:
        return await self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    async def user(self, status: str = "registered") -> tuple[dict[str, Any], dict[str, str]]:
        """A logged-in user brought to ``status`` through the public API."""
        user = await self.register()
        headers = await self.login(user["email"])
        if status != "registered":
            r = await self.client.put(
                "/api/me/profile",
                json={"real_name": "Ada Lovelace", "organization": "BAAI"},
                headers=headers,
            )
            assert r.status_code == 200, r.text
        if status in ("approved", "rejected"):
            decision = {"decision": "approve" if status == "approved" else "reject"}
            if status == "rejected":
                decision["reason"] = "Organization could not be verified"
            r = await self.client.post(
                f"/api/admin/users/{user['id']}/review", json=decision, headers=await self.admin()
            )
            assert r.status_code == 200, r.text
        r = await self.client.get("/api/me", headers=headers)
        assert r.json()["status"] == status
        return r.json(), headers

    async def outbox(self) -> list[dict[str, Any]]:
        table = self.ctx.messaging.outbox
        async with self.ctx.db.transaction() as session:
            rows = (await session.execute(select(table.c.type, table.c.body))).all()
        return [{"type": t, **body} for t, body in rows]

    async def wait_for_events(self, count: int) -> list[Envelope]:
        """The events the relay has published on the bus, once there are ``count``."""
        async with asyncio.timeout(5):
            while len(self.events) < count:  # noqa: ASYNC110 - polling a list the bus fills
                await asyncio.sleep(0.02)
        return self.events


GatewayFactory = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
async def gateway_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[GatewayFactory]:
    """``async with gateway_factory(database="postgres", backends=..., **settings) as gw``.

    On PostgreSQL every service gets a schema unique to this test, dropped afterwards; on SQLite
    the files live in this test's tmp_path. Calling it twice reuses the same database (restart).
    """
    prefix = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(
        "flageval_platform.service.schema_name", lambda svc: f"{prefix}_{svc.replace('-', '_')}"
    )
    used_pg = False

    @asynccontextmanager
    async def make(
        *,
        database: str = "sqlite",
        backends: Callable[[Path, MemoryBus], dict[str, Backend]] | None = None,
        services: Iterable[str] = ALL_SERVICES,
        **overrides: Any,
    ) -> AsyncIterator[Gateway]:
        nonlocal used_pg
        data_dir = tmp_path / "data"
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "secret_key": SECRET,
            "admin_email": ADMIN_EMAIL,
            "admin_password": ADMIN_PASSWORD,
            "outbox_poll_seconds": 0.05,
            **overrides,
        }
        if database == "postgres":
            used_pg = True
            values["database_url"] = PG_URL
        settings = GatewaySettings(**values)
        bus = MemoryBus()
        events: list[Envelope] = []

        async def collect(envelope: Envelope) -> None:
            events.append(envelope)

        await bus.subscribe(Subscription("test.gateway-events", ["user.#"], collect, prefetch=1))
        service_ctxs: list[ServiceContext] = []
        if backends is None:
            chosen: dict[str, Backend] = {}
            for name in services:
                app, sctx = echo_service(name, tmp_path / "services", bus)
                service_ctxs.append(sctx)
                chosen[name] = InProcessBackend(app, sctx.readiness)
        else:
            chosen = backends(tmp_path / "services", bus)
        ctx = ServiceContext(definition, settings, bus=bus, store=create_store(settings))
        app = build_gateway_app(ctx, chosen)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            yield Gateway(ctx=ctx, app=app, client=client, bus=bus, events=events)
        for sctx in service_ctxs:
            await sctx.db.dispose()

    yield make

    if used_pg:
        from flageval_platform.db import Database

        admin = Database(PG_URL)
        async with admin.engine.begin() as conn:
            for svc in ("gateway",):
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}_{svc}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def gateway(gateway_factory: GatewayFactory) -> AsyncIterator[Gateway]:
    async with gateway_factory() as gw:
        yield gw


@pytest.fixture(params=["sqlite", "postgres"])
async def any_db_gateway(
    request: pytest.FixtureRequest, gateway_factory: GatewayFactory
) -> AsyncIterator[Gateway]:
    async with gateway_factory(database=request.param) as gw:
        yield gw


# ------------------------------------------------------------------ a real HTTP service


@dataclass
class RunningServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@asynccontextmanager
async def serve(app: FastAPI, on_shutdown: Callable[[], Awaitable[None]] | None = None):  # type: ignore[no-untyped-def]
    """Run ``app`` under uvicorn on a free port in a thread; yields its base URL."""
    if on_shutdown is not None:
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app_: Any) -> AsyncIterator[Any]:
            async with inner(app_) as state:
                yield state
            await on_shutdown()

        app.router.lifespan_context = lifespan
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - set by uvicorn in its thread
                await asyncio.sleep(0.01)
        yield RunningServer(f"http://127.0.0.1:{port}", server, thread)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


@pytest.fixture
def remote_service(tmp_path: Path) -> Callable[[str], AbstractAsyncContextManager[str]]:
    """``async with remote_service("leaderboard") as url``: an echo service under uvicorn."""

    @asynccontextmanager
    async def start(name: str) -> AsyncIterator[str]:
        app, sctx = echo_service(name, tmp_path / f"remote-{name}", MemoryBus())
        async with serve(app, on_shutdown=sctx.db.dispose) as running:
            yield running.url

    return start


@pytest.fixture
def serve_app() -> Callable[[FastAPI], AbstractAsyncContextManager[RunningServer]]:
    """``async with serve_app(app) as running``: any app under uvicorn (lifespan included)."""
    return serve


@pytest.fixture
def platform_secret() -> str:
    """The secret the echo services verify forwarded identities with."""
    return SECRET
