"""Every bad input of the protocol gets a 4xx whose ``detail`` the CLI prints, and leaves
nothing behind: no planned file, no stored object."""

from __future__ import annotations

import io

import pytest

pytestmark = pytest.mark.postgres

FILES = "/api/evaluations/models/files"
CHUNKS = "/api/evaluations/models/files/{}/chunks"


async def assert_nothing_planned(upload, token: str) -> None:
    assert (await upload.list(token)).json() == {"results": []}
    assert await upload.keys("bundles/") == []


def detail_of(reply) -> str:
    assert 400 <= reply.status_code < 500, (reply.status_code, reply.text)
    detail = reply.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.mark.parametrize(
    ("filename", "words"),
    [
        ("/etc/passwd", "absolute"),
        ("../escape.txt", "'..'"),
        ("model/../../escape.txt", "'..'"),
        ("./meta.json", "'.'"),
        ("model/./x", "'.'"),
        ("model\\..\\x", "backslash"),
        ("C:\\weights.bin", "backslash"),
        ("meta\x00.json", "control character"),
        ("line\nbreak.txt", "control character"),
        ("tab\there", "control character"),
        ("del\x7f.txt", "control character"),
        ("c1\x85.txt", "control character"),
        ("model//x.bin", "empty folder name"),
        ("model/", "empty folder name"),
        ("", "empty"),
        ("a" * 256, "255 bytes"),
        ("d/" + "é" * 128, "255 bytes"),  # 256 bytes in UTF-8
        ("/".join(["abcdefghij"] * 100), "bytes long"),
        ("lone\ud800surrogate", "UTF-8"),
    ],
)
async def test_unsafe_file_names_are_refused(upload, filename: str, words: str) -> None:
    token = await upload.token()
    reply = await upload.create_raw(
        {
            "token": token,
            "files": [{"filename": "meta.json", "sizeKb": 1}, {"filename": filename, "sizeKb": 1}],
        }
    )
    assert reply.status_code == 422
    assert words in detail_of(reply)
    await assert_nothing_planned(upload, token)


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        (
            [{"filename": "a.bin", "sizeKb": 1}, {"filename": "a.bin", "sizeKb": 2}],
            422,
            "more than once",
        ),
        ([{"filename": f"f{i}", "sizeKb": 1} for i in range(21)], 413, "at most 20 files"),
        ([{"filename": "big.bin", "sizeKb": 4 * 1024 + 1}], 413, "at most"),
        (
            [{"filename": "a.bin", "sizeKb": 3 * 1024}, {"filename": "b.bin", "sizeKb": 1024 + 1}],
            413,
            "at most",
        ),
        ([{"filename": "a.bin", "sizeKb": 0}], 422, "sizeKb"),
        ([{"filename": "a.bin", "sizeKb": -5}], 422, "sizeKb"),
        ([{"filename": "a.bin", "sizeKb": 1.5}], 422, "sizeKb"),
        ([{"filename": "a.bin", "sizeKb": "12"}], 422, "sizeKb"),
        ([{"filename": "a.bin", "sizeKb": True}], 422, "sizeKb"),
        ([{"filename": "a.bin"}], 422, "sizeKb"),
        ([{"filename": 12, "sizeKb": 1}], 422, "filename"),
        ([{"sizeKb": 1}], 422, "filename"),
    ],
)
async def test_bad_file_lists_are_refused_whole(upload, files, status: int, words: str) -> None:
    token = await upload.token()
    reply = await upload.create_raw({"token": token, "files": files})
    assert reply.status_code == status
    assert words in detail_of(reply)
    await assert_nothing_planned(upload, token)


async def test_limits_count_the_files_already_in_the_bundle(upload) -> None:
    token = await upload.token()
    assert (await upload.create(token, {f"f{i}": b"x" for i in range(15)})).status_code == 200
    more = await upload.create(token, {f"g{i}": b"x" for i in range(6)})
    assert more.status_code == 413
    # Replacing files does not count them twice.
    same = await upload.create(token, {f"f{i}": b"y" for i in range(15)})
    assert same.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"files": "nope"}',
        b'{"token": 5, "files": []}',
        b"{}",
        b"[" * 100_000,
        b"\xff\xfe",
    ],
)
async def test_malformed_plan_requests(upload, body: bytes) -> None:
    reply = await upload.client.post(
        FILES, content=body, headers={"Content-Type": "application/json"}
    )
    detail_of(reply)


