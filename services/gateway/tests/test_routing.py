"""Routing through the gateway to real (in-process) internal services: access levels, the
signed identity, dropped client headers, the upload protocol, missing backends."""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest

from flageval_contracts.enums import Role, UserStatus
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity


async def test_unapproved_users_are_told_what_to_do(gateway) -> None:
    expectations = {
        "registered": "fill in your profile",
        "pending_review": "waiting for an administrator",
        "rejected": "Organization could not be verified",
    }
    for status, hint in expectations.items():
        _, headers = await gateway.user(status)
        for path in (
            "/api/evaluations",
            "/api/images",
            "/api/runs/r1",
            "/api/evaluations/e/bundles",
        ):
            r = await gateway.client.get(path, headers=headers)
            assert r.status_code == 403, (status, path)
            assert "must be approved" in r.json()["detail"]
            assert hint in r.json()["detail"]
    for path in ("/api/evaluations", "/api/images"):
        r = await gateway.client.get(path)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"


async def test_approved_user_reaches_the_service_with_a_signed_identity(gateway) -> None:
    user, headers = await gateway.user("approved")
    for path, service in (
        ("/api/evaluations", "eval-api"),
        ("/api/images", "image-registry"),
        ("/api/runs/r1/submissions", "leaderboard"),
        ("/api/runs/r1", "eval-api"),
        ("/api/evaluations/e1/upload-tokens", "upload"),
    ):
        r = await gateway.client.post(
            path + "?a=1&b=%2F",
            json={"x": 1},
            headers={**headers, "X-Correlation-ID": "corr-123"},
        )
        assert r.status_code == 200, (path, r.text)
        seen = r.json()
        assert seen["service"] == service
        assert seen["path"] == path
        assert seen["query"] == "a=1&b=%2F"
        assert seen["identity"] == {
            "user_id": user["id"],
            "username": user["username"],
            "role": "user",
            "status": "approved",
        }
        assert seen["authorization"] is None  # the JWT stops at the gateway
        assert seen["correlation_id"] == "corr-123"
        assert r.headers["x-correlation-id"] == "corr-123"


async def test_request_body_streams_to_an_in_process_service(gateway) -> None:
    _, headers = await gateway.user("approved")
    payload = os.urandom(3 * 1024 * 1024 + 17)

    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    r = await gateway.client.put("/api/evaluations/e1", content=chunks(), headers=headers)
    assert r.json()["body_length"] == len(payload)
    assert r.json()["body_sha256"] == hashlib.sha256(payload).hexdigest()


async def test_forged_identity_headers_are_dropped(gateway) -> None:
    user, headers = await gateway.user("approved")
    forged = sign_identity(
        Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED), gateway.secret
    )
    garbage = "eyJzdWIiOiJ4In0.bad"
    for value in (forged, garbage):
        # An authenticated caller: the service sees the real caller.
        r = await gateway.client.get(
            "/api/evaluations", headers={**headers, IDENTITY_HEADER: value}
        )
        assert r.json()["identity"]["user_id"] == user["id"]
        assert r.json()["identity"]["role"] == "user"
        # An anonymous caller on a public route: the service sees nobody (and says 401 where
        # it needs a caller).
        r = await gateway.client.get("/api/leaderboards/nlp", headers={IDENTITY_HEADER: value})
        assert r.status_code == 200
        assert r.json()["identity"] is None
        r = await gateway.client.get("/api/leaderboards/whoami", headers={IDENTITY_HEADER: value})
        assert r.status_code == 401
    # Duplicated, differently-cased headers are all removed.
    r = await gateway.client.get(
        "/api/leaderboards/nlp",
        headers=[("x-flageval-identity", forged), ("X-FLAGEVAL-IDENTITY", forged)],
    )
    assert r.json()["identity"] is None


async def test_internal_service_refuses_identities_the_gateway_did_not_sign(gateway) -> None:
    import httpx

    backend = gateway.ctx.state["backends"]["leaderboard"]
    forged_with_other_key = sign_identity(
        Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED), "not-the-secret"
    )
    expired = sign_identity(
        Identity(uuid.uuid4(), "root", Role.ADMIN, UserStatus.APPROVED),
        gateway.secret,
        now=time.time() - 3600,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=backend.app), base_url="http://svc"
    ) as direct:
        for value in (forged_with_other_key, expired, "garbage", ""):
            r = await direct.get("/api/leaderboards/whoami", headers={IDENTITY_HEADER: value})
            assert r.status_code == 401, value
        # What the gateway signs is accepted.
        user, headers = await gateway.user("approved")
        r = await gateway.client.get("/api/leaderboards/whoami", headers=headers)
        assert r.status_code == 200
        assert r.json()["identity"]["user_id"] == user["id"]


