"""Identity forwarded from the gateway to internal services, signed so it can be trusted.

The gateway authenticates the caller, drops any client-supplied identity header, and adds
``X-Flageval-Identity: <payload>.<signature>`` (HMAC-SHA256 with the platform secret, short
expiry). Internal services accept identity only through :func:`verify_identity`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass

from flageval_contracts.enums import Role, UserStatus
from flageval_platform.errors import Forbidden, Unauthorized

IDENTITY_HEADER = "X-Flageval-Identity"
IDENTITY_TTL_SECONDS = 300


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    username: str
    role: Role
    status: UserStatus

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_approved(self) -> bool:
        return self.status == UserStatus.APPROVED or self.is_admin


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    key = hashlib.sha256(b"flageval-identity:" + secret.encode()).digest()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def sign_identity(identity: Identity, secret: str, *, now: float | None = None) -> str:
    """Header value carrying ``identity`` for internal services."""
    doc = {
        "sub": str(identity.user_id),
        "name": identity.username,
        "role": identity.role.value,
        "status": identity.status.value,
        "exp": int((now or time.time()) + IDENTITY_TTL_SECONDS),
    }
    payload = _b64(json.dumps(doc, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def verify_identity(value: str | None, secret: str, *, now: float | None = None) -> Identity:
    """Check the signature and expiry of a forwarded identity; raise 401 when they fail."""
    if not value:
        raise Unauthorized("Not authenticated")
    payload, sep, signature = value.partition(".")
    if not sep or not hmac.compare_digest(_mac(secret, payload), signature):
        raise Unauthorized("Forwarded identity is not signed by the gateway")
    try:
        doc = json.loads(_unb64(payload))
        if doc["exp"] < (now or time.time()):
            raise Unauthorized("Forwarded identity has expired")
        return Identity(
            user_id=uuid.UUID(doc["sub"]),
            username=str(doc["name"]),
            role=Role(doc["role"]),
            status=UserStatus(doc["status"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("Forwarded identity is malformed") from exc


def require_approved(identity: Identity) -> Identity:
    if not identity.is_approved:
        raise Forbidden(
            "Your account is not approved yet: fill in your profile and wait for an "
            "administrator to review it before creating evaluations or images."
        )
    return identity


def require_admin(identity: Identity) -> Identity:
    if not identity.is_admin:
        raise Forbidden("This action needs an administrator account.")
    return identity
