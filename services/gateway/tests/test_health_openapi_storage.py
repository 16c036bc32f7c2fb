"""GET /api/health, the OpenAPI document, and the local store's presigned URLs."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from flageval_gateway.routing import InProcessBackend
from flageval_gateway.routing.backends import Backend
from flageval_platform.bus.memory import MemoryBus
from flageval_platform.service import ServiceContext, build_app
from flageval_platform.settings import Settings
from flageval_platform.storage import create_store


async def test_health_ok(gateway) -> None:
    r = await gateway.client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["services"]["gateway"] == "ok"
    assert set(body["services"]) == {
        "gateway",
        "eval-api",
        "upload",
        "leaderboard",
        "scheduler",
        "notifier",
        "image-registry",
    }
    assert set(body["services"].values()) == {"ok"}


async def test_health_503_names_what_failed_and_only_scrapers_see_why(gateway_factory) -> None:
    async def broken_db() -> dict[str, str]:
        return {"database": "unavailable: OperationalError", "broker": "ok"}

    async def crashing() -> dict[str, str]:
        raise RuntimeError("boom")

    async def fine() -> dict[str, str]:
        return {"database": "ok", "broker": "ok"}

    app = FastAPI()
    scraper = {"Authorization": "Bearer metrics-token-123"}
    async with gateway_factory(
        backends=lambda _d, _b: {
            "eval-api": InProcessBackend(app, broken_db),
            "upload": InProcessBackend(app, crashing),
            "leaderboard": InProcessBackend(app, fine),
        },
        metrics_token="metrics-token-123",
    ) as gw:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = await gw.client.get("/api/health", headers=headers)
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "unavailable"
            assert body["code"] == "service_unavailable"
            assert body["detail"] == "Cannot serve right now: eval-api, upload"
            assert body["services"]["gateway"] == "ok"
            assert body["services"]["leaderboard"] == "ok"
            assert body["services"]["eval-api"] == "unavailable"  # no dependency, no class name
            assert body["services"]["upload"] == "unavailable"

        body = (await gw.client.get("/api/health", headers=scraper)).json()
        assert body["services"]["eval-api"] == "database: unavailable: OperationalError"
        assert body["services"]["upload"] == "unavailable: RuntimeError"

        # The gateway's own readiness counts too.
        await gw.bus.close()
        r = await gw.client.get("/api/health", headers=scraper)
        assert r.status_code == 503
        assert r.json()["services"]["gateway"].startswith("broker:")
        await gw.bus.connect()


async def test_openapi_and_docs(gateway) -> None:
    r = await gateway.client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    paths = doc["paths"]
    for path in (
        "/api/auth/register",
        "/api/auth/login",
        "/api/me",
        "/api/me/profile",
        "/api/admin/users",
        "/api/admin/users/{user_id}/review",
        "/api/health",
    ):
        assert path in paths, path
    assert "post" in paths["/api/auth/register"]
    assert "put" in paths["/api/me/profile"]
    assert any(s.get("scheme") == "bearer" for s in doc["components"]["securitySchemes"].values())
    assert "password_hash" not in r.text
    assert (await gateway.client.get("/api/docs")).status_code == 200
    assert (await gateway.client.get("/openapi.json")).status_code == 404


async def test_openapi_documents_one_error_shape(gateway_factory, tmp_path: Path) -> None:
    """The published document, merged from the real services, has one error schema."""
    settings = Settings(data_dir=tmp_path / "services", secret_key="s" * 48)
    contexts = {
        name: ServiceContext(
            importlib.import_module(module).definition,
            settings,
            bus=MemoryBus(),
            store=create_store(settings),
            owns_infrastructure=False,
        )
        for name, module in (
            ("eval-api", "flageval_eval_api.main"),
            ("notifier", "flageval_notifier.main"),
            ("image-registry", "flageval_image_registry.main"),
            ("leaderboard", "flageval_leaderboard.main"),
        )
    }

    def backends(_data: Path, _bus: MemoryBus) -> dict[str, Backend]:
        return {
            name: InProcessBackend(build_app(ctx, manage_lifecycle=False), ctx.readiness)
            for name, ctx in contexts.items()
        }

    async with gateway_factory(backends=backends) as gw:
        doc = (await gw.client.get("/api/openapi.json")).json()
    for ctx in contexts.values():
        await ctx.db.dispose()
    error = doc["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["detail", "code"]
    assert set(error["properties"]) == {"detail", "code"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]

    def errors(path: str, method: str) -> set[str]:
        responses = doc["paths"][path][method]["responses"]
        for status, response in responses.items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
        return {status for status in responses if int(status) >= 400}

    # The gateway's own endpoints ...
    assert {"401", "422", "429"} <= errors("/api/auth/login", "post")
    assert {"409", "422"} <= errors("/api/auth/register", "post")
    assert "401" in errors("/api/me", "get") and "403" not in errors("/api/me", "get")
    assert {"401", "403", "404", "409", "422"} <= errors(
        "/api/admin/users/{user_id}/review", "post"
    )
    # ... and the routed ones, with the 401/403 of the route table.
    assert {"401", "403", "422"} <= errors("/api/evaluations", "post")
    assert {"401", "403", "404"} <= errors("/api/runs/{run_id}", "get")
    assert {"401", "409"} <= errors("/api/evaluations/{evaluation_id}/runs", "post")
    assert "401" in errors("/api/me/notifications", "get")
    assert "403" not in errors("/api/me/notifications", "get")
    assert {"401", "403"} <= errors("/api/admin/images", "get")
    assert not {"401", "403"} & errors("/api/leaderboards/{domain}", "get")


async def test_local_store_presigned_urls_are_served(gateway) -> None:
    store = gateway.ctx.store
    await store.put("bundles/e1/hello.txt", b"hello world")
    url = await store.presigned_get_url("bundles/e1/hello.txt", timedelta(minutes=5))
    path = url.removeprefix(gateway.ctx.settings.effective_public_url)
    assert path.startswith("/api/storage/objects/")
    r = await gateway.client.get(path)
    assert r.status_code == 200
    assert r.content == b"hello world"
    r = await gateway.client.get(path.replace("signature=", "signature=x"))
    assert r.status_code == 403
