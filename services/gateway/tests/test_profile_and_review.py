"""PUT /api/me/profile and the admin review of users, with the events they publish."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

PROFILE = {
    "real_name": "Ada Lovelace",
    "organization": "BAAI",
    "title": "Researcher",
    "phone": "+86 (10) 1234-5678",
    "purpose": "Evaluate our model.\nTwice.",
}


async def test_me(gateway) -> None:
    user, headers = await gateway.user()
    r = await gateway.client.get("/api/me", headers=headers)
    assert r.status_code == 200
    assert r.json() == user
    assert set(user) >= {"id", "email", "username", "role", "status", "profile"}
    assert "password_hash" not in r.text


async def test_profile_submission_moves_to_pending_review(gateway) -> None:
    user, headers = await gateway.user()
    r = await gateway.client.put(
        "/api/me/profile",
        json={
            "real_name": "  Ada Lovelace ",
            "organization": "\tBAAI ",
            "title": "   ",
            "phone": "",
            "purpose": None,
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["status"] == "pending_review"
    assert data["profile"] == {
        "real_name": "Ada Lovelace",
        "organization": "BAAI",
        "title": None,
        "phone": None,
        "purpose": None,
    }
    assert (await gateway.client.get("/api/me", headers=headers)).json() == data

    # Editing again while pending keeps it pending and does not announce it twice.
    r = await gateway.client.put("/api/me/profile", json=PROFILE, headers=headers)
    assert r.json()["status"] == "pending_review"
    assert r.json()["profile"] == PROFILE
    submitted = [e for e in await gateway.outbox() if e["type"] == "user.profile_submitted"]
    # The profile as first submitted travels with the event (the leaderboard shows it).
    assert [e["payload"] for e in submitted] == [
        {
            "user_id": user["id"],
            "email": user["email"],
            "username": user["username"],
            "real_name": "Ada Lovelace",
            "organization": "BAAI",
        }
    ]


BAD_PROFILES = [
    {"real_name": ""},
    {"real_name": "   "},
    {"real_name": "x" * 65},
    {"real_name": "Ada\nLovelace"},
    {"real_name": "Ada\x00"},
    {"real_name": None},
    {"real_name": 7},
    {"organization": ""},
    {"organization": "o" * 129},
    {"organization": "BAAI\x1b[31m"},
    {"organization": ["BAAI"]},
    {"title": "t" * 65},
    {"title": "bo\rss"},
    {"phone": "call me"},
    {"phone": "12"},
    {"phone": "+86 10 1234 5678 9999 0000 1111 2222"},
    {"phone": "555-CALL-NOW"},
    {"phone": "+1 (555)\n123-4567"},
    {"phone": "--------"},
    {"purpose": "p" * 501},
    {"purpose": "bell\x07"},
    {"purpose": 3.5},
]


@pytest.mark.parametrize("bad", BAD_PROFILES, ids=lambda b: repr(b)[:40])
async def test_bad_profiles_are_422(gateway, bad: dict[str, Any]) -> None:
    _, headers = await gateway.user()
    r = await gateway.client.put("/api/me/profile", json={**PROFILE, **bad}, headers=headers)
    assert r.status_code == 422, r.text
    assert (await gateway.client.get("/api/me", headers=headers)).json()["status"] == "registered"


@pytest.mark.parametrize("missing", ["real_name", "organization"])
async def test_required_profile_fields(gateway, missing: str) -> None:
    _, headers = await gateway.user()
    data = {k: v for k, v in PROFILE.items() if k != missing}
    assert (
        await gateway.client.put("/api/me/profile", json=data, headers=headers)
    ).status_code == 422


async def test_profile_needs_a_login(gateway) -> None:
    r = await gateway.client.put("/api/me/profile", json=PROFILE)
    assert r.status_code == 401


async def test_approved_user_edits_profile_and_stays_approved(gateway) -> None:
    _, headers = await gateway.user("approved")
    before = len(await gateway.outbox())
    r = await gateway.client.put(
        "/api/me/profile", json={**PROFILE, "organization": "New Org"}, headers=headers
    )
    assert r.status_code == 200
    assert r.json()["status"] == "approved"
    assert r.json()["profile"]["organization"] == "New Org"
    assert len(await gateway.outbox()) == before


async def test_admin_lists_users_by_status(gateway) -> None:
    admin = await gateway.admin()
    registered, _ = await gateway.user()
    pending, _ = await gateway.user("pending_review")

    r = await gateway.client.get("/api/admin/users", headers=admin)
    assert r.status_code == 200
    ids = {u["id"] for u in r.json()}
    assert {registered["id"], pending["id"]} <= ids
    assert all("password" not in key for u in r.json() for key in u)

    r = await gateway.client.get("/api/admin/users?status=pending_review", headers=admin)
    assert [u["id"] for u in r.json()] == [pending["id"]]
    r = await gateway.client.get("/api/admin/users", params={"status": "approved"}, headers=admin)
    assert [u["email"] for u in r.json()] == [gateway.admin_email]

    for bad in ("nonsense", "APPROVED", "", "1"):
        r = await gateway.client.get("/api/admin/users", params={"status": bad}, headers=admin)
        assert r.status_code == 422, bad
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}):
        r = await gateway.client.get("/api/admin/users", params=bad, headers=admin)
        assert r.status_code == 422, bad


async def test_admin_endpoints_refuse_non_admins(gateway) -> None:
    target, _ = await gateway.user("pending_review")
    for status in ("registered", "approved"):
        _, headers = await gateway.user(status)
        r = await gateway.client.get("/api/admin/users", headers=headers)
        assert r.status_code == 403
        assert "administrator" in r.json()["detail"]
        r = await gateway.client.post(
            f"/api/admin/users/{target['id']}/review",
            json={"decision": "approve"},
            headers=headers,
        )
        assert r.status_code == 403
    assert (await gateway.client.get("/api/admin/users")).status_code == 401


async def test_approve_and_reject(gateway) -> None:
    admin = await gateway.admin()
    admin_id = (await gateway.client.get("/api/me", headers=admin)).json()["id"]
    alice, alice_headers = await gateway.user("pending_review")
    bob, bob_headers = await gateway.user("pending_review")

    r = await gateway.client.post(
        f"/api/admin/users/{alice['id']}/review", json={"decision": "approve"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert (await gateway.client.get("/api/me", headers=alice_headers)).json()[
        "status"
    ] == "approved"

    r = await gateway.client.post(
        f"/api/admin/users/{bob['id']}/review",
        json={"decision": "reject", "reason": "  Please use your institutional email. "},
        headers=admin,
    )
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert r.json()["review_reason"] == "Please use your institutional email."

    # A rejected user may fill in the profile again and is back in the queue.
    r = await gateway.client.put("/api/me/profile", json=PROFILE, headers=bob_headers)
    assert r.json()["status"] == "pending_review"
    assert r.json()["review_reason"] is None

    reviewed = [e["payload"] for e in await gateway.outbox() if e["type"] == "user.reviewed"]
    assert reviewed == [
        {
            "user_id": alice["id"],
            "email": alice["email"],
            "username": alice["username"],
            "decision": "approve",
            "status": "approved",
            "reason": None,
            "reviewer_id": admin_id,
            # The reviewed profile travels with the verdict (the leaderboard shows it).
            "real_name": "Ada Lovelace",
            "organization": "BAAI",
        },
        {
            "user_id": bob["id"],
            "email": bob["email"],
            "username": bob["username"],
            "decision": "reject",
            "status": "rejected",
            "reason": "Please use your institutional email.",
            "reviewer_id": admin_id,
            "real_name": "Ada Lovelace",
            "organization": "BAAI",
        },
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"decision": "maybe"},
        {"decision": "APPROVE"},
        {"decision": None},
        {"decision": "reject"},
        {"decision": "reject", "reason": ""},
        {"decision": "reject", "reason": "   "},
        {"decision": "reject", "reason": "r" * 501},
        {"decision": "reject", "reason": "bad\x00"},
        {"decision": "reject", "reason": 5},
        {"decision": "approve", "reason": "r" * 501},
    ],
    ids=lambda b: repr(b)[:40],
)
async def test_bad_reviews_are_422(gateway, body: dict[str, Any]) -> None:
    admin = await gateway.admin()
    user, _ = await gateway.user("pending_review")
    r = await gateway.client.post(f"/api/admin/users/{user['id']}/review", json=body, headers=admin)
    assert r.status_code == 422, r.text
    after = await gateway.client.get("/api/admin/users?status=pending_review", headers=admin)
    assert user["id"] in {u["id"] for u in after.json()}


async def test_review_of_unknown_malformed_or_not_pending_users(gateway) -> None:
    admin = await gateway.admin()
    approve = {"decision": "approve"}
    r = await gateway.client.post(
        f"/api/admin/users/{uuid.uuid4()}/review", json=approve, headers=admin
    )
    assert r.status_code == 404
    for malformed in ("not-a-uuid", "1", "%00", "' OR 1=1 --"):
        r = await gateway.client.post(
            f"/api/admin/users/{malformed}/review", json=approve, headers=admin
        )
        assert r.status_code in (404, 422), (malformed, r.status_code)

    for status in ("registered", "approved", "rejected"):
        user, _ = await gateway.user(status)
        r = await gateway.client.post(
            f"/api/admin/users/{user['id']}/review", json=approve, headers=admin
        )
        assert r.status_code == 409, status
        assert status in r.json()["detail"]


async def test_full_account_flow(any_db_gateway) -> None:
    """Register → log in → profile → review, on SQLite and PostgreSQL."""
    gw = any_db_gateway
    user = await gw.register("flow_user", "flow@example.com")
    headers = await gw.login("FLOW@example.com")
    assert (await gw.client.get("/api/me", headers=headers)).json()["status"] == "registered"
    r = await gw.client.put("/api/me/profile", json=PROFILE, headers=headers)
    assert r.json()["status"] == "pending_review"

    admin = await gw.admin()
    # Two admins click at once: exactly one review wins.
    codes = await asyncio.gather(
        gw.client.post(
            f"/api/admin/users/{user['id']}/review", json={"decision": "approve"}, headers=admin
        ),
        gw.client.post(
            f"/api/admin/users/{user['id']}/review",
            json={"decision": "reject", "reason": "no"},
            headers=admin,
        ),
    )
    assert sorted(r.status_code for r in codes) == [200, 409]
    final = (await gw.client.get("/api/me", headers=headers)).json()["status"]
    assert final in ("approved", "rejected")

    types = [e["type"] for e in await gw.outbox()]
    assert types == ["user.registered", "user.profile_submitted", "user.reviewed"]
    published = await gw.wait_for_events(3)
    assert [e.type for e in published] == types
    assert all(e.producer == "gateway" for e in published)
