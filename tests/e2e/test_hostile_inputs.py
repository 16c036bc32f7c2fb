"""The hostile inputs of an outside test of the platform, kept as a regression corpus.

One standalone platform (``python -m flageval_launcher up`` in a subprocess) with a metrics
token and short request deadlines; everything goes through the public HTTP API (raw sockets
for the stalling clients), except the check of the data directory's file modes. Each input
once got a 500, hung a connection or leaked something; each now gets the answer below, and
every error reply has the platform's shape ``{"detail": ..., "code": "<snake_case>"}``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from flageval_platform.testing import free_port, request_upload_token
from flageval_platform.testing import launched_platform as platform

pytestmark = pytest.mark.e2e

USER = {"email": "ann@example.org", "username": "ann", "password": "correct-horse-42"}
METRICS_TOKEN = "metrics-scraper-token-0123456789"
#: FLAGEVAL_REQUEST_HEADER_TIMEOUT_SECONDS and FLAGEVAL_REQUEST_BODY_TIMEOUT_SECONDS.
DEADLINE = 2.0
#: Slack for a loaded two-core machine: a stalled client is cut off at the deadline, not later.
SLACK = 3.0
CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


@dataclass
class Hostile:
    base: str
    port: int
    data_dir: Path
    admin: dict[str, str] = field(repr=False)  # bearer headers, kept out of failure reports
    user: dict[str, str] = field(repr=False)
    run_id: str


def _login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = client.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def assert_error(reply: httpx.Response, status: int) -> Any:
    """``reply`` is a ``status`` error with both ``detail`` and a snake_case ``code``; its
    ``detail``."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert {"detail", "code"} <= set(body), body
    assert body["detail"], body
    assert CODE.match(body["code"]), body
    return body["detail"]


def _finished(client: httpx.Client, run_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = client.get(f"/api/runs/{run_id}", headers=headers).json()
        if run["status"] in ("succeeded", "failed", "stopped"):
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.3)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """The platform, an approved user with a bundle uploaded by the real CLI and a finished
    run (so the data dir holds objects and run folders), and the admin logged in."""
    tmp = tmp_path_factory.mktemp("hostile")
    port = free_port()
    data_dir = tmp / "data"
    env = {
        "FLAGEVAL_PORT": str(port),
        "FLAGEVAL_DATA_DIR": str(data_dir),
        "FLAGEVAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FLAGEVAL_METRICS_TOKEN": METRICS_TOKEN,
        "FLAGEVAL_REQUEST_HEADER_TIMEOUT_SECONDS": str(DEADLINE),
        "FLAGEVAL_REQUEST_BODY_TIMEOUT_SECONDS": str(DEADLINE),
    }
    with (
        platform("up", env, tmp / "platform.log", port) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        reply = client.post("/api/auth/register", json=USER)
        assert reply.status_code == 201, reply.text
        user_id = reply.json()["id"]
        user = _login(client, USER["email"], USER["password"])
        profile = {"real_name": "Ann Lee", "organization": "Example Lab"}
        assert client.put("/api/me/profile", json=profile, headers=user).status_code == 200
        creds = json.loads((data_dir / "admin-credentials.json").read_text())
        admin = _login(client, creds["email"], creds["password"])
        reply = client.post(
            f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
        )
        assert reply.status_code == 200, reply.text
        user = _login(client, USER["email"], USER["password"])

        # A bundle through the real upload CLI: the object store writes files and folders.
        images = client.get("/api/images", headers=user).json()
        image = next(i for i in images["preset"] if i["domain"] == "nlp")["id"]
        reply = client.post(
            "/api/evaluations",
            headers=user,
            json={
                "domain": "nlp",
                "name": "hostile-private",
                "datasets": ["demo-en-choice"],
                "deploy_mode": "private",
                "private": {"image_id": image, "card_type": "a100-80g", "gpus": 1},
            },
        )
        assert reply.status_code == 201, reply.text
        reply = request_upload_token(client, reply.json()["id"], user)
        assert reply.status_code == 201, reply.text
        bundle = tmp / "bundle"
        bundle.mkdir()
        (bundle / "service.py").write_text("print('not a model')\n")
        cli = shutil.which("flageval-serving") or str(
            Path(sys.executable).parent / "flageval-serving"
        )
        command = shlex.split(reply.json()["command"])
        upload = subprocess.run(
            [cli, *command[1:-1], str(bundle)], capture_output=True, text=True, timeout=60
        )
        assert upload.returncode == 0, upload.stdout + upload.stderr

        # A run against a model API where nothing listens: it fails at once, leaving its
        # folder, log and notification.
        reply = client.post(
            "/api/evaluations",
            headers=user,
            json={
                "domain": "nlp",
                "name": "hostile-api",
                "datasets": ["demo-en-choice"],
                "deploy_mode": "api",
                "api": {"endpoint": "http://127.0.0.1:9/v1", "model_name": "m"},
            },
        )
        assert reply.status_code == 201, reply.text
        reply = client.post(
            f"/api/evaluations/{reply.json()['id']}/runs", json={"kind": "validation"}, headers=user
        )
        assert reply.status_code == 201, reply.text
        run_id = reply.json()["id"]
        assert _finished(client, run_id, user)["status"] == "failed"
        yield Hostile(base, port, data_dir, admin, user, run_id)


@pytest.fixture
def client(hostile: Hostile) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile.base, timeout=30) as c:
        yield c


