"""Bad input every service refuses the same way: out-of-range paging, lone surrogates, a body
that stops arriving; and the error shape in the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import MetaData

from flageval_platform.bus.memory import MemoryBus
from flageval_platform.outbox import Messaging
from flageval_platform.params import MAX_OFFSET, Limit, Offset
from flageval_platform.request_guard import LONE_SURROGATE, NOT_UTF8, LoneSurrogateScanner
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app
from flageval_platform.settings import Settings
from flageval_platform.storage.local import LocalObjectStore

NOTIFIER_MIGRATIONS = Path(__import__("flageval_notifier.main").main.__file__).parent / "migrations"


class Note(BaseModel):
    description: str


def _routers(_ctx: ServiceContext) -> list[APIRouter]:
    router = APIRouter()

    @router.get("/api/items")
    async def items(limit: Limit = 50, offset: Offset = 0, q: str = "") -> dict[str, Any]:
        return {"limit": limit, "offset": offset, "q": q}

    @router.post("/api/notes/{name}")
    async def note(name: str, body: Note) -> dict[str, str]:
        return {"name": name, "description": body.description}

    @router.post("/api/raw")
    async def raw(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    return [router]


@asynccontextmanager
async def _service(tmp_path: Path, **settings: Any) -> AsyncIterator[FastAPI]:
    metadata = MetaData()
    definition = ServiceDefinition(
        name="notifier",
        metadata=metadata,
        messaging=Messaging(metadata, service="notifier"),
        migrations=NOTIFIER_MIGRATIONS,
        routers=_routers,
    )
    ctx = ServiceContext(
        definition,
        Settings(data_dir=tmp_path, secret_key="k" * 48, **settings),
        bus=MemoryBus(),
        store=LocalObjectStore(tmp_path / "o", public_url="http://t", secret_key="k" * 48),
    )
    try:
        yield build_app(ctx, manage_lifecycle=False)
    finally:
        await ctx.db.dispose()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        _service(tmp_path) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


# -- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",
        "offset=-1",
        f"offset={MAX_OFFSET + 1}",
        "limit=0",
        "limit=501",
        "limit=99999999999999999999999",
    ],
)
async def test_paging_out_of_range_is_422(client: httpx.AsyncClient, query: str) -> None:
    reply = await client.get(f"/api/items?{query}")
    assert reply.status_code == 422
    assert reply.json()["code"] == "validation_error"
    assert reply.json()["detail"][0]["loc"][0] == "query"


async def test_paging_in_range_is_served(client: httpx.AsyncClient) -> None:
    reply = await client.get(f"/api/items?limit=500&offset={MAX_OFFSET}")
    assert reply.json() == {"limit": 500, "offset": MAX_OFFSET, "q": ""}


# -- lone surrogates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"description": "\\ud800"}',
        b'{"description": "tail \\uDFFF"}',
        b'{"description": "\\udc00\\ud800"}',  # the halves in the wrong order
        b'{"description": "\\ud83d", "x": "\\ude00"}',  # halves in different strings
        b'{"description": "\xed\xa0\x80"}',  # a surrogate's raw bytes
        '{"description": "x"}'.encode("utf-16"),
    ],
)
async def test_lone_surrogates_in_json_are_422(client: httpx.AsyncClient, body: bytes) -> None:
    for content_type in ("application/json", "application/merge-patch+json", "text/plain"):
        headers = {"content-type": content_type}
        reply = await client.post("/api/notes/a", content=body, headers=headers)
        assert reply.status_code == 422, (body, content_type)
        assert reply.json()["code"] == "validation_error"
        assert reply.json()["detail"] in (LONE_SURROGATE, NOT_UTF8)
    # Endpoints that read the stream themselves are covered as well.
    reply = await client.post(
        "/api/raw", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        b"Y\xff\x039W",  # what the fuzzer sent: FastAPI answered an undocumented 400
        b'{"description": "caf\xe9"}',  # Latin-1
        b'{"description": "\xe4\xbd"}',  # a sequence cut short
        b'{"description": "\xc0\xaf"}',  # an overlong encoding
    ],
)
async def test_bodies_that_are_not_utf8_are_422(client: httpx.AsyncClient, body: bytes) -> None:
    for content_type in ("application/json", "text/plain"):
        reply = await client.post(
            "/api/notes/a", content=body, headers={"content-type": content_type}
        )
        assert reply.status_code == 422, (body, content_type, reply.text)
        assert reply.json() == {"detail": NOT_UTF8, "code": "validation_error"}


def test_the_scanner_decodes_utf8_across_chunks() -> None:
    text = '{"d": "caf\u00e9 \u4e2d\u6587 \U0001f600"}'.encode()
    for cut in range(1, len(text)):
        scanner = LoneSurrogateScanner()
        assert scanner.feed(text[:cut], final=False) is None, cut
        assert scanner.feed(text[cut:], final=True) is None, cut
    scanner = LoneSurrogateScanner()
    assert scanner.feed(text[:-3], final=False) is None
    assert scanner.feed(b"", final=True) == NOT_UTF8  # it ended inside a character


async def test_real_text_passes(client: httpx.AsyncClient) -> None:
    for body, expected in (
        (b'{"description": "\\ud83d\\ude00"}', "\U0001f600"),
        (b'{"description": "\\uD83D\\uDE00 ok"}', "\U0001f600 ok"),
        (b'{"description": "\\\\ud800"}', "\\ud800"),  # an escaped backslash, then text
        ('{"description": "caf\u00e9 \U0001f600"}'.encode(), "caf\u00e9 \U0001f600"),
    ):
        reply = await client.post(
            "/api/notes/a", content=body, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 200, (body, reply.text)
        assert reply.json()["description"] == expected
    # Binary bodies are not JSON and are left alone.
    for headers in (
        {"content-type": "application/octet-stream"},
        {"content-type": "multipart/form-data; boundary=x"},
        {},
    ):
        reply = await client.post("/api/raw", content=b"\xed\xa0\x80" * 10, headers=headers)
        assert reply.json() == {"size": 30}


async def test_query_and_path_never_hold_surrogates(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/items?q=%ED%A0%80")
    assert reply.status_code == 200 and reply.json()["q"] == "\ufffd" * 3
    reply = await client.post("/api/notes/%ED%A0%80", json={"description": "x"})
    assert reply.status_code == 200
    json.dumps(reply.json()).encode()


def test_the_scanner_decides_across_chunk_boundaries() -> None:
    cases = {
        b'["\\ud800"]': True,
        b'["\\ud83d\\ude00", "\\\\", "\\\\\\ud800"]': True,
        b'["\\ud83d\\ude00", "\\\\", "\\\\ud800"]': False,
        b'["\\u0041\\ud7ff\\ue000"]': False,
        b'"' + b"\\\\" * 50 + b'"': False,
    }
    for body, lone in cases.items():
        for size in (1, 2, 3, 5, 7, len(body)):
            scanner = LoneSurrogateScanner()
            chunks = [body[i : i + size] for i in range(0, len(body), size)]
            verdicts = [
                scanner.feed(chunk, final=i == len(chunks) - 1) for i, chunk in enumerate(chunks)
            ]
            assert any(verdicts) is lone, (body, size)


# -- the body deadline ----------------------------------------------------------------------


async def _call(app: FastAPI, path: str, chunks: list[tuple[float, bytes]]) -> dict[str, Any]:
    """Drive ``app`` over ASGI: each chunk after its delay, then nothing (a stalled client)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    pending = list(chunks)
    reply: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        if not pending:
            await asyncio.sleep(3600)
        delay, data = pending.pop(0)
        await asyncio.sleep(delay)
        return {"type": "http.request", "body": data, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply["status"] = message["status"]
            reply["headers"] = dict(message["headers"])
        else:
            reply["body"] += message.get("body", b"")

    await asyncio.wait_for(app(scope, receive, send), 10)
    return reply


async def test_a_stalled_body_is_408_and_closes_the_connection(tmp_path: Path) -> None:
    async with _service(tmp_path, request_body_timeout_seconds=0.3) as app:
        for path in ("/api/notes/a", "/api/raw"):
            started = time.monotonic()
            reply = await _call(app, path, [(0, b'{"description": "')])
            assert 0.3 <= time.monotonic() - started < 3
            assert reply["status"] == 408
            assert reply["headers"][b"connection"] == b"close"
            assert json.loads(reply["body"]) == {
                "detail": "The request body did not arrive in time.",
                "code": "request_timeout",
            }


async def test_a_slow_but_steady_body_is_served(tmp_path: Path) -> None:
    """The deadline is between chunks, not for the whole body: 8 chunks 0.15 s apart take
    four times the 0.3 s deadline, and still arrive."""
    async with (
        _service(tmp_path, request_body_timeout_seconds=0.3) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):

        async def slow() -> AsyncIterator[bytes]:
            for _ in range(8):
                await asyncio.sleep(0.15)
                yield b"x" * 1000

        started = time.monotonic()
        reply = await client.post("/api/raw", content=slow(), headers={"content-type": "x/y"})
        assert reply.status_code == 200 and reply.json() == {"size": 8000}
        assert time.monotonic() - started >= 1.2


# -- the error shape in OpenAPI -------------------------------------------------------------


async def test_openapi_documents_every_error_as_error_response(tmp_path: Path) -> None:
    async with _service(tmp_path) as app:
        doc = app.openapi()
    schema = doc["components"]["schemas"]["ErrorResponse"]
    assert schema["required"] == ["detail", "code"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    items = doc["paths"]["/api/items"]["get"]["responses"]
    assert items["422"]["content"]["application/json"]["schema"] == ref
    note = doc["paths"]["/api/notes/{name}"]["post"]["responses"]
    assert {"404", "409", "422"} <= set(note)
    for status, response in note.items():
        if int(status) >= 400:
            assert response["content"]["application/json"]["schema"] == ref
    assert "HTTPValidationError" not in json.dumps(doc)