@pytest.mark.parametrize(
    "token",
    [None, "", "not-a-token", "x" * 5000, "\u00e9t\u00e9"],
    ids=["missing", "empty", "unknown", "long", "non-ascii"],
)
async def test_missing_or_unknown_tokens_are_refused_everywhere(upload, token) -> None:
    good = await upload.token()
    (entry,) = (await upload.create(good, {"meta.json": b"{}"})).json()["results"]

    listed = await upload.list(token)
    assert listed.status_code == 401 and detail_of(listed)
    # The CLI reads "results" before it looks at the status: give it an empty list.
    assert listed.json()["results"] == []
    replies = [
        await upload.create(token, {"x.txt": b"x"}),
        await upload.chunk(token, entry["id"], 1, b"{}"),
        await upload.client.post(
            "/api/evaluations/manage/op_file",
            data={
                k: v
                for k, v in {"command": "rm", "token": token, "src_path": "meta.json"}.items()
                if v is not None
            },
        ),
    ]
    for reply in replies:
        assert reply.status_code == 401, reply.request.url
        assert "token" in detail_of(reply)
    ls = await upload.client.post(
        "/api/evaluations/manage/op_file",
        data={k: v for k, v in {"command": "ls", "token": token}.items() if v is not None},
    )
    assert ls.status_code == 401 and detail_of(ls)
    assert ls.json()["results"] == [] and ls.json()["canSendTargets"] is False
    # Nothing of the good token's bundle changed.
    (still,) = (await upload.list(good)).json()["results"]
    assert still["id"] == entry["id"] and not still["chunks"][0]["ks3Ready"]


async def test_a_chunk_for_another_tokens_file_is_not_found(upload) -> None:
    mine = await upload.token()
    theirs = await upload.token()
    (entry,) = (await upload.create(theirs, {"meta.json": b"{}"})).json()["results"]
    reply = await upload.chunk(mine, entry["id"], 1, b"{}")
    assert reply.status_code == 404 and "list the files again" in detail_of(reply)
    listed = (await upload.list(theirs)).json()["results"][0]
    assert listed["chunks"][0]["ks3Ready"] is False
    assert await upload.keys("bundles/") == []


@pytest.mark.parametrize(
    ("file_id", "num", "status"),
    [
        ("own", 0, 422),
        ("own", 3, 422),
        ("own", -1, 422),
        ("own", "abc", 422),
        ("own", "", 422),
        ("own", "1.0", 422),
        ("own", 10**20, 422),
        (10**20, 1, 404),
        ("9" * 5000, 1, 404),
        ("\u00b2", 1, 404),
        ("own", "9" * 5000, 422),
        (999999, 1, 404),
        ("abc", 1, 404),
        ("-1", 1, 404),
    ],
)
async def test_chunk_numbers_and_file_ids_out_of_range(upload, file_id, num, status: int) -> None:
    token = await upload.token()
    (entry,) = (await upload.create(token, {"w.bin": b"w" * (64 * 1024 + 2048)})).json()["results"]
    assert len(entry["chunks"]) == 2
    target = entry["id"] if file_id == "own" else file_id
    reply = await upload.chunk(token, target, num, b"x" * 2048)
    assert reply.status_code == status
    detail_of(reply)
    assert await upload.keys("bundles/") == []


async def test_chunk_bodies_that_are_not_the_clis_multipart(upload) -> None:
    token = await upload.token()
    (entry,) = (await upload.create(token, {"meta.json": b"{}"})).json()["results"]
    url = CHUNKS.format(entry["id"])
    params = {"chunk_num": 1, "token": token}
    replies = [
        # Raw bytes, not multipart.
        await upload.client.post(url, params=params, content=b"{}"),
        # Multipart without a "file" field.
        await upload.client.post(url, params=params, files={"other": io.BytesIO(b"{}")}),
        # A broken multipart body.
        await upload.client.post(
            url,
            params=params,
            content=b'--XYZ\r\nContent-Disposition: form-data; name="file"\r\n\r\n{}',
            headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
        ),
        # is_update that is neither 0 nor 1.
        await upload.client.post(
            url, params={**params, "is_update": "2"}, files={"file": io.BytesIO(b"{}")}
        ),
    ]
    for reply in replies:
        detail_of(reply)
    assert await upload.keys("bundles/") == []
    # The field may come with others around it; only "file" counts.
    ok = await upload.client.post(
        url,
        params=params,
        data={"note": "hello"},
        files={"file": ("meta.json", io.BytesIO(b"{}")), "extra": io.BytesIO(b"zz")},
    )
    assert ok.status_code == 200, ok.text
    # The version is complete now (sealed): ``ls`` lists it.
    assert (await upload.op("ls", token)).json()["results"][0]["ks3Ready"] is True


async def test_op_file_needs_a_known_command_and_a_path_for_rm(upload) -> None:
    token = await upload.token()
    assert "ls or rm" in detail_of(await upload.op("mv", token, "a"))
    assert "path" in detail_of(await upload.op("rm", token, ""))
    assert "meta.json" in detail_of(await upload.op("rm", token, "meta.json"))


async def test_token_creation_with_a_bad_evaluation_id(upload) -> None:
    _, owner = await upload.evaluation()
    reply = await upload.client.post(
        "/api/evaluations/not-a-uuid/upload-tokens", headers=upload.headers(owner)
    )
    assert reply.status_code == 422