# ---------------------------------------------------------------- bad input gets a 4xx


@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",  # one past BIGINT: was a 500 from the database driver
        "offset=-1",
        "limit=9223372036854775808",
        "limit=0",
        "offset=1e3",
    ],
)
def test_admin_user_list_rejects_out_of_range_paging(
    hostile: Hostile, client: httpx.Client, query: str
) -> None:
    reply = client.get(f"/api/admin/users?{query}", headers=hostile.admin)
    detail = assert_error(reply, 422)
    assert detail[0]["loc"][:2] == ["query", query.split("=")[0]], detail


def _image(name: bytes, description: bytes) -> bytes:
    """The raw JSON text of a valid ``POST /api/images`` body but for ``description``."""
    return (
        b'{"name": "' + name + b'", "tag": "v1", "source_url": "nvcr.io/nvidia/pytorch:23.03-py3", '
        b'"dockerfile": "FROM nvcr.io/nvidia/pytorch:23.03-py3", "description": '
        + description
        + b"}"
    )


@pytest.mark.parametrize(
    "description",
    [
        rb'"\ud800"',  # a lone high surrogate, escaped: was a 500 when stored
        rb'"\udc00 trailing"',  # a lone low surrogate
        rb'"ok \\ud800 \ud83d"',  # an escaped backslash, then a high surrogate at the end
        b'"\xed\xa0\x80"',  # the raw bytes of a surrogate
    ],
)
def test_image_description_with_a_lone_surrogate_is_rejected(
    hostile: Hostile, client: httpx.Client, description: bytes
) -> None:
    reply = client.post(
        "/api/images",
        content=_image(b"surrogate", description),
        headers={**hostile.user, "Content-Type": "application/json"},
    )
    assert "surrogate" in assert_error(reply, 422)
    custom = client.get("/api/images", headers=hostile.user).json()["custom"]
    assert "surrogate" not in [i["name"] for i in custom]


def test_a_paired_surrogate_escape_is_an_ordinary_character(
    hostile: Hostile, client: httpx.Client
) -> None:
    """Only lone surrogates are refused: the same body with an escaped pair is one emoji."""
    reply = client.post(
        "/api/images",
        content=_image(b"paired", rb'"smile \ud83d\ude00"'),
        headers={**hostile.user, "Content-Type": "application/json"},
    )
    assert reply.status_code == 201, reply.text
    image = client.get(f"/api/images/{reply.json()['id']}", headers=hostile.user).json()
    assert image["description"] == "smile \U0001f600"


@pytest.mark.parametrize(
    "path", ["/api/catalog%0a", "/api/catalog%0d%0aX-Injected:%201", "/api/%00"]
)
def test_a_path_with_control_characters_is_not_found(client: httpx.Client, path: str) -> None:
    reply = client.get(path)
    assert reply.request.url.raw_path == path.encode()  # sent as written, not re-encoded
    assert_error(reply, 404)
    assert "x-injected" not in reply.headers


