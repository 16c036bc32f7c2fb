"""RemoteBackend: a streaming reverse proxy to services over real HTTP (uvicorn), its failure
statuses, and the mesh-mode app factory."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os

import httpx

from flageval_gateway.config import GatewaySettings
from flageval_gateway.main import create_app
from flageval_gateway.routing import RemoteBackend
from flageval_platform.testing import free_port


async def test_closed_port_is_503(gateway_factory) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with gateway_factory(backends=lambda _d, _b: {"eval-api": RemoteBackend(url)}) as gw:
        _, headers = await gw.user("approved")
        r = await gw.client.get("/api/evaluations", headers=headers)
        assert r.status_code == 503
        assert r.json() == {
            "detail": "The eval-api service is unavailable, try again shortly",
            "code": "service_unavailable",
        }


async def test_proxies_streamed_bodies_both_ways(gateway_factory, remote_service) -> None:
    async with (
        remote_service("eval-api") as eval_url,
        remote_service("leaderboard") as board_url,
        gateway_factory(
            backends=lambda _d, _b: {
                "eval-api": RemoteBackend(eval_url),
                "leaderboard": RemoteBackend(board_url),
            }
        ) as gw,
    ):
        user, headers = await gw.user("approved")
        payload = os.urandom(5 * 1024 * 1024 + 3)

        async def chunks():  # type: ignore[no-untyped-def]
            for i in range(0, len(payload), 100_000):
                yield payload[i : i + 100_000]
                await asyncio.sleep(0)

        r = await gw.client.post(
            "/api/evaluations/e1/runs?kind=formal",
            content=chunks(),
            headers={**headers, "X-Correlation-ID": "remote-1", "Content-Type": "x/y"},
        )
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["body_length"] == len(payload)
        assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
        assert seen["path"] == "/api/evaluations/e1/runs"
        assert seen["query"] == "kind=formal"
        assert seen["identity"]["user_id"] == user["id"]
        assert seen["authorization"] is None
        assert seen["correlation_id"] == "remote-1"
        assert r.headers.get_list("x-correlation-id") == ["remote-1"]

        # A body with a Content-Length, and none at all.
        r = await gw.client.put("/api/evaluations/e1", content=b"abc", headers=headers)
        assert r.json()["body_length"] == 3
        r = await gw.client.delete("/api/evaluations/e1", headers=headers)
        assert r.json()["method"] == "DELETE"
        assert r.json()["body_length"] == 0

        # A streamed response arrives whole.
        r = await gw.client.get("/api/leaderboards/stream?chunks=20&size=65536")
        assert r.status_code == 200
        assert r.content == b"".join(bytes([i]) * 65536 for i in range(20))

        # The service's own errors pass through unchanged.
        r = await gw.client.get("/api/leaderboards/whoami")
        assert r.status_code == 401
        assert r.json() == {"detail": "Not authenticated", "code": "unauthorized"}
        r = await gw.client.get("/api/leaderboards/whoami", headers=headers)
        assert r.json()["identity"]["username"] == user["username"]

        # Health asks each remote service's /readyz.
        r = await gw.client.get("/api/health")
        assert r.status_code == 200
        assert r.json()["services"] == {"gateway": "ok", "eval-api": "ok", "leaderboard": "ok"}


async def test_slow_service_is_504(gateway_factory, remote_service) -> None:
    async with (
        remote_service("leaderboard") as url,
        gateway_factory(
            proxy_timeout_seconds=0.3,
            backends=lambda _d, _b: {"leaderboard": RemoteBackend(url)},
        ) as gw,
    ):
        r = await gw.client.get("/api/leaderboards/slow?seconds=1")
        assert r.status_code == 504
        assert "leaderboard" in r.json()["detail"]
        assert r.json()["code"] == "gateway_timeout"


async def test_garbage_answer_is_502(gateway_factory) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        backend = RemoteBackend(f"http://127.0.0.1:{port}")
        async with gateway_factory(backends=lambda _d, _b: {"leaderboard": backend}) as gw:
            r = await gw.client.get("/api/leaderboards/nlp")
            assert r.status_code == 502
            assert "leaderboard" in r.json()["detail"]
            assert r.json()["code"] == "bad_gateway"
            health = await gw.client.get("/api/health")
            assert health.status_code == 503
            assert health.json()["services"]["leaderboard"] != "ok"
    finally:
        server.close()
        await server.wait_closed()


async def test_mesh_app_under_uvicorn(tmp_path, remote_service, serve_app, platform_secret) -> None:
    """create_app(): the gateway as its own process, every service remote."""
    closed = f"http://127.0.0.1:{free_port()}"
    async with remote_service("leaderboard") as board_url:
        settings = GatewaySettings(
            data_dir=tmp_path / "mesh",
            secret_key=platform_secret,
            admin_email="ops@example.com",
            admin_password="Ops-pass-1234",
            service_urls={"leaderboard": board_url, "eval-api": closed},
            metrics_token="scraper-token-1",
        )
        app = create_app(settings)
        backends = app.state.ctx.state["backends"]
        assert set(backends) == {"leaderboard", "eval-api"}
        async with serve_app(app) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
            login = await client.post(
                "/api/auth/login", json={"email": "ops@example.com", "password": "Ops-pass-1234"}
            )
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]

            async def body():  # type: ignore[no-untyped-def]
                for _ in range(32):
                    yield b"z" * 32768

            r = await client.post(
                "/api/runs/r1/submissions",
                content=body(),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["service"] == "leaderboard"
            assert r.json()["body_length"] == 32 * 32768
            assert r.json()["identity"]["role"] == "admin"

            r = await client.get("/api/leaderboards/stream?chunks=8&size=100000")
            assert r.content == b"".join(bytes([i]) * 100000 for i in range(8))

            r = await client.get("/api/evaluations", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503

            r = await client.get("/api/health")
            assert r.status_code == 503
            assert r.json()["services"]["eval-api"] == "unavailable"  # why: scrapers only
            scraper = {"Authorization": "Bearer scraper-token-1"}
            r = await client.get("/api/health", headers=scraper)
            assert r.status_code == 503
            services = r.json()["services"]
            assert services["gateway"] == "ok"
            assert services["leaderboard"] == "ok"
            assert services["eval-api"].startswith("unreachable")
        # The lifespan closed the shared HTTP clients.
        assert all(b._client is None for b in backends.values())


async def test_a_stalled_body_is_408_before_the_service_waits_for_it(
    gateway_factory, remote_service
) -> None:
    """The gateway's own body deadline holds while it streams a body to a remote service."""
    async with (
        remote_service("leaderboard") as url,
        gateway_factory(
            request_body_timeout_seconds=0.5,
            backends=lambda _d, _b: {"leaderboard": RemoteBackend(url)},
        ) as gw,
    ):
        sent: list[dict] = []
        chunks = [b'{"partial": ']

        async def receive() -> dict:
            if not chunks:
                await asyncio.sleep(3600)  # a client that stalls
            return {"type": "http.request", "body": chunks.pop(), "more_body": True}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/leaderboards/upload",
            "raw_path": b"/api/leaderboards/upload",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(gw.app(scope, receive, send), 10)
        assert asyncio.get_running_loop().time() - started < 5
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body) == {
        "detail": "The request body did not arrive in time.",
        "code": "request_timeout",
    }
