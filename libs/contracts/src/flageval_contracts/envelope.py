"""The versioned envelope every event travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """One event on the bus.

    ``id`` is the idempotency key consumers record in their inbox; ``type`` doubles as the
    routing key; ``version`` is the payload schema version of that type.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(
        min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
    )
    version: int = Field(default=1, ge=1)
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = Field(default=None, max_length=128)
    producer: str = Field(min_length=1, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        return cls.model_validate_json(body)


def new_envelope(
    type: str,
    payload: BaseModel | dict[str, Any],
    *,
    producer: str,
    correlation_id: str | None = None,
    version: int | None = None,
) -> Envelope:
    """Build an envelope, validating the payload against the registered schema of ``type``."""
    from flageval_contracts.events import EVENTS

    spec = EVENTS.get(type)
    if spec is None:
        raise KeyError(f"unknown event type {type!r}")
    model = spec.payload
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    validated = model.model_validate(data).model_dump(mode="json")
    return Envelope(
        type=type,
        version=version or spec.version,
        producer=producer,
        correlation_id=correlation_id,
        payload=validated,
    )
