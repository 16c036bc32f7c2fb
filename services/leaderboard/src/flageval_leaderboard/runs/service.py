"""The runs read model: who owns a run (``run.requested``) and how it ended (``run.finished``).

Consumers run inside the inbox transaction (once per message id). ``run.finished`` may arrive
before ``run.requested`` (two event types, redelivery): a late ``run.requested`` never
overwrites a finished run.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import RunFinished, RunRequested
from flageval_leaderboard.models import KnownRun, utcnow

log = logging.getLogger(__name__)

REQUESTED = "requested"


async def record_run_event(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``run.requested`` and ``run.finished``."""
    if envelope.type == "run.requested":
        requested = RunRequested.model_validate(envelope.payload)
        if await session.get(KnownRun, requested.run_id) is None:
            session.add(
                KnownRun(
                    run_id=requested.run_id,
                    owner_id=requested.owner_id,
                    domain=requested.domain.value,
                    kind=requested.kind.value,
                    status=REQUESTED,
                    finished=None,
                    updated_at=utcnow(),
                )
            )
        return
    if envelope.type != "run.finished":
        return
    finished = RunFinished.model_validate(envelope.payload)
    payload = finished.model_dump(mode="json")
    run = await session.get(KnownRun, finished.run_id)
    if run is None:
        # A concurrent first insert for the same run fails this delivery with an
        # IntegrityError; the bus redelivers it and it then updates the row.
        session.add(
            KnownRun(
                run_id=finished.run_id,
                owner_id=finished.owner_id,
                domain=finished.domain.value,
                kind=finished.kind.value,
                status=finished.status.value,
                finished=payload,
                updated_at=utcnow(),
            )
        )
        return
    run.owner_id = finished.owner_id
    run.domain = finished.domain.value
    run.kind = finished.kind.value
    run.status = finished.status.value
    run.finished = payload
    run.updated_at = utcnow()
