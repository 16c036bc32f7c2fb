"""Charging, refunding and reading quotas (SPEC §2 "Quota").

Every function takes the caller's session and runs inside its transaction. :func:`charge` is
race-free: it takes a per-user lock before it counts and inserts, so N concurrent charges with k
slots left accept exactly k. On PostgreSQL the lock is a transaction-scoped advisory lock on the
user; on SQLite the platform's single pooled connection already serialises transactions, and the
count and the insert happen in the one transaction the caller opened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_platform.errors import Conflict
from flageval_scheduler.quota.models import QuotaEntry, QuotaLimit

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_FORMAL_RUNS_PER_MONTH = 5
DEFAULT_HUMAN_EVALUATIONS_TOTAL = 2
TOTAL_PERIOD = "total"
CHARGE_REASON = "run accepted"
#: Namespace of the two-key advisory locks this service takes (PostgreSQL).
_LOCK_NAMESPACE = 0x51_07A


class QuotaKind(StrEnum):
    FORMAL_RUN = "formal_run"
    HUMAN_EVALUATION = "human_evaluation"


class RefundReason(StrEnum):
    """Why a charge is given back; user faults (bundle does not start, crashes) are not."""

    PLATFORM_FAULT = "platform_fault"
    STOPPED_BEFORE_START = "stopped_before_start"
    #: eval-api charged, then could not store the run (a concurrent start won, a fault).
    RUN_NOT_CREATED = "run_not_created"


@dataclass(frozen=True)
class Limits:
    formal_runs_per_month: int
    human_evaluations_total: int
    custom: bool
    updated_by: uuid.UUID | None = None
    updated_at: datetime | None = None


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (SQLite hands back naive ones)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def month_period(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> str:
    """``YYYY-MM`` of ``now`` in the platform timezone."""
    return as_utc(now).astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def next_month_start(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Midnight of the first day of the month after ``now``'s, in the platform timezone."""
    tz = ZoneInfo(timezone)
    local = as_utc(now).astimezone(tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz)


def period_for(kind: QuotaKind, now: datetime, timezone: str = DEFAULT_TIMEZONE) -> str:
    return month_period(now, timezone) if kind == QuotaKind.FORMAL_RUN else TOTAL_PERIOD


async def limits_for(session: AsyncSession, user_id: uuid.UUID) -> Limits:
    row = await session.get(QuotaLimit, user_id)
    if row is None:
        return Limits(DEFAULT_FORMAL_RUNS_PER_MONTH, DEFAULT_HUMAN_EVALUATIONS_TOTAL, custom=False)
    return Limits(
        row.formal_runs_per_month,
        row.human_evaluations_total,
        custom=True,
        updated_by=row.updated_by,
        updated_at=as_utc(row.updated_at),
    )


def _limit(limits: Limits, kind: QuotaKind) -> int:
    if kind == QuotaKind.FORMAL_RUN:
        return limits.formal_runs_per_month
    return limits.human_evaluations_total


async def used(session: AsyncSession, user_id: uuid.UUID, kind: QuotaKind, period: str) -> int:
    """Charges minus refunds of ``kind`` in ``period``."""
    total = await session.scalar(
        select(func.coalesce(func.sum(QuotaEntry.delta), 0)).where(
            QuotaEntry.user_id == user_id,
            QuotaEntry.kind == kind.value,
            QuotaEntry.period == period,
        )
    )
    return int(total or 0)


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise quota changes of one user until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, hashtext(:user_id))"),
            {"ns": _LOCK_NAMESPACE, "user_id": str(user_id)},
        )
    # SQLite: one pooled connection, so this transaction already runs alone.


async def _entry(
    session: AsyncSession, kind: QuotaKind, run_id: uuid.UUID, delta: int
) -> QuotaEntry | None:
    return await session.scalar(
        select(QuotaEntry).where(
            QuotaEntry.kind == kind.value, QuotaEntry.run_id == run_id, QuotaEntry.delta == delta
        )
    )


async def _insert(session: AsyncSession, entry: QuotaEntry) -> QuotaEntry:
    try:
        async with session.begin_nested():
            session.add(entry)
    except IntegrityError as exc:  # another user's concurrent charge of the same run id
        raise Conflict(
            "This run has already been charged or refunded.", code="run_already_charged"
        ) from exc
    entry.created_now = True
    return entry


