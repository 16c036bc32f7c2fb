"""In-app notifications: created from events, read and marked read by their owner."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import (
    BundleReady,
    ImageImported,
    ImageReviewed,
    RunFinished,
    UserProfileSubmitted,
    UserRegistered,
    UserReviewed,
)
from flageval_notifier.emails import render
from flageval_notifier.models import EMAIL_PENDING, Email, Notification, Recipient
from flageval_notifier.notifications.runs import RunFinishedMessage
from flageval_platform.errors import NotFound

log = logging.getLogger(__name__)


@dataclass
class Message:
    """What one event tells one person: in-app always, by email when an address is known."""

    user_id: uuid.UUID
    kind: str
    title: str
    body: str
    #: Where the email goes; ``None``: look the user up in the recipients read model.
    email: str | None = None
    #: The email's text part (without the footer); ``None``: ``body``.
    email_text: str | None = None
    #: The email's HTML part, a fragment of safe HTML; ``None``: ``body`` as paragraphs.
    email_html: str | None = None


@dataclass(frozen=True)
class RenderContext:
    """What renderers need besides the event (links point at ``FLAGEVAL_PUBLIC_URL``)."""

    public_url: str = "http://127.0.0.1:8000"


def _from_user_reviewed(envelope: Envelope, _ctx: RenderContext) -> Message:
    event = UserReviewed.model_validate(envelope.payload)
    if event.decision == "approve":
        title = "Your account was approved"
        body = "You can now create evaluations and upload models."
    else:
        title = "Your account was not approved"
        body = f"Reason: {event.reason or 'not given'}. Update your profile to ask again."
    return Message(event.user_id, "user.reviewed", title, body, email=event.email)


def _from_bundle_ready(envelope: Envelope, _ctx: RenderContext) -> Message:
    event = BundleReady.model_validate(envelope.payload)
    if event.valid:
        title = f"Upload version {event.version} is complete and valid"
        body = "You can now start a validation or a formal run with it."
    else:
        title = f"Upload version {event.version} has problems"
        listed = "\n".join(f"- {p}" for p in event.problems[:20])
        body = f"Fix these and upload again with a new token:\n{listed}"
    return Message(event.owner_id, "bundle.ready", title, body)


def _from_image_reviewed(envelope: Envelope, _ctx: RenderContext) -> Message:
    event = ImageReviewed.model_validate(envelope.payload)
    image = f"{event.name}:{event.tag}"
    if event.decision == "approve":
        title = f"Your image {image} was approved"
        body = f"The image {image} was approved. It will be imported into the registry next."
    else:
        reason = event.reason or "not given"
        title = f"Your image {image} was rejected ({reason})"
        body = f"The image {image} was rejected.\nReason: {reason}"
    return Message(event.owner_id, "image.reviewed", title, body)


def _from_image_imported(envelope: Envelope, _ctx: RenderContext) -> Message:
    event = ImageImported.model_validate(envelope.payload)
    image = f"{event.name}:{event.tag}"
    title = f"Your image {image} was imported"
    body = f"The image {image} is in the registry; you can now use it for your runs."
    return Message(event.owner_id, "image.imported", title, body)


def _from_run_finished(envelope: Envelope, ctx: RenderContext) -> Message:
    event = RunFinished.model_validate(envelope.payload)
    rendered = RunFinishedMessage(event, ctx.public_url)
    return Message(
        event.owner_id,
        "run.finished",
        rendered.title,
        rendered.body,
        email_text=rendered.email_text,
        email_html=rendered.email_html,
    )


#: Event type → what it tells whom. Events of other types are recorded as seen only.
RENDERERS: dict[str, Callable[[Envelope, RenderContext], Message]] = {
    "user.reviewed": _from_user_reviewed,
    "bundle.ready": _from_bundle_ready,
    "image.reviewed": _from_image_reviewed,
    "image.imported": _from_image_imported,
    "run.finished": _from_run_finished,
}

#: Events that get an email besides the in-app notification (SPEC §8).
EMAILED = {"user.reviewed", "image.reviewed", "image.imported", "run.finished"}

#: Events that say where to write to a user (the recipients read model).
_ADDRESSES: dict[str, type[UserRegistered | UserProfileSubmitted | UserReviewed]] = {
    "user.registered": UserRegistered,
    "user.profile_submitted": UserProfileSubmitted,
    "user.reviewed": UserReviewed,
}


def _one_line(text: str, limit: int) -> str:
    """A title / subject: one line (no header injection), at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _remember_address(session: AsyncSession, envelope: Envelope) -> None:
    schema = _ADDRESSES.get(envelope.type)
    if schema is None:
        return
    event = schema.model_validate(envelope.payload)
    recipient = await session.get(Recipient, event.user_id)
    if recipient is None:
        # A concurrent first insert for the same user fails this delivery with an
        # IntegrityError; the bus redelivers it and it then updates the row.
        session.add(Recipient(user_id=event.user_id, email=event.email, username=event.username))
    elif (recipient.email, recipient.username) != (event.email, event.username):
        recipient.email = event.email
        recipient.username = event.username
        recipient.updated_at = datetime.now(UTC)


async def record_event(
    session: AsyncSession,
    envelope: Envelope,
    *,
    on_email: Callable[[AsyncSession], None] | None = None,
    context: RenderContext | None = None,
) -> None:
    """Turn one event into the in-app notification (and email row) it deserves.

    Runs inside the inbox transaction, once per message id: the ``emails`` row (unique per
    event) commits with the inbox row, so a redelivered event never owes a second email.
    ``on_email`` is told when a row was added (the sender wakes after commit).
    """
    await _remember_address(session, envelope)
    renderer = RENDERERS.get(envelope.type)
    if renderer is None:
        return
    message = renderer(envelope, context or RenderContext())
    session.add(
        Notification(
            user_id=message.user_id,
            kind=message.kind,
            title=_one_line(message.title, 200),
            body=message.body,
            event_id=envelope.id,
        )
    )
    if envelope.type not in EMAILED:
        return
    address = message.email
    if address is None:
        recipient = await session.get(Recipient, message.user_id)
        address = recipient.email if recipient is not None else None
    if not address:
        log.info(
            "no email address known for the recipient; in-app notification only",
            extra={"user_id": str(message.user_id), "event_type": envelope.type},
        )
        return
    subject = _one_line(message.title, 200)
    text = message.email_text if message.email_text is not None else message.body
    html = message.email_html if message.email_html is not None else render.paragraphs(text)
    session.add(
        Email(
            event_id=envelope.id,
            to_address=address,
            subject=subject,
            body=render.text_with_footer(text),
            html_body=render.document(subject, html),
            status=EMAIL_PENDING,
            attempts=0,
        )
    )
    if on_email is not None:
        on_email(session)


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
