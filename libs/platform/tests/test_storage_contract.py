"""One contract for both object stores: the local directory and S3 (moto).

Every test taking the ``store`` fixture runs against both implementations; a few at the end
cover what only one of them has (the local store's presigned-URL endpoint, S3's bucket and
endpoint handling).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import httpx
import pytest
from fastapi import FastAPI

from flageval_platform.settings import Settings
from flageval_platform.storage import (
    InvalidKey,
    ObjectNotFound,
    ObjectStore,
    SizeMismatch,
    StorageError,
    create_store,
)
from flageval_platform.storage.local import (
    TMP_DIR,
    LocalObjectStore,
    presigned_router,
    sign_presigned,
    verify_presigned,
)
from flageval_platform.storage.s3 import PART_SIZE, S3ObjectStore
from flageval_platform.testing import free_port

MiB = 1 << 20
PUBLIC_URL = "http://platform.test"
SECRET = "contract-test-secret"
CHUNK_SIZES = (1, 65_536, MiB, 12_345, 3 * MiB + 7, 100)


def _new_s3(endpoint: str) -> S3ObjectStore:
    return S3ObjectStore(
        f"contract-{uuid.uuid4().hex[:12]}",
        endpoint=endpoint,
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
    )


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_server: str
) -> AsyncIterator[ObjectStore]:
    """Each implementation, empty: a fresh directory, or a fresh bucket on the moto server."""
    if request.param == "local":
        s: ObjectStore = LocalObjectStore(
            tmp_path / "objects", public_url=PUBLIC_URL, secret_key=SECRET
        )
    else:
        s = _new_s3(moto_server)
    try:
        yield s
    finally:
        await s.close()


# --------------------------------------------------------------------------- helpers


async def stream(data: bytes, sizes: Sequence[int] = CHUNK_SIZES) -> AsyncIterator[bytes]:
    """``data`` as chunks of uneven sizes, yielding to the event loop between them."""
    i = k = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        yield data[i : i + n]
        i += n
        k += 1
        await asyncio.sleep(0)


async def sha256_of(store: ObjectStore, key: str, **kwargs: int) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    async for chunk in store.get(key, **kwargs):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def leftovers(store: ObjectStore) -> list[str]:
    """What an aborted write may have left behind: temp files / unfinished multipart uploads."""
    if isinstance(store, LocalObjectStore):
        tmp = store.root / TMP_DIR
        return sorted(os.listdir(tmp)) if tmp.exists() else []
    assert isinstance(store, S3ObjectStore)

    def uploads() -> list[str]:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{store.endpoint}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        found = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        return [u["Key"] for u in found]

    return await asyncio.to_thread(uploads)


def http_client(store: ObjectStore) -> httpx.AsyncClient:
    """A client that can follow the store's presigned URLs (the local store's are served by
    :func:`presigned_router` mounted in an app; S3's by the moto server)."""
    if isinstance(store, LocalObjectStore):
        app = FastAPI()
        app.include_router(presigned_router(store))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30)
    return httpx.AsyncClient(timeout=30)


# --------------------------------------------------------------------------- the contract


async def test_bytes_roundtrip_stat_exists_delete(store: ObjectStore) -> None:
    await store.ping()
    info = await store.put("a/b/hello.txt", b"hello world")
    assert (info.key, info.size) == ("a/b/hello.txt", 11)

    assert await store.read("a/b/hello.txt") == b"hello world"
    chunks = [c async for c in store.get("a/b/hello.txt", chunk_size=4)]
    assert b"".join(chunks) == b"hello world"
    assert all(0 < len(c) <= 4 for c in chunks)

    st = await store.stat("a/b/hello.txt")
    assert (st.key, st.size) == ("a/b/hello.txt", 11)
    assert st.modified_at is not None
    assert await store.exists("a/b/hello.txt")
    assert not await store.exists("a/b/other.txt")

    await store.put("a/b/hello.txt", bytearray(b"replaced"))  # overwrite
    assert await store.read("a/b/hello.txt") == b"replaced"

    await store.put("empty", b"")
    assert await store.read("empty") == b""
    assert (await store.stat("empty")).size == 0

    await store.delete("a/b/hello.txt")
    assert not await store.exists("a/b/hello.txt")
    await store.delete("a/b/hello.txt")  # deleting a missing object is fine
    await store.delete("never/existed")


