"""Tables the upload service owns (its own schema on PostgreSQL, its own file on SQLite).

``evaluations`` is a read model: eval-api owns evaluations and announces them with
``evaluation.created`` / ``evaluation.updated``; the upload service keeps who owns each one and
its domain, which is all it needs to issue tokens and check layouts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flageval_platform.db import UTCDateTime
from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="upload")

#: Longest object key the stores accept; a bundle file's key is its name under a prefix.
MAX_OBJECT_KEY = 1024


class Base(DeclarativeBase):
    metadata = metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time this service stores is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class BundleStatus(StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"  # every chunk of every file is in; the layout check is running
    VALID = "valid"
    INVALID = "invalid"


#: A version in one of these statuses is sealed: every chunk of every file is in, so its bytes
#: are what was (or is being) checked, and no call may change them again (SPEC §11).
SEALED_STATUSES = frozenset(
    {BundleStatus.COMPLETE.value, BundleStatus.VALID.value, BundleStatus.INVALID.value}
)


class FileStatus(StrEnum):
    UPLOADING = "uploading"
    ASSEMBLING = "assembling"  # one request is joining the chunks into the file
    READY = "ready"


class Evaluation(Base):
    """What the upload service knows of an evaluation (read model fed by eval-api's events)."""

    __tablename__ = "evaluations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    domain: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BundleKind(StrEnum):
    MODEL = "model"  # an evaluation's model + code
    DATASET = "dataset"  # a media dataset version an administrator uploads (docs/datasets.md)


#: Namespace of :func:`dataset_scope_id`.
DATASET_SCOPE = uuid.UUID("6f1d3c2a-5b8e-4e0f-9a47-1c2d3e4f5a6b")


def dataset_scope_id(dataset: str) -> uuid.UUID:
    """What a dataset upload stores as ``evaluation_id``: a uuid5 of the dataset name.

    Uploads of one dataset are numbered like an evaluation's bundle versions, under the same
    unique constraint, without making the column nullable (on SQLite that rebuilds ``bundles``,
    and with foreign keys on, dropping the old table would cascade to every file and token).
    eval-api's evaluation ids are uuid4s, so a scope id never names an evaluation: the
    evaluation endpoints answer 404 for it.
    """
    return uuid.uuid5(DATASET_SCOPE, f"dataset:{dataset}")


class Bundle(Base):
    """One version of an evaluation's uploaded model + code, or one uploaded media dataset
    (``kind`` dataset; ``dataset``/``dataset_version`` name what it holds, and
    ``evaluation_id`` is the dataset's scope id, :func:`dataset_scope_id`, never an evaluation)."""

    __tablename__ = "bundles"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "version", name="uq_bundles_evaluation_version"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(
        String(16), default=BundleKind.MODEL.value, server_default=BundleKind.MODEL.value
    )
    dataset: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=BundleStatus.UPLOADING.value)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Bumped whenever the set of files changes, so a layout check of an older set of files
    #: can never overwrite the status of a newer one.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UploadToken(Base):
    """A token the CLI authenticates with; only its sha256 is stored."""

    __tablename__ = "upload_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: A dataset upload token's is its dataset's scope id (see :func:`dataset_scope_id`).
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bundle_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("bundles.id", ondelete="CASCADE"))
    can_send_targets: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BundleFile(Base):
    """One file of a bundle and the server's chunk plan for it.

    ``id`` goes into the CLI's chunk URLs. Replacing a file (``cp``) gives it a new row and id,
    so a chunk still in flight for the old plan can never land in the new one; SQLite's
    AUTOINCREMENT keeps ids from being reused.
    """

    __tablename__ = "bundle_files"
    __table_args__ = (
        UniqueConstraint("bundle_id", "filename", name="uq_bundle_files_bundle_filename"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    bundle_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("bundles.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(MAX_OBJECT_KEY))
    size_kb: Mapped[int] = mapped_column(BigInteger)
    chunk_kb: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    object_key: Mapped[str] = mapped_column(String(MAX_OBJECT_KEY + 64))
    status: Mapped[str] = mapped_column(String(16), default=FileStatus.UPLOADING.value)
    assembling_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BundleChunk(Base):
    """One planned chunk of a file; ``object_key`` is the stored object that won the upload."""

    __tablename__ = "bundle_chunks"

    file_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("bundle_files.id", ondelete="CASCADE"),
        primary_key=True,
    )
    num: Mapped[int] = mapped_column(Integer, primary_key=True)
    size_kb: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    object_key: Mapped[str | None] = mapped_column(String(MAX_OBJECT_KEY + 64), nullable=True)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
