"""In-app notifications: made once per event, even when the event is redelivered; each person
reads and marks only their own."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flageval_contracts import new_envelope
from flageval_contracts.enums import Role, UserStatus
from flageval_notifier.main import definition
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.service import ServiceContext
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service

SECRET = "n" * 48


@pytest.fixture
async def notifier(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield running.ctx, running.bus, running.client


def _reviewed(user_id: uuid.UUID, decision: str, reason: str | None = None):
    return new_envelope(
        "user.reviewed",
        {
            "user_id": str(user_id),
            "email": "x@example.org",
            "username": "x",
            "decision": decision,
            "status": "approved" if decision == "approve" else "rejected",
            "reason": reason,
            "reviewer_id": str(uuid.uuid4()),
        },
        producer="gateway",
    )


def _headers(ctx: ServiceContext, user_id: uuid.UUID) -> dict[str, str]:
    identity = Identity(user_id, "x", Role.USER, UserStatus.APPROVED)
    return {IDENTITY_HEADER: sign_identity(identity, ctx.secret_key)}


async def test_review_event_becomes_one_notification_even_when_redelivered(notifier) -> None:
    ctx, bus, client = notifier
    alice, bob = uuid.uuid4(), uuid.uuid4()
    approved = _reviewed(alice, "approve")
    await bus.publish(approved)
    await bus.publish(approved)  # redelivery of the same message id
    await bus.publish(_reviewed(bob, "reject", reason="organization missing"))
    await bus.publish(
        new_envelope(
            "user.registered",
            {"user_id": str(alice), "email": "a@example.org", "username": "a"},
            producer="gateway",
        )
    )
    await bus.join()

    mine = (await client.get("/api/me/notifications", headers=_headers(ctx, alice))).json()
    assert [n["title"] for n in mine] == ["Your account was approved"]
    theirs = (await client.get("/api/me/notifications", headers=_headers(ctx, bob))).json()
    assert len(theirs) == 1 and "organization missing" in theirs[0]["body"]


async def test_mark_read_only_for_the_owner(notifier) -> None:
    ctx, bus, client = notifier
    alice, mallory = uuid.uuid4(), uuid.uuid4()
    await bus.publish(_reviewed(alice, "approve"))
    await bus.join()
    (note,) = (await client.get("/api/me/notifications", headers=_headers(ctx, alice))).json()

    stolen = await client.post(
        f"/api/me/notifications/{note['id']}/read", headers=_headers(ctx, mallory)
    )
    assert stolen.status_code == 404
    read = await client.post(
        f"/api/me/notifications/{note['id']}/read", headers=_headers(ctx, alice)
    )
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = await client.get(
        "/api/me/notifications", params={"unread": "true"}, headers=_headers(ctx, alice)
    )
    assert unread.json() == []


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("post", "/api/me/notifications/not-a-uuid/read", None),
        ("post", f"/api/me/notifications/{uuid.uuid4()}/read", None),
        ("get", "/api/me/notifications", {"limit": "0"}),
        ("get", "/api/me/notifications", {"limit": "abc"}),
        ("get", "/api/me/notifications", {"unread": "maybe"}),
    ],
)
async def test_bad_input_gets_a_4xx(notifier, method: str, path: str, params) -> None:
    ctx, _, client = notifier
    reply = await client.request(method, path, params=params, headers=_headers(ctx, uuid.uuid4()))
    assert 400 <= reply.status_code < 500


async def test_timestamps_carry_their_offset(notifier) -> None:
    """SQLite stores no offset; the reply still says UTC, as PostgreSQL's does."""
    ctx, bus, client = notifier
    alice = uuid.uuid4()
    await bus.publish(_reviewed(alice, "approve"))
    await bus.join()
    (note,) = (await client.get("/api/me/notifications", headers=_headers(ctx, alice))).json()
    read = await client.post(
        f"/api/me/notifications/{note['id']}/read", headers=_headers(ctx, alice)
    )
    for value in (note["created_at"], read.json()["created_at"], read.json()["read_at"]):
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(0), value
        assert abs(moment - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    "params",
    [{"limit": "501"}, {"limit": "9223372036854775808"}, {"limit": "-1"}],
)
async def test_paging_out_of_range_is_422(notifier, params) -> None:
    ctx, _, client = notifier
    reply = await client.get(
        "/api/me/notifications", params=params, headers=_headers(ctx, uuid.uuid4())
    )
    assert reply.status_code == 422
    assert reply.json()["code"] == "validation_error"


async def test_anonymous_callers_are_refused(notifier) -> None:
    _, _, client = notifier
    assert (await client.get("/api/me/notifications")).status_code == 401


async def test_bundle_ready_tells_the_owner_whether_the_upload_is_usable(notifier) -> None:
    ctx, bus, client = notifier
    owner = uuid.uuid4()
    for version, valid, problems in ((1, False, ["`meta.json` is missing"]), (2, True, [])):
        await bus.publish(
            new_envelope(
                "bundle.ready",
                {
                    "evaluation_id": str(uuid.uuid4()),
                    "owner_id": str(owner),
                    "bundle_id": str(uuid.uuid4()),
                    "version": version,
                    "valid": valid,
                    "problems": problems,
                },
                producer="upload",
            )
        )
    await bus.join()
    notes = (await client.get("/api/me/notifications", headers=_headers(ctx, owner))).json()
    by_title = {n["title"]: n["body"] for n in notes}
    assert "Upload version 2 is complete and valid" in by_title
    assert "`meta.json` is missing" in by_title["Upload version 1 has problems"]
