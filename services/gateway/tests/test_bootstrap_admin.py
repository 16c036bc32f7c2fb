"""The bootstrap admin from FLAGEVAL_ADMIN_EMAIL / FLAGEVAL_ADMIN_PASSWORD."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select, update

from flageval_gateway.models import User


async def _admins(gw) -> list[User]:  # type: ignore[no-untyped-def]
    async with gw.ctx.db.transaction() as session:
        return list((await session.scalars(select(User).where(User.role == "admin"))).all())


async def test_admin_is_created_once_and_keeps_its_password(
    gateway_factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with gateway_factory() as gw:
        headers = await gw.admin()
        me = (await gw.client.get("/api/me", headers=headers)).json()
        assert me["role"] == "admin"
        assert me["status"] == "approved"
        assert me["email"] == gw.admin_email
        assert me["profile"]["real_name"] and me["profile"]["organization"]
        first_id = me["id"]

    # Restart with another configured password: same single admin, password not overwritten.
    async with gateway_factory(admin_password="Changed-pass-456") as gw:
        admins = await _admins(gw)
        assert [str(a.id) for a in admins] == [first_id]
        await gw.login(gw.admin_email, gw.admin_password)
        r = await gw.client.post(
            "/api/auth/login", json={"email": gw.admin_email, "password": "Changed-pass-456"}
        )
        assert r.status_code == 401

        # Demoted by hand: the next start makes it an approved admin again.
        async with gw.ctx.db.transaction() as session:
            await session.execute(update(User).values(role="user", status="rejected"))

    async with gateway_factory() as gw:
        (admin,) = await _admins(gw)
        assert str(admin.id) == first_id
        assert admin.status == "approved"
        async with gw.ctx.db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 1

    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert gw.admin_password not in logged
    assert "Changed-pass-456" not in logged


async def test_existing_account_with_the_admin_email_is_promoted(gateway_factory) -> None:
    async with gateway_factory(admin_email=None) as gw:
        assert await _admins(gw) == []
        user = await gw.register("boss", "Boss@Example.com", password="Own-pass-789")
    async with gateway_factory(admin_email="BOSS@example.com") as gw:
        (admin,) = await _admins(gw)
        assert str(admin.id) == user["id"]
        assert admin.status == "approved"
        assert admin.real_name and admin.organization  # a profile, so it reads sensibly
        headers = await gw.login("boss@example.com", "Own-pass-789")  # password kept
        assert (await gw.client.get("/api/admin/users", headers=headers)).status_code == 200


async def test_admin_email_on_a_local_domain(gateway_factory) -> None:
    async with gateway_factory(admin_email="Admin@FlagEval.local") as gw:
        headers = await gw.login("admin@flageval.local", gw.admin_password)
        me = (await gw.client.get("/api/me", headers=headers)).json()
        assert me["email"] == "admin@flageval.local"
        assert me["role"] == "admin"


async def test_no_admin_without_settings(gateway_factory) -> None:
    async with gateway_factory(admin_email=None, admin_password=None) as gw:
        assert await _admins(gw) == []
