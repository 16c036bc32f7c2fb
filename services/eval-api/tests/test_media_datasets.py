"""Registering an uploaded media dataset (``POST /api/admin/datasets/uploads/{id}/register``):
the upload service's ``dataset_upload.ready`` is recorded, the card and manifest are checked
against the file table with every media file read back from the store; a valid upload becomes
a catalog version with its item count and a ``media.json`` file table for runs, and every
broken variant is a 422 naming its line with nothing recorded."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_eval_api.datasets.media import MediaDatasetUpload
from flageval_eval_api.datasets.models import RegisteredDataset
from flageval_eval_api.main import definition
from flageval_eval_api.models import metadata
from flageval_platform import migrations
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service

SECRET = "m" * 48
ADMIN = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)
USER = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(out, format="PNG")
    return out.getvalue()


def dataset(**replace: bytes) -> dict[str, bytes]:
    card = {"name": "pets-vqa", "kind": "vqa", "version": "v1"}
    lines = [
        {
            "id": i,
            "images": [f"img/{i}.png"],
            "question": "Colour?",
            "question_type": "other",
            "answer": "red",
        }
        for i in range(3)
    ]
    files = {
        "card.json": json.dumps(card).encode(),
        "manifest.jsonl": b"".join(json.dumps(line).encode() + b"\n" for line in lines),
        **{f"files/img/{i}.png": png((200, 10 * i, 0)) for i in range(3)},
    }
    files.update(replace)
    return files


class Platform:
    def __init__(self, running: Any) -> None:
        self.ctx, self.client, self.bus = running.ctx, running.client, running.bus

    def headers(self, who: Identity = ADMIN) -> dict[str, str]:
        return {IDENTITY_HEADER: sign_identity(who, self.ctx.secret_key)}

    async def uploaded(
        self, files: dict[str, bytes], *, valid: bool = True, table: dict[str, bytes] | None = None
    ) -> uuid.UUID:
        """Files as the upload service leaves them, and its ``dataset_upload.ready``
        (``table``: what the event lists, when it should differ from the stored bytes)."""
        upload_id = uuid.uuid4()
        for path, data in files.items():
            await self.ctx.store.put(f"bundles/{upload_id}/files/{path}", data)
        listed = table if table is not None else files
        payload = {
            "upload_id": str(upload_id),
            "owner_id": str(ADMIN.user_id),
            "dataset": "pets-vqa",
            "version": "v1",
            "valid": valid,
            "problems": [] if valid else ["manifest.jsonl (the JSONL manifest) is missing"],
            "files": [
                {"path": p, "size_bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                for p, d in listed.items()
            ],
        }
        await self.bus.publish(new_envelope("dataset_upload.ready", payload, producer="upload"))
        await self.bus.join()
        return upload_id

    async def register(self, upload_id: uuid.UUID, body: Any = None, who: Identity = ADMIN) -> Any:
        return await self.client.post(
            f"/api/admin/datasets/uploads/{upload_id}/register",
            json=body if body is not None else {"catalog_task": "vqa"},
            headers=self.headers(who),
        )

    async def nothing_recorded(self) -> None:
        async with self.ctx.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(RegisteredDataset)) == 0
            rows = await session.scalars(select(MediaDatasetUpload))
            assert all(r.registered_dataset_id is None for r in rows)
        assert await self.ctx.store.list("datasets/") == []


@pytest.fixture
async def platform(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield Platform(running)


async def test_an_uploaded_media_dataset_is_registered_into_the_catalog(platform) -> None:
    files = dataset()
    upload_id = await platform.uploaded(files)
    reply = await platform.register(upload_id)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["id"], body["version"], body["kind"], body["size"]) == ("pets-vqa", "v1", "vqa", 3)
    assert (body["domain"], body["task"]) == ("multimodal", "vqa")

    table = json.loads(await platform.ctx.store.read("datasets/pets-vqa/v1/media.json"))
    assert table["content_sha256"] == body["content_sha256"]
    assert {f["path"]: f["key"] for f in table["files"]} == {
        p: f"bundles/{upload_id}/files/{p}" for p in files
    }
    catalog = (await platform.client.get("/api/catalog")).json()
    entry = next(d for d in catalog["domains"]["multimodal"]["datasets"] if d["id"] == "pets-vqa")
    assert (entry["version"], entry["size"]) == ("v1", 3)

    again = await platform.register(upload_id)
    assert again.status_code == 409, again.text


BROKEN: list[tuple[str, dict[str, bytes], list[int | None], str]] = [
    (
        "bad json line",
        {"manifest.jsonl": dataset()["manifest.jsonl"] + b"{nope\n"},
        [4],
        "not valid JSON",
    ),
    (
        "missing media file",
        {"manifest.jsonl": dataset()["manifest.jsonl"].replace(b"img/2.png", b"img/9.png")},
        [3],
        "img/9.png",
    ),
    ("undecodable image", {"files/img/1.png": b"\x89PNG not really" * 10}, [2], "img/1.png"),
    (
        "bad card",
        {"card.json": b'{"name": "pets-vqa", "kind": "tarot", "version": "v1"}'},
        [None],
        "kind",
    ),
    (
        "card for another dataset",
        {"card.json": b'{"name": "other", "kind": "vqa", "version": "v1"}'},
        [None],
        "name",
    ),
]


@pytest.mark.parametrize(
    ("files", "lines", "needle"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
async def test_a_broken_upload_is_a_422_naming_its_line_and_nothing_is_recorded(
    platform, files: dict[str, bytes], lines: list[int | None], needle: str
) -> None:
    upload_id = await platform.uploaded(dataset(**files))
    reply = await platform.register(upload_id)
    assert reply.status_code == 422, reply.text
    problems = reply.json()["detail"]
    assert [p["line"] for p in problems] == lines, problems
    assert needle in json.dumps(problems)
    await platform.nothing_recorded()


async def test_stored_bytes_that_differ_from_the_file_table_are_a_422(platform) -> None:
    files = dataset()
    table = dict(files)
    table["files/img/0.png"] = png((1, 1, 1))  # the event's sha256 is of other bytes
    upload_id = await platform.uploaded(files, table=table)
    reply = await platform.register(upload_id)
    assert reply.status_code == 422, reply.text
    assert "img/0.png" in json.dumps(reply.json()["detail"])
    await platform.nothing_recorded()


async def test_unknown_invalid_and_unauthorised_registrations_are_refused(platform) -> None:
    assert (await platform.register(uuid.uuid4())).status_code == 404
    bad_id = await platform.client.post(
        "/api/admin/datasets/uploads/nope/register", json={}, headers=platform.headers()
    )
    assert bad_id.status_code == 422
    invalid = await platform.uploaded(dataset(), valid=False)
    reply = await platform.register(invalid)
    assert reply.status_code == 422 and "manifest.jsonl" in reply.text
    good = await platform.uploaded(dataset())
    assert (await platform.register(good, who=USER)).status_code == 403
    for body in ({"catalog_task": "classification"}, {"catalog_task": "vqa", "x": 1}):
        assert (await platform.register(good, body)).status_code == 422
    await platform.nothing_recorded()


async def test_the_migration_matches_the_media_uploads_model_and_downgrades(database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts)
    diff = await migrations.schema_drift(database, metadata)
    assert [d for d in diff if "media_dataset_uploads" in repr(d)] == []
    await migrations.downgrade(database, scripts, "20261129_0006")
    await migrations.upgrade(database, scripts)
