"""Tables the gateway owns: users, login failure counters (and its outbox/inbox). Its own schema
on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Integer, MetaData, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flageval_contracts.enums import Role, UserStatus
from flageval_platform.db import UTCDateTime
from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="gateway")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class User(Base):
    """A person with an account. ``username_key`` (the lower-cased username) makes usernames
    unique regardless of case on both SQLite and PostgreSQL; ``email`` is stored lower-cased."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email", name="uq_users_email"),
        UniqueConstraint("username_key", name="uq_users_username_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320))
    username: Mapped[str] = mapped_column(String(32))
    username_key: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    status: Mapped[str] = mapped_column(String(32), default=UserStatus.REGISTERED.value, index=True)
    real_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(128), nullable=True)
    title: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def status_enum(self) -> UserStatus:
        return UserStatus(self.status)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @property
    def is_approved(self) -> bool:
        """May use what needs an approved account (admins always may)."""
        return self.status == UserStatus.APPROVED.value or self.is_admin

    @property
    def has_profile(self) -> bool:
        return self.real_name is not None


class LoginFailureCounter(Base):
    """Failed logins of one throttling key (a client address, or an account at an address) in
    the window that ends at ``window_ends_at``. Every gateway replica counts in the same rows;
    ``key`` is a SHA-256 (see :mod:`flageval_gateway.ratelimit`), so no address is stored."""

    __tablename__ = "login_failure_counters"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
