"""``flageval up`` as an operator runs it: what it writes is private to its user, and a client
that stalls (in its headers or its body) is cut off at the configured deadline.

One standalone platform, started once for the module with 1-second deadlines, on a raw socket
where the deadlines matter (an HTTP client library would finish its request)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from flageval_platform.storage.local import LocalObjectStore
from flageval_platform.testing import free_port, launched_platform

DEADLINE = 1.0
#: How late past the deadline a close may come on a busy 2-core machine.
MARGIN = 4.0


@dataclass
class Served:
    url: str
    port: int
    data_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    data_dir = root / "data"
    port = free_port()
    env = {
        "FLAGEVAL_DATA_DIR": str(data_dir),
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_REQUEST_HEADER_TIMEOUT_SECONDS": str(DEADLINE),
        "FLAGEVAL_REQUEST_BODY_TIMEOUT_SECONDS": str(DEADLINE),
        "FLAGEVAL_LOG_LEVEL": "WARNING",
    }
    # A permissive umask in the parent: the launcher must not depend on it.
    previous = os.umask(0o002)
    try:
        with launched_platform("up", env, root / "platform.log", port) as url:
            yield Served(url, port, data_dir)
    finally:
        os.umask(previous)


def _exchange(
    port: int, payload: bytes, *, pauses: Sequence[tuple[float, bytes]] = ()
) -> tuple[float, bytes]:
    """Send ``payload`` (then each ``pauses`` piece after its delay) and read until the server
    closes; the seconds from connecting to the close, and everything the server sent."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE + MARGIN + 5) as sock:
        if payload:
            sock.sendall(payload)
        for delay, piece in pauses:
            time.sleep(delay)
            sock.sendall(piece)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return time.monotonic() - started, received


def test_files_under_the_data_dir_are_private(served: Served) -> None:
    # Something the object store writes, through the running server (a presigned PUT).
    secret = (served.data_dir / "secret_key").read_text().strip()
    signer = LocalObjectStore(
        served.data_dir.parent / "signer", public_url=served.url, secret_key=secret
    )
    url = asyncio.run(signer.presigned_put_url("checks/private.bin", timedelta(minutes=1)))
    reply = httpx.put(url, content=b"x" * 1000)
    assert reply.status_code == 200, reply.text
    assert httpx.post(f"{served.url}/api/auth/register", json={}).status_code == 422

    assert stat.S_IMODE(served.data_dir.stat().st_mode) == 0o700
    seen = {path.name for path in served.data_dir.rglob("*")}
    assert {"gateway.db", "scheduler.db", "secret_key", "admin-credentials.json"} <= seen
    assert "private.bin" in seen and "objects" in seen
    exposed = [
        f"{path.relative_to(served.data_dir)} {stat.filemode(path.stat().st_mode)}"
        for path in served.data_dir.rglob("*")
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]
    assert exposed == []


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    elapsed, received = _exchange(served.port, b"")
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + MARGIN
    assert received == b""


def test_stalled_headers_get_408_and_a_close(served: Served) -> None:
    elapsed, received = _exchange(served.port, b"GET /api/health HTTP/1.1\r\nHost: x\r\nAcc")
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + MARGIN
    assert received.startswith(b"HTTP/1.1 408 ")
    assert received.endswith(b'"code": "request_timeout"}')


def test_stalled_headers_on_a_kept_alive_connection_are_closed(served: Served) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    elapsed, received = _exchange(served.port, first, pauses=[(0.2, b"GET /healthz HTTP/1.1\r\n")])
    assert received.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in received
    assert elapsed < 0.2 + DEADLINE + MARGIN


@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/register",  # the gateway's own endpoint
        "/api/evaluations/models/files",  # the upload service's, behind the route table
    ],
)
def test_a_stalled_body_gets_408_and_a_close(served: Served, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    elapsed, received = _exchange(served.port, head + b'{"email": "')
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + MARGIN
    assert received.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"connection: close" in received.lower()
    assert received.endswith(
        b'{"detail":"The request body did not arrive in time.","code":"request_timeout"}'
    )


def test_a_slow_body_that_keeps_coming_is_read_whole(served: Served) -> None:
    body = b'{"email": "slow@example.com", "username": "slow", "password": "x"}'
    head = (
        "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    # Four pieces 0.6 s apart: 1.8 s in all, longer than the 1 s deadline between pieces.
    pieces = [body[i : i + 20] for i in range(0, len(body), 20)]
    elapsed, received = _exchange(
        served.port, head + pieces[0], pauses=[(0.6, piece) for piece in pieces[1:]]
    )
    assert elapsed >= 1.8
    # The whole body arrived and was judged on its content (a password too short).
    assert received.startswith(b"HTTP/1.1 422 "), received[:200]
    assert b'"loc":["body","password"]' in received


@pytest.mark.parametrize("base", ["httptools", "h11"])
def test_both_http_protocols_keep_the_header_deadline(base: str) -> None:
    """uvicorn serves with httptools when installed, else h11: the deadline holds on each."""
    import threading

    import uvicorn

    from flageval_launcher import server

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    chosen = server.HttpToolsHeaderDeadline if base == "httptools" else server.H11HeaderDeadline
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="off",
        http=type("Deadline", (chosen,), {"header_timeout": 0.5}),
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not instance.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        elapsed, received = _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n")
        assert 0.45 <= elapsed < 0.5 + MARGIN and received.startswith(b"HTTP/1.1 408 ")
        elapsed, received = _exchange(port, b"")
        assert 0.45 <= elapsed < 0.5 + MARGIN and received == b""
        # A whole request is served as usual (and the connection then kept alive).
        elapsed, received = _exchange(
            port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", pauses=[(0.1, b"GET / HTTP/1.1\r\n")]
        )
        assert received.startswith(b"HTTP/1.1 204 ") and b"HTTP/1.1 408 " in received
    finally:
        instance.should_exit = True
        thread.join(10)


def test_an_existing_data_dir_is_tightened_and_a_missing_one_tolerated(tmp_path: Path) -> None:
    from flageval_launcher.cli import make_data_private
    from flageval_platform.settings import Settings

    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o755)
    previous = os.umask(0o022)
    try:
        make_data_private(Settings(data_dir=existing))
        assert stat.S_IMODE(existing.stat().st_mode) == 0o700
        assert os.umask(0o022) == 0o077
        # Where no data directory can be made (a read-only root filesystem), nothing fails.
        blocked = tmp_path / "file"
        blocked.write_text("not a directory")
        make_data_private(Settings(data_dir=blocked / "data"))
    finally:
        os.umask(previous)
