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


#: The runner's progress channel carries at most this many metrics per dataset, each name at
#: most :data:`MAX_METRIC_NAME` characters: the card metric, its micro/macro averages and one
#: per subject (CMMLU has 67 subjects, MMLU 57, C-Eval 52).
MAX_DATASET_METRICS = 128
MAX_METRIC_NAME = 64