async def test_missing_objects_raise_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.read("missing/key")
    with pytest.raises(ObjectNotFound):
        await store.stat("missing/key")
    with pytest.raises(ObjectNotFound):
        await sha256_of(store, "missing/key", offset=3, length=5)
    await store.put("dir/child", b"x")
    with pytest.raises(ObjectNotFound):  # a "directory" of objects is not an object
        await store.stat("dir")
    assert isinstance(ObjectNotFound("k"), StorageError)


async def test_stream_put_of_20_mib_reads_back_identical(store: ObjectStore) -> None:
    data = os.urandom(20 * MiB + 123)  # more than one S3 part: a real multipart upload
    info = await store.put("big/stream.bin", stream(data))
    assert info.size == len(data)
    assert (await store.stat("big/stream.bin")).size == len(data)
    digest, n = await sha256_of(store, "big/stream.bin")
    assert (digest, n) == (sha(data), len(data))
    chunks = [len(c) async for c in store.get("big/stream.bin", chunk_size=MiB)]
    assert max(chunks) <= MiB and sum(chunks) == len(data)

    # With the right announced length, too; a wrong one is refused and writes nothing.
    await store.put("big/with-length.bin", stream(data[: 3 * MiB]), length=3 * MiB)
    assert (await store.stat("big/with-length.bin")).size == 3 * MiB
    with pytest.raises(SizeMismatch):
        await store.put("big/short.bin", stream(data[:1000]), length=1001)
    with pytest.raises(SizeMismatch):
        await store.put("big/short.bin", b"abc", length=4)
    assert not await store.exists("big/short.bin")
    assert await leftovers(store) == []


async def test_ranged_get(store: ObjectStore) -> None:
    data = os.urandom(3 * MiB + 17)
    await store.put("r", data)

    async def read(**kw: int) -> bytes:
        return b"".join([c async for c in store.get("r", **kw)])

    assert await read(offset=0, length=10) == data[:10]
    assert await read(offset=5, length=100) == data[5:105]
    assert (
        await read(offset=MiB - 1, length=MiB + 2, chunk_size=65_536) == data[MiB - 1 : 2 * MiB + 1]
    )
    assert await read(offset=2 * MiB) == data[2 * MiB :]
    assert await read(offset=len(data) - 3, length=1000) == data[-3:]  # clipped at the end
    assert await read(offset=len(data)) == b""
    assert await read(offset=len(data) + 10) == b""
    assert await read(offset=7, length=0) == b""
    with pytest.raises(ValueError):
        await read(offset=-1)
    with pytest.raises(ValueError):
        await read(length=-1)


