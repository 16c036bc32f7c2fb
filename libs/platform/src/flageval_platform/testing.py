"""Pytest fixtures shared by every test suite (loaded by the root ``conftest.py``).

Tests use the real servers of this machine: PostgreSQL on 127.0.0.1:5432 and RabbitMQ on
127.0.0.1:5672 (``FLAGEVAL_TEST_PG_URL`` / ``FLAGEVAL_TEST_AMQP_URL`` override them), and an
in-process moto S3 server. Each test gets its own PostgreSQL schema, exchange and bucket, so
tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from flageval_platform.db import Database

PG_URL = os.environ.get("FLAGEVAL_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("FLAGEVAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def eventually(check: Callable[[], Any], within: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail after ``within``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now (the mesh launcher
    binds its services on consecutive ports)."""
    for _ in range(200):
        base = free_port()
        if base + count > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_url() -> str:
    return PG_URL


@pytest.fixture
def amqp_url() -> str:
    return AMQP_URL


@asynccontextmanager
async def _pg_schema_database() -> AsyncIterator[Database]:
    schema = unique("t")
    db = Database(PG_URL, schema=schema)
    await db.ensure_schema()
    try:
        yield db
    finally:
        await db.dispose()
        admin = Database(PG_URL)
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def _sqlite_database(path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def pg_database() -> AsyncIterator[Database]:
    """A :class:`Database` on the real PostgreSQL, in a schema of its own dropped afterwards."""
    async with _pg_schema_database() as db:
        yield db


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    async with _sqlite_database(tmp_path / "test.db") as db:
        yield db


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """Both database back ends, for contract tests that must hold on each."""
    if request.param == "sqlite":
        async with _sqlite_database(tmp_path / "test.db") as db:
            yield db
    else:
        async with _pg_schema_database() as db:
            yield db


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """An in-process S3 server (moto); yields its endpoint URL ``http://127.0.0.1:PORT``."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@dataclass
class RunningService:
    """One service started in-process for a test, and an HTTP client on its app."""

    ctx: Any
    bus: Any
    store: Any
    client: Any

    def headers_for(self, identity: Any) -> dict[str, str]:
        """The signed identity header the gateway would add for ``identity``."""
        from flageval_platform.identity import IDENTITY_HEADER, sign_identity

        return {IDENTITY_HEADER: sign_identity(identity, self.ctx.secret_key)}


@asynccontextmanager
async def running_service(
    definition: Any,
    settings: Any,
    *,
    database: Database | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[RunningService]:
    """Start ``definition`` with an in-memory bus and a local store under ``settings.data_dir``
    (on ``database`` when given: SQLite, or a private PostgreSQL schema), and drive its app over
    ASGI. Everything is stopped afterwards."""
    import httpx

    from flageval_platform.bus.memory import MemoryBus
    from flageval_platform.service import ServiceContext, build_app
    from flageval_platform.storage.local import LocalObjectStore

    bus = MemoryBus()
    await bus.connect()
    store = LocalObjectStore(
        settings.data_dir / "objects",
        public_url=settings.effective_public_url,
        secret_key=settings.ensure_secret_key(),
    )
    ctx = ServiceContext(
        definition, settings, bus=bus, store=store, owns_infrastructure=False, database=database
    )
    app = build_app(ctx, manage_lifecycle=False)
    await ctx.start()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield RunningService(ctx, bus, store, client)
    finally:
        await ctx.stop()
        await bus.close()


@dataclass
class RunningPlatform:
    """Several services started together for a test: one bus, one store, each its own database,
    calling each other in-process (as in standalone)."""

    services: dict[str, RunningService]
    bus: Any
    store: Any

    def __getitem__(self, name: str) -> RunningService:
        return self.services[name]


@asynccontextmanager
async def running_platform(
    definitions: dict[str, Any],
    settings: Any,
    *,
    backend: str = "sqlite",
    raise_app_exceptions: bool = True,
    state: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[RunningPlatform]:
    """Start ``definitions`` (name → ServiceDefinition) on a shared in-memory bus and local store.
    ``backend`` ``"sqlite"`` gives each service its own file under ``settings.data_dir``,
    ``"postgres"`` its own schema on the test server (dropped afterwards). ``state`` presets
    a service's ``ctx.state`` (e.g. the scheduler's executor)."""
    from contextlib import AsyncExitStack

    import httpx

    from flageval_platform.bus.memory import MemoryBus
    from flageval_platform.service import ServiceContext, build_app
    from flageval_platform.storage.local import LocalObjectStore

    async with AsyncExitStack() as stack:
        bus = MemoryBus()
        await bus.connect()
        stack.push_async_callback(bus.close)
        store = LocalObjectStore(
            settings.data_dir / "objects",
            public_url=settings.effective_public_url,
            secret_key=settings.ensure_secret_key(),
        )
        contexts: dict[str, ServiceContext] = {}
        apps: dict[str, Any] = {}
        for name, definition in definitions.items():
            if backend == "postgres":
                db = await stack.enter_async_context(_pg_schema_database())
            else:
                db = await stack.enter_async_context(
                    _sqlite_database(settings.data_dir / f"{name}.db")
                )
            ctx = ServiceContext(
                definition, settings, bus=bus, store=store, owns_infrastructure=False, database=db
            )
            ctx.state.update((state or {}).get(name, {}))
            contexts[name] = ctx
            apps[name] = build_app(ctx, manage_lifecycle=False)
        for ctx in contexts.values():
            for name, app in apps.items():
                ctx.peers.register_app(name, app)
        services: dict[str, RunningService] = {}
        for name, ctx in contexts.items():
            await ctx.start()
            stack.push_async_callback(ctx.stop)
            transport = httpx.ASGITransport(
                app=apps[name], raise_app_exceptions=raise_app_exceptions
            )
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://test")
            )
            services[name] = RunningService(ctx, bus, store, client)
        # Torn down first: no consumer is still handling a message when its service stops.
        stack.push_async_callback(bus.close)
        yield RunningPlatform(services, bus, store)


@contextmanager
def launched_platform(
    command: str, env: dict[str, str], log_path: Path, port: int
) -> Iterator[str]:
    """Start ``python -m flageval_launcher <command>`` (``up`` or ``mesh``) with only the
    ``FLAGEVAL_*`` variables of ``env`` (a developer's own never leak in), wait for
    ``/api/health``, yield the base URL, and stop it (SIGTERM to its process group, then
    SIGKILL). Output goes to ``log_path``; its tail is in the error when it never gets healthy."""
    import signal
    import subprocess
    import sys
    import time

    import httpx

    base = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flageval_launcher", command],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL_")}, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"platform exited early:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"platform never became healthy:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.3)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def served_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port in a daemon thread (a fake
    model or platform a subprocess can reach); yield its base URL; stop it afterwards."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def request_upload_token(
    client: Any, evaluation_id: str, headers: dict[str, str], within: float = 15.0
) -> Any:
    """``POST /api/evaluations/{id}/upload-tokens`` with a sync httpx ``client``, retried while
    the upload service answers 404: it hears of a new evaluation through ``evaluation.created``
    (the outbox), a moment after eval-api answered its creation."""
    import time

    deadline = time.monotonic() + within
    while True:
        reply = client.post(f"/api/evaluations/{evaluation_id}/upload-tokens", headers=headers)
        if reply.status_code != 404 or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)
