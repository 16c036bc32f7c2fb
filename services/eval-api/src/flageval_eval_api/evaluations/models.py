"""The ``evaluations`` table: one row per evaluation, its configuration in typed columns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from flageval_eval_api.models import Base
from flageval_platform.db import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Evaluation(Base):
    """An evaluation (评测实例) of one owner in one domain; ``name`` is unique platform-wide."""

    __tablename__ = "evaluations"
    __table_args__ = (
        # Decides concurrent creates with the same name (the pre-check only gives the message).
        UniqueConstraint("name", name="uq_evaluations_name"),
        Index("ix_evaluations_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    domain: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(256), default="")
    #: NLP and safety: dataset ids. Others: None.
    datasets: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: CV, multimodal, audio: ``[{task, adaptation_method, datasets}]``. Others: None.
    tasks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    deploy_mode: Mapped[str] = mapped_column(String(16))
    robustness: Mapped[bool] = mapped_column(Boolean, default=False)
    # Private deployment (deploy_mode == "private").
    image_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    priority: Mapped[str | None] = mapped_column(String(8), nullable=True)
    card_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # API deployment (deploy_mode == "api").
    api_endpoint: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    api_model_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: AES-GCM ciphertext (see ``secrets.py``); never leaves the service in a reply.
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Model info.
    model_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paper_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    model_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
