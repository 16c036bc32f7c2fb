"""POST /api/auth/login: tokens, one message for every failure, throttling."""

from __future__ import annotations

import asyncio

import jwt
import pytest

PASSWORD = "Correct-horse-9"  # the harness's default (conftest.PASSWORD)


async def test_login_returns_a_bearer_token_and_the_user(gateway) -> None:
    user = await gateway.register()
    r = await gateway.client.post(
        "/api/auth/login", json={"email": user["email"].upper(), "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["token_type"] == "bearer"
    assert data["user"] == user
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"]
    assert {"iat", "exp", "jti"} <= set(claims)
    assert claims["exp"] - claims["iat"] == gateway.ctx.settings.access_token_ttl_seconds
    # Signed with a key derived from the secret, not the secret itself.
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(data["access_token"], gateway.secret, algorithms=["HS256"])
    me = await gateway.client.get(
        "/api/me", headers={"Authorization": f"Bearer {data['access_token']}"}
    )
    assert me.json()["id"] == user["id"]


async def test_wrong_password_and_unknown_email_look_the_same(gateway) -> None:
    user = await gateway.register()
    wrong = await gateway.client.post(
        "/api/auth/login", json={"email": user["email"], "password": "Wrong-pass-1"}
    )
    unknown = await gateway.client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    malformed = await gateway.client.post(
        "/api/auth/login", json={"email": "not an email", "password": PASSWORD}
    )
    for r in (wrong, unknown, malformed):
        assert r.status_code == 401
        assert r.json() == {"detail": "Incorrect email or password", "code": "unauthorized"}
        assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": "a@example.com"},
        {"password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"email": "a@example.com", "password": ""},
        {"email": "a@example.com", "password": "x" * 1025},
        {"email": ["a@example.com"], "password": PASSWORD},
    ],
)
async def test_bad_login_bodies_are_422(gateway, data: dict) -> None:
    assert (await gateway.client.post("/api/auth/login", json=data)).status_code == 422


THROTTLE = {
    "login_failures_per_account_address": 3,
    "login_failures_per_address": 5,
    "login_failure_window_seconds": 60,
}


async def test_guessing_one_account_never_locks_its_owner_out(gateway_factory) -> None:
    async with gateway_factory(**{**THROTTLE, "login_failure_window_seconds": 1}) as gw:
        user = await gw.register()
        creds = {"email": user["email"], "password": PASSWORD}
        wrong = {"email": user["email"], "password": "Wrong-pass-1"}
        async with gw.client_from("192.0.2.7") as attacker, gw.client_from("198.51.100.8") as owner:
            # A success clears the account's failures at that address.
            for _ in range(2):
                assert (await attacker.post("/api/auth/login", json=wrong)).status_code == 401
            assert (await attacker.post("/api/auth/login", json=creds)).status_code == 200
            for _ in range(3):
                assert (await attacker.post("/api/auth/login", json=wrong)).status_code == 401
            # The fourth from that address is refused, even with the right password...
            r = await attacker.post("/api/auth/login", json=creds)
            assert r.status_code == 429
            assert "too many" in r.json()["detail"].lower()
            assert r.headers["retry-after"] == "1"
            # ...written another way too (the same account after normalisation)...
            r = await attacker.post(
                "/api/auth/login", json={**creds, "email": user["email"].upper()}
            )
            assert r.status_code == 429
            # ...while the owner, at another address, logs in.
            assert (await owner.post("/api/auth/login", json=creds)).status_code == 200

            await asyncio.sleep(1.1)  # the window passes
            assert (await attacker.post("/api/auth/login", json=creds)).status_code == 200


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_failed_logins_per_address_span_accounts(gateway_factory, db: str) -> None:
    async with gateway_factory(database=db, **THROTTLE) as gw:
        user = await gw.register()
        async with gw.client_from("192.0.2.7") as attacker, gw.client_from("192.0.2.8") as other:
            for i in range(5):
                r = await attacker.post(
                    "/api/auth/login", json={"email": f"guess{i}@example.com", "password": "x1"}
                )
                assert r.status_code == 401
            r = await attacker.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert r.status_code == 429
            assert 55 <= int(r.headers["retry-after"]) <= 60
            # Another address is not affected.
            r = await other.post(
                "/api/auth/login", json={"email": user["email"], "password": PASSWORD}
            )
            assert r.status_code == 200


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_concurrent_guesses_cannot_slip_past_the_limit(gateway_factory, db: str) -> None:
    async with gateway_factory(database=db, **THROTTLE) as gw:
        user = await gw.register()
        wrong = {"email": user["email"], "password": "Wrong-pass-1"}
        codes = await asyncio.gather(
            *(gw.client.post("/api/auth/login", json=wrong) for _ in range(10))
        )
        assert sorted(r.status_code for r in codes) == [401] * 3 + [429] * 7


async def test_gateway_replicas_share_one_budget(gateway_factory) -> None:
    """Two gateways on one PostgreSQL database: failures at either count against both."""
    async with (
        gateway_factory(database="postgres", **THROTTLE) as one,
        gateway_factory(database="postgres", **THROTTLE) as two,
    ):
        user = await one.register()
        wrong = {"email": user["email"], "password": "Wrong-pass-1"}
        right = {"email": user["email"], "password": PASSWORD}
        async with one.client_from("192.0.2.7") as via_one, two.client_from("192.0.2.7") as via_two:
            assert (await via_one.post("/api/auth/login", json=wrong)).status_code == 401
            assert (await via_two.post("/api/auth/login", json=wrong)).status_code == 401
            assert (await via_one.post("/api/auth/login", json=wrong)).status_code == 401
            assert (await via_two.post("/api/auth/login", json=right)).status_code == 429
            assert (await via_one.post("/api/auth/login", json=right)).status_code == 429
            # The per-address budget is shared too: 3 counted so far, 2 more fit.
            for i in range(2):
                r = await via_two.post(
                    "/api/auth/login", json={"email": f"guess{i}@example.com", "password": "x1"}
                )
                assert r.status_code == 401
            r = await via_one.post(
                "/api/auth/login", json={"email": "new@example.com", "password": "x1"}
            )
            assert r.status_code == 429
        async with two.client_from("192.0.2.9") as owner:
            assert (await owner.post("/api/auth/login", json=right)).status_code == 200
