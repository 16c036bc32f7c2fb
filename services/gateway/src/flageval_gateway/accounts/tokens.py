"""Access tokens: HS256 JWTs with ``sub`` (user id), ``iat``, ``exp`` and ``jti``.

The signing key is derived from the platform secret with a purpose label, so a token can never
double as another kind of signed value (forwarded identities, upload tokens) and vice versa.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

import jwt

from flageval_gateway.errors import InvalidToken

ALGORITHM = "HS256"
_PURPOSE = b"flageval-gateway-access-token:"


def _key(secret: str) -> bytes:
    return hashlib.sha256(_PURPOSE + secret.encode()).digest()


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: int


def issue_access_token(
    user_id: uuid.UUID, *, secret: str, ttl_seconds: int, now: float | None = None
) -> AccessToken:
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return AccessToken(jwt.encode(claims, _key(secret), algorithm=ALGORITHM), issued + ttl_seconds)


def read_access_token(token: str, *, secret: str) -> uuid.UUID:
    """The user id of a valid token; :class:`InvalidToken` (401) for anything else."""
    try:
        claims = jwt.decode(
            token,
            _key(secret),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "iat", "exp", "jti"]},
        )
        return uuid.UUID(str(claims["sub"]))
    except jwt.ExpiredSignatureError:
        raise InvalidToken("Your session has expired, please log in again") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise InvalidToken("Invalid access token") from None
