"""What build_app gives every service: health, readiness, metrics, correlation ids, JSON logs,
errors mapped to 4xx in one shape, and identity only through the gateway's signature."""

import json
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import MetaData

from flageval_contracts.enums import Role, UserStatus
from flageval_platform.bus.memory import MemoryBus
from flageval_platform.errors import Conflict
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.logging import CORRELATION_HEADER, JsonFormatter
from flageval_platform.outbox import Messaging
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app
from flageval_platform.settings import Settings
from flageval_platform.storage.local import LocalObjectStore

NOTIFIER_MIGRATIONS = Path(__import__("flageval_notifier.main").main.__file__).parent / "migrations"


def _routers(ctx: ServiceContext) -> list[APIRouter]:
    router = APIRouter()

    @router.get("/api/whoami")
    async def whoami(identity: Identity = Depends(ctx.current_identity)) -> dict[str, str]:
        logging.getLogger("test").info("whoami called", extra={"user": identity.username})
        return {"user_id": str(identity.user_id), "username": identity.username}

    @router.post("/api/conflict")
    async def conflict() -> None:
        raise Conflict("That name is taken", code="name_taken")

    @router.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @router.get("/api/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout")

    return [router]


METRICS_TOKEN = "scrape-" + "m" * 32


@pytest.fixture
async def service(tmp_path: Path):
    metadata = MetaData()
    definition = ServiceDefinition(
        name="notifier",
        metadata=metadata,
        messaging=Messaging(metadata, service="notifier"),
        migrations=NOTIFIER_MIGRATIONS,
        routers=_routers,
    )
    settings = Settings(data_dir=tmp_path, secret_key="k" * 48, metrics_token=METRICS_TOKEN)
    ctx = ServiceContext(
        definition,
        settings,
        bus=MemoryBus(),
        store=LocalObjectStore(tmp_path / "objects", public_url="http://test", secret_key="k" * 48),
    )
    app = build_app(ctx, manage_lifecycle=False)
    await ctx.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://test",
        ) as client:
            yield ctx, client
    finally:
        await ctx.stop()


SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


async def test_health_readiness_and_metrics(service) -> None:
    _ctx, client = service
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": "notifier"}
    ready = await client.get("/readyz", headers=SCRAPER)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = await client.get("/metrics", headers=SCRAPER)
    assert metrics.status_code == 200
    assert (
        'flageval_http_requests_total{method="GET",route="/readyz",service="notifier",status="200"}'
        in metrics.text
    )


async def test_metrics_and_readiness_details_need_the_metrics_token(service) -> None:
    _ctx, client = service
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {METRICS_TOKEN}x"},
    ):
        denied = await client.get("/metrics", headers=headers)
        assert denied.status_code == 401, headers
        assert denied.json()["code"] == "unauthorized"
        assert "flageval_http" not in denied.text
        ready = await client.get("/readyz", headers=headers)
        # Probes still get their status, but not what the service depends on.
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


@pytest.mark.parametrize("token", [None, "", "  "])
async def test_without_a_metrics_token_there_are_no_metrics(tmp_path: Path, token) -> None:
    async with _app(tmp_path, metrics_token=token) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
            reply = await client.get("/metrics", headers=headers)
            assert reply.status_code == 404
            assert reply.json() == {"detail": "Not Found", "code": "not_found"}
            ready = await client.get("/readyz", headers=headers)
            assert ready.json() == {"status": "ready"}


async def test_readiness_fails_when_the_broker_is_down(service) -> None:
    ctx, client = service
    await ctx.bus.close()
    ready = await client.get("/readyz", headers=SCRAPER)
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"].startswith("unavailable")
    assert ready.json()["checks"]["database"] == "ok"
    anonymous = await client.get("/readyz")
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}


async def test_correlation_id_is_echoed_or_created(service) -> None:
    _, client = service
    given = await client.get("/healthz", headers={CORRELATION_HEADER: "trace-42"})
    assert given.headers[CORRELATION_HEADER] == "trace-42"
    fresh = await client.get("/healthz")
    assert len(fresh.headers[CORRELATION_HEADER]) == 32


