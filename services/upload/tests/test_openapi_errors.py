"""The protocol's routes read their input by hand, so their OpenAPI entries list the errors
by hand too: every error reply the CLI can get has its status documented (with the platform's
error body), which the API fuzzing (tests/e2e/test_fuzz_api.py) checks reply by reply."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.postgres

FILES = "/api/evaluations/models/files"
CHUNKS = "/api/evaluations/models/files/{file_id}/chunks"
OP_FILE = "/api/evaluations/manage/op_file"
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


async def test_every_error_reply_of_the_protocol_is_documented(upload) -> None:
    doc = (await upload.client.get("/openapi.json")).json()
    sealed = await upload.token()
    await upload.upload(sealed, {"meta.json": b"{}"})
    token = await upload.token()
    planned = (await upload.create(token, {"meta.json": b"{}"})).json()["results"][0]["id"]

    replies: list[tuple[str, str, httpx.Response]] = [
        ("get", FILES, await upload.list(None)),
        ("get", FILES, await upload.list(uuid.uuid4().hex)),
        ("get", FILES, await upload.list(sealed)),
        (
            "post",
            FILES,
            await upload.client.post(FILES, content=b"{not json", headers={"Content-Type": ""}),
        ),
        ("post", FILES, await upload.create(None, {"a.bin": b"x"})),
        ("post", FILES, await upload.create_raw({"token": token, "files": "a.bin"})),
        ("post", FILES, await upload.create(token, {"a.bin": b"x" * (5 * 1024 * 1024)})),
        ("post", FILES, await upload.create(token, {"targets/labels.jsonl": b"x"})),
        ("post", FILES, await upload.create(sealed, {"a.bin": b"x"})),
        ("post", CHUNKS, await upload.chunk(token, 2**62, 1, b"x")),
        ("post", CHUNKS, await upload.chunk(token, planned, "first", b"x")),
        (
            "post",
            CHUNKS,
            await upload.client.post(
                CHUNKS.format(file_id=planned),
                params={"token": token, "chunk_num": 1},
                content=b"--x\r\nnot a part",
                headers={"Content-Type": "multipart/form-data; boundary=x"},
            ),
        ),
        ("post", CHUNKS, await upload.chunk(uuid.uuid4().hex, planned, 1, b"x")),
        ("post", OP_FILE, await upload.op("cp", token)),
        (
            "post",
            OP_FILE,
            await upload.client.post(
                OP_FILE, content=b"command=ls", headers={"Content-Type": "multipart/form-data"}
            ),
        ),
        ("post", OP_FILE, await upload.op("ls", uuid.uuid4().hex)),
        ("post", OP_FILE, await upload.op("rm", token, "missing.bin")),
        ("post", OP_FILE, await upload.op("rm", token, "targets/labels.jsonl")),
        ("post", OP_FILE, await upload.op("rm", sealed, "meta.json")),
    ]
    statuses = {(method, path, r.status_code) for method, path, r in replies}
    # Each kind of mistake the protocol knows is among them.
    assert {s for _, _, s in statuses} == {400, 401, 403, 404, 409, 413, 422}, statuses
    for method, path, reply in replies:
        assert 400 <= reply.status_code < 500, (path, reply.status_code, reply.text)
        assert {"detail", "code"} <= set(reply.json()), reply.text
        documented = doc["paths"][path][method]["responses"]
        assert str(reply.status_code) in documented, (method, path, reply.status_code)
        content = documented[str(reply.status_code)]["content"]
        assert content["application/json"]["schema"] == ERROR_REF


async def test_the_op_file_form_is_documented_as_the_cli_sends_it(upload) -> None:
    """``ls``/``rm`` read their form by hand; the document describes it, so a client (or the
    fuzzer) can build one, and the CLI's own form is accepted."""
    doc = (await upload.client.get("/openapi.json")).json()
    body = doc["paths"][OP_FILE]["post"]["requestBody"]
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["properties"]["command"]["enum"] == ["ls", "rm"]
    assert set(form["required"]) == {"command", "token"}
    token = await upload.token()
    reply = await upload.op("ls", token)  # the fields and encoding of the CLI's requests
    assert reply.status_code == 200, reply.text
    assert set(reply.json()) == {"results", "canSendTargets"}
