"""A bundle version is sealed once complete (SPEC §11): runs pin its sha256s, so no call made
with its token — a new plan, a chunk, ``rm`` — may change it afterwards. Each is a 409 with the
code ``bundle_sealed`` and a message that says what to do; the bytes, rows and events stay as
they were; ``ls`` still lists it; a new token uploads a new version."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from flageval_upload.models import Bundle, BundleChunk, BundleFile
from flageval_upload.uploads import service

pytestmark = pytest.mark.postgres

META = b'{"parameter_scale_billion": 7}'
KEYWORDS = b'{"keywords": ["benign"]}'
WEIGHTS = bytes(range(256)) * 300  # 75 KiB: two chunks of the harness's 64 KiB
FILES = {"meta.json": META, "model/keywords.json": KEYWORDS, "model/w.bin": WEIGHTS}


def assert_sealed(reply: Any, *, version: int = 1, status: str = "valid") -> None:
    assert reply.status_code == 409, reply.text
    detail = reply.json()["detail"]
    assert detail["code"] == "bundle_sealed"
    assert detail["version"] == version and detail["bundle_status"] == status
    message = detail["message"]
    assert f"version {version} of this evaluation is sealed ({status})" in message
    assert "new upload token" in message


async def snapshot(upload) -> dict[str, Any]:
    """Everything a change would touch: the rows, every object's bytes, the events."""
    async with upload.ctx.db.transaction() as session:
        bundles = [
            (b.id, b.version, b.status, b.revision, b.total_bytes, b.problems, b.completed_at)
            for b in await session.scalars(select(Bundle).order_by(Bundle.version))
        ]
        files = [
            (f.id, f.filename, f.status, f.size_bytes, f.sha256, f.object_key)
            for f in await session.scalars(select(BundleFile).order_by(BundleFile.id))
        ]
        chunks = [
            (c.file_id, c.num, c.ready, c.size_bytes, c.object_key)
            for c in await session.scalars(
                select(BundleChunk).order_by(BundleChunk.file_id, BundleChunk.num)
            )
        ]
    objects = {
        key: hashlib.sha256(await upload.object(key)).hexdigest() for key in await upload.keys()
    }
    return {
        "bundles": bundles,
        "files": files,
        "chunks": chunks,
        "objects": objects,
        "events": await upload.bundle_ready_events(),
    }


async def sealed_version(upload) -> tuple[str, dict[str, dict[str, Any]]]:
    """A token whose version 1 is uploaded and valid; its files by name, as ``ls`` lists them."""
    token = await upload.token()
    listed = await upload.upload(token, FILES)
    files = {f["filename"]: f for f in listed}
    assert files.keys() == FILES.keys() and all(f["ks3Ready"] for f in listed)
    async with upload.ctx.db.transaction() as session:
        assert (await session.scalars(select(Bundle.status))).one() == "valid"
    return token, files


async def test_a_sealed_version_refuses_every_change(upload) -> None:
    token, files = await sealed_version(upload)
    before = await snapshot(upload)
    keywords, weights = files["model/keywords.json"], files["model/w.bin"]
    evil = b'{"keywords": ["evil"]}'  # one chunk, like the file it would replace

    attempts = {
        # The finding: cp over a file of a valid version (plan, then is_update=1 chunks).
        "plan a replacement": await upload.create(token, {"model/keywords.json": evil}),
        "plan a new file": await upload.create(token, {"model/extra.json": b"{}"}),
        "plan nothing": await upload.create_raw({"token": token, "files": []}),
        "chunk": await upload.chunk(token, keywords["id"], 1, evil),
        "chunk, is_update=1": await upload.chunk(token, keywords["id"], 1, evil, is_update=1),
        "a duplicate chunk": await upload.chunk(token, weights["id"], 2, WEIGHTS[64 * 1024 :]),
        "chunk of no file": await upload.chunk(token, 10**9, 1, evil),
        "rm a file": await upload.op("rm", token, "model/keywords.json"),
        "rm a folder": await upload.op("rm", token, "model"),
        "rm what is not there": await upload.op("rm", token, "nothing/here"),
    }
    for what, reply in attempts.items():
        try:
            assert_sealed(reply)
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None
    assert await snapshot(upload) == before

    # Reading goes on: ls lists the sealed version.
    ls = await upload.op("ls", token)
    assert ls.status_code == 200
    assert {f["filename"]: f["id"] for f in ls.json()["results"]} == {
        name: f["id"] for name, f in files.items()
    }


