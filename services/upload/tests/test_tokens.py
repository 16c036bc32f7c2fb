"""Upload tokens: for the approved owner only, random, stored hashed, scoped to one evaluation's
new bundle version, expiring; and the evaluations read model they are checked against."""

from __future__ import annotations

import hashlib
import shlex
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_platform.settings import Settings
from flageval_upload.config import UploadSettings, upload_settings
from flageval_upload.models import Bundle, Evaluation, UploadToken

pytestmark = pytest.mark.postgres

PUBLIC_URL = "http://flageval.test:8000"  # the harness's FLAGEVAL_PUBLIC_URL (conftest.py)


async def test_the_owner_gets_a_token_and_the_exact_cli_command(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    before = datetime.now(UTC)
    reply = await upload.issue(evaluation_id, owner)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert set(body) == {"token", "expires_at", "command", "bundle_version"}
    token = body["token"]
    assert len(token) >= 43 and not token.startswith("-")
    assert (
        body["command"] == f"flageval-serving upload --host {PUBLIC_URL} --token {token} ./my_model"
    )
    assert shlex.split(body["command"])[4:7] == ["--token", token, "./my_model"]
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23) < expires_at - before <= timedelta(hours=24, seconds=5)
    assert body["bundle_version"] == 1
    # The token works with the protocol right away.
    assert (await upload.list(token)).json() == {"results": []}


async def test_tokens_are_stored_only_as_their_sha256(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    token = (await upload.issue(evaluation_id, owner)).json()["token"]
    async with upload.ctx.db.transaction() as session:
        row = (await session.scalars(select(UploadToken))).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.evaluation_id == evaluation_id and row.owner_id == owner
        stored = []
        for table in ("upload_tokens", "bundles", "evaluations"):
            for record in (await session.execute(text(f"SELECT * FROM {table}"))).all():
                stored.extend(str(value) for value in record)
    assert stored and not any(token in value for value in stored)


async def test_each_token_opens_a_new_version_even_when_asked_concurrently(upload) -> None:
    import asyncio

    evaluation_id, owner = await upload.evaluation()
    replies = await asyncio.gather(*(upload.issue(evaluation_id, owner) for _ in range(5)))
    assert sorted(r.status_code for r in replies) == [201] * 5
    assert sorted(r.json()["bundle_version"] for r in replies) == [1, 2, 3, 4, 5]
    assert len({r.json()["token"] for r in replies}) == 5
    async with upload.ctx.db.transaction() as session:
        bundles = list(await session.scalars(select(Bundle).order_by(Bundle.version)))
    assert [(b.version, b.status) for b in bundles] == [(v, "uploading") for v in range(1, 6)]


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("stranger", 404),
        ("stranger-admin", 404),
        ("unknown-evaluation", 404),
        ("pending-owner", 403),
    ],
)
async def test_only_the_approved_owner_gets_tokens(upload, who: str, status: int) -> None:
    evaluation_id, owner = await upload.evaluation()
    if who == "stranger":
        reply = await upload.issue(evaluation_id, uuid.uuid4())
    elif who == "stranger-admin":
        reply = await upload.issue(evaluation_id, uuid.uuid4(), role=Role.ADMIN)
    elif who == "unknown-evaluation":
        reply = await upload.issue(uuid.uuid4(), owner)
    else:
        reply = await upload.issue(evaluation_id, owner, status=UserStatus.PENDING_REVIEW)
    assert reply.status_code == status
    assert isinstance(reply.json()["detail"], str) and reply.json()["detail"]
    async with upload.ctx.db.transaction() as session:
        assert list(await session.scalars(select(UploadToken))) == []
        assert list(await session.scalars(select(Bundle))) == []


async def test_safety_evaluations_have_nothing_to_upload(upload) -> None:
    evaluation_id, owner = await upload.evaluation(domain="safety")
    reply = await upload.issue(evaluation_id, owner)
    assert reply.status_code == 409 and "API" in reply.json()["detail"]


async def test_without_a_forwarded_identity_there_is_no_token(upload) -> None:
    evaluation_id, _ = await upload.evaluation()
    reply = await upload.client.post(f"/api/evaluations/{evaluation_id}/upload-tokens")
    assert reply.status_code == 401
    forged = await upload.client.post(
        f"/api/evaluations/{evaluation_id}/upload-tokens",
        headers={"X-Flageval-Identity": "e30.bm90LXNpZ25lZA"},
    )
    assert forged.status_code == 401
    assert (await upload.client.get(f"/api/evaluations/{evaluation_id}/bundles")).status_code == 401


async def test_only_admins_may_ask_for_the_targets_right(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    reply = await upload.client.post(
        f"/api/evaluations/{evaluation_id}/upload-tokens",
        json={"can_send_targets": True},
        headers=upload.headers(owner),
    )
    assert reply.status_code == 403
    bad = await upload.client.post(
        f"/api/evaluations/{evaluation_id}/upload-tokens",
        json={"can_send_targets": "yes please"},
        headers=upload.headers(owner),
    )
    assert bad.status_code == 422


async def test_an_expired_token_is_refused_everywhere(upload) -> None:
    token = await upload.token()
    (entry,) = (await upload.create(token, {"meta.json": b"{}"})).json()["results"]
    async with upload.ctx.db.transaction() as session:
        await session.execute(
            update(UploadToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    replies = [
        await upload.list(token),
        await upload.create(token, {"x.txt": b"x"}),
        await upload.chunk(token, entry["id"], 1, b"{}"),
        await upload.op("ls", token),
        await upload.op("rm", token, "meta.json"),
    ]
    for reply in replies:
        assert reply.status_code == 401, reply.request.url
        assert "expired" in reply.json()["detail"]


async def test_evaluation_events_fill_the_read_model_idempotently_and_in_order(upload) -> None:
    evaluation_id, first_owner, second_owner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def event(type_: str, owner: uuid.UUID, name: str):
        return new_envelope(
            type_,
            {
                "evaluation_id": str(evaluation_id),
                "owner_id": str(owner),
                "domain": "cv",
                "name": name,
            },
            producer="eval-api",
        )

    created = event("evaluation.created", first_owner, "first-name")
    updated = event("evaluation.updated", second_owner, "second-name")
    await upload.bus.publish(updated)  # the later event arrives first …
    await upload.bus.join()
    await upload.bus.publish(created)  # … and the earlier one must not undo it
    await upload.bus.publish(updated)  # a redelivery
    await upload.bus.join()
    async with upload.ctx.db.transaction() as session:
        row = await session.get(Evaluation, evaluation_id)
    assert row is not None
    assert (row.owner_id, row.domain, row.name) == (second_owner, "cv", "second-name")
    assert (await upload.issue(evaluation_id, second_owner)).status_code == 201
    assert (await upload.issue(evaluation_id, first_owner)).status_code == 404


def test_upload_limits_come_from_the_environment_when_given_plain_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("FLAGEVAL_UPLOAD_CHUNK_KB", "128")
    monkeypatch.setenv("FLAGEVAL_UPLOAD_MAX_FILES", "7")
    base = Settings(data_dir=tmp_path, public_url="http://example.org")
    settings = upload_settings(base)
    assert isinstance(settings, UploadSettings)
    assert (settings.upload_chunk_kb, settings.upload_max_files) == (128, 7)
    assert settings.public_url == "http://example.org" and settings.data_dir == tmp_path
    assert settings.upload_max_bundle_bytes == 100 * 1024**3
    assert settings.upload_token_ttl_seconds == 86400
    given = UploadSettings(upload_chunk_kb=9)
    assert upload_settings(given) is given
