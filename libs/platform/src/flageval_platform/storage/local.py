"""Object store on a local directory (standalone mode), with HMAC-signed presigned URLs.

Layout: object ``a/b/c`` is the file ``root/a/b/c``. Writes go to a temporary file under
``root/.tmp`` (same filesystem), are fsynced, then renamed into place with :func:`os.replace`,
so a reader sees either the old object or the complete new one, never a partial one, and a crash
leaves at most an invisible temporary file (stale ones are swept on the next write). The top-level
name ``.tmp`` is therefore reserved: keys under it are refused with :class:`InvalidKey`.

All file I/O runs in worker threads, in chunks; nothing holds a whole object in memory.

Presigned URLs point at ``{public_url}/api/storage/objects/{key}`` and carry ``expires`` (unix
seconds), ``method`` and an HMAC-SHA256 ``signature``; :func:`presigned_router` serves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import re
import stat as stat_mod
import threading
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from flageval_platform.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SizeMismatch,
    StorageError,
    check_key,
    check_prefix,
)

__all__ = [
    "PRESIGN_PATH",
    "LocalObjectStore",
    "presigned_router",
    "sign_presigned",
    "verify_presigned",
]

PRESIGN_PATH = "/api/storage/objects"
TMP_DIR = ".tmp"
MAX_PRESIGN_EXPIRY = timedelta(days=7)
_WRITE_BATCH = 1 << 20  # coalesce small stream chunks into writes of about this size
_COPY_CHUNK = 1 << 20
_STALE_TMP_SECONDS = 24 * 3600
_NOT_FOUND_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _check_range(offset: int, length: int | None, chunk_size: int) -> None:
    if offset < 0:
        raise ValueError("offset must be >= 0")
    if length is not None and length < 0:
        raise ValueError("length must be >= 0")
    if chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")


def _consume_outcome(fut: asyncio.Future[Any]) -> None:
    """Mark a background future's exception as retrieved (nobody may be awaiting it)."""
    if not fut.cancelled():
        fut.exception()


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, UTC)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- presigned URLs


def _signing_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"flageval-storage-presign-v1", hashlib.sha256).digest()


def sign_presigned(method: str, key: str, expires: int, secret_key: str) -> str:
    """Hex HMAC-SHA256 over ``METHOD\\nkey\\nexpires`` with a key derived from ``secret_key``."""
    message = f"{method.upper()}\n{key}\n{int(expires)}".encode()
    return hmac.new(_signing_key(secret_key), message, hashlib.sha256).hexdigest()


