"""The public ``flageval-serving==0.2.5`` CLI, unmodified, against the running platform (SPEC §4).

The whole platform (:class:`~flageval_launcher.standalone.Standalone`) is served by uvicorn in a
thread of this process, on the local store and on S3 (a moto server); the CLI runs as a
subprocess and talks to it over loopback exactly as a model developer's machine would. The
evaluation comes from an ``evaluation.created`` event on the platform's bus (what eval-api
publishes), the token and the CLI line from ``POST /api/evaluations/{id}/upload-tokens``, and
the line is run as given. A small ASGI middleware in front of the platform observes the protocol
requests, answers 503 to a chunk on demand (the CLI must retry it) and can slow chunks down so
that the CLI can be killed half-way through a bundle.

The chunk size is set small (``FLAGEVAL_UPLOAD_CHUNK_KB=64``) so that small files still have
many chunks.

Two limits of the 0.2.5 client itself, which no server can lift, are pinned here so they stay
known: it cannot send a file whose name is outside Latin-1 (the name goes into an HTTP header),
and it retries a chunk after a 5xx with an empty body (the ``BytesIO`` was read by the failed
attempt). The server turns the second into a refused chunk and a rerun, except for a file under
2 KiB, whose single chunk may legitimately be empty; there the listed sha256 shows it.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flageval_contracts import new_envelope
from flageval_gateway.accounts import passwords
from flageval_launcher.standalone import Standalone
from flageval_platform.bus import UnroutableError
from flageval_platform.settings import Settings
from flageval_platform.testing import free_port

pytestmark = pytest.mark.e2e

CHUNK_KB = 64
MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_FILES = 40
ADMIN_EMAIL = "root@example.org"
ADMIN_PASSWORD = "Admin-pass-cli-42"
PASSWORD = "correct-horse-42"
CLI = Path(sys.executable).with_name("flageval-serving")

CHUNK_PATH = re.compile(r"^/api/evaluations/models/files/([^/]+)/chunks$")
FILES_PATH = "/api/evaluations/models/files"
OP_FILE_PATH = "/api/evaluations/manage/op_file"


# ------------------------------------------------------------------------ fault injection


@dataclass
class ProtocolRequest:
    kind: str  # "chunk" | "create" | "list" | "op_file"
    path: str
    query: str
    headers: dict[str, str]
    status: int = 0
    body_bytes: int = 0  # as received, multipart framing included

    @property
    def sent_as(self) -> str:
        """The file name the CLI puts in its ``Content-Disposition`` header (Latin-1)."""
        match = re.search(r'filename="(.*)"', self.headers.get("content-disposition", ""))
        return match.group(1) if match else ""


class FaultInjector:
    """ASGI middleware in front of the platform: records protocol requests, injects faults.

    ``fail_when`` (a predicate on a chunk request) answers 503 to the first chunk upload it
    matches, once, after reading its body, as an overloaded proxy in front of the service
    would; ``chunk_delay`` sleeps before handing each piece of a chunk's body to the platform,
    so that a chunk upload is in progress when the CLI is killed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[ProtocolRequest] = []
        self.fail_when: Callable[[ProtocolRequest], bool] | None = None
        # False: the 503 comes before the platform sees the chunk (an overloaded proxy);
        # True: the platform handles it and the 503 replaces its answer (a lost response).
        self.fail_after_processing = False
        self.chunk_delay = 0.0
        self.active_chunks = 0

    def snapshot(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int, kind: str | None = None) -> list[ProtocolRequest]:
        with self.lock:
            return [r for r in self.requests[mark:] if kind is None or r.kind == kind]

    @staticmethod
    def classify(scope: Scope) -> str | None:
        path, method = scope["path"], scope["method"]
        if method == "POST" and CHUNK_PATH.match(path):
            return "chunk"
        if path == FILES_PATH:
            return "create" if method == "POST" else "list"
        if path == OP_FILE_PATH:
            return "op_file"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = self.classify(scope) if scope["type"] == "http" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        record = ProtocolRequest(
            kind,
            scope["path"],
            scope.get("query_string", b"").decode(),
            {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
        )
        with self.lock:
            self.requests.append(record)
            inject = kind == "chunk" and self.fail_when is not None and self.fail_when(record)
            if inject:
                self.fail_when = None
            delay = self.chunk_delay if kind == "chunk" else 0.0
            if kind == "chunk":
                self.active_chunks += 1

        async def recording_receive() -> Message:
            if delay:
                await asyncio.sleep(delay)
            message = await receive()
            record.body_bytes += len(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        async def swallow(message: Message) -> None:
            return None

        try:
            if inject and self.fail_after_processing:
                await self.app(scope, recording_receive, swallow)
            if inject:
                while not self.fail_after_processing:  # read the body: the client gets our 503
                    message = await recording_receive()
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                body = json.dumps({"detail": "injected: service briefly unavailable"}).encode()
                await recording_send(
                    {
                        "type": "http.response.start",
                        "status": 503,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, recording_receive, recording_send)
        finally:
            if kind == "chunk":
                with self.lock:
                    self.active_chunks -= 1


# ------------------------------------------------------------------------ the platform


@dataclass
class Platform:
    """The running platform, an approved user, and helpers to drive the upload protocol."""

    store_kind: str
    base: str
    standalone: Standalone
    loop: asyncio.AbstractEventLoop
    faults: FaultInjector
    http: httpx.Client
    user_id: str = ""
    user: dict[str, str] = field(default_factory=dict)

    # -- evaluations and tokens --------------------------------------------------------------

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def new_evaluation(self, domain: str = "nlp") -> str:
        """Publish ``evaluation.created`` (eval-api's event) for a new evaluation of the user."""
        evaluation_id = str(uuid.uuid4())
        envelope = new_envelope(
            "evaluation.created",
            {
                "evaluation_id": evaluation_id,
                "owner_id": self.user_id,
                "domain": domain,
                "name": f"cli-{evaluation_id[:8]}",
            },
            producer="eval-api",
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.call(self.standalone.bus.publish(envelope))
                return evaluation_id
            except UnroutableError:  # nobody subscribed to evaluation.created yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def new_token(self, evaluation_id: str) -> dict[str, Any]:
        """``POST …/upload-tokens`` once the upload service has seen the evaluation."""
        deadline = time.monotonic() + 15
        while True:
            reply = self.http.post(
                f"/api/evaluations/{evaluation_id}/upload-tokens", headers=self.user
            )
            if reply.status_code == 201:
                body = reply.json()
                assert {"token", "expires_at", "command", "bundle_version"} <= body.keys(), body
                return body
            assert reply.status_code == 404, reply.text  # not in the read model yet
            if time.monotonic() > deadline:
                raise AssertionError(f"upload token never issued: {reply.text}")
            time.sleep(0.1)

    def command(self, reply: dict[str, Any], bundle: Path) -> list[str]:
        """The CLI line of the token reply, as a person pastes it, with DIR filled in."""
        argv = shlex.split(reply["command"])
        assert argv[:2] == ["flageval-serving", "upload"], reply["command"]
        assert argv[argv.index("--host") + 1] == self.base
        assert argv[argv.index("--token") + 1] == reply["token"]
        return [*argv[:-1], str(bundle)]

    # -- reading state back ------------------------------------------------------------------

    def remote_files(self, token: str) -> list[dict[str, Any]]:
        """The token's files as ``ls`` lists them (the CLI's own listing, ``GET …/files``,
        answers 409 once the version is complete and sealed)."""
        reply = self.http.post(OP_FILE_PATH, data={"command": "ls", "token": token})
        assert reply.status_code == 200, reply.text
        return reply.json()["results"]

    def bundles(self, evaluation_id: str) -> list[dict[str, Any]]:
        reply = self.http.get(f"/api/evaluations/{evaluation_id}/bundles", headers=self.user)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert isinstance(body, list), body
        return body

    def bundle(
        self, evaluation_id: str, version: int, statuses: tuple[str, ...] = ("valid", "invalid")
    ) -> dict[str, Any]:
        """Version ``version`` once its status is one of ``statuses``."""
        deadline = time.monotonic() + 20
        while True:
            found = [b for b in self.bundles(evaluation_id) if b["version"] == version]
            if found and found[0]["status"] in statuses:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"bundle v{version} never reached {statuses}: {found}")
            time.sleep(0.1)

    def stored_objects(self) -> dict[str, int]:
        return {o.key: o.size for o in self.call(self.standalone.store.list(""))}

    def assert_stored(self, manifest: dict[str, tuple[int, str]]) -> None:
        """Each file's exact bytes are an object in the store (not only the service's word)."""

        async def hashes(sizes: set[int]) -> set[tuple[int, str]]:
            store = self.standalone.store
            found = set()
            for info in await store.list(""):
                if info.size in sizes:
                    digest = hashlib.sha256()
                    async for piece in store.get(info.key):
                        digest.update(piece)
                    found.add((info.size, digest.hexdigest()))
            return found

        stored = self.call(hashes({size for size, _ in manifest.values()}), timeout=120)
        missing = {p: v for p, v in manifest.items() if v not in stored}
        assert not missing, f"no stored object holds these files' bytes: {missing}"

    # -- running the CLI ---------------------------------------------------------------------

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGEVAL")}
        env["PATH"] = f"{CLI.parent}{os.pathsep}{env.get('PATH', '')}"
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def run(
        self, argv: list[str], cwd: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def flageval(self, *args: str, token: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """``flageval-serving SUBCOMMAND --host … --token … ARGS`` (the ls and cp commands)."""
        command, *rest = args
        return self.run([str(CLI), command, "--host", self.base, "--token", token, *rest], cwd=cwd)

    def manager(
        self, token: str, src: str, dst: str, method: str, cwd: Path
    ) -> subprocess.CompletedProcess[str]:
        """``FlagEvalManager(host, token, src, dst).<method>()`` of the installed client, in a
        subprocess (``rm`` has no CLI command in 0.2.5; a NUL cannot travel through argv)."""
        code = (
            "import json, sys\n"
            "from flageval.serving.flageval import FlagEvalManager\n"
            "a = json.loads(sys.stdin.read())\n"
            "getattr(FlagEvalManager(a['host'], a['token'], a['src'], a['dst']), a['method'])()\n"
        )
        return subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(
                {"host": self.base, "token": token, "src": src, "dst": dst, "method": method}
            ),
            cwd=cwd,
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )


def _serve(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_until_complete(server.serve())


def _login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    reply = http.post("/api/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _approved_user(http: httpx.Client) -> tuple[str, dict[str, str]]:
    """register → profile → the admin approves → login, through the public API."""
    suffix = uuid.uuid4().hex[:8]
    email = f"dev-{suffix}@example.org"
    reply = http.post(
        "/api/auth/register",
        json={"email": email, "username": f"dev_{suffix}", "password": PASSWORD},
    )
    assert reply.status_code == 201, reply.text
    user_id = reply.json()["id"]
    user = _login(http, email, PASSWORD)
    profile = {"real_name": "Model Developer", "organization": "Lab", "purpose": "upload tests"}
    assert http.put("/api/me/profile", json=profile, headers=user).status_code == 200
    admin = _login(http, ADMIN_EMAIL, ADMIN_PASSWORD)
    reply = http.post(
        f"/api/admin/users/{user_id}/review", json={"decision": "approve"}, headers=admin
    )
    assert reply.status_code == 200, reply.text
    return user_id, _login(http, email, PASSWORD)


@pytest.fixture(scope="module", params=["local", "s3"])
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The platform on the local store or on S3, served over loopback, with one approved user."""
    data_dir = tmp_path_factory.mktemp(f"platform-{request.param}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    storage: dict[str, Any] = {}
    if request.param == "s3":
        storage = {
            "storage_url": f"s3://cli-{uuid.uuid4().hex[:12]}",
            "s3_endpoint": request.getfixturevalue("moto_server"),
            "s3_access_key": "testing",
            "s3_secret_key": "testing",
        }
    with pytest.MonkeyPatch.context() as mp:
        # Test-sized argon2 cost: the account flow is the same, only faster.
        mp.setattr(passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=1024))
        mp.setattr(passwords, "_dummy_hash", None)
        mp.setenv("FLAGEVAL_UPLOAD_CHUNK_KB", str(CHUNK_KB))
        mp.setenv("FLAGEVAL_UPLOAD_MAX_BUNDLE_BYTES", str(MAX_BUNDLE_BYTES))
        mp.setenv("FLAGEVAL_UPLOAD_MAX_FILES", str(MAX_FILES))
        mp.setenv("FLAGEVAL_PUBLIC_URL", base)
        settings = Settings(
            port=port,
            data_dir=data_dir,
            database_url=None,
            broker_url="memory://",
            public_url=base,
            secret_key="cli-upload-test-secret-" + "k" * 24,
            admin_email=ADMIN_EMAIL,
            admin_password=ADMIN_PASSWORD,
            outbox_poll_seconds=0.1,
            **storage,
        )
        standalone = Standalone(settings)
        faults = FaultInjector(standalone)
        server = uvicorn.Server(
            uvicorn.Config(
                faults,
                host="127.0.0.1",
                port=port,
                lifespan="on",
                log_config=None,
                access_log=False,
            )
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(server, loop), daemon=True)
        thread.start()
        http = httpx.Client(base_url=base, timeout=30, trust_env=False)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/api/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise AssertionError("the platform did not start")
                time.sleep(0.1)
            p = Platform(request.param, base, standalone, loop, faults, http)
            p.user_id, p.user = _approved_user(http)
            yield p
        finally:
            http.close()
            server.should_exit = True
            thread.join(timeout=30)
            loop.close()


# ------------------------------------------------------------------------ bundles

SERVICE_PY = '''\
"""A tiny NLP model service, as model developers write them for FlagEval."""

from flageval.serving.service import (
    NLPCompletion,
    NLPEvalRequest,
    NLPEvalResponse,
    NLPModelService,
)


class Service(NLPModelService):
    def global_init(self, model_path: str):
        self.model_path = model_path

    def infer(self, req: NLPEvalRequest) -> NLPEvalResponse:
        text = "A"
        return NLPEvalResponse(completions=[NLPCompletion(text=text, tokens=text)])
'''


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def nlp_bundle(root: Path, **extra: bytes) -> Path:
    """A valid NLP bundle with files on every side of the chunk arithmetic.

    ``extra`` adds files (relative path → bytes), e.g. a big one for the resume test.
    """
    chunk = CHUNK_KB * 1024
    files = {
        "service.py": SERVICE_PY.encode(),
        "meta.json": json.dumps({"parameter_scale_billion": 0.5, "model_name": "tiny"}).encode(),
        "local_guniconf.py": b"workers = 1\n",
        "model/config.json": json.dumps({"hidden_size": 8, "layers": 2}).encode(),  # < 1 KiB
        "model/empty.txt": b"",  # zero bytes: sizeKb 1, one chunk, empty body
        "model/tokenizer/vocab.txt": os.urandom(2047),  # sizeKb 1, its one chunk 2047 B
        # 300 KiB: 5 chunks (64·4 + 44), more than three.
        "model/weights/shard-00001-of-00003.bin": os.urandom(300 * 1024),
        # Exactly two chunks: the last one is full.
        "model/weights/shard-00002-of-00003.bin": os.urandom(2 * chunk),
        # sizeKb rounds down: the last chunk carries 1000 bytes more than its sizeKb.
        "model/weights/shard-00003-of-00003.bin": os.urandom(2 * chunk + 1000),
        # Non-ASCII names. Latin-1 ones only: the 0.2.5 client puts the name in an HTTP header,
        # which cannot carry other characters (see test_cjk_names_fail_in_the_0_2_5_client).
        "model/größe/gewichte.bin": os.urandom(70 * 1024 + 3),
        "model/café.txt": "crème brûlée\n".encode(),
        **{k: v for k, v in extra.items()},
    }
    for rel, data in files.items():
        write(root / rel, data)
    return root


def manifest(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: POSIX relative path → (size, sha256), computed here."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out[path.relative_to(root).as_posix()] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def listed(bundle: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {f["path"]: (f["size_bytes"], f["sha256"]) for f in bundle["files"]}


def ready_chunks(files: list[dict[str, Any]]) -> tuple[int, int]:
    chunks = [c for f in files for c in f["chunks"]]
    return sum(1 for c in chunks if c["ks3Ready"]), len(chunks)


def client_error(output: str) -> tuple[int, str]:
    """The ``FlagEvalClientError(status, body)`` the CLI died with, as (status, detail text)."""
    match = re.search(r"FlagEvalClientError: \((\d{3}), ('.*'|\".*\")\)$", output, re.M)
    assert match, f"the CLI did not report a client error:\n{output[-3000:]}"
    body = json.loads(ast.literal_eval(match.group(2)))
    detail = body["detail"]
    return int(match.group(1)), detail if isinstance(detail, str) else json.dumps(detail)


def upload_ok(p: Platform, tmp_path: Path, bundle: Path) -> tuple[str, dict[str, Any]]:
    """New evaluation, new token, the copied command run on ``bundle``; returns (id, token)."""
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return evaluation_id, reply


# ------------------------------------------------------------------------ tests


def test_copied_command_uploads_a_realistic_nlp_bundle(platform: Platform, tmp_path: Path) -> None:
    p = platform
    bundle = nlp_bundle(tmp_path / "bundle")
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    assert p.remote_files(reply["token"]) == []  # a fresh token: nothing yet

    mark = p.faults.snapshot()
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    # The protocol view: every file and every chunk ready, with the server's chunk plan.
    remote = {f["filename"]: f for f in p.remote_files(reply["token"])}
    assert remote.keys() == expected.keys()
    for name, (size, _) in expected.items():
        f = remote[name]
        assert set(f) >= {"id", "filename", "sizeKb", "ks3Ready", "chunks"}
        assert f["sizeKb"] == max(size // 1024, 1), name
        assert f["ks3Ready"] is True, name
        assert all(c["ks3Ready"] is True for c in f["chunks"]), name
        assert sum(c["sizeKb"] for c in f["chunks"]) == f["sizeKb"], name
        assert all(c["sizeKb"] <= CHUNK_KB for c in f["chunks"]), name
        nums = sorted(c["num"] for c in f["chunks"])
        assert nums == list(range(nums[0], nums[0] + len(nums))), name
    assert len(remote["model/weights/shard-00001-of-00003.bin"]["chunks"]) > 3
    chunk_posts = p.faults.since(mark, "chunk")
    assert len(chunk_posts) == sum(len(f["chunks"]) for f in remote.values())
    assert all(r.status == 200 for r in chunk_posts)

    # The platform's view: a valid version whose files match the source byte for byte.
    version = p.bundle(evaluation_id, reply["bundle_version"])
    assert version["status"] == "valid", version
    assert version["problems"] == []
    assert listed(version) == expected
    p.assert_stored(expected)


def assert_sealed_refusal(done: subprocess.CompletedProcess[str], version: int) -> None:
    """The CLI stopped on the 409 of a sealed version and printed its message."""
    assert done.returncode != 0, done.stdout + done.stderr
    status, detail = client_error(done.stderr)
    assert status == 409, detail
    message = json.loads(detail)
    assert message["code"] == "bundle_sealed", message
    assert f"version {version} of this evaluation is sealed (valid)" in message["message"]
    assert "new upload token" in message["message"]


def test_a_complete_version_is_sealed_against_the_cli(platform: Platform, tmp_path: Path) -> None:
    """Once valid, the version's token changes nothing: ``upload`` again (with changed bytes),
    ``cp`` over one of its files and ``rm`` are refused with the reason; a new token uploads
    version 2."""
    p = platform
    bundle = nlp_bundle(tmp_path / "bundle")
    expected = manifest(bundle)
    evaluation_id, reply = upload_ok(p, tmp_path, bundle)
    token, version = reply["token"], reply["bundle_version"]
    before = p.bundle(evaluation_id, version)
    assert listed(before) == expected
    files_before = p.remote_files(token)
    objects_before = p.stored_objects()

    def unchanged() -> None:
        assert p.remote_files(token) == files_before
        assert p.stored_objects() == objects_before
        assert p.bundles(evaluation_id) == [before]

    write(bundle / "model/config.json", b'{"hidden_size": 9, "layers": 2}')
    mark = p.faults.snapshot()
    again = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert_sealed_refusal(again, version)
    # The listing (409, empty results) and the plan (409, printed); no chunk.
    assert [(r.kind, r.status) for r in p.faults.since(mark)] == [("list", 409), ("create", 409)]
    unchanged()

    mark = p.faults.snapshot()
    cp = p.flageval(
        "cp", str(bundle / "model/config.json"), "model/config.json", token=token, cwd=tmp_path
    )
    assert_sealed_refusal(cp, version)
    assert [(r.kind, r.status) for r in p.faults.since(mark)] == [
        ("op_file", 200),  # ls of the destination still works
        ("create", 409),
    ]
    unchanged()

    rm = p.manager(token, "model/config.json", "", "rm", cwd=tmp_path)
    assert "service error: 409" in rm.stderr, rm.stdout + rm.stderr  # all that rm() prints
    unchanged()

    second = p.new_token(evaluation_id)
    assert second["bundle_version"] == version + 1
    done = p.run(p.command(second, bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    v2 = p.bundle(evaluation_id, second["bundle_version"])
    assert v2["status"] == "valid", v2["problems"]
    assert listed(v2) == manifest(bundle) != expected
    assert [b["version"] for b in p.bundles(evaluation_id)] == [version + 1, version]
    assert [b for b in p.bundles(evaluation_id) if b["version"] == version] == [before]


def test_killed_upload_resumes_to_identical_sha256(platform: Platform, tmp_path: Path) -> None:
    p = platform
    bundle = nlp_bundle(tmp_path / "bundle", **{"model/big.bin": os.urandom(6 * 1024 * 1024)})
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    argv = p.command(reply, bundle)

    p.faults.chunk_delay = 0.01  # each chunk takes a while: the kill lands mid-upload
    log = (tmp_path / "cli.log").open("wb")
    cli = subprocess.Popen(argv, cwd=tmp_path, env=p.cli_env(), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert cli.poll() is None, "the CLI finished before it could be killed"
            assert time.monotonic() < deadline, "the upload never got going"
            ready, total = ready_chunks(p.remote_files(reply["token"]))
            if 10 <= ready < total - 10:
                break
            time.sleep(0.03)
        cli.send_signal(signal.SIGKILL)
        cli.wait(timeout=10)
    finally:
        p.faults.chunk_delay = 0.0
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        log.close()
    assert cli.returncode == -signal.SIGKILL

    # Let the chunk that was in flight at the kill finish (or be discarded) on the server.
    deadline = time.monotonic() + 15
    while p.faults.active_chunks:
        assert time.monotonic() < deadline, "a chunk upload never ended after the client died"
        time.sleep(0.05)
    files = p.remote_files(reply["token"])
    ready, total = ready_chunks(files)
    assert 0 < ready < total
    assert not all(f["ks3Ready"] for f in files)
    # Half a bundle is not a version anyone can run.
    interim = [b for b in p.bundles(evaluation_id) if b["version"] == reply["bundle_version"]]
    assert all(b["status"] not in ("complete", "valid", "invalid") for b in interim), interim

    mark = p.faults.snapshot()
    done = p.run(argv, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only the missing chunks travelled again.
    resent = p.faults.since(mark, "chunk")
    assert len(resent) == total - ready
    assert p.faults.since(mark, "create") == []

    version = p.bundle(evaluation_id, reply["bundle_version"])
    assert version["status"] == "valid", version
    assert listed(version) == expected
    p.assert_stored(expected)


def test_ls_cp_rm_through_the_client(platform: Platform, tmp_path: Path) -> None:
    """ls, cp and rm on a version that is still open: an upload stopped on one file (a 503
    whose retry the 0.2.5 client sends empty, refused), cp and rm work meanwhile, and the
    command run again completes the version. (A complete version is sealed: cp and rm are
    refused, see test_a_complete_version_is_sealed_against_the_cli.)"""
    p = platform
    bundle = tmp_path / "bundle"
    weights = "model/größe/gewichte.bin"
    write(bundle / "service.py", SERVICE_PY.encode())
    write(bundle / "meta.json", b'{"parameter_scale_billion": 7}')
    write(bundle / "model/config.json", b"{}")
    write(bundle / weights, os.urandom(5000))
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    token, version = reply["token"], reply["bundle_version"]
    argv = p.command(reply, bundle)
    p.faults.fail_when = lambda r: r.sent_as == weights
    stopped = p.run(argv, cwd=tmp_path)
    assert p.faults.fail_when is None, "no chunk was failed"
    assert stopped.returncode != 0, stopped.stdout + stopped.stderr
    assert [b["status"] for b in p.bundles(evaluation_id)] == ["uploading"]

    def ls(*path: str) -> list[str]:
        out = p.flageval("ls", *path, token=token, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout.splitlines()

    assert sorted(ls()) == sorted(expected)
    assert sorted(ls("model")) == ["model/config.json", "model/größe/gewichte.bin"]

    # cp one local file (several chunks, sent with is_update=1) into the bundle.
    notes = tmp_path / "notes.bin"
    notes.write_bytes(os.urandom(3 * CHUNK_KB * 1024 + 17))
    mark = p.faults.snapshot()
    out = p.flageval("cp", str(notes), "docs/notes.bin", token=token, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    chunks = p.faults.since(mark, "chunk")
    assert len(chunks) == 3 and all("is_update=1" in r.query and r.status == 200 for r in chunks)
    assert "docs/notes.bin" in ls()
    notes_entry = (notes.stat().st_size, hashlib.sha256(notes.read_bytes()).hexdigest())
    (with_notes,) = p.bundles(evaluation_id)
    assert with_notes["status"] == "uploading"  # model/größe/gewichte.bin is still missing
    assert listed(with_notes)["docs/notes.bin"] == notes_entry
    p.assert_stored({"docs/notes.bin": notes_entry})

    # targets/ is not ours to write: the server says so, and the client sends nothing.
    mark = p.faults.snapshot()
    out = p.flageval("cp", str(notes), "targets/answers.bin", token=token, cwd=tmp_path)
    assert "targets/ can not be changed" in out.stdout + out.stderr
    assert [r.kind for r in p.faults.since(mark)] == ["op_file"]
    assert not [n for n in ls() if n.startswith("targets/")]

    # rm (FlagEvalManager.rm: no CLI command for it in 0.2.5).
    out = p.manager(token, "docs/notes.bin", "", "rm", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stdout + out.stderr
    assert "docs/notes.bin" not in ls()

    # The command again sends what is missing; the version is complete and valid.
    done = p.run(argv, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    complete = p.bundle(evaluation_id, version)
    assert complete["status"] == "valid", complete["problems"]
    assert listed(complete) == expected
    p.assert_stored(expected)
    assert sorted(ls()) == sorted(expected)  # ls still lists a sealed version


def test_a_5xx_on_a_chunk_is_retried_and_a_rerun_completes_intact(
    platform: Platform, tmp_path: Path
) -> None:
    """A 503 on a full-size chunk: the CLI retries it, the rerun of the command completes.

    The 0.2.5 client retries with the same, already-read ``BytesIO``, so the retry carries an
    empty ``file`` part. The server's size check against its plan refuses that (4xx, printed
    by the CLI, which stops) and nothing wrong is stored; running the command again sends the
    missing chunks and the bundle ends identical to the source.
    """
    p = platform
    big = "model/weights/shard-00001-of-00003.bin"  # 5 chunks: number 3 is full-size either way
    bundle = nlp_bundle(tmp_path / "bundle")
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    argv = p.command(reply, bundle)
    p.faults.fail_when = lambda r: r.sent_as == big and "chunk_num=3&" in r.query + "&"
    mark = p.faults.snapshot()
    done = p.run(argv, cwd=tmp_path)
    assert p.faults.fail_when is None, "no chunk was failed"

    attempts = [r for r in p.faults.since(mark, "chunk") if r.sent_as == big]
    refused = next(r for r in attempts if r.status == 503)
    again = [r for r in attempts if (r.path, r.query) == (refused.path, refused.query)]
    first, retry = again  # retried exactly once…
    assert first.status == 503 and 400 <= retry.status < 500
    assert first.body_bytes > CHUNK_KB * 1024 > retry.body_bytes  # …with an empty part
    assert done.returncode != 0
    status, detail = client_error(done.stderr)
    assert status == retry.status and "bytes" in detail, detail
    chunk_ready = {
        c["num"]: c["ks3Ready"]
        for f in p.remote_files(reply["token"])
        if f["filename"] == big
        for c in f["chunks"]
    }
    assert chunk_ready[3] is False
    assert [b["status"] for b in p.bundles(evaluation_id)] == ["uploading"]

    rerun = p.run(argv, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    version = p.bundle(evaluation_id, reply["bundle_version"])
    assert version["status"] == "valid", version["problems"]
    assert listed(version) == expected
    p.assert_stored(expected)


def test_a_5xx_whose_chunk_reached_the_server_is_retried_and_the_upload_completes(
    platform: Platform, tmp_path: Path
) -> None:
    """A 503 that replaces the platform's answer (the chunk was stored, the response was lost
    on the way back): the CLI's retry — an empty part in the 0.2.5 client — finds the chunk
    already in, is accepted, and the single run completes with every sha256 intact."""
    p = platform
    big = "model/weights/shard-00001-of-00003.bin"
    bundle = nlp_bundle(tmp_path / "bundle")
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    p.faults.fail_after_processing = True
    p.faults.fail_when = lambda r: r.sent_as == big and "chunk_num=3&" in r.query + "&"
    mark = p.faults.snapshot()
    try:
        done = p.run(p.command(reply, bundle), cwd=tmp_path)
    finally:
        p.faults.fail_after_processing = False
    assert p.faults.fail_when is None, "no chunk was failed"
    assert done.returncode == 0, done.stdout + done.stderr
    attempts = [r for r in p.faults.since(mark, "chunk") if r.sent_as == big]
    third = [r for r in attempts if "chunk_num=3&" in r.query + "&"]
    assert [r.status for r in third] == [503, 200]  # retried once, accepted
    version = p.bundle(evaluation_id, reply["bundle_version"])
    assert version["status"] == "valid", version["problems"]
    assert listed(version) == expected
    p.assert_stored(expected)


def test_a_5xx_on_a_small_files_chunk_empties_it_in_the_0_2_5_client(
    platform: Platform, tmp_path: Path
) -> None:
    """A hazard of the public client, and how a person repairs it.

    A file under 2 KiB has one chunk that may hold 0 to 2047 bytes (its ``sizeKb`` is 1 for
    both an empty and a 2047-byte file). After a 503 on it, the 0.2.5 client's retry carries an
    empty part, which no server can tell from an empty file: the CLI reports success and the
    version lists the file with the sha256 of no bytes, so the listing shows the difference
    from ``sha256sum``. That version is complete, so sealed: ``cp`` of the file is refused,
    and a new token's upload makes version 2 right.
    """
    p = platform
    small = "model/tokenizer/vocab.txt"  # 2047 bytes
    bundle = nlp_bundle(tmp_path / "bundle")
    expected = manifest(bundle)
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    p.faults.fail_when = lambda r: r.sent_as == small
    mark = p.faults.snapshot()
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    attempts = [r for r in p.faults.since(mark, "chunk") if r.sent_as == small]
    assert [r.status for r in attempts] == [503, 200]
    assert attempts[0].body_bytes > 2047 > attempts[1].body_bytes
    version = p.bundle(evaluation_id, reply["bundle_version"])
    assert listed(version)[small] == (0, hashlib.sha256(b"").hexdigest()) != expected[small]

    out = p.flageval("cp", str(bundle / small), small, token=reply["token"], cwd=tmp_path)
    assert_sealed_refusal(out, reply["bundle_version"])
    assert p.bundle(evaluation_id, reply["bundle_version"]) == version

    second = p.new_token(evaluation_id)
    done = p.run(p.command(second, bundle), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    version = p.bundle(evaluation_id, second["bundle_version"])
    assert version["status"] == "valid", version["problems"]
    assert listed(version) == expected
    p.assert_stored(expected)


# ------------------------------------------------------------------------ bad input


def _assert_nothing_complete(p: Platform, token: str, mark: int) -> None:
    assert not [r for r in p.faults.since(mark, "chunk") if r.status == 200]
    files = p.remote_files(token)
    assert not [f for f in files if f["ks3Ready"]], files


def _refused_upload(p: Platform, tmp_path: Path, bundle: Path) -> tuple[int, str]:
    """Run the token's command on ``bundle``; it must fail with the server's 4xx message."""
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    mark = p.faults.snapshot()
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
    status, detail = client_error(done.stderr)
    assert 400 <= status < 500 and detail.strip('"'), (status, detail)
    _assert_nothing_complete(p, reply["token"], mark)
    assert [b["status"] for b in p.bundles(evaluation_id)] == ["uploading"]
    return status, detail


def test_unknown_token_uploads_nothing(platform: Platform, tmp_path: Path) -> None:
    p = platform
    bundle = nlp_bundle(tmp_path / "bundle")
    mark = p.faults.snapshot()
    done = p.run(
        [str(CLI), "upload", "--host", p.base, "--token", "not-a-token", str(bundle)], cwd=tmp_path
    )
    assert done.returncode != 0, done.stdout + done.stderr
    seen = p.faults.since(mark)
    assert seen and not [r for r in seen if r.kind == "chunk"]
    # Refused outright (4xx), or at most an empty listing followed by a refused create.
    assert all(400 <= r.status < 500 or (r.kind, r.status) == ("list", 200) for r in seen), seen
    assert any(400 <= r.status < 500 for r in seen), seen
    # The listing's error carries an empty ``results``, so the CLI goes on to the create,
    # whose refusal it prints.
    status, detail = client_error(done.stderr)
    assert status == 401 and "token" in detail, detail


def test_targets_in_an_uploaded_bundle_are_refused(platform: Platform, tmp_path: Path) -> None:
    bundle = nlp_bundle(tmp_path / "bundle", **{"targets/answers.json": b'{"q1": "A"}'})
    _, detail = _refused_upload(platform, tmp_path, bundle)
    assert "targets" in detail


def test_a_bundle_over_the_size_limit_is_refused(platform: Platform, tmp_path: Path) -> None:
    bundle = nlp_bundle(tmp_path / "bundle")
    with open(bundle / "model/huge.bin", "wb") as f:  # sparse: no disk, no upload time
        f.truncate(MAX_BUNDLE_BYTES + 1024 * 1024)
    _, detail = _refused_upload(platform, tmp_path, bundle)
    assert re.search(r"size|large|limit|exceed|MiB|GiB|bytes", detail, re.I), detail


def test_too_many_files_are_refused(platform: Platform, tmp_path: Path) -> None:
    bundle = nlp_bundle(tmp_path / "bundle")
    for i in range(MAX_FILES):
        write(bundle / f"model/many/{i:03d}.txt", b"x")
    _, detail = _refused_upload(platform, tmp_path, bundle)
    assert re.search(r"files|many|limit", detail, re.I), detail


@pytest.mark.parametrize(
    "name",
    ["model\\..\\..\\evil.py", "model/ctl\x01char.txt", "model/new\nline.txt"],
    ids=["backslash", "control-char", "newline"],
)
def test_unsafe_local_file_names_are_refused(platform: Platform, tmp_path: Path, name: str) -> None:
    bundle = nlp_bundle(tmp_path / "bundle")
    write(bundle / name, b"payload")
    _refused_upload(platform, tmp_path, bundle)


@pytest.mark.parametrize(
    "dst",
    [
        "model/../../escape.py",
        "./../escape.py",
        "/".join(["d" * 200] * 8) + "/too-long.bin",
        "model/nul\x00byte.bin",
    ],
    ids=["dotdot", "leading-dotdot", "over-long", "nul"],
)
def test_unsafe_cp_destinations_are_refused(platform: Platform, tmp_path: Path, dst: str) -> None:
    p = platform
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(1000))
    mark = p.faults.snapshot()
    if "\x00" in dst:  # argv cannot carry a NUL; the client library can
        done = p.manager(reply["token"], str(src), dst, "cp", cwd=tmp_path)
    else:
        done = p.flageval("cp", str(src), dst, token=reply["token"], cwd=tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
    _assert_nothing_complete(p, reply["token"], mark)
    assert p.remote_files(reply["token"]) == []
    statuses = [r.status for r in p.faults.since(mark)]
    assert statuses and all(400 <= s < 500 for s in statuses if s != 200), statuses
    assert any(400 <= s < 500 for s in statuses), statuses


def test_cjk_names_fail_in_the_0_2_5_client(platform: Platform, tmp_path: Path) -> None:
    """A name outside Latin-1 (``model/权重/参数.bin``) cannot be uploaded by the 0.2.5 client.

    ``FlagEvalUploader._upload_chunk`` sends ``Content-Disposition: attachment;
    filename="<name>"`` and ``http.client`` encodes header values as Latin-1, so the client
    raises ``UnicodeEncodeError`` before the chunk leaves the machine; no server can change
    that (the client also reads the local file by the name the server lists). What the server
    controls holds: the name round-trips exactly through the plan and ``ls``, every other file
    is complete, and the bundle is not mistaken for a complete one.
    """
    p = platform
    bundle = nlp_bundle(tmp_path / "bundle", **{"model/权重/参数.bin": os.urandom(3000)})
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    mark = p.faults.snapshot()
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode != 0
    assert "UnicodeEncodeError: 'latin-1' codec can't encode" in done.stderr, done.stderr[-2000:]
    remote = {f["filename"]: f for f in p.remote_files(reply["token"])}
    assert remote.keys() == manifest(bundle).keys()
    assert remote["model/权重/参数.bin"]["ks3Ready"] is False
    cjk_id = str(remote["model/权重/参数.bin"]["id"])
    assert not [r for r in p.faults.since(mark, "chunk") if f"/files/{cjk_id}/" in r.path]
    # The client goes through the files in the listed order and stops at that one: the files
    # before it are complete, the rest untouched.
    names = list(remote)
    stop = names.index("model/权重/参数.bin")
    assert [remote[n]["ks3Ready"] for n in names] == [True] * stop + [False] * (len(names) - stop)
    out = p.flageval("ls", "model/权重", token=reply["token"], cwd=tmp_path)
    assert out.stdout.splitlines() == ["model/权重/参数.bin"], out.stdout + out.stderr
    versions = [b for b in p.bundles(evaluation_id) if b["version"] == reply["bundle_version"]]
    assert [b["status"] for b in versions] == ["uploading"]


def test_an_expired_token_is_refused_with_its_reason(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flageval_upload.uploads import tokens

    p = platform
    bundle = nlp_bundle(tmp_path / "bundle")
    evaluation_id = p.new_evaluation()
    reply = p.new_token(evaluation_id)
    # A year passes on the server's clock (the TTL is at least a minute; no test waits that).
    real_now = tokens.utcnow
    monkeypatch.setattr(tokens, "utcnow", lambda: real_now() + timedelta(days=365))
    mark = p.faults.snapshot()
    done = p.run(p.command(reply, bundle), cwd=tmp_path)
    assert done.returncode != 0, done.stdout + done.stderr
    status, detail = client_error(done.stderr)
    assert status == 401 and "expired" in detail, detail
    assert not p.faults.since(mark, "chunk")
    monkeypatch.undo()
    assert p.remote_files(reply["token"]) == []


def test_only_the_owner_gets_upload_tokens_and_bundles(platform: Platform) -> None:
    p = platform
    evaluation_id = p.new_evaluation()
    p.new_token(evaluation_id)
    _, other = _approved_user(p.http)
    for reply in (
        p.http.post(f"/api/evaluations/{evaluation_id}/upload-tokens", headers=other),
        p.http.get(f"/api/evaluations/{evaluation_id}/bundles", headers=other),
    ):
        assert reply.status_code in (403, 404), reply.text
    assert p.http.post(f"/api/evaluations/{evaluation_id}/upload-tokens").status_code == 401
