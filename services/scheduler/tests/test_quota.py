"""The quota ledger (SPEC §2 "Quota", §3 ``GET /api/me/quota``): monthly formal runs in the
platform timezone, human evaluations in total, idempotent charges and refunds, admin overrides,
and race-free charging (20 concurrent charges with 5 slots left accept exactly 5), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flageval_contracts.enums import Role, UserStatus
from flageval_platform import migrations
from flageval_platform.errors import Conflict
from flageval_platform.identity import Identity
from flageval_platform.settings import Settings
from flageval_platform.testing import running_service
from flageval_scheduler.main import definition
from flageval_scheduler.models import metadata
from flageval_scheduler.quota import service as quota

SECRET = "q" * 48


def person(role: Role = Role.USER, status: UserStatus = UserStatus.APPROVED) -> Identity:
    return Identity(
        user_id=uuid.uuid4(), username=f"u{uuid.uuid4().hex[:6]}", role=role, status=status
    )


@pytest.fixture
async def service(database, tmp_path: Path):
    settings = Settings(data_dir=tmp_path, secret_key=SECRET)
    async with running_service(definition, settings, database=database) as running:
        yield running


async def charge(ctx: Any, user_id: uuid.UUID, *, kind: str = "formal_run", run_id=None, now=None):
    async with ctx.db.transaction() as session:
        return await quota.charge(
            session=session,
            user_id=user_id,
            kind=kind,
            run_id=run_id or uuid.uuid4(),
            now=now,
        )


async def refund(ctx: Any, user_id: uuid.UUID, run_id: uuid.UUID, *, kind: str = "formal_run"):
    async with ctx.db.transaction() as session:
        return await quota.refund(
            session=session, user_id=user_id, kind=kind, run_id=run_id, reason="platform_fault"
        )


async def summary(ctx: Any, user_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    async with ctx.db.transaction() as session:
        return await quota.summary(session=session, user_id=user_id, now=now)


async def test_migration_matches_the_models_and_downgrades(database) -> None:
    scripts = definition.migrations
    await migrations.upgrade(database, scripts)
    assert await migrations.schema_drift(database, metadata) == []
    await migrations.downgrade(database, scripts, "20261127_0001")
    await migrations.upgrade(database, scripts)
    assert await migrations.schema_drift(database, metadata) == []


async def test_reply_shape_of_my_quota(service) -> None:
    alice = person()
    headers = service.headers_for(alice)
    reply = await service.client.get("/api/me/quota", headers=headers)
    assert reply.status_code == 200
    body = reply.json()
    assert body["human_evaluations"] == {"limit": 2, "used": 0, "remaining": 2}
    formal = body["formal_runs"]
    assert set(formal) == {"limit", "used", "remaining", "resets_at", "ledger"}
    assert (formal["limit"], formal["used"], formal["remaining"], formal["ledger"]) == (5, 0, 5, [])
    expected = quota.next_month_start(datetime.now(UTC), "Asia/Shanghai")
    assert datetime.fromisoformat(formal["resets_at"]) == expected
    assert formal["resets_at"].endswith("+08:00")

    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    for run_id in (run_a, run_b):
        reply = await service.client.post(
            "/internal/quota/charges",
            json={"kind": "formal_run", "run_id": run_id},
            headers=headers,
        )
        assert reply.status_code == 201, reply.text
    reply = await service.client.post(
        "/internal/quota/refunds",
        json={"kind": "formal_run", "run_id": run_a, "reason": "stopped_before_start"},
        headers=headers,
    )
    assert reply.status_code == 201
    formal = (await service.client.get("/api/me/quota", headers=headers)).json()["formal_runs"]
    assert (formal["used"], formal["remaining"]) == (1, 4)
    ledger = formal["ledger"]
    assert [(e["run_id"], e["delta"], e["reason"]) for e in ledger] == [
        (run_a, -1, "stopped_before_start"),
        (run_b, 1, "run accepted"),
        (run_a, 1, "run accepted"),
    ]
    assert set(ledger[0]) >= {"kind", "delta", "run_id", "reason", "created_at"}
    assert all(e["kind"] == "formal_run" for e in ledger)
    assert datetime.fromisoformat(ledger[0]["created_at"]).tzinfo is not None
    # Another user sees none of it.
    other = await service.client.get("/api/me/quota", headers=service.headers_for(person()))
    assert other.json()["formal_runs"]["ledger"] == []


async def test_anonymous_is_401_and_non_admin_is_403(service) -> None:
    client = service.client
    user = service.headers_for(person())
    target = uuid.uuid4()
    assert (await client.get("/api/me/quota")).status_code == 401
    assert (
        await client.get("/api/me/quota", headers={"X-Flageval-Identity": "x.y"})
    ).status_code == 401
    assert (await client.get(f"/api/admin/quotas/{target}")).status_code == 401
    assert (await client.post("/internal/quota/charges", json={})).status_code == 401
    assert (await client.post("/internal/quota/refunds", json={})).status_code == 401
    assert (await client.get(f"/api/admin/quotas/{target}", headers=user)).status_code == 403
    body = {"formal_runs_per_month": 10, "human_evaluations_total": 3}
    reply = await client.put(f"/api/admin/quotas/{target}", json=body, headers=user)
    assert reply.status_code == 403
    # 403 comes before complaints about the body.
    reply = await client.put(f"/api/admin/quotas/{target}", json={"x": 1}, headers=user)
    assert reply.status_code == 403
    pending = service.headers_for(person(status=UserStatus.PENDING_REVIEW))
    reply = await client.post(
        "/internal/quota/charges",
        json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
        headers=pending,
    )
    assert reply.status_code == 403


async def test_five_charges_then_409_with_resets_at_next_month_in_shanghai(service) -> None:
    ctx = service.ctx
    user = uuid.uuid4()
    # 2026-01-31T16:30Z is 2026-02-01 00:30 in Shanghai: February's quota.
    feb = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    jan = datetime(2026, 1, 31, 15, 59, tzinfo=UTC)  # 23:59 on Jan 31st in Shanghai
    for _ in range(5):
        entry = await charge(ctx, user, now=feb)
        assert entry.period == "2026-02"
    with pytest.raises(Conflict) as raised:
        await charge(ctx, user, now=feb)
    detail = raised.value.detail
    assert detail["code"] == "quota_exhausted"
    assert detail["resets_at"] == "2026-03-01T00:00:00+08:00"
    assert datetime.fromisoformat(detail["resets_at"]) == datetime(2026, 2, 28, 16, tzinfo=UTC)
    # January (Shanghai) is a different month with its own five.
    assert (await charge(ctx, user, now=jan)).period == "2026-01"
    jan_summary = await summary(ctx, user, jan)
    assert jan_summary["formal_runs"]["used"] == 1
    assert jan_summary["formal_runs"]["resets_at"] == "2026-02-01T00:00:00+08:00"
    feb_summary = await summary(ctx, user, feb)
    assert (feb_summary["formal_runs"]["used"], feb_summary["formal_runs"]["remaining"]) == (5, 0)
    assert len(feb_summary["formal_runs"]["ledger"]) == 5
    # March has a fresh quota; December's resets_at rolls over the year.
    assert (await charge(ctx, user, now=datetime(2026, 2, 28, 16, tzinfo=UTC))).period == "2026-03"
    dec = datetime(2026, 12, 15, tzinfo=UTC)
    assert quota.next_month_start(dec).isoformat() == "2027-01-01T00:00:00+08:00"


async def test_409_over_http_has_code_and_resets_at(service) -> None:
    headers = service.headers_for(person())
    for i in range(6):
        reply = await service.client.post(
            "/internal/quota/charges",
            json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
            headers=headers,
        )
        assert reply.status_code == (201 if i < 5 else 409)
    detail = reply.json()["detail"]
    assert detail["code"] == "quota_exhausted"
    assert datetime.fromisoformat(detail["resets_at"]) == quota.next_month_start(datetime.now(UTC))


async def test_refunds_give_the_slot_back_and_are_idempotent(service) -> None:
    ctx = service.ctx
    user = uuid.uuid4()
    now = datetime(2026, 5, 10, tzinfo=UTC)
    runs = [uuid.uuid4() for _ in range(5)]
    for run_id in runs:
        await charge(ctx, user, run_id=run_id, now=now)
    with pytest.raises(Conflict):
        await charge(ctx, user, now=now)
    first = await refund(ctx, user, runs[0])
    assert first.created_now and first.delta == -1 and first.period == "2026-05"
    again = await refund(ctx, user, runs[0])
    assert not again.created_now and again.id == first.id
    assert (await summary(ctx, user, now))["formal_runs"]["used"] == 4
    await charge(ctx, user, now=now)  # the slot is back, once
    with pytest.raises(Conflict):
        await charge(ctx, user, now=now)
    # Refunding a run never charged (or charged to someone else) is a 409 and writes nothing.
    with pytest.raises(Conflict) as raised:
        await refund(ctx, user, uuid.uuid4())
    assert raised.value.detail["code"] == "not_charged"
    with pytest.raises(Conflict):
        await refund(ctx, uuid.uuid4(), runs[1])
    # A refund is booked to the month of its charge, even when it happens later.
    later_user = uuid.uuid4()
    run = uuid.uuid4()
    await charge(ctx, later_user, run_id=run, now=now)
    async with ctx.db.transaction() as session:
        late = await quota.refund(
            session=session,
            user_id=later_user,
            kind="formal_run",
            run_id=run,
            reason="stopped_before_start",
            now=datetime(2026, 6, 2, tzinfo=UTC),
        )
    assert late.period == "2026-05"
    assert (await summary(ctx, later_user, now))["formal_runs"]["used"] == 0


async def test_refund_over_http(service) -> None:
    headers = service.headers_for(person())
    run_id = str(uuid.uuid4())
    body = {"kind": "formal_run", "run_id": run_id, "reason": "platform_fault"}
    reply = await service.client.post("/internal/quota/refunds", json=body, headers=headers)
    assert reply.status_code == 409 and reply.json()["detail"]["code"] == "not_charged"
    await service.client.post(
        "/internal/quota/charges", json={"kind": "formal_run", "run_id": run_id}, headers=headers
    )
    assert (
        await service.client.post("/internal/quota/refunds", json=body, headers=headers)
    ).status_code == 201
    assert (
        await service.client.post("/internal/quota/refunds", json=body, headers=headers)
    ).status_code == 200
    for bad in (
        {**body, "reason": "user_fault"},
        {**body, "kind": "validation"},
        {**body, "run_id": "nope"},
        {"kind": "formal_run", "run_id": run_id},
    ):
        reply = await service.client.post("/internal/quota/refunds", json=bad, headers=headers)
        assert reply.status_code == 422, bad


async def test_a_run_charged_twice_is_charged_once(service) -> None:
    ctx = service.ctx
    user = uuid.uuid4()
    now = datetime(2026, 3, 3, tzinfo=UTC)
    run_id = uuid.uuid4()
    first = await charge(ctx, user, run_id=run_id, now=now)
    second = await charge(ctx, user, run_id=run_id, now=now)
    assert first.created_now and not second.created_now and first.id == second.id
    assert (await summary(ctx, user, now))["formal_runs"]["used"] == 1
    # Concurrent retries of one run also charge it once.
    retried = uuid.uuid4()
    await asyncio.gather(*(charge(ctx, user, run_id=retried, now=now) for _ in range(5)))
    assert (await summary(ctx, user, now))["formal_runs"]["used"] == 2
    # Over HTTP: 201 then 200 with the same entry.
    headers = service.headers_for(person())
    body = {"kind": "formal_run", "run_id": str(run_id)}
    other = await service.client.post("/internal/quota/charges", json=body, headers=headers)
    assert other.status_code == 409  # that run id is already another user's charge
    body = {"kind": "formal_run", "run_id": str(uuid.uuid4())}
    replies = [
        await service.client.post("/internal/quota/charges", json=body, headers=headers)
        for _ in range(2)
    ]
    assert [r.status_code for r in replies] == [201, 200]
    assert replies[0].json() == replies[1].json()


async def test_twenty_concurrent_charges_with_five_slots_accept_exactly_five(service) -> None:
    ctx = service.ctx
    user = uuid.uuid4()
    now = datetime(2026, 7, 1, tzinfo=UTC)
    results = await asyncio.gather(
        *(charge(ctx, user, now=now) for _ in range(20)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(accepted) == 5
    assert len(refused) == 15
    assert all(isinstance(r, Conflict) and r.code == "quota_exhausted" for r in refused)
    assert (await summary(ctx, user, now))["formal_runs"]["used"] == 5


async def test_twenty_concurrent_http_starts_with_two_slots_left(service) -> None:
    headers = service.headers_for(person())
    for _ in range(3):
        await service.client.post(
            "/internal/quota/charges",
            json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
            headers=headers,
        )
    replies = await asyncio.gather(
        *(
            service.client.post(
                "/internal/quota/charges",
                json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
                headers=headers,
            )
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in replies)
    assert codes == [201] * 2 + [409] * 18
    mine = (await service.client.get("/api/me/quota", headers=headers)).json()["formal_runs"]
    assert (mine["used"], mine["remaining"], len(mine["ledger"])) == (5, 0, 5)


async def test_admin_override_raises_and_lowers_the_limit(service) -> None:
    client = service.client
    boss = person(role=Role.ADMIN)
    admin = service.headers_for(boss)
    alice = person()
    headers = service.headers_for(alice)
    reply = await client.get(f"/api/admin/quotas/{alice.user_id}", headers=admin)
    assert reply.status_code == 200
    body = reply.json()
    assert (body["formal_runs_per_month"], body["human_evaluations_total"], body["custom"]) == (
        5,
        2,
        False,
    )

    async def start() -> int:
        reply = await client.post(
            "/internal/quota/charges",
            json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
            headers=headers,
        )
        return reply.status_code

    assert [await start() for _ in range(6)] == [201] * 5 + [409]
    reply = await client.put(
        f"/api/admin/quotas/{alice.user_id}",
        json={"formal_runs_per_month": 7, "human_evaluations_total": 3},
        headers=admin,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["formal_runs_per_month"] == 7 and body["custom"] is True
    assert body["updated_by"] == str(boss.user_id) and body["updated_at"]
    assert [await start() for _ in range(3)] == [201, 201, 409]
    mine = (await client.get("/api/me/quota", headers=headers)).json()
    assert mine["formal_runs"]["limit"] == 7 and mine["formal_runs"]["remaining"] == 0
    assert mine["human_evaluations"] == {"limit": 3, "used": 0, "remaining": 3}
    # Lowered below what is used: nothing more is accepted, remaining never goes negative.
    reply = await client.put(
        f"/api/admin/quotas/{alice.user_id}",
        json={"formal_runs_per_month": 1, "human_evaluations_total": 0},
        headers=admin,
    )
    assert reply.status_code == 200
    assert await start() == 409
    mine = (await client.get("/api/me/quota", headers=headers)).json()
    assert (
        mine["formal_runs"]["limit"],
        mine["formal_runs"]["used"],
        mine["formal_runs"]["remaining"],
    ) == (1, 7, 0)
    reply = await client.post(
        "/internal/quota/charges",
        json={"kind": "human_evaluation", "run_id": str(uuid.uuid4())},
        headers=headers,
    )
    assert reply.status_code == 409
    assert reply.json()["detail"]["resets_at"] is None
    usage = (await client.get(f"/api/admin/quotas/{alice.user_id}", headers=admin)).json()["usage"]
    assert usage["formal_runs"]["used"] == 7


async def test_human_evaluations_are_two_in_total(service) -> None:
    ctx = service.ctx
    user = uuid.uuid4()
    months = [datetime(2026, m, 5, tzinfo=UTC) for m in (1, 4, 9)]
    first = await charge(ctx, user, kind="human_evaluation", now=months[0])
    assert first.period == "total"
    await charge(ctx, user, kind="human_evaluation", now=months[1])
    with pytest.raises(Conflict) as raised:
        await charge(ctx, user, kind="human_evaluation", now=months[2])  # a new month does not help
    assert raised.value.detail["code"] == "quota_exhausted"
    assert raised.value.detail["resets_at"] is None
    # Formal runs are counted apart.
    await charge(ctx, user, now=months[2])
    got = await summary(ctx, user, months[2])
    assert got["human_evaluations"] == {"limit": 2, "used": 2, "remaining": 0}
    assert got["formal_runs"]["used"] == 1
    await refund(ctx, user, first.run_id, kind="human_evaluation")
    assert (await charge(ctx, user, kind="human_evaluation", now=months[2])).created_now


BAD_LIMITS: list[Any] = [
    {"formal_runs_per_month": -1, "human_evaluations_total": 2},
    {"formal_runs_per_month": 1001, "human_evaluations_total": 2},
    {"formal_runs_per_month": 5, "human_evaluations_total": -1},
    {"formal_runs_per_month": 5, "human_evaluations_total": 1001},
    {"formal_runs_per_month": "5", "human_evaluations_total": 2},
    {"formal_runs_per_month": 5.5, "human_evaluations_total": 2},
    {"formal_runs_per_month": True, "human_evaluations_total": 2},
    {"formal_runs_per_month": None, "human_evaluations_total": 2},
    {"formal_runs_per_month": 5},
    {"human_evaluations_total": 2},
    {"formal_runs_per_month": 5, "human_evaluations_total": 2, "extra": 1},
    [5, 2],
    "x",
]


async def test_bad_limit_values_are_422_and_change_nothing(service) -> None:
    admin = service.headers_for(person(role=Role.ADMIN))
    target = uuid.uuid4()
    for body in BAD_LIMITS:
        reply = await service.client.put(f"/api/admin/quotas/{target}", json=body, headers=admin)
        assert reply.status_code == 422, body
    good = {"formal_runs_per_month": 0, "human_evaluations_total": 1000}
    reply = await service.client.put("/api/admin/quotas/not-a-uuid", json=good, headers=admin)
    assert reply.status_code == 422
    assert (await service.client.get("/api/admin/quotas/nope", headers=admin)).status_code == 422
    got = (await service.client.get(f"/api/admin/quotas/{target}", headers=admin)).json()
    assert got["custom"] is False and got["formal_runs_per_month"] == 5
    reply = await service.client.put(f"/api/admin/quotas/{target}", json=good, headers=admin)
    assert reply.status_code == 200
    for bad in ({"kind": "formal_run"}, {"kind": "other", "run_id": str(uuid.uuid4())}, {}):
        reply = await service.client.post("/internal/quota/charges", json=bad, headers=admin)
        assert reply.status_code == 422, bad


async def test_returned_timestamps_carry_their_offset(service) -> None:
    client = service.client
    admin = service.headers_for(person(role=Role.ADMIN))
    alice = person()
    reply = await client.put(
        f"/api/admin/quotas/{alice.user_id}",
        json={"formal_runs_per_month": 7, "human_evaluations_total": 3},
        headers=admin,
    )
    assert reply.status_code == 200, reply.text
    charged = await client.post(
        "/internal/quota/charges",
        json={"kind": "formal_run", "run_id": str(uuid.uuid4())},
        headers=service.headers_for(alice),
    )
    assert charged.status_code == 201, charged.text
    limits = (await client.get(f"/api/admin/quotas/{alice.user_id}", headers=admin)).json()
    mine = (await client.get("/api/me/quota", headers=service.headers_for(alice))).json()
    (entry,) = mine["formal_runs"]["ledger"]
    for value in (limits["updated_at"], entry["created_at"], mine["formal_runs"]["resets_at"]):
        assert datetime.fromisoformat(value).tzinfo is not None, value
    assert datetime.fromisoformat(limits["updated_at"]).utcoffset() == timedelta(0)
