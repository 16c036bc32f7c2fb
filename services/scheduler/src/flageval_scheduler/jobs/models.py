"""The scheduler's view of each run: one ``jobs`` row, and the log lines its runner sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from flageval_scheduler.models import Base


class Job(Base):
    """One run as the scheduler executes it. ``attempt`` grows when a formal run is resumed;
    only the current attempt's runner may report. ``results`` holds each dataset's outcome
    (dataset → :class:`~flageval_contracts.events.DatasetResult` as a dict)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_queue", "status", "priority_rank", "created_at"),)

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    priority_rank: Mapped[int] = mapped_column(Integer)
    #: queued | starting | running | succeeded | failed | stopped
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    #: The attempt whose runner has fetched its spec: only that runner may report.
    spec_fetched_attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    executor: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str | None] = mapped_column(String(512), nullable=True)
    #: The ``run.requested`` payload.
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobLogBatch(Base):
    """A batch of log lines a runner sent; ``(run_id, attempt, seq)`` makes resending harmless."""

    __tablename__ = "job_logs"
    __table_args__ = (UniqueConstraint("run_id", "attempt", "seq", name="uq_job_logs_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    lines: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
