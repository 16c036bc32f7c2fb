"""In-process harness for the upload service: the real service on SQLite and PostgreSQL, a
memory bus, a local object store, and an HTTP client that speaks exactly like the
``flageval-serving`` 0.2.5 CLI (same paths, query parameters, JSON keys and multipart field)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_platform.bus.memory import MemoryBus
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.storage.local import LocalObjectStore
from flageval_platform.testing import running_service
from flageval_upload.config import UploadSettings
from flageval_upload.main import definition
from flageval_upload.models import messaging
from flageval_upload.uploads import service

SECRET = "u" * 48
CHUNK_KB = 64
PUBLIC_URL = "http://flageval.test:8000"

FILES = "/api/evaluations/models/files"
CHUNKS = "/api/evaluations/models/files/{}/chunks"
OP_FILE = "/api/evaluations/manage/op_file"

LayoutCheck = Callable[
    [str, Mapping[str, int], Callable[[str], Awaitable[bytes]]], Awaitable[list[str]]
]


def size_kb(data: bytes) -> int:
    """What the CLI announces for a file of this content."""
    return max(int(len(data) / 1024), 1)


async def stub_layout(
    domain: str, files: Mapping[str, int], read: Callable[[str], Awaitable[bytes]]
) -> list[str]:
    """A stand-in for the domain checks: a bundle is valid when it has a meta.json that parses."""
    if "meta.json" not in files:
        return ["meta.json is missing"]
    try:
        json.loads(await read("meta.json"))
    except ValueError:
        return ["meta.json is not JSON"]
    return []


@pytest.fixture
def layout_checker() -> LayoutCheck | None:
    """The layout check the service runs; ``None`` keeps the real one."""
    return stub_layout


@pytest.fixture
def upload_settings(tmp_path: Path) -> UploadSettings:
    return UploadSettings(
        data_dir=tmp_path,
        secret_key=SECRET,
        public_url=PUBLIC_URL,
        upload_chunk_kb=CHUNK_KB,
        upload_max_files=20,
        upload_max_bundle_bytes=4 * 1024 * 1024,
        outbox_poll_seconds=30,
    )


@dataclass
class Harness:
    ctx: ServiceContext
    bus: MemoryBus
    client: httpx.AsyncClient
    store: LocalObjectStore

    # -- platform side ---------------------------------------------------------------------

    def headers(
        self,
        user_id: uuid.UUID,
        *,
        role: Role = Role.USER,
        status: UserStatus = UserStatus.APPROVED,
    ) -> dict[str, str]:
        identity = Identity(user_id, "someone", role, status)
        return {IDENTITY_HEADER: sign_identity(identity, self.ctx.secret_key)}

    async def evaluation(
        self, owner: uuid.UUID | None = None, domain: str = "nlp"
    ) -> tuple[uuid.UUID, uuid.UUID]:
        """An evaluation as eval-api announces it; returns (evaluation id, owner id)."""
        evaluation_id, owner = uuid.uuid4(), owner or uuid.uuid4()
        await self.bus.publish(
            new_envelope(
                "evaluation.created",
                {
                    "evaluation_id": str(evaluation_id),
                    "owner_id": str(owner),
                    "domain": domain,
                    "name": f"model-{evaluation_id.hex[:6]}",
                },
                producer="eval-api",
            )
        )
        await self.bus.join()
        return evaluation_id, owner

    async def issue(
        self, evaluation_id: uuid.UUID, owner: uuid.UUID, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/evaluations/{evaluation_id}/upload-tokens",
            headers=self.headers(owner, **kwargs),
        )

    async def token(self, domain: str = "nlp") -> str:
        """A fresh token of a fresh evaluation."""
        evaluation_id, owner = await self.evaluation(domain=domain)
        reply = await self.issue(evaluation_id, owner)
        assert reply.status_code == 201, reply.text
        return reply.json()["token"]

    async def bundle_ready_events(self) -> list[dict[str, Any]]:
        async with self.ctx.db.transaction() as session:
            rows = await session.scalars(
                select(messaging.outbox.c.body)
                .where(messaging.outbox.c.type == "bundle.ready")
                .order_by(messaging.outbox.c.seq)
            )
            return [body["payload"] for body in rows]

    # -- the CLI's requests ----------------------------------------------------------------

    async def list(self, token: str | None) -> httpx.Response:
        params = {"token": token} if token is not None else {}
        return await self.client.get(FILES, params=params)

    async def create(self, token: str | None, files: Mapping[str, bytes]) -> httpx.Response:
        return await self.create_raw(
            {
                "token": token,
                "files": [{"filename": n, "sizeKb": size_kb(d)} for n, d in files.items()],
            }
        )

    async def create_raw(self, body: Any) -> httpx.Response:
        # Serialised here (ASCII, escapes included) so that even a lone surrogate can be sent.
        return await self.client.post(
            FILES, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )

    async def chunk(
        self,
        token: str | None,
        file_id: int | str,
        num: int | str,
        data: bytes,
        *,
        is_update: int = 0,
    ) -> httpx.Response:
        params: dict[str, Any] = {"chunk_num": num, "is_update": is_update}
        if token is not None:
            params["token"] = token
        return await self.client.post(
            CHUNKS.format(file_id),
            files={"file": io.BytesIO(data)},
            params=params,
            headers={"Content-Disposition": 'attachment; filename="x"'},
        )

    async def op(
        self, command: str, token: str, src_path: str = "", opt: int = 1
    ) -> httpx.Response:
        return await self.client.post(
            OP_FILE, data={"command": command, "token": token, "src_path": src_path, "opt": opt}
        )

    async def send_file(
        self, token: str, entry: Mapping[str, Any], data: bytes, *, is_update: int = 0
    ) -> None:
        """Every chunk of one planned file, as ``FlagEvalUploader._do_upload`` cuts them."""
        stream = io.BytesIO(data)
        chunks = entry["chunks"]
        for i, chunk in enumerate(chunks):
            piece = stream.read(chunk["sizeKb"] * 1024) if i + 1 < len(chunks) else stream.read()
            if chunk["ks3Ready"]:
                continue
            reply = await self.chunk(token, entry["id"], chunk["num"], piece, is_update=is_update)
            assert reply.status_code == 200, reply.text
            assert reply.json() == {"status": 200}

    async def upload(self, token: str, files: Mapping[str, bytes]) -> list[dict[str, Any]]:
        """``flageval-serving upload``: list, plan if empty, list, send what is missing."""
        remote = (await self.list(token)).json()["results"]
        if not remote:
            created = await self.create(token, files)
            assert created.status_code == 200, created.text
            remote = (await self.list(token)).json()["results"]
        for entry in remote:
            if not entry["ks3Ready"]:
                await self.send_file(token, entry, files[entry["filename"]])
        # ``ls``: the listing above answers 409 once the version is complete (sealed).
        return (await self.op("ls", token)).json()["results"]

    async def object(self, key: str) -> bytes:
        return await self.store.read(key)

    async def keys(self, prefix: str = "") -> list[str]:
        return [info.key for info in await self.store.list(prefix)]


@pytest.fixture
async def upload(
    database,
    tmp_path: Path,
    upload_settings: UploadSettings,
    layout_checker: LayoutCheck | None,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    if layout_checker is not None:
        monkeypatch.setattr(service, "check_bundle_layout", layout_checker)
    # A 500 is a reply like any other here (the CLI retries it): tests check statuses.
    async with running_service(
        definition, upload_settings, database=database, raise_app_exceptions=False
    ) as running:
        yield Harness(running.ctx, running.bus, running.client, running.store)