async def test_list_is_sorted_prefix_filtered_and_hides_in_flight_writes(
    store: ObjectStore,
) -> None:
    keys = ["runs/2/b", "runs/1/a", "runs/10/x", "runs10", "other/z", "runs/1/a2", "r"]
    for i, key in enumerate(keys):
        await store.put(key, b"x" * (i + 1))

    listed = await store.list()
    assert [o.key for o in listed] == sorted(keys)
    assert {o.key: o.size for o in listed} == {k: i + 1 for i, k in enumerate(keys)}
    assert [o.key for o in await store.list("runs/")] == [
        "runs/1/a",
        "runs/1/a2",
        "runs/10/x",
        "runs/2/b",
    ]
    assert [o.key for o in await store.list("runs/1")] == ["runs/1/a", "runs/1/a2", "runs/10/x"]
    assert [o.key for o in await store.list("runs")] == [
        "runs/1/a",
        "runs/1/a2",
        "runs/10/x",
        "runs/2/b",
        "runs10",
    ]
    assert [o.key for o in await store.list("runs/1/a")] == ["runs/1/a", "runs/1/a2"]
    assert await store.list("nothing/") == []
    with pytest.raises(InvalidKey):
        await store.list("../")

    # A write in progress is invisible: not listed, not stat-able, not readable.
    reached, release = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"first half;"
        reached.set()
        await release.wait()
        yield b"second half"

    writer = asyncio.create_task(store.put("runs/3/in-flight", slow()))
    await asyncio.wait_for(reached.wait(), 10)
    await asyncio.sleep(0.05)
    if isinstance(store, LocalObjectStore):  # the bytes are on disk, in a temp file
        assert len(await leftovers(store)) == 1
    assert "runs/3/in-flight" not in [o.key for o in await store.list()]
    assert not await store.exists("runs/3/in-flight")
    release.set()
    assert (await writer).size == 22
    assert await store.read("runs/3/in-flight") == b"first half;second half"
    assert [o.key for o in await store.list()] == sorted([*keys, "runs/3/in-flight"])
    assert await leftovers(store) == []


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([MiB + 3, 100, 2 * MiB, 0, 7], id="small-parts"),
        pytest.param([6 * MiB, 5 * MiB, MiB + 1], id="large-parts"),
    ],
)
async def test_compose(
    store: ObjectStore, sizes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [os.urandom(n) for n in sizes]
    keys = [f"chunks/{i:03d}" for i in range(len(parts))]
    for key, part in zip(keys, parts, strict=True):
        await store.put(key, part)
    if isinstance(store, S3ObjectStore) and min(sizes[:-1]) >= 5 * MiB:
        # Parts S3 can concatenate must be composed server-side, without streaming through us.
        def no_streaming(*args: object, **kwargs: object) -> None:
            raise AssertionError("large parts should be composed server-side")

        monkeypatch.setattr(store, "get", no_streaming)
        monkeypatch.setattr(store, "_put_stream", no_streaming)

    info = await store.compose("whole.bin", keys)
    monkeypatch.undo()
    whole = b"".join(parts)
    assert info.size == len(whole)
    assert (await store.stat("whole.bin")).size == len(whole)
    assert await sha256_of(store, "whole.bin") == (sha(whole), len(whole))
    for key, part in zip(keys, parts, strict=True):  # sources are left alone
        assert (await store.stat(key)).size == len(part)

    # The target may be one of its own sources (appending).
    await store.compose("whole.bin", ["whole.bin", keys[-1]])
    assert await sha256_of(store, "whole.bin") == (sha(whole + parts[-1]), len(whole) + sizes[-1])


async def test_compose_errors(store: ObjectStore) -> None:
    await store.put("p/1", b"one")
    with pytest.raises(ObjectNotFound):
        await store.compose("p/out", ["p/1", "p/missing"])
    assert not await store.exists("p/out")
    with pytest.raises(ValueError):
        await store.compose("p/out", [])
    assert await leftovers(store) == []


BAD_KEYS = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "a\\b",
    "a\x00b",
    "a\nb",
    "a\x1fb",
    "a\x7fb",
    "",
    ".",
    "a/./b",
    "dir/",
    "x" * 1025,
]


@pytest.mark.parametrize("bad", BAD_KEYS, ids=repr)
async def test_unsafe_keys_are_refused(store: ObjectStore, bad: str) -> None:
    await store.put("good", b"data")
    hour = timedelta(hours=1)
    attempts = [
        lambda: store.put(bad, b"data"),
        lambda: store.put(bad, stream(b"data")),
        lambda: store.read(bad),
        lambda: store.stat(bad),
        lambda: store.exists(bad),
        lambda: store.delete(bad),
        lambda: store.compose(bad, ["good"]),
        lambda: store.compose("out", ["good", bad]),
        lambda: store.presigned_get_url(bad, hour),
        lambda: store.presigned_put_url(bad, hour),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidKey):
            await attempt()
    with pytest.raises(InvalidKey):
        store.get(bad)  # refused when called, before any iteration
    assert [o.key for o in await store.list()] == ["good"]
    assert issubclass(InvalidKey, ValueError)


