"""Login throttling over real TCP: a gateway under uvicorn on 127.0.0.1, with clients bound to
their own loopback source addresses. The address the throttle counts is the connection's peer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from flageval_gateway.config import GatewaySettings
from flageval_gateway.main import create_app

PASSWORD = "Correct-horse-9"
ATTACKER, OWNER = "127.0.0.2", "127.0.0.3"


@asynccontextmanager
async def client_at(url: str, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, base_url=url, timeout=10) as client:
        yield client


async def login(client: httpx.AsyncClient, email: str, password: str) -> int:
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    return r.status_code


async def test_an_attacker_address_is_throttled_while_the_owner_logs_in(
    tmp_path: Path, serve_app, platform_secret: str
) -> None:
    settings = GatewaySettings(
        data_dir=tmp_path,
        secret_key=platform_secret,
        login_failures_per_account_address=3,
        login_failures_per_address=5,
        login_failure_window_seconds=60,
    )
    async with serve_app(create_app(settings)) as running:
        email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
        async with client_at(running.url, OWNER) as owner:
            r = await owner.post(
                "/api/auth/register",
                json={"email": email, "username": "the_owner", "password": PASSWORD},
            )
            assert r.status_code == 201, r.text

        async with client_at(running.url, ATTACKER) as attacker:
            # The per-(account, address) limit: three wrong guesses, then 429, even for the
            # right password from the attacker's address.
            for _ in range(3):
                assert await login(attacker, email, "Wrong-pass-1") == 401
            r = await attacker.post("/api/auth/login", json={"email": email, "password": "x"})
            assert r.status_code == 429
            assert 55 <= int(r.headers["retry-after"]) <= 60
            assert await login(attacker, email, PASSWORD) == 429

            async with client_at(running.url, OWNER) as owner:
                assert await login(owner, email, PASSWORD) == 200

            # The per-address limit across accounts: two more guesses fit (3 + 2 = 5)...
            for i in range(2):
                assert await login(attacker, f"guess{i}@example.com", "x1") == 401
            # ...then every account is refused from this address.
            assert await login(attacker, "anyone@example.com", "x1") == 429

        async with client_at(running.url, OWNER) as owner:
            assert await login(owner, "anyone@example.com", "x1") == 401
            assert await login(owner, email, PASSWORD) == 200