def _signature_ok(method: str, key: str, expires: int, signature: str, secret_key: str) -> bool:
    expected = sign_presigned(method, key, expires, secret_key)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def verify_presigned(
    method: str,
    key: str,
    expires: int | str,
    signature: str,
    secret_key: str,
    now: float | None = None,
) -> bool:
    """True when ``signature`` is valid for (method, key, expires) and ``expires`` is not past."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if not isinstance(signature, str) or not _signature_ok(
        method, key, expires_at, signature, secret_key
    ):
        return False
    return (time.time() if now is None else now) <= expires_at


# --------------------------------------------------------------------------- the store


class LocalObjectStore(ObjectStore):
    def __init__(self, root: Path, *, public_url: str, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("a secret key is required to sign URLs")
        self.root = Path(root).absolute()
        self.public_url = public_url.rstrip("/")
        self._secret_key = secret_key
        self._prepared = False

    # -- paths ---------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        check_key(key)
        if key.split("/", 1)[0] == TMP_DIR:
            raise InvalidKey(f"object keys under {TMP_DIR!r} are reserved by the local store")
        return key

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    @property
    def _tmp_root(self) -> Path:
        return self.root / TMP_DIR

    def _prepare_sync(self) -> None:
        """Create the directories; sweep temporary files a crash may have left behind."""
        if self._prepared:
            return
        self._tmp_root.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - _STALE_TMP_SECONDS
        with contextlib.suppress(OSError), os.scandir(self._tmp_root) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
        self._prepared = True

    def _open_temp(self) -> tuple[Path, BinaryIO]:
        self._prepare_sync()
        tmp = self._tmp_root / f"{uuid.uuid4().hex}.part"
        return tmp, open(tmp, "xb")

    def _publish(self, tmp: Path, key: str) -> os.stat_result:
        """Rename a complete, fsynced temporary file to the object's path."""
        dest = self._path(key)
        for attempt in range(5):
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise StorageError(
                    f"cannot write {key!r}: a parent path is an existing object"
                ) from exc
            try:
                os.replace(tmp, dest)
                break
            except IsADirectoryError as exc:
                raise StorageError(
                    f"cannot write {key!r}: other objects exist under {key + '/'!r}"
                ) from exc
            except FileNotFoundError:
                # A concurrent delete pruned the (then empty) parent directory: recreate it.
                if attempt == 4:
                    raise
        _fsync_dir(dest.parent)
        return os.stat(dest)

    @staticmethod
    def _discard(tmp: Path, fh: BinaryIO | None = None) -> None:
        if fh is not None:
            with contextlib.suppress(OSError, ValueError):
                fh.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)

    def _open_object(self, key: str) -> tuple[BinaryIO, int]:
        try:
            fh = open(self._path(key), "rb")
        except _NOT_FOUND_ERRORS as exc:
            raise ObjectNotFound(key) from exc
        try:
            st = os.fstat(fh.fileno())
        except BaseException:
            fh.close()
            raise
        return fh, st.st_size

    async def _open(self, key: str) -> tuple[BinaryIO, int]:
        """Open an object for reading: a consistent snapshot even if it is replaced meanwhile."""
        return await asyncio.to_thread(self._open_object, key)

    @staticmethod
    async def _iter_file(
        fh: BinaryIO, size: int, offset: int, length: int | None, chunk_size: int
    ) -> AsyncIterator[bytes]:
        try:
            remaining = max(0, size - offset)
            if length is not None:
                remaining = min(remaining, length)
            if remaining and offset:
                await asyncio.to_thread(fh.seek, offset)
            while remaining > 0:
                data = await asyncio.to_thread(fh.read, min(chunk_size, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            fh.close()

    # -- ObjectStore ---------------------------------------------------------------------

    async def ping(self) -> None:
        def check() -> None:
            try:
                self._prepare_sync()
            except OSError as exc:
                raise StorageError(f"object directory {self.root} is not usable: {exc}") from exc
            if not os.access(self._tmp_root, os.W_OK):
                raise StorageError(f"object directory {self.root} is not writable")

        await asyncio.to_thread(check)

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, length: int | None = None
    ) -> ObjectInfo:
        self._key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data) if not isinstance(data, bytes) else data
            if length is not None and length != len(payload):
                raise SizeMismatch(f"expected {length} bytes for {key!r}, got {len(payload)}")
            st = await asyncio.to_thread(self._put_bytes, key, payload)
            return ObjectInfo(key, st.st_size, _mtime(st))
        return await self._put_stream(key, data, length)

    def _put_bytes(self, key: str, data: bytes) -> os.stat_result:
        tmp, fh = self._open_temp()
        try:
            with fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            return self._publish(tmp, key)
        except BaseException:
            self._discard(tmp, fh)
            raise

    async def _put_stream(
        self, key: str, data: AsyncIterable[bytes], length: int | None
    ) -> ObjectInfo:
        tmp, fh = await asyncio.to_thread(self._open_temp)
        iterator = aiter(data)
        try:
            total = 0
            batch: list[bytes] = []
            batched = 0
            async for chunk in iterator:
                if not chunk:
                    continue
                batch.append(bytes(chunk) if not isinstance(chunk, bytes) else chunk)
                batched += len(chunk)
                total += len(chunk)
                if batched >= _WRITE_BATCH:
                    await asyncio.to_thread(fh.writelines, batch)
                    batch, batched = [], 0
            if batch:
                await asyncio.to_thread(fh.writelines, batch)
                batch = []
            if length is not None and total != length:
                raise SizeMismatch(f"expected {length} bytes for {key!r}, got {total}")

            def finish() -> os.stat_result:
                with fh:
                    fh.flush()
                    os.fsync(fh.fileno())
                return self._publish(tmp, key)

            st = await asyncio.to_thread(finish)
        except BaseException:
            self._discard(tmp, fh)
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            raise
        return ObjectInfo(key, st.st_size, _mtime(st))

    def get(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        self._key(key)
        _check_range(offset, length, chunk_size)
        return self._get(key, offset, length, chunk_size)

    async def _get(
        self, key: str, offset: int, length: int | None, chunk_size: int
    ) -> AsyncIterator[bytes]:
        fh, size = await self._open(key)
        async for chunk in self._iter_file(fh, size, offset, length, chunk_size):
            yield chunk

    async def stat(self, key: str) -> ObjectInfo:
        self._key(key)

        def do() -> ObjectInfo:
            try:
                st = os.stat(self._path(key))
            except _NOT_FOUND_ERRORS as exc:
                raise ObjectNotFound(key) from exc
            if not stat_mod.S_ISREG(st.st_mode):
                raise ObjectNotFound(key)
            return ObjectInfo(key, st.st_size, _mtime(st))

        return await asyncio.to_thread(do)

    async def delete(self, key: str) -> None:
        self._key(key)

        def do() -> None:
            path = self._path(key)
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                return
            except IsADirectoryError:  # a "directory" of other objects, not an object
                return
            # Prune the directories the object leaves empty (a concurrent put recreates them).
            parent = path.parent
            while parent != self.root and self.root in parent.parents:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

        await asyncio.to_thread(do)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)

        def do() -> list[ObjectInfo]:
            head = prefix.rpartition("/")[0]
            start = self._path(head) if head else self.root
            found: list[ObjectInfo] = []
            stack = [(start, f"{head}/" if head else "")]
            while stack:
                directory, rel = stack.pop()
                try:
                    entries = list(os.scandir(directory))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                for entry in entries:
                    name = rel + entry.name
                    if not rel and entry.name == TMP_DIR:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if name.startswith(prefix) or prefix.startswith(name + "/"):
                            stack.append((Path(entry.path), name + "/"))
                    elif entry.is_file() and name.startswith(prefix):
                        try:
                            st = entry.stat()
                        except FileNotFoundError:
                            continue
                        found.append(ObjectInfo(name, st.st_size, _mtime(st)))
            found.sort(key=lambda info: info.key)
            return found

        return await asyncio.to_thread(do)

    async def compose(self, key: str, sources: Sequence[str]) -> ObjectInfo:
        self._key(key)
        if isinstance(sources, str) or not sources:
            raise ValueError("compose needs a non-empty sequence of source keys")
        for source in sources:
            self._key(source)
        abort = threading.Event()

        def do() -> os.stat_result:
            tmp, out = self._open_temp()
            try:
                with out:
                    for source in sources:
                        src, _ = self._open_object(source)
                        with src:
                            while chunk := src.read(_COPY_CHUNK):
                                if abort.is_set():
                                    raise StorageError(f"compose of {key!r} was cancelled")
                                out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                return self._publish(tmp, key)
            except BaseException:
                self._discard(tmp, out)
                raise

        task = asyncio.ensure_future(asyncio.to_thread(do))
        task.add_done_callback(_consume_outcome)  # it may end after a cancelled caller left
        try:
            st = await asyncio.shield(task)
        except asyncio.CancelledError:
            abort.set()
            raise
        return ObjectInfo(key, st.st_size, _mtime(st))

    def _presign(self, method: str, key: str, expires: timedelta) -> str:
        self._key(key)
        if expires <= timedelta(0) or expires > MAX_PRESIGN_EXPIRY:
            raise ValueError("presigned URL expiry must be between 1 second and 7 days")
        expires_at = int(time.time() + expires.total_seconds())
        query = urlencode(
            {
                "expires": expires_at,
                "method": method,
                "signature": sign_presigned(method, key, expires_at, self._secret_key),
            }
        )
        return f"{self.public_url}{PRESIGN_PATH}/{quote(key, safe='/')}?{query}"

    async def presigned_get_url(self, key: str, expires: timedelta) -> str:
        return self._presign("GET", key, expires)

    async def presigned_put_url(self, key: str, expires: timedelta) -> str:
        return self._presign("PUT", key, expires)