async def charge(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: QuotaKind | str,
    run_id: uuid.UUID | None,
    now: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> QuotaEntry:
    """Take one slot of ``kind`` for ``run_id``; the existing charge when the run was charged
    before (retries are safe). Raises 409 ``quota_exhausted`` (with ``resets_at``: the next
    month's start for formal runs, ``None`` for human evaluations) when no slot is left."""
    kind = QuotaKind(kind)
    now = as_utc(now or datetime.now(UTC))
    await lock_user(session, user_id)
    if run_id is not None:
        existing = await _entry(session, kind, run_id, +1)
        if existing is not None:
            if existing.user_id != user_id:
                raise Conflict(
                    "This run has already been charged to another user.",
                    code="run_already_charged",
                )
            return existing
    period = period_for(kind, now, timezone)
    limit = _limit(await limits_for(session, user_id), kind)
    if await used(session, user_id, kind, period) >= limit:
        if kind == QuotaKind.FORMAL_RUN:
            resets_at: str | None = next_month_start(now, timezone).isoformat()
            message = (
                f"You have used all {limit} formal runs of this month; "
                f"the quota resets at {resets_at}."
            )
        else:
            resets_at = None
            message = f"You have used all {limit} human evaluations of your account."
        raise Conflict(message, code="quota_exhausted", resets_at=resets_at, limit=limit)
    entry = QuotaEntry(
        user_id=user_id,
        kind=kind.value,
        delta=+1,
        period=period,
        run_id=run_id,
        reason=CHARGE_REASON,
        created_at=now,
    )
    return await _insert(session, entry)


async def refund(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: QuotaKind | str,
    run_id: uuid.UUID,
    reason: RefundReason | str,
    now: datetime | None = None,
) -> QuotaEntry:
    """Give back the slot ``run_id`` took, in the period it was charged to. Idempotent: a
    second refund returns the first. A run that was never charged (to this user) is a 409
    ``not_charged``: nothing is written."""
    kind = QuotaKind(kind)
    reason = RefundReason(reason)
    now = as_utc(now or datetime.now(UTC))
    await lock_user(session, user_id)
    charged = await _entry(session, kind, run_id, +1)
    if charged is None or charged.user_id != user_id:
        raise Conflict(
            "This run was never charged, so there is nothing to refund.", code="not_charged"
        )
    existing = await _entry(session, kind, run_id, -1)
    if existing is not None:
        return existing
    entry = QuotaEntry(
        user_id=user_id,
        kind=kind.value,
        delta=-1,
        period=charged.period,
        run_id=run_id,
        reason=reason.value,
        created_at=now,
    )
    return await _insert(session, entry)


async def set_limits(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    formal_runs_per_month: int,
    human_evaluations_total: int,
    updated_by: uuid.UUID,
    now: datetime | None = None,
) -> Limits:
    """An administrator's override of ``user_id``'s limits (lowering below what is used leaves
    the used slots as they are and accepts no more)."""
    now = as_utc(now or datetime.now(UTC))
    await lock_user(session, user_id)
    row = await session.get(QuotaLimit, user_id)
    if row is None:
        row = QuotaLimit(user_id=user_id)
        session.add(row)
    row.formal_runs_per_month = formal_runs_per_month
    row.human_evaluations_total = human_evaluations_total
    row.updated_by = updated_by
    row.updated_at = now
    await session.flush()
    return await limits_for(session, user_id)


def entry_out(entry: QuotaEntry) -> dict[str, object]:
    return {
        "kind": entry.kind,
        "delta": entry.delta,
        "period": entry.period,
        "run_id": str(entry.run_id) if entry.run_id else None,
        "reason": entry.reason,
        "created_at": as_utc(entry.created_at).isoformat(),
    }


async def summary(
    *,
    session: AsyncSession,
    user_id: uuid.UUID,
    now: datetime | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> dict[str, object]:
    """The ``GET /api/me/quota`` reply: this month's formal runs with their ledger (newest
    first) and the human evaluations of the account."""
    now = as_utc(now or datetime.now(UTC))
    limits = await limits_for(session, user_id)
    period = month_period(now, timezone)
    formal_used = await used(session, user_id, QuotaKind.FORMAL_RUN, period)
    human_used = await used(session, user_id, QuotaKind.HUMAN_EVALUATION, TOTAL_PERIOD)
    ledger = (
        await session.scalars(
            select(QuotaEntry)
            .where(
                QuotaEntry.user_id == user_id,
                QuotaEntry.kind == QuotaKind.FORMAL_RUN.value,
                QuotaEntry.period == period,
            )
            .order_by(QuotaEntry.created_at.desc(), QuotaEntry.id.desc())
        )
    ).all()
    return {
        "formal_runs": {
            "limit": limits.formal_runs_per_month,
            "used": formal_used,
            "remaining": max(0, limits.formal_runs_per_month - formal_used),
            "resets_at": next_month_start(now, timezone).isoformat(),
            "ledger": [entry_out(e) for e in ledger],
        },
        "human_evaluations": {
            "limit": limits.human_evaluations_total,
            "used": human_used,
            "remaining": max(0, limits.human_evaluations_total - human_used),
        },
    }