async def test_failing_stream_propagates_and_leaves_nothing(store: ObjectStore) -> None:
    await store.put("victim", b"previous version")
    payload = os.urandom(PART_SIZE + 4 * MiB)  # past the first S3 part: multipart has begun

    class Boom(RuntimeError):
        pass

    async def failing() -> AsyncIterator[bytes]:
        async for chunk in stream(payload):
            yield chunk
        raise Boom("source broke midway")

    with pytest.raises(Boom, match="source broke midway"):
        await store.put("fresh", failing())
    with pytest.raises(Boom):
        await store.put("victim", failing())

    assert not await store.exists("fresh")
    assert await store.read("victim") == b"previous version"  # the old object is intact
    assert [o.key for o in await store.list()] == ["victim"]
    assert await leftovers(store) == []


async def test_cancelled_put_closes_the_source_and_leaves_nothing(store: ObjectStore) -> None:
    reached = asyncio.Event()
    closed: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream(os.urandom(PART_SIZE + MiB)):
                yield chunk
            reached.set()
            await asyncio.Event().wait()  # the client stalls forever
            yield b"never"
        finally:
            closed.append(True)

    task = asyncio.create_task(store.put("cancelled", endless()))
    await asyncio.wait_for(reached.wait(), 20)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True]
    assert not await store.exists("cancelled")
    assert await leftovers(store) == []


async def test_readers_never_see_partial_objects(store: ObjectStore) -> None:
    versions = [bytes([i]) * (MiB + i) for i in range(4)]
    await store.put("hot", versions[0])
    stop = asyncio.Event()
    seen: set[int] = set()

    async def reader() -> None:
        while not stop.is_set():
            data = await store.read("hot")
            assert data in versions, "a reader saw a partial or mixed object"
            seen.add(data[0])

    async def writer() -> None:
        for i in range(12):
            await store.put("hot", stream(versions[i % 4], sizes=(65_536,)))
        stop.set()

    await asyncio.wait_for(asyncio.gather(reader(), reader(), writer()), 60)
    # Concurrent writers: the last one to finish wins whole.
    await asyncio.gather(*(store.put("hot", v) for v in versions))
    assert await store.read("hot") in versions


