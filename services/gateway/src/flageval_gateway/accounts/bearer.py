"""Who is calling: the user named by an ``Authorization: Bearer`` token, loaded afresh.

The user row is read on every request, so a review, a role change or a deleted account takes
effect at once rather than when the token expires.
"""

from __future__ import annotations

from flageval_contracts.enums import Role, UserStatus
from flageval_gateway.accounts.tokens import read_access_token
from flageval_gateway.errors import InvalidToken
from flageval_gateway.models import User
from flageval_platform.db import Database
from flageval_platform.identity import Identity

NOT_AUTHENTICATED = "Not authenticated: log in and send the access token"
ADMIN_ONLY = "This action needs an administrator account"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, ``None`` when there is none."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def user_from_token(*, db: Database, secret: str, token: str) -> User:
    user_id = read_access_token(token, secret=secret)
    async with db.sessionmaker() as session:
        user = await session.get(User, user_id)
    if user is None:
        raise InvalidToken("This account no longer exists")
    return user


def identity_of(user: User) -> Identity:
    """What internal services learn about the caller (signed by the gateway when forwarded)."""
    return Identity(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        status=UserStatus(user.status),
    )
