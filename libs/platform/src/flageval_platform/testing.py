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
from contextlib import asynccontextmanager
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
