"""Quota tables: the append-only ledger and the per-user limits admins set."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from flageval_platform.db import UTCDateTime
from flageval_scheduler.models import Base


class QuotaEntry(Base):
    """One charge (+1) or refund (-1). ``period`` is ``YYYY-MM`` (platform timezone) for formal
    runs and ``total`` for human evaluations; a refund carries the period of its charge.
    ``(kind, run_id, delta)`` is unique, so a run is charged at most once and refunded at most
    once (NULL run ids are never equal, so anonymous charges are not deduplicated)."""

    __tablename__ = "quota_ledger"
    __table_args__ = (
        UniqueConstraint("kind", "run_id", "delta", name="uq_quota_ledger_kind_run_delta"),
        CheckConstraint("delta IN (1, -1)", name="ck_quota_ledger_delta"),
        CheckConstraint("kind IN ('formal_run', 'human_evaluation')", name="ck_quota_ledger_kind"),
        Index("ix_quota_ledger_user_kind_period", "user_id", "kind", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(32))
    delta: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7))
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    #: Not stored: True on the entry a charge or refund has just written, False on one that a
    #: retry found already there.
    created_now = False


class QuotaLimit(Base):
    """An administrator's override of one user's limits (absent: the platform defaults)."""

    __tablename__ = "quota_limits"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    formal_runs_per_month: Mapped[int] = mapped_column(Integer)
    human_evaluations_total: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
