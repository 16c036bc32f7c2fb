"""The catalog's table: card types (GPU kinds) that private deployments may ask for."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from flageval_eval_api.models import Base
from flageval_platform.db import UTCDateTime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CardTypeRow(Base):
    """One GPU kind: its memory and how many of them one machine offers (single-node runs)."""

    __tablename__ = "card_types"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    gpu_memory_gib: Mapped[int] = mapped_column(Integer)
    max_gpus: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    #: Seeded by the migration (True) or added by an administrator (False).
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
