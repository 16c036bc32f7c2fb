"""Tables the notifier owns (its own schema on PostgreSQL, its own file on SQLite)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Integer, MetaData, String, Text, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flageval_platform.db import UTCDateTime
from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="notifier")


class Base(DeclarativeBase):
    metadata = metadata


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Notification(Base):
    """One in-app message to one person, created from a platform event."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Recipient(Base):
    """Where to write to a person: a read model of the users service, filled from ``user.*``
    events (the notifier owns no users; image events carry only the owner's id)."""

    __tablename__ = "recipients"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    username: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)


#: Lifecycle of an ``emails`` row. ``sending`` is committed before the SMTP call, so a row found
#: in ``sending`` whose sender died is never resent blindly (at most once per event).
EMAIL_PENDING = "pending"
EMAIL_SENDING = "sending"
EMAIL_SENT = "sent"
EMAIL_FAILED = "failed"


class Email(Base):
    """One email owed for one event (``event_id`` unique: at most one per event)."""

    __tablename__ = "emails"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    #: The text part (``text/plain``).
    body: Mapped[str] = mapped_column(Text)
    #: The HTML part (``text/html``); null on rows written before it existed (the sender then
    #: makes one from the text).
    html_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=EMAIL_PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    #: Earliest time of the next try (backoff after a transient failure); null: at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: When the current (or last) try was claimed, i.e. marked ``sending``.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