async def test_identity_must_be_signed_by_the_gateway(service) -> None:
    ctx, client = service
    assert (await client.get("/api/whoami")).status_code == 401
    forged = await client.get("/api/whoami", headers={IDENTITY_HEADER: "eyJzdWIiOiIxIn0.forged"})
    assert forged.status_code == 401
    me = Identity(uuid.uuid4(), "carol", Role.USER, UserStatus.APPROVED)
    ok = await client.get(
        "/api/whoami", headers={IDENTITY_HEADER: sign_identity(me, ctx.secret_key)}
    )
    assert ok.status_code == 200 and ok.json()["username"] == "carol"


async def test_errors_map_to_status_without_leaking_internals(service) -> None:
    _, client = service
    conflict = await client.post("/api/conflict")
    assert conflict.status_code == 409
    assert conflict.json() == {
        "detail": {"code": "name_taken", "message": "That name is taken"},
        "code": "name_taken",
    }
    boom = await client.get("/api/boom")
    assert boom.status_code == 500
    assert "secret internals" not in boom.text
    assert boom.json()["detail"] == "Internal error" and boom.json()["code"] == "internal_error"
    assert boom.json()["correlation_id"] == boom.headers[CORRELATION_HEADER]
    assert len(boom.json()["correlation_id"]) == 32


async def test_every_error_has_detail_and_code(service) -> None:
    _, client = service
    cases = [
        ("GET", "/api/whoami", 401, {"detail": "Not authenticated", "code": "unauthorized"}),
        ("GET", "/api/nowhere", 404, {"detail": "Not Found", "code": "not_found"}),
        (
            "DELETE",
            "/api/whoami",
            405,
            {"detail": "Method Not Allowed", "code": "method_not_allowed"},
        ),
        ("GET", "/api/teapot", 418, {"detail": "short and stout", "code": "client_error"}),
    ]
    for method, path, status, body in cases:
        reply = await client.request(method, path)
        assert (reply.status_code, reply.json()) == (status, body), (method, path)
    assert (await client.delete("/api/whoami")).headers["allow"] == "GET"


async def test_log_lines_are_json_with_service_and_correlation_id(service, caplog) -> None:
    ctx, client = service
    me = Identity(uuid.uuid4(), "dave", Role.USER, UserStatus.APPROVED)
    with caplog.at_level(logging.INFO):
        await client.get(
            "/api/whoami",
            headers={
                IDENTITY_HEADER: sign_identity(me, ctx.secret_key),
                CORRELATION_HEADER: "cid-7",
            },
        )
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    called = next(line for line in lines if line["message"] == "whoami called")
    assert called["correlation_id"] == "cid-7" and called["service"] == "notifier"
    assert called["user"] == "dave"
    access = next(line for line in lines if line["message"] == "request")
    assert access["path"] == "/api/whoami" and access["status"] == 200


@asynccontextmanager
async def _app(tmp_path: Path, routers=lambda _ctx: [], **settings):  # type: ignore[no-untyped-def]
    """A service app (not started) with ``routers``, driven over ASGI."""
    metadata = MetaData()
    definition = ServiceDefinition(
        name="notifier",
        metadata=metadata,
        messaging=Messaging(metadata, service="notifier"),
        migrations=NOTIFIER_MIGRATIONS,
        routers=routers,
    )
    ctx = ServiceContext(
        definition,
        Settings(data_dir=tmp_path, secret_key="k" * 48, **settings),
        bus=MemoryBus(),
        store=LocalObjectStore(tmp_path / "o", public_url="http://t", secret_key="k" * 48),
    )
    app = build_app(ctx, manage_lifecycle=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client
    await ctx.db.dispose()


async def test_validation_errors_never_echo_the_submitted_value(tmp_path: Path) -> None:
    from pydantic import BaseModel

    class Login(BaseModel):
        password: int

    router = APIRouter()

    @router.post("/api/login")
    async def login(body: Login) -> None:
        return None

    async with _app(tmp_path, lambda _ctx: [router]) as client:
        reply = await client.post("/api/login", json={"password": "hunter2-secret"})
    assert reply.status_code == 422
    assert "hunter2-secret" not in reply.text
    assert reply.json()["detail"] == [
        {
            "type": "int_parsing",
            "loc": ["body", "password"],
            "msg": reply.json()["detail"][0]["msg"],
        }
    ]
    assert reply.json()["code"] == "validation_error"
