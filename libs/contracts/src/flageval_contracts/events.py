"""Every event type the platform publishes, with its payload schema and version.

The event ``type`` is also its routing key on the topic exchange, so consumers bind with
patterns such as ``run.*``.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flageval_contracts.enums import (
    Domain,
    FailureCause,
    Priority,
    ReviewDecision,
    RunKind,
    RunStatus,
    UserStatus,
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserRegistered(_Payload):
    user_id: uuid.UUID
    email: str
    username: str


class UserProfileSubmitted(_Payload):
    user_id: uuid.UUID
    email: str
    username: str
    #: From the profile (what a named leaderboard entry shows); optional within version 1.
    real_name: str | None = None
    organization: str | None = None


class UserReviewed(_Payload):
    user_id: uuid.UUID
    email: str
    username: str
    decision: ReviewDecision
    status: UserStatus
    reason: str | None = None
    reviewer_id: uuid.UUID
    #: The reviewed profile (what a named leaderboard entry shows); optional within version 1.
    real_name: str | None = None
    organization: str | None = None


class EvaluationChanged(_Payload):
    """An evaluation as other services need to know it (who owns it, which domain)."""

    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    name: str


class BundleFile(_Payload):
    path: str
    size_bytes: int = Field(ge=0)
    sha256: str


class BundleReady(_Payload):
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    bundle_id: uuid.UUID
    version: int = Field(ge=1)
    valid: bool
    problems: list[str] = Field(default_factory=list)
    #: The bundle's files (object keys are ``bundles/{bundle_id}/files/{path}``).
    files: list[BundleFile] = Field(default_factory=list)


class DatasetUploadReady(_Payload):
    """A media dataset upload is complete: every file is in, with its size and sha256, and its
    layout (``card.json`` and ``manifest.jsonl`` at the root, media under ``files/``) checked.
    An administrator then registers it (eval-api), which checks the card and manifest."""

    upload_id: uuid.UUID
    owner_id: uuid.UUID
    dataset: str
    version: str
    valid: bool
    problems: list[str] = Field(default_factory=list)
    #: Object keys are ``bundles/{upload_id}/files/{path}``.
    files: list[BundleFile] = Field(default_factory=list)


class RunDataset(_Payload):
    """One (task, dataset) step of a run, in the order the run executes them."""

    task: str
    dataset: str
    #: Where the runner finds the data: ``demo:<name>`` (shipped with the runner) or an object
    #: key prefix holding ``card.json`` and ``data.jsonl``; ``None`` when the platform has none.
    source: str | None = None


class RunBundle(_Payload):
    """The bundle version a private-deployment run pinned."""

    bundle_id: uuid.UUID
    version: int = Field(ge=1)
    sha256: str
    files: list[BundleFile] = Field(default_factory=list)


class RunApi(_Payload):
    """API deployment: where the model answers. The key stays encrypted (platform secret)."""

    endpoint: str
    model_name: str | None = None
    api_key_encrypted: str | None = None


class RunRequested(_Payload):
    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    kind: RunKind
    priority: Priority = Priority.MEDIUM
    version: int = Field(ge=1)
    evaluation_name: str = ""
    submitter: str = ""
    deploy_mode: str = "private"
    datasets: list[RunDataset] = Field(default_factory=list)
    robustness: bool = False
    image: str | None = None
    card_type: str | None = None
    gpus: int = Field(default=0, ge=0)
    bundle: RunBundle | None = None
    api: RunApi | None = None
    #: Formal runs charged to the quota ledger (``formal_run``, ``human_evaluation``).
    charged: list[str] = Field(default_factory=list)
    #: How the runner generates (max_new_tokens, seed, temperature): part of the run's record.
    generation: dict[str, Any] = Field(default_factory=dict)


class RunStopRequested(_Payload):
    run_id: uuid.UUID
    requested_by: uuid.UUID


class DatasetResult(_Payload):
    task: str
    dataset: str
    status: str  # pending | running | succeeded | failed | skipped
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    #: The data evaluated: the card's version and the content sha256 the runner computed.
    dataset_version: str | None = None
    dataset_sha256: str | None = None


class RunStatusChanged(_Payload):
    """The scheduler's word on where a run's execution stands. A terminal status carries every
    dataset result the scheduler holds, so a consumer that missed a ``run.progress`` still
    ends with the full picture."""

    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    status: RunStatus
    at: datetime
    failure_cause: FailureCause | None = None
    message: str | None = None
    attempt: int = Field(default=1, ge=1)
    datasets: list[DatasetResult] = Field(default_factory=list)
    #: A failed run: the last lines its runner logged (for the email that tells the owner).
    log_tail: str | None = None


class SampleRow(_Payload):
    id: str
    sample: str
    label: str
    predict: str


class RunProgress(_Payload):
    """What the runner reported about one dataset: it started, it finished (with metrics), or
    its validation samples."""

    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    type: str  # dataset_started | dataset_finished | samples
    task: str
    dataset: str
    at: datetime
    attempt: int = Field(default=1, ge=1)
    status: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    dataset_version: str | None = None
    dataset_sha256: str | None = None
    samples: list[SampleRow] = Field(default_factory=list)


class RunFinished(_Payload):
    """Published by eval-api once a run is terminal, with everything a board or an email needs."""

    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    kind: RunKind
    status: RunStatus
    failure_cause: FailureCause | None = None
    message: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    evaluation_name: str = ""
    version: int = Field(default=1, ge=1)
    submitter: str = ""
    datasets: list[DatasetResult] = Field(default_factory=list)
    task_averages: dict[str, Any] = Field(default_factory=dict)
    bundle_sha256: str | None = None
    image: str | None = None
    model_name: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    generation: dict[str, Any] = Field(default_factory=dict)
    platform_version: str | None = None
    log_tail: str | None = None


class ImageReviewed(_Payload):
    image_id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    tag: str
    decision: ReviewDecision
    reason: str | None = None


class ImageAvailable(_Payload):
    """An image that private deployments may use: a preset (``owner_id`` null) or a custom one."""

    image_id: uuid.UUID
    owner_id: uuid.UUID | None = None
    name: str
    tag: str
    preset: bool


class ImageImported(_Payload):
    image_id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    tag: str


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    payload: builtins.type[BaseModel]
    description: str


EVENTS: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("user.registered", 1, UserRegistered, "A person created an account."),
        EventSpec(
            "user.profile_submitted", 1, UserProfileSubmitted, "A profile awaits admin review."
        ),
        EventSpec("user.reviewed", 1, UserReviewed, "An admin approved or rejected a user."),
        EventSpec("evaluation.created", 1, EvaluationChanged, "A user created an evaluation."),
        EventSpec("evaluation.updated", 1, EvaluationChanged, "An evaluation's details changed."),
        EventSpec("bundle.ready", 1, BundleReady, "An uploaded bundle is complete and checked."),
        EventSpec(
            "dataset_upload.ready",
            1,
            DatasetUploadReady,
            "An uploaded media dataset is complete and its layout checked.",
        ),
        EventSpec("run.requested", 1, RunRequested, "A user asked for a validation/formal run."),
        EventSpec("run.stop_requested", 1, RunStopRequested, "A user asked to stop a run."),
        EventSpec("run.status_changed", 1, RunStatusChanged, "A run moved to a new state."),
        EventSpec("run.progress", 1, RunProgress, "The runner reported on one dataset."),
        EventSpec("run.finished", 1, RunFinished, "A run reached a terminal state."),
        EventSpec("image.reviewed", 1, ImageReviewed, "An admin approved or rejected an image."),
        EventSpec(
            "image.available", 1, ImageAvailable, "An image became selectable for deployments."
        ),
        EventSpec("image.imported", 1, ImageImported, "An approved custom image was imported."),
    )
}


def payload_model(type: str) -> type[BaseModel]:
    return EVENTS[type].payload


def routing_key(type: str) -> str:
    """The routing key of an event type (the type itself; kept as a function so it can change)."""
    if type not in EVENTS:
        raise KeyError(f"unknown event type {type!r}")
    return type
