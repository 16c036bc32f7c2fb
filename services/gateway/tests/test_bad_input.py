"""Bad input at the gateway's own endpoints is a 4xx in the one error shape, never a 500; the
timestamps it returns carry their offset."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest


@pytest.mark.parametrize(
    "query",
    ["offset=9223372036854775808", "offset=10000001", "offset=-1", "limit=0", "limit=501"],
)
async def test_user_list_paging_out_of_range_is_422(gateway, query: str) -> None:
    reply = await gateway.client.get(f"/api/admin/users?{query}", headers=await gateway.admin())
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "validation_error"
    assert reply.json()["detail"][0]["loc"][:1] == ["query"]


async def test_lone_surrogates_in_bodies_are_422(gateway) -> None:
    json_type = {"content-type": "application/json"}
    reply = await gateway.client.post(
        "/api/auth/register",
        content=b'{"email": "a@example.com", "username": "u\\ud800", "password": "x"}',
        headers=json_type,
    )
    assert reply.status_code == 422 and reply.json()["code"] == "validation_error"
    _, headers = await gateway.user()
    reply = await gateway.client.put(
        "/api/me/profile",
        content=b'{"real_name": "\\udc00Ada", "organization": "BAAI"}',
        headers={**headers, **json_type},
    )
    assert reply.status_code == 422 and reply.json()["code"] == "validation_error"
    me = await gateway.client.get("/api/me", headers=headers)
    assert me.json()["status"] == "registered"  # nothing was written
    reply = await gateway.client.put(
        "/api/me/profile",
        content=b'{"real_name": "Ada \\ud83d\\ude00", "organization": "BAAI"}',
        headers={**headers, **json_type},
    )
    assert reply.status_code == 200, reply.text


async def test_returned_timestamps_carry_their_offset(gateway) -> None:
    user, _ = await gateway.user("approved")
    (listed,) = [
        u
        for u in (
            await gateway.client.get("/api/admin/users", headers=await gateway.admin())
        ).json()
        if u["id"] == user["id"]
    ]
    for value in (user["created_at"], listed["created_at"]):
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value
