"""The ``images`` table: presets (no owner) and users' custom image import requests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, Text, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flageval_image_registry.models import metadata
from flageval_platform.db import UTCDateTime


class Base(DeclarativeBase):
    metadata = metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


class ImageStatus(StrEnum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    IMPORTED = "imported"


#: A rejected request does not hold its name:tag, so the owner may resubmit it (a new row).
LIVE_ONLY = text("status <> 'rejected'")


class Image(Base):
    """One image: a preset (``preset``, ``owner_id`` null, status ``imported``) or a custom one."""

    __tablename__ = "images"
    __table_args__ = (
        # Decides concurrent duplicate requests (the pre-check only gives the message).
        Index(
            "uq_images_owner_name_tag_live",
            "owner_id",
            "name",
            "tag",
            unique=True,
            postgresql_where=LIVE_ONLY,
            sqlite_where=LIVE_ONLY,
        ),
        Index("ix_images_status_created", "status", "created_at"),
        Index("ix_images_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    preset: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: The owner's username when the request was made (shown to reviewers).
    owner_username: Mapped[str | None] = mapped_column(String(128), nullable=True)
    name: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(256), default="")
    # Preset attributes (None/empty for custom images).
    framework: Mapped[str | None] = mapped_column(String(128), nullable=True)
    card_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    domain: Mapped[str | None] = mapped_column(String(16), nullable=True)
    import_mode: Mapped[str] = mapped_column(String(16), default="public")
    source_url: Mapped[str] = mapped_column(String(512))
    dockerfile: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``[{line, severity, rule, message, hint}]`` computed when the request was made.
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: Where deployments pull the image from once imported (the platform registry).
    registry_ref: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
