"""Bearer tokens: every way a token can be wrong is a 401 with a Bearer challenge, and the
user row is read on every request."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from sqlalchemy import delete, update

from flageval_gateway.accounts.tokens import issue_access_token
from flageval_gateway.models import User


def _assert_401(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert isinstance(r.json()["detail"], str)


async def test_missing_or_non_bearer_credentials(gateway) -> None:
    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Token abc"},
    ):
        _assert_401(await gateway.client.get("/api/me", headers=headers))


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer x", "x" * 5000, "ü"],
)
async def test_garbage_tokens(gateway, token: str) -> None:
    header = f"Bearer {token}".encode()  # raw bytes: also non-ASCII
    r = await gateway.client.get("/api/me", headers={"Authorization": header})
    _assert_401(r)


async def test_tampered_tokens(gateway) -> None:
    user, headers = await gateway.user()
    token = headers["Authorization"].split()[1]
    header_b64, payload_b64, signature = token.split(".")

    # Flipped signature character.
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    bad_sig = f"{header_b64}.{payload_b64}.{flipped}"
    # Payload rewritten to another user id, original signature kept.
    claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    claims["sub"] = str(uuid.uuid4())
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    bad_payload = f"{header_b64}.{forged_payload}.{signature}"
    # Signed with another secret, with the raw secret, and unsigned (alg none).
    other_secret = issue_access_token(
        uuid.UUID(user["id"]), secret="another-secret", ttl_seconds=600
    ).token
    raw_secret = jwt.encode({**claims, "sub": user["id"]}, gateway.secret, algorithm="HS256")
    alg_none = jwt.encode({**claims, "sub": user["id"]}, None, algorithm="none")
    for token in (bad_sig, bad_payload, other_secret, raw_secret, alg_none):
        _assert_401(
            await gateway.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        )


async def test_expired_token(gateway) -> None:
    user, _ = await gateway.user()
    expired = issue_access_token(
        uuid.UUID(user["id"]), secret=gateway.secret, ttl_seconds=60, now=time.time() - 3600
    ).token
    r = await gateway.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    _assert_401(r)
    assert "expired" in r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_token_missing_claims(gateway) -> None:
    user, _ = await gateway.user()
    from flageval_gateway.accounts.tokens import _key

    no_exp = jwt.encode({"sub": user["id"], "iat": int(time.time())}, _key(gateway.secret))
    not_uuid = jwt.encode(
        {"sub": "admin", "iat": 1, "exp": int(time.time()) + 60, "jti": "x"}, _key(gateway.secret)
    )
    for token in (no_exp, not_uuid):
        _assert_401(
            await gateway.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        )


async def test_deleted_user_and_status_changes_take_effect_at_once(gateway) -> None:
    user, headers = await gateway.user("approved")
    assert (await gateway.client.get("/api/evaluations", headers=headers)).status_code == 200

    async with gateway.ctx.db.transaction() as session:
        await session.execute(
            update(User).where(User.id == uuid.UUID(user["id"])).values(status="rejected")
        )
    assert (await gateway.client.get("/api/evaluations", headers=headers)).status_code == 403
    assert (await gateway.client.get("/api/me", headers=headers)).json()["status"] == "rejected"

    async with gateway.ctx.db.transaction() as session:
        await session.execute(delete(User).where(User.id == uuid.UUID(user["id"])))
    _assert_401(await gateway.client.get("/api/me", headers=headers))
    _assert_401(await gateway.client.get("/api/evaluations", headers=headers))
