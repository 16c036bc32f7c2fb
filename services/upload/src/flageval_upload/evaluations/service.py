"""The evaluations read model: who owns each evaluation and in which domain it is.

eval-api owns evaluations; this service learns about them from ``evaluation.created`` and
``evaluation.updated`` (at least once, in any order: the inbox drops redeliveries, and an event
older than the row it would change is ignored).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import EvaluationChanged
from flageval_platform.errors import NotFound
from flageval_upload.models import Evaluation, aware

EVALUATION_NOT_FOUND = "Evaluation not found"


async def record_evaluation_event(session: AsyncSession, envelope: Envelope) -> None:
    """Insert or update the evaluation an ``evaluation.*`` event describes."""
    event = EvaluationChanged.model_validate(envelope.payload)
    row = await session.get(Evaluation, event.evaluation_id)
    if row is None:
        session.add(
            Evaluation(
                id=event.evaluation_id,
                owner_id=event.owner_id,
                domain=event.domain.value,
                name=event.name,
                updated_at=envelope.occurred_at,
            )
        )
        return
    if aware(row.updated_at) > envelope.occurred_at:
        return  # a newer event was applied already
    row.owner_id = event.owner_id
    row.domain = event.domain.value
    row.name = event.name
    row.updated_at = envelope.occurred_at


async def get_owned(
    *, session: AsyncSession, evaluation_id: uuid.UUID, user_id: uuid.UUID, lock: bool = False
) -> Evaluation:
    """The caller's evaluation; someone else's looks exactly like a missing one (404)."""
    row = await session.get(Evaluation, evaluation_id, with_for_update=lock)
    if row is None or row.owner_id != user_id:
        raise NotFound(EVALUATION_NOT_FOUND)
    return row