async def test_listing_a_sealed_version_says_so_with_an_empty_results(upload) -> None:
    """``flageval-serving upload`` starts with this listing and reads ``results`` before the
    status: the empty list sends it on to the plan, whose 409 it prints."""
    token, _ = await sealed_version(upload)
    before = await snapshot(upload)
    reply = await upload.list(token)
    assert_sealed(reply)
    assert reply.json()["results"] == []
    assert await snapshot(upload) == before


async def test_a_version_is_sealed_while_its_check_runs(
    upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``complete`` (every chunk in, the layout check running or died) is sealed too."""

    async def dies(*_args: Any) -> list[str]:
        raise RuntimeError("the layout check died")

    monkeypatch.setattr(service, "check_bundle_layout", dies)
    token = await upload.token()
    (entry,) = (await upload.create(token, {"meta.json": META})).json()["results"]
    assert (await upload.chunk(token, entry["id"], 1, META)).status_code == 200
    before = await snapshot(upload)
    assert before["bundles"][0][2] == "complete"
    assert_sealed(await upload.create(token, {"meta.json": b"{}"}), status="complete")
    assert_sealed(await upload.chunk(token, entry["id"], 1, b"{}"), status="complete")
    assert_sealed(await upload.op("rm", token, "meta.json"), status="complete")
    assert_sealed(await upload.list(token), status="complete")
    assert await snapshot(upload) == before


async def test_a_chunk_racing_the_completion_does_not_change_the_sealed_version(
    upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two uploads of a version's last chunk: the one that completes the version wins; the
    other, stored meanwhile with other bytes, is refused as sealed and its object deleted."""
    token = await upload.token()
    meta, weights = (
        await upload.create(token, {"meta.json": META, "model/w.bin": WEIGHTS})
    ).json()["results"]
    await upload.send_file(token, weights, WEIGHTS)

    real_put = upload.store.put
    stored = asyncio.Event()
    go_on = asyncio.Event()

    async def held_put(key: str, data: Any, **kwargs: Any) -> Any:
        info = await real_put(key, data, **kwargs)
        if not stored.is_set():  # the first upload waits after storing its chunk
            stored.set()
            await go_on.wait()
        return info

    monkeypatch.setattr(upload.store, "put", held_put)
    other = b'{"parameter_scale_billion": 9}'
    assert len(other) == len(META)
    late = asyncio.ensure_future(upload.chunk(token, meta["id"], 1, other))
    await asyncio.wait_for(stored.wait(), 10)
    winner = await upload.chunk(token, meta["id"], 1, META)
    assert winner.status_code == 200, winner.text
    before = await snapshot(upload)
    assert before["bundles"][0][2] == "valid"
    bundle_id = before["bundles"][0][0]
    (held,) = [k for k in before["objects"] if k.startswith(f"bundles/{bundle_id}/chunks/")]
    go_on.set()
    assert_sealed(await asyncio.wait_for(late, 10))

    after = await snapshot(upload)
    del before["objects"][held]  # the late chunk's object, and nothing else, is gone
    assert after == before
    assert await upload.object(f"bundles/{bundle_id}/files/meta.json") == META
    assert await upload.keys(f"bundles/{bundle_id}/chunks/") == []
    (event,) = after["events"]
    assert {f["path"]: f["sha256"] for f in event["files"]}["meta.json"] == (
        hashlib.sha256(META).hexdigest()
    )


async def test_a_new_token_uploads_version_2_beside_the_sealed_one(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    first = (await upload.issue(evaluation_id, owner)).json()
    await upload.upload(first["token"], FILES)
    assert_sealed(await upload.create(first["token"], {"model/keywords.json": b"{}"}))

    second = (await upload.issue(evaluation_id, owner)).json()
    assert second["bundle_version"] == 2
    changed = {**FILES, "model/keywords.json": b'{"keywords": ["new"]}'}
    await upload.upload(second["token"], changed)
    assert_sealed(await upload.list(second["token"]), version=2)

    versions = (
        await upload.client.get(
            f"/api/evaluations/{evaluation_id}/bundles", headers=upload.headers(owner)
        )
    ).json()
    assert [(v["version"], v["status"]) for v in versions] == [(2, "valid"), (1, "valid")]
    for version, content in zip(versions, (changed, FILES), strict=True):
        assert {f["path"]: f["sha256"] for f in version["files"]} == {
            name: hashlib.sha256(data).hexdigest() for name, data in content.items()
        }