async def test_upload_protocol_paths_need_no_login(gateway) -> None:
    r = await gateway.client.get("/api/evaluations/models/m1/files?token=upload-tok-1")
    assert r.status_code == 200
    assert r.json()["service"] == "upload"
    assert r.json()["query"] == "token=upload-tok-1"
    assert r.json()["identity"] is None

    r = await gateway.client.post(
        "/api/evaluations/manage/op_file",
        data={"token": "upload-tok-1", "op": "list"},
        headers={"Authorization": "Bearer not-a-jwt"},  # not ours to judge: passed through
    )
    assert r.json()["service"] == "upload"
    assert r.json()["authorization"] == "Bearer not-a-jwt"
    assert r.json()["body_length"] > 0


async def test_public_routes_forward_identity_when_logged_in(gateway) -> None:
    user, headers = await gateway.user()
    r = await gateway.client.get("/api/leaderboards/nlp", headers=headers)
    assert r.json()["identity"]["user_id"] == user["id"]
    r = await gateway.client.get("/api/catalog", headers={"Authorization": "Bearer stale"})
    assert r.status_code == 200
    assert r.json()["service"] == "eval-api"
    assert r.json()["identity"] is None


async def test_authenticated_and_admin_routes(gateway) -> None:
    _, registered = await gateway.user()
    _, approved = await gateway.user("approved")
    admin = await gateway.admin()

    for path, service in (("/api/me/quota", "scheduler"), ("/api/me/notifications", "notifier")):
        assert (await gateway.client.get(path)).status_code == 401
        r = await gateway.client.get(path, headers=registered)
        assert r.status_code == 200
        assert r.json()["service"] == service

    for path, service in (
        ("/api/admin/datasets", "eval-api"),
        ("/api/admin/card-types", "eval-api"),
        ("/api/admin/quotas/u1", "scheduler"),
        ("/api/admin/images", "image-registry"),
    ):
        assert (await gateway.client.get(path)).status_code == 401
        r = await gateway.client.get(path, headers=approved)
        assert r.status_code == 403
        assert "administrator" in r.json()["detail"]
        r = await gateway.client.get(path, headers=admin)
        assert r.status_code == 200
        assert r.json()["service"] == service
        assert r.json()["identity"]["role"] == "admin"


@pytest.mark.parametrize(
    "path",
    [
        "/api/nothing",
        "/api",
        "/api/",
        "/api/evaluationsx",
        "/api/runs/..%2Fadmin%2Fusers",  # decodes to /api/runs/../admin/users
        "/api/runs/%2E%2E/admin/users",
        "/api/evaluations/x/%2e/bundles",
    ],
)
async def test_unknown_api_paths_are_404(gateway, path: str) -> None:
    admin = await gateway.admin()
    r = await gateway.client.get(path, headers=admin)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found", "code": "not_found"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/catalog%0a"),
        ("GET", "/api/catalog%0A"),
        ("GET", "/api/runs/x/logs%0a"),
        ("GET", "/api/runs/x%0a/logs"),
        ("POST", "/api/evaluations/manage/op_file%0a"),
        ("GET", "/api/leaderboards/nlp%00"),
        ("GET", "/api/me%0a"),  # the gateway's own routes end in `$` too (Starlette)
        ("POST", "/api/auth/login%0d%0a"),
    ],
)
async def test_paths_with_control_characters_are_404(gateway, method: str, path: str) -> None:
    admin = await gateway.admin()
    r = await gateway.client.request(method, path, headers=admin, json={})
    assert r.status_code == 404, r.text
    assert r.json()["detail"] == "Not found"
    # Without the control characters the path is served (the 404 above is theirs).
    plain = path.split("%")[0] + path.split("%")[-1][2:]
    r = await gateway.client.request(method, plain, headers=admin, json={})
    assert r.status_code != 404, (plain, r.text)


async def test_wrong_method_on_a_gateway_path_is_405(gateway) -> None:
    assert (await gateway.client.get("/api/auth/login")).status_code == 405


async def test_route_without_a_backend_is_503(gateway_factory) -> None:
    async with gateway_factory(services=["eval-api"]) as gw:
        _, headers = await gw.user()
        r = await gw.client.get("/api/me/quota", headers=headers)
        assert r.status_code == 503
        assert "scheduler" in r.json()["detail"]
        # Access is still checked first.
        assert (await gw.client.get("/api/me/quota")).status_code == 401
