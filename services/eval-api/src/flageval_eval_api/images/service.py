"""The images a private deployment may choose, as announced by the image registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import ImageAvailable
from flageval_eval_api.images.models import AvailableImage


async def record_available(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``image.available`` (idempotency is the inbox's job; this is an upsert)."""
    event = ImageAvailable.model_validate(envelope.payload)
    row = await session.get(AvailableImage, event.image_id)
    if row is None:
        row = AvailableImage(id=event.image_id)
        session.add(row)
    row.owner_id = None if event.preset else event.owner_id
    row.name, row.tag, row.preset = event.name, event.tag, event.preset
    row.announced_at = datetime.now(UTC)


async def usable_image_ids(*, session: AsyncSession, owner_id: uuid.UUID) -> set[str]:
    """Presets and the owner's own approved images, as the ids evaluations refer to."""
    rows = await session.scalars(
        select(AvailableImage.id).where(
            or_(AvailableImage.preset.is_(True), AvailableImage.owner_id == owner_id)
        )
    )
    return {str(image_id) for image_id in rows}
