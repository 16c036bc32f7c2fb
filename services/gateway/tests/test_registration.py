"""POST /api/auth/register: every field's rules, duplicates (also racing), the event."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

PASSWORD = "Correct-horse-9"  # the harness's default (conftest.PASSWORD)


def body(**overrides: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "username": "ada_l", "password": PASSWORD, **overrides}


async def test_register_creates_a_registered_user(gateway) -> None:
    r = await gateway.client.post(
        "/api/auth/register",
        json=body(email="  Ada@Example.COM "),
        headers={"X-Correlation-ID": "trace-register-1"},
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["email"] == "ada@example.com"
    assert user["username"] == "ada_l"
    assert user["role"] == "user"
    assert user["status"] == "registered"
    assert user["profile"] is None
    assert {"id", "email", "username", "role", "status", "profile"} <= set(user)
    assert "password" not in r.text and "argon2" not in r.text

    rows = await gateway.outbox()
    registered = [row for row in rows if row["type"] == "user.registered"]
    assert len(registered) == 1
    assert registered[0]["payload"] == {
        "user_id": user["id"],
        "email": "ada@example.com",
        "username": "ada_l",
    }
    assert registered[0]["producer"] == "gateway"
    # The request's correlation id travels on in the event (and so into the consumers' logs).
    assert registered[0]["correlation_id"] == "trace-register-1"
    # The relay publishes it on the bus.
    events = await gateway.wait_for_events(1)
    assert [e.type for e in events] == ["user.registered"]


@pytest.mark.parametrize(
    ("second", "word"),
    [
        (body(username="someone_else"), "email"),
        (body(username="someone_else", email="ADA@example.com"), "email"),
        (body(email="other@example.com"), "username"),
        (body(email="other@example.com", username="ADA_L"), "username"),
    ],
)
async def test_duplicates_are_409(gateway, second: dict[str, Any], word: str) -> None:
    assert (await gateway.client.post("/api/auth/register", json=body())).status_code == 201
    r = await gateway.client.post("/api/auth/register", json=second)
    assert r.status_code == 409
    assert word in r.json()["detail"].lower()


BAD_FIELDS = [
    # email
    {"email": ""},
    {"email": "not-an-email"},
    {"email": "ada@"},
    {"email": "@example.com"},
    {"email": "ada@@example.com"},
    {"email": "ada@example"},
    {"email": "ada @example.com"},
    {"email": "a" * 300 + "@example.com"},
    {"email": 42},
    {"email": None},
    # username
    {"username": ""},
    {"username": "ab"},
    {"username": "a" * 33},
    {"username": "with space"},
    {"username": "bad!char"},
    {"username": "dot.ted"},
    {"username": "ünïcode"},
    {"username": "line\nbreak"},
    {"username": 12345},
    # password
    {"password": ""},
    {"password": "short1A"},
    {"password": "a1" * 64 + "x"},
    {"password": "onlyletters"},
    {"password": "1234567890"},
    {"password": "xx-ADA_L-99"},  # contains the username (any case)
    {"password": "ada@example-7"},  # contains the email's local part
    {"password": None},
]


@pytest.mark.parametrize("bad", BAD_FIELDS, ids=lambda b: repr(b)[:40])
async def test_bad_values_are_422(gateway, bad: dict[str, Any]) -> None:
    r = await gateway.client.post("/api/auth/register", json=body(**bad))
    assert r.status_code == 422, r.text
    assert r.json()["detail"]
    assert await gateway.outbox() == []
    password = bad.get("password")
    if isinstance(password, str) and password:  # a refused password is never echoed back
        assert password not in r.text


@pytest.mark.parametrize("missing", ["email", "username", "password"])
async def test_missing_fields_are_422(gateway, missing: str) -> None:
    data = body()
    del data[missing]
    assert (await gateway.client.post("/api/auth/register", json=data)).status_code == 422


async def test_non_json_body_is_422(gateway) -> None:
    r = await gateway.client.post(
        "/api/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = await gateway.client.post("/api/auth/register", json=["a", "list"])
    assert r.status_code == 422


async def test_limits_are_inclusive(gateway) -> None:
    ok = [
        body(username="abc", email="abc@example.com", password="pass-123"),  # 3 / 8 chars
        body(username="Z" * 32, email="z@example.com", password="p1" * 64),  # 32 / 128 chars
    ]
    for data in ok:
        r = await gateway.client.post("/api/auth/register", json=data)
        assert r.status_code == 201, r.text


async def test_concurrent_duplicates_give_one_201(any_db_gateway) -> None:
    gw = any_db_gateway

    async def attempt(i: int, *, same: str) -> int:
        data = (
            body(username=f"racer_{i}", email="race@example.com")
            if same == "email"
            else body(username="Racer" if i % 2 else "rACER", email=f"r{i}@example.com")
        )
        return (await gw.client.post("/api/auth/register", json=data)).status_code

    for same in ("email", "username"):
        codes = await asyncio.gather(*(attempt(i, same=same) for i in range(8)))
        assert sorted(codes) == [201] + [409] * 7, codes
    registered = [r for r in await gw.outbox() if r["type"] == "user.registered"]
    assert len(registered) == 2


# -- look-alike addresses ------------------------------------------------------------------------
# Written as escapes: the point is that they look like plain Latin letters.
CYRILLIC_A, GREEK_ALPHA, DEVANAGARI_ZERO = "\u0430", "\u03b1", "\u0966"


@pytest.mark.parametrize(
    ("email", "part"),
    [
        (f"{CYRILLIC_A}da@example.com", f"{CYRILLIC_A}da"),  # Cyrillic a in the local part
        (f"ada@ex{CYRILLIC_A}mple.com", f"ex{CYRILLIC_A}mple"),  # ... in a domain label
        ("ada@xn--exmple-4nf.com", f"ex{CYRILLIC_A}mple"),  # the same label in punycode
        (f"{GREEK_ALPHA}da@example.com", f"{GREEK_ALPHA}da"),  # Greek alpha
        (f"ada.l{CYRILLIC_A}@example.com", f"ada.l{CYRILLIC_A}"),  # the local part is one part
        (f"g{DEVANAGARI_ZERO * 2}gle@example.com", f"g{DEVANAGARI_ZERO * 2}gle"),  # digits too
        (f"\uff41d{CYRILLIC_A}@example.com", f"ad{CYRILLIC_A}"),  # fullwidth folded, then mixed
    ],
)
async def test_mixed_script_look_alikes_are_422(gateway, email: str, part: str) -> None:
    r = await gateway.client.post("/api/auth/register", json=body(email=email))
    assert r.status_code == 422, r.text
    message = str(r.json()["detail"])
    assert "mixes" in message and repr(part) in message, message
    assert await gateway.outbox() == []


async def test_look_alikes_and_compatibility_forms_at_login(gateway) -> None:
    ada = await gateway.register(username="ada_l", email="ada@example.com")
    # NFKC folds fullwidth and mathematical letters: these are Ada's address...
    fullwidth = "\uff41\uff44\uff41@\uff25\uff58\uff41\uff4d\uff50\uff4c\uff45.com"
    bold = "\U0001d41a\U0001d41d\U0001d41a@example.com"
    for email in (fullwidth, bold):
        r = await gateway.client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert r.status_code == 200, (email, r.text)
        assert r.json()["user"]["id"] == ada["id"]
        dup = await gateway.client.post(
            "/api/auth/register", json=body(email=email, username="someone_else")
        )
        assert dup.status_code == 409, dup.text
    # ...a look-alike with a Cyrillic or Greek letter is no one's.
    for email in (f"{CYRILLIC_A}da@example.com", f"ada@ex{CYRILLIC_A}mple.com", "\u03b1da@x.org"):
        r = await gateway.client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert r.status_code == 401, (email, r.text)


async def test_addresses_in_one_other_script_are_accepted(gateway) -> None:
    cyrillic = "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"
    for email, username in ((cyrillic, "ivan"), ("\u5c71\u7530taro@example.jp", "yamada")):
        r = await gateway.client.post(
            "/api/auth/register", json=body(email=email, username=username)
        )
        assert r.status_code == 201, r.text
        assert r.json()["email"] == email
        await gateway.login(email)
