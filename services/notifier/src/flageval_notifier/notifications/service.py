"""In-app notifications: created from events, read and marked read by their owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import BundleReady, UserReviewed
from flageval_notifier.models import Notification
from flageval_platform.errors import NotFound


def _from_user_reviewed(envelope: Envelope) -> Notification:
    event = UserReviewed.model_validate(envelope.payload)
    if event.decision == "approve":
        title = "Your account was approved"
        body = "You can now create evaluations and upload models."
    else:
        title = "Your account was not approved"
        body = f"Reason: {event.reason or 'not given'}. Update your profile to ask again."
    return Notification(
        user_id=event.user_id, kind="user.reviewed", title=title, body=body, event_id=envelope.id
    )


def _from_bundle_ready(envelope: Envelope) -> Notification:
    event = BundleReady.model_validate(envelope.payload)
    if event.valid:
        title = f"Upload version {event.version} is complete and valid"
        body = "You can now start a validation or a formal run with it."
    else:
        title = f"Upload version {event.version} has problems"
        listed = "\n".join(f"- {p}" for p in event.problems[:20])
        body = f"Fix these and upload again with a new token:\n{listed}"
    return Notification(
        user_id=event.owner_id, kind="bundle.ready", title=title, body=body, event_id=envelope.id
    )


#: Event type → how it becomes a notification. Events of other types are recorded as seen only.
RENDERERS = {"user.reviewed": _from_user_reviewed, "bundle.ready": _from_bundle_ready}


async def record_event(session: AsyncSession, envelope: Envelope) -> None:
    """Turn one event into the in-app notification it deserves (idempotency is the inbox's job)."""
    render = RENDERERS.get(envelope.type)
    if render is not None:
        session.add(render(envelope))


async def list_for_user(
    *, session: AsyncSession, user_id: uuid.UUID, unread_only: bool = False, limit: int = 100
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def mark_read(
    *, session: AsyncSession, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    notification = await session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFound("Notification not found")
    if notification.read_at is None:
        notification.read_at = datetime.now(UTC)
    return notification
