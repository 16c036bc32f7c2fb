"""GET /api/health, the OpenAPI document, and the local store's presigned URLs."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from flageval_gateway.routing import InProcessBackend


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


async def test_health_503_lists_what_failed(gateway_factory) -> None:
    async def broken_db() -> dict[str, str]:
        return {"database": "unavailable: OperationalError", "broker": "ok"}

    async def crashing() -> dict[str, str]:
        raise RuntimeError("boom")

    async def fine() -> dict[str, str]:
        return {"database": "ok", "broker": "ok"}

    app = FastAPI()
    async with gateway_factory(
        backends=lambda _d, _b: {
            "eval-api": InProcessBackend(app, broken_db),
            "upload": InProcessBackend(app, crashing),
            "leaderboard": InProcessBackend(app, fine),
        }
    ) as gw:
        r = await gw.client.get("/api/health")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert body["services"]["gateway"] == "ok"
        assert body["services"]["leaderboard"] == "ok"
        assert body["services"]["eval-api"] == "database: unavailable: OperationalError"
        assert body["services"]["upload"] == "unavailable: RuntimeError"

        # The gateway's own readiness counts too.
        await gw.bus.close()
        r = await gw.client.get("/api/health")
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
