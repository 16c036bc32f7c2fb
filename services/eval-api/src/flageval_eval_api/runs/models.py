"""Tables of runs: one row per run (a version of an evaluation), one per (task, dataset) step,
one per validation sample, and the read model of checked bundles (from ``bundle.ready``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
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


class Run(Base):
    """One run of an evaluation: ``version`` counts an evaluation's runs from 1."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "version", name="uq_runs_evaluation_version"),
        # Set while the run is active, NULL afterwards: at most one active run per evaluation,
        # decided by the database even for concurrent starts.
        UniqueConstraint("active_evaluation_id", name="uq_runs_active_evaluation"),
        Index("ix_runs_status_priority", "status", "priority_rank", "created_at"),
        Index("ix_runs_owner", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    active_evaluation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    evaluation_name: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    submitter: Mapped[str] = mapped_column(String(64))
    submitter_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    deploy_mode: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(8))
    #: 0 high, 1 medium, 2 low: the queue's order before creation time.
    priority_rank: Mapped[int] = mapped_column(Integer)
    image: Mapped[str | None] = mapped_column(String(300), nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    bundle_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    bundle_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bundle_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Quota kinds charged when the run was accepted (refunds are the scheduler's).
    charged: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Generation parameters the runner used (max_new_tokens, seed, temperature).
    generation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    failure_cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    failure_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    stop_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunDatasetRow(Base):
    """One (task, dataset) step of a run, executed serially in ``position`` order."""

    __tablename__ = "run_datasets"
    __table_args__ = (UniqueConstraint("run_id", "dataset", name="uq_run_datasets_dataset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The data evaluated, as the runner reported it (reproducibility card).
    dataset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RunSampleRow(Base):
    """One validation sample: ``ID, Dataset, Sample, Label, Predict``."""

    __tablename__ = "run_samples"
    __table_args__ = (
        UniqueConstraint("run_id", "dataset", "sample_id", name="uq_run_samples_sample"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("runs.id", ondelete="CASCADE"))
    dataset: Mapped[str] = mapped_column(String(64))
    sample_id: Mapped[str] = mapped_column(String(128))
    sample: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    predict: Mapped[str] = mapped_column(Text)


class BundleVersion(Base):
    """A checked bundle version as the upload service announced it (``bundle.ready``)."""

    __tablename__ = "bundle_versions"
    __table_args__ = (Index("ix_bundle_versions_evaluation", "evaluation_id", "version"),)

    bundle_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    evaluation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: sha256 over the sorted ``path\tsha256\n`` lines of the files: the bundle's identity.
    sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
