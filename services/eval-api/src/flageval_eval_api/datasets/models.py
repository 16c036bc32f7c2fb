"""The table of registered datasets: one row per (name, version); the highest ``seq`` of a name
is its current version (the one the catalog lists and runs read)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from flageval_eval_api.models import Base
from flageval_platform.db import UTCDateTime


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RegisteredDataset(Base):
    """One registered version of a dataset. Its objects live under ``prefix``:
    ``datasets/<name>/<version>/card.json`` and ``.../data.jsonl``."""

    __tablename__ = "registered_datasets"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_registered_datasets_name_version"),
        # Versions of one name are numbered 1, 2, ...: two concurrent registrations of a name
        # cannot both become "current".
        UniqueConstraint("name", "seq", name="uq_registered_datasets_name_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    #: The card's ``name``: the dataset id in the catalog.
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(16))
    #: The catalog task the dataset belongs to (the card's ``task`` is the harness task type).
    task: Mapped[str] = mapped_column(String(64))
    #: The card as validated (JSON object, absent optionals dropped).
    card: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Items evaluated (split "test") and few-shot exemplars (split "dev").
    size: Mapped[int] = mapped_column(Integer)
    dev_size: Mapped[int] = mapped_column(Integer)
    data_bytes: Mapped[int] = mapped_column(BigInteger)
    #: sha256 of ``data.jsonl`` exactly as stored.
    sha256: Mapped[str] = mapped_column(String(64))
    #: The runner's content hash (canonical card + data): what every result records.
    content_sha256: Mapped[str] = mapped_column(String(64))
    registered_by: Mapped[uuid.UUID] = mapped_column(Uuid)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=_utcnow)

    @property
    def prefix(self) -> str:
        return dataset_prefix(self.name, self.version)


def dataset_prefix(name: str, version: str) -> str:
    """The object-key prefix of one version: a run's dataset ``source``."""
    return f"datasets/{name}/{version}"