# --------------------------------------------------------------------------- HTTP endpoint

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` for one satisfiable range; None: serve all; "unsatisfiable"."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match:
        return None  # unsupported (e.g. several ranges) or malformed: ignore, serve it all
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end + 1


def presigned_router(store: LocalObjectStore) -> APIRouter:
    """Routes that serve the local store's presigned URLs: GET downloads, PUT uploads.

    ``GET`` streams the object (one ``Range: bytes=a-b`` range honoured, 206); ``PUT`` streams
    the request body into the store. 400: unsafe key; 403: missing, invalid or expired signature
    (or a URL signed for the other method); 404: no such object.
    """
    router = APIRouter()

    def authorize(
        http_method: str,
        key: str,
        expires: str | None,
        method: str | None,
        signature: str | None,
    ) -> None:
        try:
            store._key(key)
        except InvalidKey as exc:
            raise HTTPException(400, str(exc)) from exc
        if not expires or not method or not signature:
            raise HTTPException(
                403, "missing presigned URL parameters (expires, method, signature)"
            )
        if method.upper() != http_method:
            raise HTTPException(403, f"this URL was signed for {method.upper()}, not {http_method}")
        try:
            expires_at = int(expires)
        except ValueError:
            raise HTTPException(403, "invalid presigned URL expiry") from None
        if not _signature_ok(http_method, key, expires_at, signature, store._secret_key):
            raise HTTPException(403, "invalid presigned URL signature")
        if time.time() > expires_at:
            raise HTTPException(403, "presigned URL has expired")

    @router.get(PRESIGN_PATH + "/{key:path}", include_in_schema=False)
    async def download_object(
        key: str,
        request: Request,
        expires: str | None = None,
        method: str | None = None,
        signature: str | None = None,
    ) -> Response:
        authorize("GET", key, expires, method, signature)
        try:
            fh, size = await store._open(key)
        except ObjectNotFound:
            raise HTTPException(404, f"object {key!r} not found") from None
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
        rng = _parse_range(request.headers.get("range"), size)
        if rng == "unsatisfiable":
            fh.close()
            return Response(
                status_code=416,
                headers={**headers, "Content-Range": f"bytes */{size}"},
            )
        if rng is None:
            start, end, status = 0, size, 200
        else:
            assert isinstance(rng, tuple)
            start, end = rng
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)
        body = LocalObjectStore._iter_file(fh, size, start, end - start, 1 << 20)
        return StreamingResponse(
            body, status_code=status, headers=headers, media_type="application/octet-stream"
        )

    @router.put(PRESIGN_PATH + "/{key:path}", include_in_schema=False)
    async def upload_object(
        key: str,
        request: Request,
        expires: str | None = None,
        method: str | None = None,
        signature: str | None = None,
    ) -> dict[str, object]:
        authorize("PUT", key, expires, method, signature)
        declared = request.headers.get("content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            raise HTTPException(400, "invalid Content-Length") from None
        try:
            info = await store.put(key, request.stream(), length=length)
        except ClientDisconnect:
            raise HTTPException(400, "upload interrupted") from None
        except SizeMismatch as exc:
            raise HTTPException(400, str(exc)) from exc
        except StorageError as exc:  # e.g. the key collides with a "directory" of objects
            raise HTTPException(409, str(exc)) from exc
        return {"key": info.key, "size": info.size}

    return router
