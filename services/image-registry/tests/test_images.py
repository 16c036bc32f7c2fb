"""Images (SPEC §2 Image, §3 ``/api/images`` and ``/api/admin/images``) on SQLite and PostgreSQL:
presets and their one-time ``image.available``, import requests with Dockerfile findings and every
field rule, owner-only visibility, and the admin review → import flow with its outbox events."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from flageval_contracts.enums import Role, UserStatus
from flageval_image_registry.config import ServiceSettings
from flageval_image_registry.images import service as image_service
from flageval_image_registry.images.models import Image
from flageval_image_registry.images.presets import PRESETS, preset_id
from flageval_image_registry.main import definition
from flageval_image_registry.models import metadata
from flageval_platform import migrations
from flageval_platform.db import Database
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.testing import eventually, running_service

SECRET = "i" * 48
PRESET_KEYS = {
    "id", "name", "tag", "description", "framework", "card_types", "tags", "domain", "source_url",
}  # fmt: skip
CUSTOM_KEYS = {
    "id", "name", "tag", "description", "import_mode", "source_url", "dockerfile", "status",
    "reason", "findings", "registry_ref", "created_at", "reviewed_at", "imported_at",
}  # fmt: skip
CARD_TYPES = {"a100-80g", "a800-80g", "h100-80g", "v100-32g", "rtx4090-24g"}

GOOD_DOCKERFILE = """\
FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update && apt-get install -y openssh-server && mkdir -p /run/sshd \\
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir transformers==4.31.0
"""
CURL_DOCKERFILE = """\
FROM nvcr.io/nvidia/pytorch:23.03-py3
RUN apt-get update && apt-get install -y openssh-server
RUN curl -fsSL https://example.com/install.sh | sh
"""
VALID: dict[str, Any] = {
    "name": "my-llm.runtime",
    "tag": "v1.0",
    "source_url": "nvcr.io/nvidia/pytorch:23.03-py3",
    "dockerfile": GOOD_DOCKERFILE,
    "description": "自定义 NLP 镜像",
}


def body(**changes: Any) -> dict[str, Any]:
    data = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("name too short", body(name="ab")),
    ("name too long", body(name="a" * 129)),
    ("name uppercase", body(name="MyImage")),
    ("name starts with digit", body(name="1image")),
    ("name starts with dash", body(name="-image")),
    ("name starts with dot", body(name=".image")),
    ("name ends with dash", body(name="image-")),
    ("name ends with dot", body(name="image.")),
    ("name underscore", body(name="my_image")),
    ("name slash", body(name="my/image")),
    ("name space", body(name="my image")),
    ("name double dot", body(name="my..image")),
    ("name missing", body(name=...)),
    ("name not a string", body(name=123)),
    ("tag latest", body(tag="latest")),
    ("tag LATEST", body(tag="LATEST")),
    ("tag Latest", body(tag="Latest")),
    ("tag with colon", body(tag="v1:2")),
    ("tag starts with dot", body(tag=".v1")),
    ("tag starts with dash", body(tag="-v1")),
    ("tag empty", body(tag="")),
    ("tag too long", body(tag="v" * 129)),
    ("tag with space", body(tag="v 1")),
    ("tag not a string", body(tag=1.0)),
    ("import mode private", body(import_mode="private")),
    ("source missing", body(source_url=...)),
    ("source empty", body(source_url="")),
    ("source http", body(source_url="http://nvcr.io/nvidia/pytorch:23.03-py3")),
    ("source https", body(source_url="https://hub.docker.com/r/pytorch/pytorch")),
    ("source localhost", body(source_url="localhost/pytorch:1.0")),
    ("source localhost port", body(source_url="localhost:5000/pytorch:1.0")),
    ("source loopback ip", body(source_url="127.0.0.1:5000/pytorch:1.0")),
    ("source private ip", body(source_url="10.1.2.3/team/pytorch:1.0")),
    ("source private ip 192", body(source_url="192.168.1.9:5000/x/y:1")),
    ("source .local host", body(source_url="registry.local/team/img:1")),
    ("source credentials", body(source_url="user:pass@registry.example.com/team/img:1")),
    ("source user at", body(source_url="user@docker.io/library/ubuntu:22.04")),
    ("source space", body(source_url="nvcr.io/nvidia/pytorch: 23.03-py3")),
    ("source uppercase repo", body(source_url="nvcr.io/NVIDIA/pytorch:23.03-py3")),
    ("source bad tag", body(source_url="nvcr.io/nvidia/pytorch:-bad")),
    ("source bad digest", body(source_url="ubuntu@sha256:abc")),
    ("source trailing slash", body(source_url="nvcr.io/nvidia/")),
    ("source not a string", body(source_url=["ubuntu"])),
    ("dockerfile missing", body(dockerfile=...)),
    ("dockerfile empty", body(dockerfile="")),
    ("dockerfile blank", body(dockerfile="  \n\t\n")),
    ("dockerfile too long", body(dockerfile="FROM ubuntu:22.04\n" + "#" * (64 * 1024))),
    ("dockerfile not a string", body(dockerfile={"FROM": "ubuntu"})),
    ("description too long", body(description="说" * 257)),
    ("description not a string", body(description=5)),
    ("unknown field", body(registry_password="x")),
    ("not an object", ["name"]),  # type: ignore[list-item]
]

GOOD_SOURCES = [
    "ubuntu",
    "ubuntu:22.04",
    "pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel",
    "docker.io/library/python:3.11-slim",
    "nvcr.io/nvidia/pytorch:23.03-py3",
    "ghcr.io/org/team/image:v1",
    "quay.io/org/img@sha256:" + "a" * 64,
    "registry.cn-hangzhou.aliyuncs.com/ns/img:1.0",
    "registry.example.com:5000/ns/img:1.0",
]


@pytest.fixture
async def service(database: Database, tmp_path: Path):
    settings = ServiceSettings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield running.ctx, running.client


def headers(
    ctx: ServiceContext,
    user_id: uuid.UUID | None = None,
    *,
    role: Role = Role.USER,
    status: UserStatus = UserStatus.APPROVED,
) -> dict[str, str]:
    identity = Identity(user_id or uuid.uuid4(), "someone", role, status)
    return {IDENTITY_HEADER: sign_identity(identity, ctx.secret_key)}


def admin(ctx: ServiceContext) -> dict[str, str]:
    return headers(ctx, role=Role.ADMIN)


async def outbox(ctx: ServiceContext) -> list[dict[str, Any]]:
    table = ctx.messaging.outbox
    async with ctx.db.transaction() as session:
        rows = (await session.execute(select(table.c.body).order_by(table.c.seq))).all()
    return [row.body for row in rows]


async def custom_count(ctx: ServiceContext) -> int:
    async with ctx.db.transaction() as session:
        count = await session.scalar(select(func.count()).where(Image.preset.is_(False)))
    return int(count or 0)


async def create(ctx: ServiceContext, client: Any, owner: uuid.UUID, **changes: Any) -> dict:
    reply = await client.post("/api/images", json=body(**changes), headers=headers(ctx, owner))
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_presets_are_listed_with_every_field(service) -> None:
    ctx, client = service
    reply = await client.get("/api/images", headers=headers(ctx))
    assert reply.status_code == 200, reply.text
    listed = reply.json()
    assert listed["custom"] == []
    presets = {p["name"]: p for p in listed["preset"]}
    assert set(presets) == {p.name for p in PRESETS}
    assert {p["domain"] for p in presets.values()} >= {"nlp", "cv", "multimodal", "audio"}
    for preset in PRESETS:
        row = presets[preset.name]
        assert set(row) == PRESET_KEYS
        assert row["id"] == str(preset_id(preset.name, preset.tag))
        assert row["tag"] == preset.tag and row["framework"]
        assert 0 < len(row["description"]) <= 256
        assert row["card_types"] and set(row["card_types"]) <= CARD_TYPES
        assert row["tags"] and row["source_url"] == preset.source_url
    nlp = presets["flageval-nlp-ngc-pytorch2303"]
    assert nlp["source_url"] == "nvcr.io/nvidia/pytorch:23.03-py3"
    assert "transformers 4.31.0" in nlp["description"]


async def test_preset_availability_is_enqueued_once_across_starts(
    database: Database, tmp_path: Path
) -> None:
    settings = ServiceSettings(data_dir=tmp_path, secret_key=SECRET)
    for _ in range(2):
        async with running_service(definition, settings, database=database) as running:
            events = [e for e in await outbox(running.ctx) if e["type"] == "image.available"]
    assert len(events) == len(PRESETS)
    assert {e["payload"]["image_id"] for e in events} == {str(p.id) for p in PRESETS}
    assert all(e["payload"]["preset"] and e["payload"]["owner_id"] is None for e in events)
    # A seeding pass that runs again (another replica) enqueues nothing.
    ctx = running.ctx
    async with ctx.db.transaction() as session:
        again = await image_service.seed_presets(session=session, messaging=ctx.messaging)
    assert again == 0


async def test_create_returns_findings_and_lists_it_for_its_owner(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    created = await create(ctx, client, owner, dockerfile=CURL_DOCKERFILE)
    assert set(created) == CUSTOM_KEYS
    assert created["status"] == "pending_review" and created["reason"] is None
    assert created["name"] == VALID["name"] and created["tag"] == "v1.0"
    assert created["description"] == VALID["description"]
    assert created["import_mode"] == "public" and created["registry_ref"] is None
    findings = created["findings"]
    assert findings, "a RUN with curl is a finding"
    for finding in findings:
        assert set(finding) == {"line", "severity", "rule", "message", "hint"}
        assert finding["severity"] in {"blocking", "warning", "hint"}
    assert {"line": 3, "severity": "blocking", "rule": "run-downloads"} in [
        {k: f[k] for k in ("line", "severity", "rule")} for f in findings
    ], findings

    listed = (await client.get("/api/images", headers=headers(ctx, owner))).json()
    assert [c["id"] for c in listed["custom"]] == [created["id"]]
    assert listed["custom"][0]["findings"] == findings
    one = await client.get(f"/api/images/{created['id']}", headers=headers(ctx, owner))
    assert one.status_code == 200 and one.json() == created


async def test_tag_defaults_to_a_timestamp_in_the_platform_timezone(service) -> None:
    ctx, client = service
    created = await create(ctx, client, uuid.uuid4(), tag=...)
    assert re.fullmatch(r"20\d{6}-\d{6}", created["tag"]), created["tag"]
    assert image_service.default_tag("Asia/Shanghai", image_service.utcnow()) >= created["tag"]


@pytest.mark.parametrize("source", GOOD_SOURCES)
def test_public_references_docker_can_pull_are_accepted(source: str) -> None:
    from flageval_image_registry.images.schemas import ImageCreate

    assert ImageCreate.model_validate(body(source_url=source)).source_url == source


async def test_bad_values_for_every_field_are_422_and_write_nothing(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    for case, data in BAD_VALUES:
        reply = await client.post("/api/images", json=data, headers=headers(ctx, owner))
        assert reply.status_code == 422, (case, reply.text)
        assert '"input"' not in reply.text, case  # bad values are not echoed back
    assert await custom_count(ctx) == 0


async def test_lone_surrogates_are_422_and_pairs_are_text(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    template = json.dumps(body(description="DESCRIPTION")).encode()
    for lone in (b"\\ud800", b"\\udfff tail", b"\xed\xa0\x80"):
        reply = await client.post(
            "/api/images",
            content=template.replace(b"DESCRIPTION", lone),
            headers={**headers(ctx, owner), "content-type": "application/json"},
        )
        assert reply.status_code == 422, (lone, reply.text)
        assert reply.json()["code"] == "validation_error"
    assert await custom_count(ctx) == 0
    reply = await client.post(
        "/api/images",
        content=template.replace(b"DESCRIPTION", b"\\ud83d\\ude00"),
        headers={**headers(ctx, owner), "content-type": "application/json"},
    )
    assert reply.status_code == 201 and reply.json()["description"] == "\U0001f600"


async def test_timestamps_carry_their_offset_and_paging_is_bounded(service) -> None:
    ctx, client = service
    created = await create(ctx, client, uuid.uuid4())
    moment = datetime.fromisoformat(created["created_at"])
    assert moment.utcoffset() == timedelta(0), created["created_at"]
    (listed,) = (await client.get("/api/admin/images", headers=admin(ctx))).json()
    assert datetime.fromisoformat(listed["created_at"]) == moment
    for query in ("offset=9223372036854775808", "offset=-1", "limit=0", "limit=100000"):
        reply = await client.get(f"/api/admin/images?{query}", headers=admin(ctx))
        assert reply.status_code == 422, query
        assert reply.json()["code"] == "validation_error"


async def test_duplicates_are_409_and_rejected_images_can_be_resubmitted(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    first = await create(ctx, client, owner)
    again = await client.post("/api/images", json=body(), headers=headers(ctx, owner))
    assert again.status_code == 409, again.text
    assert again.json()["detail"]["code"] == "image_exists"
    await create(ctx, client, owner, tag="v2")  # another tag is another image
    await create(ctx, client, uuid.uuid4())  # another owner may use the same name:tag

    reject = {"decision": "reject", "reason": "Base image is not trusted"}
    reply = await client.post(
        f"/api/admin/images/{first['id']}/review", json=reject, headers=admin(ctx)
    )
    assert reply.status_code == 200, reply.text
    resubmitted = await create(ctx, client, owner)
    assert resubmitted["id"] != first["id"] and resubmitted["status"] == "pending_review"


async def test_users_see_only_their_own_custom_images(service) -> None:
    ctx, client = service
    alice, bob = uuid.uuid4(), uuid.uuid4()
    mine = await create(ctx, client, alice)
    theirs = await create(ctx, client, bob, name="bob-image")
    listed = (await client.get("/api/images", headers=headers(ctx, alice))).json()
    assert [c["id"] for c in listed["custom"]] == [mine["id"]]
    for image_id in (theirs["id"], str(uuid.uuid4()), "not-a-uuid", str(PRESETS[0].id)):
        reply = await client.get(f"/api/images/{image_id}", headers=headers(ctx, alice))
        assert reply.status_code == 404, image_id


async def test_approval_imports_the_image_and_announces_each_step_once(service) -> None:
    ctx, client = service
    owner = uuid.uuid4()
    created = await create(ctx, client, owner)
    pending = await client.get("/api/admin/images?status=pending_review", headers=admin(ctx))
    assert pending.status_code == 200
    [row] = pending.json()
    assert row["id"] == created["id"] and row["owner_id"] == str(owner)
    assert row["owner_username"] == "someone" and row["dockerfile"] == GOOD_DOCKERFILE
    assert "findings" in row

    reply = await client.post(
        f"/api/admin/images/{created['id']}/review",
        json={"decision": "approve"},
        headers=admin(ctx),
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] in {"approved", "imported"}
    assert reply.json()["reviewed_at"] is not None

    async def imported() -> dict | None:
        mine = await client.get(f"/api/images/{created['id']}", headers=headers(ctx, owner))
        return mine.json() if mine.json()["status"] == "imported" else None

    image = await eventually(imported)
    owner_short = owner.hex[:12]
    assert image["registry_ref"] == f"registry.flageval.local/{owner_short}/my-llm.runtime:v1.0"
    assert image["imported_at"] is not None
    listed = await client.get("/api/admin/images?status=imported", headers=admin(ctx))
    assert [r["id"] for r in listed.json()] == [created["id"]]
    assert (await client.get("/api/admin/images?status=approved", headers=admin(ctx))).json() == []

    await ctx.state["import_worker"].import_one(uuid.UUID(created["id"]))  # idempotent
    events = [e for e in await outbox(ctx) if e["payload"]["image_id"] == created["id"]]
    assert sorted(e["type"] for e in events) == [
        "image.available",
        "image.imported",
        "image.reviewed",
    ]
    by_type = {e["type"]: e["payload"] for e in events}
    assert by_type["image.reviewed"]["decision"] == "approve"
    assert by_type["image.reviewed"]["owner_id"] == str(owner)
    assert by_type["image.available"] == {
        "image_id": created["id"],
        "owner_id": str(owner),
        "name": "my-llm.runtime",
        "tag": "v1.0",
        "preset": False,
    }
    assert by_type["image.imported"]["tag"] == "v1.0"

    again = await client.post(
        f"/api/admin/images/{created['id']}/review",
        json={"decision": "reject", "reason": "changed my mind"},
        headers=admin(ctx),
    )
    assert again.status_code == 409 and again.json()["detail"]["code"] == "not_pending_review"


async def test_rejection_needs_a_reason_and_is_announced(service) -> None:
    ctx, client = service
    created = await create(ctx, client, uuid.uuid4())
    url = f"/api/admin/images/{created['id']}/review"
    for bad in (
        {"decision": "reject"},
        {"decision": "reject", "reason": ""},
        {"decision": "reject", "reason": "   "},
        {"decision": "reject", "reason": "x" * 501},
        {"decision": "maybe"},
        {"decision": "approve", "extra": 1},
        {"decision": "reject", "reason": 5},
    ):
        reply = await client.post(url, json=bad, headers=admin(ctx))
        assert reply.status_code == 422, bad
    reply = await client.post(
        url, json={"decision": "reject", "reason": "RUN downloads with curl"}, headers=admin(ctx)
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "rejected"
    assert reply.json()["reason"] == "RUN downloads with curl"
    twice = await client.post(url, json={"decision": "approve"}, headers=admin(ctx))
    assert twice.status_code == 409
    events = [e for e in await outbox(ctx) if e["payload"]["image_id"] == created["id"]]
    assert [e["type"] for e in events] == ["image.reviewed"]
    assert events[0]["payload"]["decision"] == "reject"
    assert events[0]["payload"]["reason"] == "RUN downloads with curl"
    rejected = await client.get("/api/admin/images?status=rejected", headers=admin(ctx))
    assert [r["id"] for r in rejected.json()] == [created["id"]]


async def test_concurrent_reviews_accept_exactly_one(service) -> None:
    ctx, client = service
    created = await create(ctx, client, uuid.uuid4())
    url = f"/api/admin/images/{created['id']}/review"
    decisions = [{"decision": "approve"}, {"decision": "reject", "reason": "no"}] * 3
    replies = await asyncio.gather(
        *(client.post(url, json=d, headers=admin(ctx)) for d in decisions)
    )
    assert sorted(r.status_code for r in replies) == [200] + [409] * 5
    await ctx.state["import_worker"].idle()
    reviewed = [
        e
        for e in await outbox(ctx)
        if e["type"] == "image.reviewed" and e["payload"]["image_id"] == created["id"]
    ]
    assert len(reviewed) == 1


async def test_authorization(service) -> None:
    ctx, client = service
    created = await create(ctx, client, uuid.uuid4())
    review_url = f"/api/admin/images/{created['id']}/review"
    pending = headers(ctx, status=UserStatus.PENDING_REVIEW)
    assert (await client.post("/api/images", json=body(), headers=pending)).status_code == 403
    assert (await client.get("/api/images", headers=pending)).status_code == 403
    assert (await client.post("/api/images", json=body())).status_code == 401
    assert (await client.get("/api/images")).status_code == 401
    user = headers(ctx)
    assert (await client.get("/api/admin/images", headers=user)).status_code == 403
    approve = {"decision": "approve"}
    assert (await client.post(review_url, json=approve, headers=user)).status_code == 403
    assert (await client.post(review_url, json=approve)).status_code == 401
    forged = {IDENTITY_HEADER: sign_identity(Identity(uuid.uuid4(), "x", Role.ADMIN, UserStatus.APPROVED), "wrong" * 10)}  # fmt: skip
    assert (await client.get("/api/admin/images", headers=forged)).status_code == 401
    for unknown in (str(uuid.uuid4()), "nope", str(PRESETS[0].id)):
        reply = await client.post(
            f"/api/admin/images/{unknown}/review", json=approve, headers=admin(ctx)
        )
        assert reply.status_code == 404, unknown
    for params in ({"status": "bogus"}, {"status": "PENDING"}, {"limit": 0}, {"offset": -1}):
        reply = await client.get("/api/admin/images", params=params, headers=admin(ctx))
        assert reply.status_code == 422, params
    everything = await client.get("/api/admin/images", headers=admin(ctx))
    assert [r["id"] for r in everything.json()] == [created["id"]]  # presets are not reviewed


class _BrokenImporter:
    async def import_image(self, image: Image) -> str:
        raise RuntimeError("registry unreachable")


async def test_an_import_left_approved_is_resumed_at_the_next_start(
    database: Database, tmp_path: Path
) -> None:
    settings = ServiceSettings(
        data_dir=tmp_path, secret_key=SECRET, image_registry_prefix="reg.example.com/flageval"
    )
    owner = uuid.uuid4()
    async with running_service(definition, settings, database=database) as running:
        ctx, client = running.ctx, running.client
        ctx.state["import_worker"].importer = _BrokenImporter()
        created = await create(ctx, client, owner)
        reply = await client.post(
            f"/api/admin/images/{created['id']}/review",
            json={"decision": "approve"},
            headers=admin(ctx),
        )
        assert reply.status_code == 200
        await ctx.state["import_worker"].idle()
        async with ctx.db.transaction() as session:
            row = await session.get(Image, uuid.UUID(created["id"]))
        assert row is not None and row.status == "approved" and row.registry_ref is None
    async with running_service(definition, settings, database=database) as running:
        ctx = running.ctx
        await ctx.state["import_worker"].idle()
        async with ctx.db.transaction() as session:
            row = await session.get(Image, uuid.UUID(created["id"]))
        assert row is not None and row.status == "imported"
        assert row.registry_ref == f"reg.example.com/flageval/{owner.hex[:12]}/my-llm.runtime:v1.0"
        imported = [e for e in await outbox(ctx) if e["type"] == "image.imported"]
        assert len(imported) == 1


async def test_migration_matches_the_images_model_and_downgrades(database: Database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts)
    diff = await migrations.schema_drift(database, metadata)
    assert [d for d in diff if "images" in repr(d)] == []
    await migrations.downgrade(database, scripts, "20261127_0001")
    await migrations.upgrade(database, scripts)
