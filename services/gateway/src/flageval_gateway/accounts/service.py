"""Account behaviour: register, authenticate, profile, review, bootstrap admin.

Functions are keyword-only and take the session (or, where a password is hashed, the
:class:`Database`: Argon2 runs outside any transaction so it never holds a connection).
Events go through the outbox in the same transaction as the change they announce.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import new_envelope
from flageval_contracts.enums import ReviewDecision, Role, UserStatus
from flageval_contracts.events import UserProfileSubmitted, UserRegistered, UserReviewed
from flageval_gateway.accounts import passwords
from flageval_gateway.accounts.schemas import ProfileUpdate, Registration, Review, lookup_email
from flageval_gateway.models import User
from flageval_platform.db import Database
from flageval_platform.errors import Conflict, NotFound, Unauthorized
from flageval_platform.logging import get_correlation_id
from flageval_platform.outbox import Messaging

log = logging.getLogger(__name__)

PRODUCER = "gateway"
BAD_CREDENTIALS = "Incorrect email or password"
EMAIL_TAKEN = "An account with this email address already exists"
USERNAME_TAKEN = "This username is already taken"


class InvalidCredentials(Unauthorized):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


def _duplicate(exc: IntegrityError) -> Conflict:
    """Which unique constraint a concurrent insert hit (named in both dialects' messages)."""
    text = str(exc.orig).lower()
    return Conflict(USERNAME_TAKEN if "username" in text else EMAIL_TAKEN)


async def _publish(
    session: AsyncSession, messaging: Messaging, type_: str, payload: BaseModel
) -> None:
    envelope = new_envelope(type_, payload, producer=PRODUCER, correlation_id=get_correlation_id())
    await messaging.enqueue(session, envelope)


async def _check_free(session: AsyncSession, *, email: str, username: str) -> None:
    taken = (
        await session.scalars(
            select(User.email).where(
                or_(User.email == email, User.username_key == username.lower())
            )
        )
    ).all()
    if email in taken:
        raise Conflict(EMAIL_TAKEN)
    if taken:
        raise Conflict(USERNAME_TAKEN)


async def register(*, db: Database, messaging: Messaging, registration: Registration) -> User:
    """Create a ``registered`` user and announce ``user.registered``; 409 on a duplicate.

    The pre-check gives the precise message; the unique constraints decide races.
    """
    async with db.transaction() as session:
        await _check_free(session, email=registration.email, username=registration.username)
    password_hash = await passwords.hash_password(registration.password)
    try:
        async with db.transaction() as session:
            user = User(
                id=uuid.uuid4(),
                email=registration.email,
                username=registration.username,
                username_key=registration.username.lower(),
                password_hash=password_hash,
                role=Role.USER.value,
                status=UserStatus.REGISTERED.value,
            )
            session.add(user)
            await session.flush()
            await _publish(
                session,
                messaging,
                "user.registered",
                UserRegistered(user_id=user.id, email=user.email, username=user.username),
            )
    except IntegrityError as exc:
        raise _duplicate(exc) from None
    return user


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == lookup_email(email)))


async def authenticate(*, db: Database, email: str, password: str) -> User:
    """The user whose email and password these are; one message for every failure."""
    async with db.transaction() as session:
        user = await get_by_email(session=session, email=email)
    ok = await passwords.verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentials(BAD_CREDENTIALS)
    if passwords.needs_rehash(user.password_hash):
        new_hash = await passwords.hash_password(password)
        async with db.transaction() as session:
            await session.execute(
                update(User).where(User.id == user.id).values(password_hash=new_hash)
            )
    return user


