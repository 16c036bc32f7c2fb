"""Forwarded identity: only what the gateway signed, unexpired, is trusted."""

import uuid

import pytest

from flageval_contracts.enums import Role, UserStatus
from flageval_platform.errors import Forbidden, Unauthorized
from flageval_platform.identity import (
    Identity,
    require_admin,
    require_approved,
    sign_identity,
    verify_identity,
)

SECRET = "s" * 48
ALICE = Identity(uuid.uuid4(), "alice", Role.USER, UserStatus.APPROVED)


def test_signed_identity_round_trips() -> None:
    assert verify_identity(sign_identity(ALICE, SECRET), SECRET) == ALICE


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "a.b",
        sign_identity(ALICE, "another-secret"),
        sign_identity(ALICE, SECRET)[:-2] + "xx",
        # a forged payload claiming admin, with the signature of a real user's payload
        sign_identity(Identity(ALICE.user_id, "alice", Role.ADMIN, UserStatus.APPROVED), "x").split(
            "."
        )[0]
        + "."
        + sign_identity(ALICE, SECRET).split(".")[1],
    ],
)
def test_unsigned_tampered_or_foreign_identity_is_refused(value: str | None) -> None:
    with pytest.raises(Unauthorized):
        verify_identity(value, SECRET)


def test_expired_identity_is_refused() -> None:
    old = sign_identity(ALICE, SECRET, now=1_000_000)
    with pytest.raises(Unauthorized, match="expired"):
        verify_identity(old, SECRET, now=1_000_000 + 3600)


def test_guards() -> None:
    pending = Identity(uuid.uuid4(), "bob", Role.USER, UserStatus.PENDING_REVIEW)
    admin = Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED)
    with pytest.raises(Forbidden, match="not approved"):
        require_approved(pending)
    with pytest.raises(Forbidden):
        require_admin(ALICE)
    assert require_approved(ALICE) is ALICE and require_admin(admin) is admin
