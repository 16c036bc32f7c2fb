"""The upload protocol's errors in the platform's shape (its listing errors keep their empty
``results``), lone surrogates refused whatever the Content-Type, and timestamps with offsets."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

pytestmark = pytest.mark.postgres

FILES = "/api/evaluations/models/files"


async def test_listing_errors_keep_results_beside_detail_and_code(upload) -> None:
    reply = await upload.list("not-a-token")
    assert reply.status_code == 401
    body = reply.json()
    assert body["results"] == [] and isinstance(body["detail"], str)
    assert body["code"] == "unauthorized"
    ls = await upload.op("ls", "not-a-token")
    assert ls.status_code == 401
    assert ls.json() == {**body, "canSendTargets": False}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
async def test_a_plan_with_a_lone_surrogate_is_422(upload, content_type: str | None) -> None:
    token = await upload.token()
    # json.dumps escapes the lone surrogate as \ud800: plain ASCII on the wire.
    body = json.dumps({"token": token, "files": [{"filename": "w\ud800.bin", "sizeKb": 1}]})
    headers = {"content-type": content_type} if content_type else {}
    reply = await upload.client.post(FILES, content=body.encode(), headers=headers)
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == "validation_error"
    assert "UTF-8" in reply.json()["detail"]  # a sentence the CLI prints as it is
    assert (await upload.list(token)).json() == {"results": []}


async def test_bundle_timestamps_carry_their_offset(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    token = (await upload.issue(evaluation_id, owner)).json()["token"]
    await upload.upload(token, {"meta.json": b"{}"})
    (version,) = (
        await upload.client.get(
            f"/api/evaluations/{evaluation_id}/bundles", headers=upload.headers(owner)
        )
    ).json()
    for value in (version["created_at"], version["completed_at"]):
        assert datetime.fromisoformat(value).utcoffset() == timedelta(0), value
    missing = await upload.client.get(
        f"/api/evaluations/{uuid.uuid4()}/bundles", headers=upload.headers(owner)
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