async def submit_profile(
    *, session: AsyncSession, messaging: Messaging, user_id: uuid.UUID, profile: ProfileUpdate
) -> User:
    """Save the profile. ``registered``/``rejected`` → ``pending_review`` (announced);
    ``pending_review`` and ``approved`` users keep their status."""
    # FOR UPDATE (ignored by SQLite, whose transactions are serialised anyway).
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("User not found")
    user.real_name = profile.real_name
    user.organization = profile.organization
    user.title = profile.title
    user.phone = profile.phone
    user.purpose = profile.purpose
    if user.status in (UserStatus.REGISTERED.value, UserStatus.REJECTED.value):
        user.status = UserStatus.PENDING_REVIEW.value
        user.review_reason = None  # a fresh review; the old verdict no longer applies
        await _publish(
            session,
            messaging,
            "user.profile_submitted",
            UserProfileSubmitted(
                user_id=user.id,
                email=user.email,
                username=user.username,
                real_name=user.real_name,
                organization=user.organization,
            ),
        )
    await session.flush()
    return user


async def list_users(
    *, session: AsyncSession, status: UserStatus | None, limit: int = 100, offset: int = 0
) -> list[User]:
    query = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(User.status == status.value)
    return list((await session.scalars(query)).all())


async def review_user(
    *,
    session: AsyncSession,
    messaging: Messaging,
    reviewer_id: uuid.UUID,
    user_id: uuid.UUID,
    review: Review,
) -> User:
    """Approve or reject a ``pending_review`` user and announce ``user.reviewed``.

    The status change is a conditional update, so two admins reviewing at once cannot both win.
    """
    new_status = (
        UserStatus.APPROVED if review.decision == ReviewDecision.APPROVE else UserStatus.REJECTED
    )
    now = _now()
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(User)
        .where(User.id == user_id, User.status == UserStatus.PENDING_REVIEW.value)
        .values(
            status=new_status.value,
            review_reason=review.reason if new_status == UserStatus.REJECTED else None,
            reviewed_by=reviewer_id,
            reviewed_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    user = await session.get(User, user_id, populate_existing=True)
    if user is None:
        raise NotFound("User not found")
    if result.rowcount == 0:
        raise Conflict(
            f"Only a user waiting for review can be reviewed; this user is {user.status}"
        )
    await _publish(
        session,
        messaging,
        "user.reviewed",
        UserReviewed(
            user_id=user.id,
            email=user.email,
            username=user.username,
            decision=review.decision,
            status=new_status,
            reason=review.reason,
            reviewer_id=reviewer_id,
            real_name=user.real_name,
            organization=user.organization,
        ),
    )
    return user


async def ensure_admin(*, db: Database, email: str, password: str) -> User:
    """Create the bootstrap admin, or make an existing account with that email an approved
    admin. An existing password is never overwritten (the admin may have changed it)."""
    email = lookup_email(email)
    for attempt in range(3):
        async with db.transaction() as session:
            user = await get_by_email(session=session, email=email)
            if user is not None:
                if not user.is_admin or user.status != UserStatus.APPROVED.value:
                    user.role = Role.ADMIN.value
                    user.status = UserStatus.APPROVED.value
                    if not user.has_profile:
                        _fill_admin_profile(user)
                    log.info("bootstrap admin promoted", extra={"user_id": str(user.id)})
                return user
        password_hash = await passwords.hash_password(password)
        try:
            async with db.transaction() as session:
                username = await _free_username(session, email.split("@", 1)[0])
                user = User(
                    id=uuid.uuid4(),
                    email=email,
                    username=username,
                    username_key=username.lower(),
                    password_hash=password_hash,
                    role=Role.ADMIN.value,
                    status=UserStatus.APPROVED.value,
                )
                _fill_admin_profile(user)
                session.add(user)
                await session.flush()
            log.info("bootstrap admin created", extra={"user_id": str(user.id)})
            return user
        except IntegrityError:
            # Another gateway replica created it (or took the username) meanwhile: look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _fill_admin_profile(user: User) -> None:
    user.real_name = "Administrator"
    user.organization = "FlagEval"
    user.title = "Platform administrator"


async def _free_username(session: AsyncSession, wanted: str) -> str:
    base = "".join(c for c in wanted if c.isascii() and (c.isalnum() or c in "_-"))[:24]
    if len(base) < 3:
        base = "admin"
    candidate, n = base, 1
    while await session.scalar(
        select(func.count()).select_from(User).where(User.username_key == candidate.lower())
    ):
        n += 1
        candidate = f"{base}-{n}"
    return candidate
