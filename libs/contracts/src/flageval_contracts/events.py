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


class UserReviewed(_Payload):
    user_id: uuid.UUID
    email: str
    username: str
    decision: ReviewDecision
    status: UserStatus
    reason: str | None = None
    reviewer_id: uuid.UUID


class EvaluationChanged(_Payload):
    """An evaluation as other services need to know it (who owns it, which domain)."""

    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    name: str


class BundleReady(_Payload):
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    bundle_id: uuid.UUID
    version: int = Field(ge=1)
    valid: bool
    problems: list[str] = Field(default_factory=list)


class RunRequested(_Payload):
    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    kind: RunKind
    priority: Priority = Priority.MEDIUM
    version: int = Field(ge=1)


class RunStopRequested(_Payload):
    run_id: uuid.UUID
    requested_by: uuid.UUID


class RunStatusChanged(_Payload):
    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    status: RunStatus
    at: datetime
    failure_cause: FailureCause | None = None
    message: str | None = None


class RunFinished(_Payload):
    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    owner_id: uuid.UUID
    domain: Domain
    kind: RunKind
    status: RunStatus
    failure_cause: FailureCause | None = None
    message: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)


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
        EventSpec("run.requested", 1, RunRequested, "A user asked for a validation/formal run."),
        EventSpec("run.stop_requested", 1, RunStopRequested, "A user asked to stop a run."),
        EventSpec("run.status_changed", 1, RunStatusChanged, "A run moved to a new state."),
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
