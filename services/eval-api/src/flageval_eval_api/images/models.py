from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from flageval_eval_api.models import Base
from flageval_platform.db import UTCDateTime


class AvailableImage(Base):
    """An image the image registry announced as selectable (``image.available``): a preset
    (no owner) or an owner's approved custom image."""

    __tablename__ = "available_images"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(128))
    tag: Mapped[str] = mapped_column(String(128))
    preset: Mapped[bool] = mapped_column(Boolean)
    announced_at: Mapped[datetime] = mapped_column(UTCDateTime())
