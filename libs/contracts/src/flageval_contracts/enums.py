"""Enums shared across services (values are part of the public contract)."""

from enum import StrEnum


class Domain(StrEnum):
    NLP = "nlp"
    CV = "cv"
    MULTIMODAL = "multimodal"
    AUDIO = "audio"
    SAFETY = "safety"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserStatus(StrEnum):
    REGISTERED = "registered"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class RunKind(StrEnum):
    VALIDATION = "validation"
    FORMAL = "formal"


class RunStatus(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"


class FailureCause(StrEnum):
    USER = "user"
    PLATFORM = "platform"
    PREEMPTED = "preempted"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
