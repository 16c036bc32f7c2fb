"""The people read model: the real name and organization a named entry shows, from the
gateway's ``user.profile_submitted`` and ``user.reviewed`` events (the board owns no users).

Events of producers that do not send the fields (``None``) leave what is known. The board
shows the profile as of the person's last submission or review: an approved user's later
edits are not reviewed, and not announced.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_contracts.events import UserProfileSubmitted, UserReviewed
from flageval_leaderboard.boards.service import bump_revision
from flageval_leaderboard.models import Entry, Person, aware

_EVENTS: dict[str, type[UserProfileSubmitted | UserReviewed]] = {
    "user.profile_submitted": UserProfileSubmitted,
    "user.reviewed": UserReviewed,
}


async def record_person(session: AsyncSession, envelope: Envelope) -> None:
    """Consumer of ``user.profile_submitted`` / ``user.reviewed``."""
    schema = _EVENTS.get(envelope.type)
    if schema is None:
        return
    event = schema.model_validate(envelope.payload)
    if event.real_name is None and event.organization is None:
        return
    person = await session.get(Person, event.user_id)
    if person is None:
        person = Person(user_id=event.user_id, as_of=envelope.occurred_at)
        session.add(person)
    elif (as_of := aware(person.as_of)) is not None and as_of > envelope.occurred_at:
        return  # an older event delivered late
    else:
        person.as_of = envelope.occurred_at
    if event.real_name is not None:
        person.real_name = event.real_name
    if event.organization is not None:
        person.organization = event.organization
    # Named entries of this person show the new name: their boards change.
    domains = await session.scalars(
        select(Entry.domain).where(Entry.owner_id == event.user_id).distinct()
    )
    for domain in domains.all():
        await bump_revision(session, domain)