async def test_presigned_get_and_put(store: ObjectStore) -> None:
    data = os.urandom(MiB + 5)
    key = "dir/naïve file+(1)%.bin"  # needs quoting in a URL
    await store.put(key, data)
    get_url = await store.presigned_get_url(key, timedelta(minutes=5))
    put_url = await store.presigned_put_url("uploads/new.bin", timedelta(minutes=5))
    if isinstance(store, LocalObjectStore):
        assert get_url.startswith(f"{PUBLIC_URL}/api/storage/objects/dir/")

    async with http_client(store) as client:  # no credentials: the URL is the authority
        response = await client.get(get_url)
        assert response.status_code == 200, response.text
        assert response.content == data

        payload = os.urandom(2 * MiB + 1)
        response = await client.put(put_url, content=payload)
        assert response.status_code == 200, response.text
    assert await store.read("uploads/new.bin") == payload

    with pytest.raises(ValueError):
        await store.presigned_get_url(key, timedelta(days=8))


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    """A moto S3 server in a process of its own, so that its memory (it holds whole objects)
    does not count in this process's ``tracemalloc`` figures."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto server process did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(params=["local", "s3"])
def isolated_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects", public_url=PUBLIC_URL, secret_key=SECRET)
    return _new_s3(request.getfixturevalue("moto_process"))


async def test_streaming_200_mib_keeps_memory_bounded(isolated_store: ObjectStore) -> None:
    store = isolated_store
    total, chunk = 200 * MiB, 256 * 1024
    base = os.urandom(chunk)
    h = hashlib.sha256()

    async def produce() -> AsyncIterator[bytes]:
        for i in range(total // chunk):
            piece = i.to_bytes(8, "big") + base[8:]  # a fresh allocation every time
            h.update(piece)
            yield piece

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        info = await store.put("huge.bin", produce())
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    try:
        assert info.size == total
        # Local: batches of ~1 MiB. S3: one 16 MiB part being built + one being sent + a few
        # MiB of prefetch. Either way, nowhere near the 200 MiB that went through.
        limit = 8 * MiB if isinstance(store, LocalObjectStore) else 5 * PART_SIZE
        assert peak < limit, f"peak {peak / MiB:.1f} MiB for a {total // MiB} MiB stream"

        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            digest, n = await sha256_of(store, "huge.bin")
            peak = tracemalloc.get_traced_memory()[1] - baseline
        finally:
            tracemalloc.stop()
        assert (digest, n) == (h.hexdigest(), total)
        assert peak < 8 * MiB, f"reading back peaked at {peak / MiB:.1f} MiB"
    finally:
        await store.delete("huge.bin")
        await store.close()


# --------------------------------------------------------------------------- local store only


@pytest.fixture
def local(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", public_url=PUBLIC_URL, secret_key=SECRET)


def _url_with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


def _signed(key: str, method: str, expires: int) -> str:
    signature = sign_presigned(method, key, expires, SECRET)
    return (
        f"{PUBLIC_URL}/api/storage/objects/{quote(key, safe='/')}"
        f"?expires={expires}&method={method}&signature={signature}"
    )


async def test_local_presigned_endpoint_refuses_bad_urls(local: LocalObjectStore) -> None:
    await local.put("doc.txt", b"0123456789")
    url = await local.presigned_get_url("doc.txt", timedelta(minutes=1))
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    tampered = ("0" if sig[0] != "0" else "1") + sig[1:]
    future = int(time.time()) + 3600

    async with http_client(local) as client:
        assert (await client.get(url)).content == b"0123456789"

        r = await client.get(_url_with(url, signature=tampered))
        assert r.status_code == 403 and "signature" in r.json()["detail"]

        r = await client.get(_signed("doc.txt", "GET", int(time.time()) - 5))
        assert r.status_code == 403 and "expired" in r.json()["detail"]

        r = await client.get(_url_with(url, expires=str(future)))  # extended expiry
        assert r.status_code == 403

        r = await client.get(url.replace("doc.txt", "other.txt"))  # another key
        assert r.status_code == 403

        r = await client.get(url.split("?")[0])
        assert r.status_code == 403 and "missing" in r.json()["detail"]

        r = await client.put(url, content=b"overwrite")  # a GET URL does not allow PUT
        assert r.status_code == 403
        put_url = await local.presigned_put_url("doc.txt", timedelta(minutes=1))
        assert (await client.get(put_url)).status_code == 403  # nor the other way round

        r = await client.get(_signed("nope.txt", "GET", future))
        assert r.status_code == 404 and "not found" in r.json()["detail"]

        r = await client.get(_signed("a//b", "GET", future))
        assert r.status_code == 400

        r = await client.get(_signed(".tmp/x", "GET", future))  # the temp area is off limits
        assert r.status_code == 400

        # One byte range.
        r = await client.get(url, headers={"Range": "bytes=2-5"})
        assert r.status_code == 206 and r.content == b"2345"
        assert r.headers["content-range"] == "bytes 2-5/10"
        r = await client.get(url, headers={"Range": "bytes=-3"})
        assert r.status_code == 206 and r.content == b"789"
        r = await client.get(url, headers={"Range": "bytes=7-"})
        assert r.content == b"789"
        r = await client.get(url, headers={"Range": "bytes=10-"})
        assert r.status_code == 416

        # A streamed PUT (no Content-Length), and one whose body is shorter than announced.
        put_url = await local.presigned_put_url("streamed.bin", timedelta(minutes=1))
        body = os.urandom(3 * MiB)
        r = await client.put(put_url, content=stream(body))
        assert r.status_code == 200 and r.json() == {"key": "streamed.bin", "size": len(body)}
        assert await local.read("streamed.bin") == body
    assert await leftovers(local) == []


def test_verify_presigned() -> None:
    now = 1_700_000_000.0
    expires = int(now) + 60
    sig = sign_presigned("GET", "a/b", expires, SECRET)
    assert verify_presigned("GET", "a/b", expires, sig, SECRET, now=now)
    assert verify_presigned("GET", "a/b", str(expires), sig, SECRET, now=now)
    assert not verify_presigned("PUT", "a/b", expires, sig, SECRET, now=now)
    assert not verify_presigned("GET", "a/c", expires, sig, SECRET, now=now)
    assert not verify_presigned("GET", "a/b", expires + 1, sig, SECRET, now=now)
    assert not verify_presigned("GET", "a/b", expires, sig, "another secret", now=now)
    assert not verify_presigned("GET", "a/b", expires, sig, SECRET, now=expires + 1)
    assert not verify_presigned("GET", "a/b", expires, "zz\u00e9", SECRET, now=now)
    assert not verify_presigned("GET", "a/b", "soon", sig, SECRET, now=now)


async def test_local_layout_and_reserved_names(local: LocalObjectStore) -> None:
    await local.put("a/b", b"1")
    assert (local.root / "a" / "b").read_bytes() == b"1"
    with pytest.raises(InvalidKey):
        await local.put(f"{TMP_DIR}/x", b"2")
    with pytest.raises(StorageError):  # "a/b" is an object, so it cannot be a directory
        await local.put("a/b/c", b"3")
    with pytest.raises(StorageError):  # "a" holds objects, so it cannot be one
        await local.put("a", stream(b"4"))
    assert await leftovers(local) == []
    await local.delete("a/b")
    assert not (local.root / "a").exists()  # emptied directories are pruned
    await local.put("a", b"now it can")
    assert await local.read("a") == b"now it can"


# --------------------------------------------------------------------------- S3 only


async def test_s3_creates_its_bucket_once_even_when_racing(moto_server: str) -> None:
    first = _new_s3(moto_server)
    second = S3ObjectStore(
        first.bucket,
        endpoint=moto_server,
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
    )
    try:
        await asyncio.gather(first.ping(), second.ping(), first.put("k", b"v"))
        assert await second.read("k") == b"v"
    finally:
        await first.close()
        await second.close()


async def test_s3_unreachable_endpoint_is_a_storage_error() -> None:
    s = S3ObjectStore(
        "nowhere", endpoint=f"http://127.0.0.1:{free_port()}", access_key="a", secret_key="b"
    )
    s._http.connection_pool_kw["retries"] = 0
    try:
        with pytest.raises(StorageError):
            await s.ping()
    finally:
        await s.close()


def test_create_store_picks_the_implementation(tmp_path: Path) -> None:
    local_store = create_store(Settings(data_dir=tmp_path, secret_key=SECRET))
    assert isinstance(local_store, LocalObjectStore)
    assert local_store.root == (tmp_path / "objects").absolute()

    s3 = create_store(
        Settings(
            storage_url="s3://results",
            s3_endpoint="http://minio:9000",
            s3_access_key="ak",
            s3_secret_key="sk",
            s3_region="eu-west-1",
        )
    )
    assert isinstance(s3, S3ObjectStore)
    assert (s3.bucket, s3.endpoint, s3.secure, s3.region) == (
        "results",
        "minio:9000",
        False,
        "eu-west-1",
    )
    tls = S3ObjectStore.from_settings(
        Settings(storage_url="s3://results/", s3_endpoint="https://s3.example.com")
    )
    assert (tls.endpoint, tls.secure) == ("s3.example.com", True)
    for url in ("s3://", "s3://bucket/prefix"):
        with pytest.raises(ValueError):
            S3ObjectStore.from_settings(Settings(storage_url=url, s3_endpoint="http://m:9000"))
    with pytest.raises(ValueError):
        S3ObjectStore("b", endpoint="ftp://host", access_key=None, secret_key=None)