@pytest.mark.parametrize(
    "email",
    [
        "\u0430dmin@example.org",  # a Cyrillic a (U+0430) in a Latin name: looks like admin@
        "admin@ex\u0430mple.org",  # and in the domain
        "adm\u200bin@example.org",  # a zero-width space
    ],
)
def test_registering_a_look_alike_email_is_rejected(client: httpx.Client, email: str) -> None:
    reply = client.post(
        "/api/auth/register",
        json={"email": email, "username": "lookalike", "password": "correct-horse-42"},
    )
    detail = assert_error(reply, 422)
    assert detail[0]["loc"] == ["body", "email"], detail


# ---------------------------------------------------------------- stalling clients


def _stall(port: int, sent: bytes) -> tuple[float, bytes]:
    """Send ``sent`` and nothing more; how long until the server closed the connection, and
    what it answered."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(DEADLINE + SLACK + 5)
        started = time.monotonic()
        sock.sendall(sent)
        received = b""
        while chunk := sock.recv(65536):  # b"" once the server closed it
            received += chunk
        return time.monotonic() - started, received


def _reply_of(received: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"connection: close" in head.lower(), head
    return status, json.loads(body)


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100000\r\n\r\n{"email": ',
            id="body",
        ),
        pytest.param(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Half: ", id="headers"),
    ],
)
def test_a_stalling_client_is_disconnected_at_the_deadline(hostile: Hostile, sent: bytes) -> None:
    elapsed, received = _stall(hostile.port, sent)
    assert DEADLINE - 0.2 <= elapsed <= DEADLINE + SLACK, elapsed
    status, body = _reply_of(received)
    assert status == 408
    assert body["code"] == "request_timeout" and body["detail"], body


def test_a_silent_connection_is_closed_at_the_deadline(hostile: Hostile) -> None:
    elapsed, _ = _stall(hostile.port, b"")
    assert DEADLINE - 0.2 <= elapsed <= DEADLINE + SLACK, elapsed


def test_the_platform_still_serves_after_the_stalls(client: httpx.Client) -> None:
    assert client.get("/api/health").status_code == 200


# ---------------------------------------------------------------- what is not shown


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"],
)
def test_metrics_are_not_served_without_the_token(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = client.get("/metrics", headers=headers)
    assert reply.status_code in (401, 404), reply.text
    assert_error(reply, reply.status_code)
    assert "http_requests" not in reply.text and "python_gc" not in reply.text


def test_metrics_are_served_with_the_token(client: httpx.Client) -> None:
    reply = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    assert re.search(r"^# TYPE \w+ (counter|gauge|histogram|summary)$", reply.text, re.M)


def test_notification_timestamps_carry_a_timezone(hostile: Hostile, client: httpx.Client) -> None:
    notes = client.get("/api/me/notifications", headers=hostile.user).json()
    # The approval and the failed run.
    assert {"user.reviewed", "run.finished"} <= {n["kind"] for n in notes}, notes
    reply = client.post(f"/api/me/notifications/{notes[0]['id']}/read", headers=hostile.user)
    assert reply.status_code == 200, reply.text
    notes = client.get("/api/me/notifications", headers=hostile.user).json()
    stamps = [n["created_at"] for n in notes] + [n["read_at"] for n in notes if n["read_at"]]
    assert len(stamps) == len(notes) + 1
    run = client.get(f"/api/runs/{hostile.run_id}", headers=hostile.user).json()
    stamps += [run["created_at"], run["finished_at"]]
    for stamp in stamps:
        assert datetime.fromisoformat(stamp).utcoffset() is not None, stamp


def test_the_data_dir_is_private_to_the_platform_user(hostile: Hostile) -> None:
    """No group or other permission bits on anything the platform created."""
    entries = [hostile.data_dir, *hostile.data_dir.rglob("*")]
    # Objects (the uploaded bundle), run folders and logs, databases, keys are all there.
    names = {p.name for p in entries}
    assert {"objects", "runs", "secret_key", "admin-credentials.json"} <= names, names
    assert any(p.name == "service.py" for p in entries)
    loose = [
        f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(hostile.data_dir)}"
        for p in entries
        if stat.S_IMODE(p.lstat().st_mode) & 0o077
    ]
    assert not loose, loose
