"""Upload tokens: issued per evaluation, stored as a sha256 only, each opening a bundle version."""

from __future__ import annotations

import hashlib
import secrets
import shlex
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts.enums import Domain
from flageval_platform.errors import Conflict, Forbidden, Unauthorized
from flageval_platform.identity import Identity
from flageval_upload.evaluations.service import get_owned
from flageval_upload.models import Bundle, BundleStatus, UploadToken, aware, utcnow

#: The folder the ``command`` of a new token uploads; the person replaces it with theirs.
COMMAND_DIR = "./my_model"

TOKEN_MISSING = "An upload token is required: pass --token with the token from the evaluation page."
TOKEN_UNKNOWN = "This upload token is not valid: create a new one on the evaluation's page."
TARGETS_NOT_ALLOWED = "Only administrators can create tokens that may write to targets/."
NOTHING_TO_UPLOAD = (
    "Safety evaluations call the model through its API (endpoint, model name and API key set on "
    "the evaluation): there is nothing to upload."
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    while True:
        token = secrets.token_urlsafe(32)
        if not token.startswith("-"):  # it must never read as an option on a command line
            return token


def upload_command(public_url: str, token: str, directory: str = COMMAND_DIR) -> str:
    """The exact command line that uploads ``directory`` with the public CLI."""
    return (
        f"flageval-serving upload --host {shlex.quote(public_url)} "
        f"--token {shlex.quote(token)} {directory}"
    )


@dataclass(frozen=True)
class IssuedToken:
    token: str  # the only time the raw token exists on the server
    expires_at: datetime
    bundle: Bundle


async def create_token(
    *,
    session: AsyncSession,
    identity: Identity,
    evaluation_id: uuid.UUID,
    ttl_seconds: int,
    can_send_targets: bool = False,
) -> IssuedToken:
    """A new token for the caller's evaluation, and the bundle version it will fill."""
    if can_send_targets and not identity.is_admin:
        raise Forbidden(TARGETS_NOT_ALLOWED)
    # Locking the evaluation row serialises concurrent token requests, so versions never clash.
    evaluation = await get_owned(
        session=session, evaluation_id=evaluation_id, user_id=identity.user_id, lock=True
    )
    if evaluation.domain == Domain.SAFETY.value:
        raise Conflict(NOTHING_TO_UPLOAD)
    latest = await session.scalar(
        select(func.max(Bundle.version)).where(Bundle.evaluation_id == evaluation.id)
    )
    now = utcnow()
    bundle = Bundle(
        evaluation_id=evaluation.id,
        owner_id=evaluation.owner_id,
        version=(latest or 0) + 1,
        status=BundleStatus.UPLOADING.value,
        problems=[],
        total_bytes=0,
        revision=0,
        created_at=now,
    )
    session.add(bundle)
    await session.flush()
    return await add_token(
        session=session,
        bundle=bundle,
        owner_id=evaluation.owner_id,
        can_send_targets=can_send_targets,
        ttl_seconds=ttl_seconds,
    )


async def add_token(
    *,
    session: AsyncSession,
    bundle: Bundle,
    owner_id: uuid.UUID,
    can_send_targets: bool,
    ttl_seconds: int,
) -> IssuedToken:
    """A new token opening ``bundle`` (flushed): only its sha256 is stored."""
    token = new_token()
    now = utcnow()
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(
        UploadToken(
            token_hash=hash_token(token),
            evaluation_id=bundle.evaluation_id,
            owner_id=owner_id,
            bundle_id=bundle.id,
            can_send_targets=can_send_targets,
            expires_at=expires_at,
            created_at=now,
        )
    )
    await session.flush()
    return IssuedToken(token=token, expires_at=expires_at, bundle=bundle)


async def authenticate(*, session: AsyncSession, token: str | None) -> UploadToken:
    """The token row for a raw token from the CLI; 401 with a reason when it cannot be used."""
    if not token:
        raise Unauthorized(TOKEN_MISSING)
    row = await session.scalar(
        select(UploadToken).where(UploadToken.token_hash == hash_token(token))
    )
    if row is None:
        raise Unauthorized(TOKEN_UNKNOWN)
    expires_at = aware(row.expires_at)
    if expires_at <= utcnow():
        raise Unauthorized(
            f"This upload token expired at {expires_at.isoformat(timespec='seconds')}: "
            "create a new one on the evaluation's page."
        )
    return row
