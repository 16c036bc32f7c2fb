"""Tables the leaderboard service owns (its own schema on PostgreSQL, its own file on SQLite).

Two read models filled from events (``runs`` from ``run.requested``/``run.finished``, ``people``
from ``user.profile_submitted``/``user.reviewed``), the published ``entries``, and one
``boards`` row per domain whose ``revision`` moves with every change that alters what the
domain's board shows (readers cache a board per revision).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flageval_platform.db import UTCDateTime
from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="leaderboard")


class Base(DeclarativeBase):
    metadata = metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class KnownRun(Base):
    """A run as the board knows it: its owner from ``run.requested``, its result from
    ``run.finished`` (the whole payload kept in ``finished``)."""

    __tablename__ = "runs"

    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    domain: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    #: ``requested`` until ``run.finished`` arrives, then the run's terminal status.
    status: Mapped[str] = mapped_column(String(16))
    #: The ``RunFinished`` payload (JSON), null until the run finished.
    finished: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Person(Base):
    """What a named entry shows of its submitter (from the gateway's user events)."""

    __tablename__ = "people"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    real_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: When the event that set these was published (a late, older event never wins).
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())


MODE_NAMED = "named"
MODE_ANONYMOUS = "anonymous"


class Entry(Base):
    """One run published on its domain's board (at most one entry per run).

    ``scores`` and ``reproducibility`` are fixed when the entry is published (or re-published);
    a withdrawn or hidden entry keeps its row, so a hidden one cannot be re-published around
    the administrator's decision.
    """

    __tablename__ = "entries"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    domain: Mapped[str] = mapped_column(String(32), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    model_name: Mapped[str] = mapped_column(String(200))
    #: Shown for a named entry when the board has no profile for the owner (their username).
    username: Mapped[str] = mapped_column(String(200), default="")
    #: ``{dataset: {"task", "metric", "better": "higher"|"lower", "value": float|None}}``.
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    reproducibility: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hidden_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    hidden_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)

    @property
    def on_board(self) -> bool:
        return self.withdrawn_at is None and self.hidden_at is None

    @property
    def state(self) -> str:
        if self.hidden_at is not None:
            return "hidden"
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "published"


class Board(Base):
    """A domain's board revision: bumped in the transaction of every change that alters it."""

    __tablename__ = "boards"

    domain: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
