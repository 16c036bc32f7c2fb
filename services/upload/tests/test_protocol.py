"""The flageval-serving upload protocol, driven in-process the way the 0.2.5 CLI drives it:
plans, chunked and resumable uploads, assembly with sha256, ls/rm/cp and bundle completion."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid

import pytest
from sqlalchemy import select, update

from flageval_contracts.enums import Role
from flageval_upload.models import Bundle, BundleFile, UploadToken
from flageval_upload.uploads import service

pytestmark = pytest.mark.postgres

CHUNK_KB = 64  # the harness's upload_chunk_kb (conftest.py)
CHUNK = CHUNK_KB * 1024
META = b'{"parameter_scale_billion": 7}'


def size_kb(data: bytes) -> int:
    return max(int(len(data) / 1024), 1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blob(n: int) -> bytes:
    return os.urandom(n)


def assert_sealed(reply) -> None:
    """A 409 that says the version is complete and cannot change (see test_sealed.py)."""
    assert reply.status_code == 409, reply.text
    assert reply.json()["detail"]["code"] == "bundle_sealed"


async def bundle_row(upload) -> Bundle:
    """The one bundle of the test."""
    async with upload.ctx.db.transaction() as session:
        return (await session.scalars(select(Bundle))).one()


async def test_a_fresh_token_lists_no_files(upload) -> None:
    token = await upload.token()
    reply = await upload.list(token)
    assert reply.status_code == 200
    assert reply.json() == {"results": []}


async def test_the_server_plans_chunks_with_the_clis_exact_keys(upload) -> None:
    token = await upload.token()
    files = {
        "model/weights.bin": blob(3 * CHUNK + 5000),  # 3 full chunks and a remainder
        "exact.bin": blob(2 * CHUNK),  # the last chunk is a full one
        "meta.json": META,
    }
    reply = await upload.create(token, files)
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [f["filename"] for f in results] == list(files)  # request order (cp relies on it)
    for entry in results:
        assert set(entry) == {"id", "filename", "sizeKb", "ks3Ready", "chunks"}
        assert isinstance(entry["id"], int) and entry["ks3Ready"] is False
        for chunk in entry["chunks"]:
            assert set(chunk) == {"num", "sizeKb", "ks3Ready"} and chunk["ks3Ready"] is False
    weights, exact, meta = results
    total_kb = size_kb(files["model/weights.bin"])
    assert [c["num"] for c in weights["chunks"]] == [1, 2, 3, 4]
    assert [c["sizeKb"] for c in weights["chunks"]] == [CHUNK_KB] * 3 + [total_kb - 3 * CHUNK_KB]
    assert [c["sizeKb"] for c in exact["chunks"]] == [CHUNK_KB, CHUNK_KB]
    assert meta["sizeKb"] == 1 and meta["chunks"] == [{"num": 1, "sizeKb": 1, "ks3Ready": False}]
    # The listing says the same.
    assert (await upload.list(token)).json()["results"] == results


async def test_a_multi_chunk_bundle_is_assembled_with_the_right_sha256(upload) -> None:
    token = await upload.token()
    files = {
        "model/weights.bin": blob(3 * CHUNK + 777),
        "model/config/tokenizer.json": blob(CHUNK + 1023),
        "meta.json": META,
        "empty.txt": b"",
        "small.txt": b"x" * 700,
        "almost2k.txt": b"y" * 2047,
        "模型/说明 文件.md": "中文内容".encode() * 100,
        "ünïcode-ñame.py": b"print('hi')\n",
    }
    listed = await upload.upload(token, files)
    assert all(f["ks3Ready"] for f in listed)
    assert all(c["ks3Ready"] for f in listed for c in f["chunks"])

    bundle = await bundle_row(upload)
    assert bundle.status == "valid" and bundle.problems == []
    assert bundle.total_bytes == sum(len(d) for d in files.values())
    for name, data in files.items():
        assert await upload.object(f"bundles/{bundle.id}/files/{name}") == data
    # The chunk objects are gone once their file is assembled.
    assert await upload.keys(f"bundles/{bundle.id}/chunks/") == []

    (listing,) = (
        await upload.client.get(
            f"/api/evaluations/{bundle.evaluation_id}/bundles",
            headers=upload.headers(bundle.owner_id),
        )
    ).json()
    assert listing["status"] == "valid"
    assert {f["path"]: (f["size_bytes"], f["sha256"]) for f in listing["files"]} == {
        name: (len(data), sha256(data)) for name, data in files.items()
    }


async def test_resume_skips_what_is_in_and_finishes_the_rest(upload) -> None:
    token = await upload.token()
    files = {"big.bin": blob(4 * CHUNK + 10), "meta.json": META}
    created = (await upload.create(token, files)).json()["results"]
    big = created[0]
    # The first run sent chunks 1 and 3 of big.bin, then died.
    for num in (1, 3):
        piece = files["big.bin"][(num - 1) * CHUNK : num * CHUNK]
        assert (await upload.chunk(token, big["id"], num, piece)).status_code == 200

    listed = (await upload.list(token)).json()["results"]
    assert [c["ks3Ready"] for c in listed[0]["chunks"]] == [True, False, True, False]
    assert listed[0]["ks3Ready"] is False and listed[1]["ks3Ready"] is False
    assert (await bundle_row(upload)).status == "uploading"

    final = await upload.upload(token, files)  # the second run
    assert all(f["ks3Ready"] for f in final)
    bundle = await bundle_row(upload)
    assert bundle.status == "valid"
    assert await upload.object(f"bundles/{bundle.id}/files/big.bin") == files["big.bin"]
    # A third run is told the version is complete: it is sealed and cannot change.
    again = await upload.list(token)
    assert_sealed(again)
    assert again.json()["results"] == []


async def test_the_same_chunk_twice_is_harmless(upload) -> None:
    token = await upload.token()
    data = blob(2 * CHUNK + 5000)  # chunks of 64, 64 and 4 KiB (+ 904 bytes)
    # meta.json keeps the version open until the end (a complete one is sealed).
    planned = await upload.create(token, {"w.bin": data, "meta.json": META})
    entry, meta = planned.json()["results"]
    assert len(entry["chunks"]) == 3
    first = data[:CHUNK]
    for _ in range(2):  # sequential duplicate
        assert (await upload.chunk(token, entry["id"], 1, first)).status_code == 200
    # Concurrent duplicates of the last chunk, then more after the file is complete.
    replies = await asyncio.gather(
        *(upload.chunk(token, entry["id"], 2, data[CHUNK : 2 * CHUNK]) for _ in range(2)),
        *(upload.chunk(token, entry["id"], 3, data[2 * CHUNK :]) for _ in range(6)),
    )
    assert [r.status_code for r in replies] == [200] * 8
    assert (await upload.chunk(token, entry["id"], 3, data[2 * CHUNK :])).status_code == 200

    bundle = await bundle_row(upload)
    assert await upload.object(f"bundles/{bundle.id}/files/w.bin") == data
    assert await upload.keys(f"bundles/{bundle.id}/chunks/") == []
    async with upload.ctx.db.transaction() as session:
        file = await session.get(BundleFile, entry["id"])
    assert file is not None
    assert file.status == "ready" and file.sha256 == sha256(data) and file.size_bytes == len(data)
    await upload.send_file(token, meta, META)
    assert (await bundle_row(upload)).status == "valid"
    assert len(await upload.bundle_ready_events()) == 1
    # Once the version is complete, even a duplicate is refused: it is sealed.
    assert_sealed(await upload.chunk(token, entry["id"], 3, data[2 * CHUNK :]))


async def test_concurrent_last_chunks_of_a_file_assemble_it_once(upload) -> None:
    token = await upload.token()
    files = {f"part{i}.bin": blob(CHUNK + i) for i in range(4)}
    files["meta.json"] = META
    created = (await upload.create(token, files)).json()["results"]
    sends = []
    for entry in created:
        data = files[entry["filename"]]
        for chunk in entry["chunks"]:
            piece = data[(chunk["num"] - 1) * CHUNK : chunk["num"] * CHUNK]
            if chunk["num"] == len(entry["chunks"]):
                piece = data[(chunk["num"] - 1) * CHUNK :]
            sends.append(upload.chunk(token, entry["id"], chunk["num"], piece))
    replies = await asyncio.gather(*sends)
    assert all(r.status_code == 200 for r in replies)
    bundle = await bundle_row(upload)
    assert bundle.status == "valid"
    for name, data in files.items():
        assert await upload.object(f"bundles/{bundle.id}/files/{name}") == data
    assert len(await upload.bundle_ready_events()) == 1


@pytest.mark.parametrize(
    ("content", "num", "sent"),
    [
        pytest.param(3 * CHUNK, 1, CHUNK - 1, id="non-last chunk one byte short"),
        pytest.param(3 * CHUNK, 1, CHUNK + 1, id="non-last chunk one byte long"),
        pytest.param(2 * CHUNK + 5000, 3, 4095, id="last chunk under its KiB"),
        pytest.param(2 * CHUNK + 5000, 3, 4096 + 1024, id="last chunk a KiB too long"),
        pytest.param(700, 1, 2048, id="a 1 KiB file over 2047 bytes"),
    ],
)
async def test_a_chunk_of_the_wrong_size_is_refused_and_not_stored(
    upload, content: int, num: int, sent: int
) -> None:
    token = await upload.token()
    (entry,) = (await upload.create(token, {"f.bin": blob(content)})).json()["results"]
    reply = await upload.chunk(token, entry["id"], num, blob(sent))
    assert reply.status_code == 422
    assert "plan expects" in reply.json()["detail"]
    listed = (await upload.list(token)).json()["results"][0]
    assert not any(c["ks3Ready"] for c in listed["chunks"])
    assert await upload.keys("bundles/") == []


@pytest.mark.parametrize("sent", [0, 1, 1023, 1024, 2047])
async def test_a_file_announced_as_1_kib_takes_0_to_2047_bytes(upload, sent: int) -> None:
    token = await upload.token()
    data = blob(sent)
    (entry,) = (await upload.create(token, {"meta.json": data})).json()["results"]
    assert entry["sizeKb"] == 1
    assert (await upload.chunk(token, entry["id"], 1, data)).status_code == 200
    bundle = await bundle_row(upload)
    assert await upload.object(f"bundles/{bundle.id}/files/meta.json") == data


async def test_a_failed_assembly_is_retried_by_the_clis_retry(
    upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await upload.token()
    data = blob(CHUNK + 5000)
    (entry,) = (await upload.create(token, {"meta.json": data})).json()["results"]
    assert len(entry["chunks"]) == 2
    real_compose = upload.store.compose
    failures = []

    async def flaky_compose(key, sources):
        if not failures:
            failures.append(key)
            raise service.StorageError("the store hiccuped")
        return await real_compose(key, sources)

    monkeypatch.setattr(upload.store, "compose", flaky_compose)
    assert (await upload.chunk(token, entry["id"], 1, data[:CHUNK])).status_code == 200
    failed = await upload.chunk(token, entry["id"], 2, data[CHUNK:])
    assert failed.status_code == 500  # the CLI retries a 5xx …
    async with upload.ctx.db.transaction() as session:
        file = (await session.scalars(select(BundleFile))).one()
    assert file.status == "uploading"  # not stuck in "assembling"
    retried = await upload.chunk(token, entry["id"], 2, data[CHUNK:])  # … with the same chunk
    assert retried.status_code == 200
    bundle = await bundle_row(upload)
    assert bundle.status == "invalid"  # not JSON, says the stub layout check
    assert await upload.object(f"bundles/{bundle.id}/files/meta.json") == data


async def test_list_finishes_a_file_left_unassembled_by_a_crash(
    upload, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await upload.token()
    weights = blob(10)
    planned = await upload.create(token, {"meta.json": META, "model/w.bin": weights})
    entry, rest = planned.json()["results"]
    # The process dies after recording the last chunk, before joining the file.
    real_finish_file = service.finish_file

    async def crash(**_kwargs):
        return False

    monkeypatch.setattr(service, "finish_file", crash)
    assert (await upload.chunk(token, entry["id"], 1, META)).status_code == 200
    monkeypatch.setattr(service, "finish_file", real_finish_file)
    async with upload.ctx.db.transaction() as session:
        assert (await session.get(BundleFile, entry["id"])).status == "uploading"

    # The CLI's next run lists the files (and skips meta.json: all its chunks are in).
    listed = (await upload.list(token)).json()["results"]
    assert [f["ks3Ready"] for f in listed] == [True, False]
    bundle = await bundle_row(upload)
    assert await upload.object(f"bundles/{bundle.id}/files/meta.json") == META
    await upload.send_file(token, rest, weights)
    assert (await bundle_row(upload)).status == "valid"


async def test_bundle_ready_event_carries_the_layout_verdict(upload) -> None:
    good = await upload.token()
    await upload.upload(good, {"meta.json": META, "model/w.bin": blob(10)})
    bad = await upload.token()
    await upload.upload(bad, {"model/w.bin": blob(10)})
    events = await upload.bundle_ready_events()
    assert [(e["valid"], e["problems"], e["version"]) for e in events] == [
        (True, [], 1),
        (False, ["meta.json is missing"], 1),
    ]


async def test_ls_lists_a_file_or_a_folder(upload) -> None:
    token = await upload.token()
    files = {"meta.json": META, "model/a.bin": b"a" * 10, "model/sub/b.bin": b"b" * 10}
    await upload.upload(token, files)

    everything = (await upload.op("ls", token, "")).json()
    assert everything["canSendTargets"] is False
    assert sorted(f["filename"] for f in everything["results"]) == sorted(files)
    for path in ("model", "model/", "/model"):
        listed = (await upload.op("ls", token, path)).json()["results"]
        assert sorted(f["filename"] for f in listed) == ["model/a.bin", "model/sub/b.bin"]
    one = (await upload.op("ls", token, "model/a.bin")).json()["results"]
    assert [f["filename"] for f in one] == ["model/a.bin"] and one[0]["ks3Ready"] is True
    assert set(one[0]) == {"id", "filename", "sizeKb", "ks3Ready", "chunks"}
    assert (await upload.op("ls", token, "mod")).json()["results"] == []


async def test_rm_removes_files_and_rechecks_the_bundle(upload) -> None:
    token = await upload.token()
    files = {"meta.json": META, "model/a.bin": b"a" * 10, "model/sub/b.bin": b"b" * 10}
    meta, a, _ = (await upload.create(token, files)).json()["results"]
    # An interrupted upload: meta.json and model/a.bin are in, model/sub/b.bin is not.
    await upload.send_file(token, meta, META)
    await upload.send_file(token, a, files["model/a.bin"])
    bundle = await bundle_row(upload)
    assert bundle.status == "uploading"

    assert (await upload.op("rm", token, "model/sub/b.bin")).json() == {"ret": 0}
    assert (await bundle_row(upload)).status == "valid"  # what is left is complete: checked
    assert len(await upload.bundle_ready_events()) == 1

    # Sealed now: rm is refused and nothing goes.
    assert_sealed(await upload.op("rm", token, "model"))
    assert sorted(await upload.keys(f"bundles/{bundle.id}/")) == [
        f"bundles/{bundle.id}/files/meta.json",
        f"bundles/{bundle.id}/files/model/a.bin",
    ]


async def test_rm_of_a_folder_and_of_everything_in_an_open_version(upload) -> None:
    token = await upload.token()
    files = {"meta.json": META, "model/a.bin": b"a" * 10, "model/sub/b.bin": b"b" * 10}
    _, a, b = (await upload.create(token, files)).json()["results"]
    await upload.send_file(token, a, files["model/a.bin"])
    await upload.send_file(token, b, files["model/sub/b.bin"])
    bundle = await bundle_row(upload)

    assert (await upload.op("rm", token, "model")).json() == {"ret": 0}
    assert await upload.keys(f"bundles/{bundle.id}/") == []
    assert [f["filename"] for f in (await upload.list(token)).json()["results"]] == ["meta.json"]
    assert (await bundle_row(upload)).status == "uploading"  # meta.json is still to come

    assert (await upload.op("rm", token, "meta.json")).json() == {"ret": 0}
    assert (await bundle_row(upload)).status == "uploading"  # nothing left to check
    missing = await upload.op("rm", token, "meta.json")
    assert missing.status_code == 404 and "meta.json" in missing.json()["detail"]
    assert (await upload.op("rm", token, "")).status_code == 422
    assert await upload.bundle_ready_events() == []


async def test_cp_replaces_a_file_with_is_update(upload) -> None:
    token = await upload.token()
    old = blob(2 * CHUNK + 3)
    meta, w = (await upload.create(token, {"meta.json": META, "model/w.bin": old})).json()[
        "results"
    ]
    # The upload stopped after meta.json and the first chunk of model/w.bin (the version is
    # open: cp cannot change a complete one, see test_sealed.py).
    await upload.send_file(token, meta, META)
    assert (await upload.chunk(token, w["id"], 1, old[:CHUNK])).status_code == 200
    before = {f["filename"]: f["id"] for f in (await upload.list(token)).json()["results"]}

    # flageval-serving cp new.bin model/w.bin: ls the destination, plan it, send with is_update=1.
    assert len((await upload.op("ls", token, "model/w.bin", opt=2)).json()["results"]) == 1
    new = blob(CHUNK + 9)
    planned = await upload.create(token, {"model/w.bin": new, "model/extra.txt": b"more"})
    assert planned.status_code == 200
    results = planned.json()["results"]
    assert [f["filename"] for f in results] == ["model/w.bin", "model/extra.txt"]
    assert results[0]["id"] != before["model/w.bin"]
    assert (await bundle_row(upload)).status == "uploading"
    # A late chunk for the replaced file is refused.
    late = await upload.chunk(token, before["model/w.bin"], 2, old[CHUNK : 2 * CHUNK])
    assert late.status_code == 404

    await upload.send_file(token, results[0], new, is_update=1)
    await upload.send_file(token, results[1], b"more", is_update=1)
    bundle = await bundle_row(upload)
    assert bundle.status == "valid"
    assert await upload.object(f"bundles/{bundle.id}/files/model/w.bin") == new
    listed = (await upload.op("ls", token)).json()["results"]
    assert sorted(f["filename"] for f in listed) == ["meta.json", "model/extra.txt", "model/w.bin"]
    assert await upload.keys(f"bundles/{bundle.id}/chunks/") == []
    assert len(await upload.bundle_ready_events()) == 1


async def test_targets_are_protected_unless_the_token_allows_them(upload) -> None:
    token = await upload.token()
    refused = await upload.create(token, {"meta.json": META, "targets/gold.json": b"{}"})
    assert refused.status_code == 403 and "targets/" in refused.json()["detail"]
    assert (await upload.list(token)).json()["results"] == []  # nothing was planned
    assert (await upload.create(token, {"targets": b"x"})).status_code == 403
    assert (await upload.create(token, {"targetsfile.txt": b"x"})).status_code == 200

    # An administrator's token may write there (and ls says so).
    evaluation_id, admin = await upload.evaluation()
    reply = await upload.client.post(
        f"/api/evaluations/{evaluation_id}/upload-tokens",
        json={"can_send_targets": True},
        headers=upload.headers(admin, role=Role.ADMIN),
    )
    assert reply.status_code == 201, reply.text
    admin_token = reply.json()["token"]
    planned = await upload.create(admin_token, {"meta.json": META, "targets/gold.json": b"{}"})
    assert planned.status_code == 200, planned.text
    await upload.send_file(admin_token, planned.json()["results"][1], b"{}")
    listing = (await upload.op("ls", admin_token)).json()
    assert listing["canSendTargets"] is True
    assert [f["ks3Ready"] for f in listing["results"]] == [False, True]
    assert (await upload.op("rm", admin_token, "targets")).json() == {"ret": 0}


async def test_rm_of_targets_needs_the_permission(upload) -> None:
    evaluation_id, admin = await upload.evaluation()
    admin_headers = upload.headers(admin, role=Role.ADMIN)
    allowed = (
        await upload.client.post(
            f"/api/evaluations/{evaluation_id}/upload-tokens",
            json={"can_send_targets": True},
            headers=admin_headers,
        )
    ).json()["token"]
    planned = (await upload.create(allowed, {"meta.json": META, "targets/gold.json": b"{}"})).json()
    await upload.send_file(allowed, planned["results"][1], b"{}")  # meta.json is still to come
    # The same bundle seen through a token without the right.
    async with upload.ctx.db.transaction() as session:
        await session.execute(update(UploadToken).values(can_send_targets=False))
    for path in ("targets", "targets/gold.json", "targets/"):
        reply = await upload.op("rm", allowed, path)
        assert reply.status_code == 403, path
    assert len((await upload.op("ls", allowed, "targets")).json()["results"]) == 1


async def test_a_file_cannot_also_be_a_folder(upload) -> None:
    token = await upload.token()
    clash = await upload.create(token, {"model": b"x", "model/w.bin": b"y"})
    assert clash.status_code == 422 and "folder" in clash.json()["detail"]
    assert (await upload.create(token, {"model/w.bin": b"y"})).status_code == 200
    later = await upload.create(token, {"model/w.bin/x": b"z"})
    assert later.status_code == 422


async def test_unknown_op_file_command(upload) -> None:
    token = await upload.token()
    for command in ("cp", "mv", ""):
        reply = await upload.op(command, token, "x")
        assert reply.status_code == 422 and "detail" in reply.json()


async def test_a_new_token_opens_a_new_version(upload) -> None:
    evaluation_id, owner = await upload.evaluation()
    first = (await upload.issue(evaluation_id, owner)).json()
    await upload.upload(first["token"], {"meta.json": META})
    second = (await upload.issue(evaluation_id, owner)).json()
    assert (first["bundle_version"], second["bundle_version"]) == (1, 2)
    await upload.upload(second["token"], {"model/w.bin": b"w"})
    # Each token sees only its own version.
    assert [f["filename"] for f in (await upload.op("ls", first["token"])).json()["results"]] == [
        "meta.json"
    ]
    versions = (
        await upload.client.get(
            f"/api/evaluations/{evaluation_id}/bundles", headers=upload.headers(owner)
        )
    ).json()
    assert [(v["version"], v["status"], v["problems"]) for v in versions] == [
        (2, "invalid", ["meta.json is missing"]),
        (1, "valid", []),
    ]
    assert [f["path"] for f in versions[0]["files"]] == ["model/w.bin"]
    assert versions[0]["completed_at"] is not None and versions[0]["created_at"]
    stranger = await upload.client.get(
        f"/api/evaluations/{evaluation_id}/bundles", headers=upload.headers(uuid.uuid4())
    )
    assert stranger.status_code == 404
