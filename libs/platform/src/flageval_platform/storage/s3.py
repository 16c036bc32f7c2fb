"""Object store on S3 / MinIO, built on the (synchronous) ``minio`` SDK.

Every SDK call runs in a worker thread. Streams are never held whole in memory:

* ``put`` of an async iterable bridges the iterator (consumed on the event loop) to a file-like
  object that ``Minio.put_object(length=-1, part_size=16 MiB)`` reads in a dedicated upload
  thread. The bridge buffers at most a few MiB ahead of the uploader, so memory stays at about
  two parts whatever the object size. The multipart upload is completed only after the last
  byte: when the stream fails (or the upload is cancelled) the SDK aborts it and no object
  becomes visible.
* ``get`` reads the HTTP response in chunks and always closes and releases the connection.
* ``compose`` is server-side (``compose_object``) unless a non-last source is under S3's 5 MiB
  minimum part size, in which case it falls back to a streaming copy (get → put).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import threading
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource
from minio.error import MinioException, S3Error
from minio.helpers import MIN_PART_SIZE, check_bucket_name

from flageval_platform.storage.base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    SizeMismatch,
    StorageError,
    check_key,
    check_prefix,
)

if TYPE_CHECKING:
    from flageval_platform.settings import Settings

__all__ = ["PART_SIZE", "S3ObjectStore"]

T = TypeVar("T")

PART_SIZE = 16 * 1024 * 1024
"""Multipart part size for streamed uploads (S3 allows 5 MiB … 5 GiB, at most 10 000 parts)."""
PREFETCH_BYTES = 4 * 1024 * 1024
"""How far the event-loop side may read a stream ahead of the upload thread."""
MAX_PRESIGN_EXPIRY = timedelta(days=7)

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchBucket", "ResourceNotFound"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


def _parse_endpoint(endpoint: str, secure: bool | None) -> tuple[str, bool]:
    """``http(s)://host:port`` or ``host:port`` → (``host:port``, secure)."""
    endpoint = endpoint.strip()
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"S3 endpoint scheme must be http or https, not {parts.scheme!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"S3 endpoint must not have a path: {endpoint!r}")
        host, scheme_secure = parts.netloc, parts.scheme == "https"
    else:
        host, scheme_secure = endpoint.rstrip("/"), True
    if not host:
        raise ValueError(f"S3 endpoint has no host: {endpoint!r}")
    return host, scheme_secure if secure is None else secure


def _http_client() -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=10, read=300),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _translate(exc: Exception, key: str | None) -> Exception:
    if isinstance(exc, S3Error):
        if exc.code in _NOT_FOUND_CODES and key is not None:
            return ObjectNotFound(key)
        return StorageError(f"S3 error {exc.code}: {exc.message}")
    if isinstance(exc, MinioException | urllib3.exceptions.HTTPError | OSError):
        return StorageError(f"S3 request failed: {exc}")
    return exc


def _consume_outcome(fut: asyncio.Future[Any]) -> None:
    """Mark a background future's exception as retrieved (nobody may be awaiting it)."""
    if not fut.cancelled():
        fut.exception()


class _SourceFailed(Exception):
    """Raised inside the upload thread when the stream being uploaded failed or was aborted."""


class _StreamBridge:
    """A blocking file-like reader (upload thread) fed by an async iterator (event loop).

    The event-loop side (:meth:`feed`) waits whenever ``limit`` bytes are buffered and not yet
    taken by the reader, so memory stays bounded. Errors travel both ways: a failing source
    makes :meth:`read` raise (the SDK then aborts the multipart upload), and :meth:`abort`
    (called when the upload fails or is cancelled) makes :meth:`feed` stop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, length: int | None) -> None:
        self._loop = loop
        self._limit = limit
        self._length = length
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._aborted = False
        self.error: BaseException | None = None
        self.total = 0
        self._space = asyncio.Event()

    # -- event-loop side -------------------------------------------------------------------

    async def feed(self, source: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in source:
                if not chunk:
                    continue
                data = chunk if isinstance(chunk, bytes) else bytes(chunk)
                self.total += len(data)
                while True:
                    with self._cond:
                        if self._aborted:
                            return
                        if self._buffered < self._limit:
                            self._chunks.append(data)
                            self._buffered += len(data)
                            self._cond.notify_all()
                            break
                        self._space.clear()
                    await self._space.wait()
            if self._length is not None and self.total != self._length:
                raise SizeMismatch(f"expected {self._length} bytes, got {self.total}")
            with self._cond:
                self._eof = True
                self._cond.notify_all()
        except BaseException as exc:  # includes cancellation: the reader must not wait forever
            with self._cond:
                self.error = exc
                self._cond.notify_all()
            if not isinstance(exc, Exception):
                raise

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
        self._space.set()

    def _wake_feeder(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to wake
            self._loop.call_soon_threadsafe(self._space.set)

    # -- upload-thread side ----------------------------------------------------------------

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        with self._cond:
            while size < 0 or len(out) < size:
                while not self._chunks and not self._eof and not self._failed():
                    self._cond.wait()
                if self._failed():
                    raise _SourceFailed()
                if not self._chunks:
                    break  # end of stream
                chunk = self._chunks.popleft()
                want = len(chunk) if size < 0 else size - len(out)
                if len(chunk) > want:
                    self._chunks.appendleft(chunk[want:])
                    chunk = chunk[:want]
                out += chunk
                self._buffered -= len(chunk)
                self._wake_feeder()
        return bytes(out)

    def _failed(self) -> bool:
        return self._aborted or self.error is not None


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str,
        access_key: str | None,
        secret_key: str | None,
        region: str | None = "us-east-1",
        secure: bool | None = None,
        part_size: int = PART_SIZE,
    ) -> None:
        check_bucket_name(bucket, strict=True)
        if not MIN_PART_SIZE <= part_size <= 5 * 1024**3:
            raise ValueError("part_size must be between 5 MiB and 5 GiB")
        host, is_secure = _parse_endpoint(endpoint, secure)
        self.bucket = bucket
        self.endpoint = host
        self.secure = is_secure
        self.region = region
        self.part_size = part_size
        self._http = _http_client()
        self._client = Minio(
            host,
            access_key=access_key or None,
            secret_key=secret_key or None,
            secure=is_secure,
            region=region or None,
            http_client=self._http,
        )
        # Streamed uploads block a thread until the stream ends, waiting on the event loop;
        # they get threads of their own so they can never starve the default executor that
        # the event-loop side (e.g. a get() feeding this put()) needs to make progress.
        self._uploads = ThreadPoolExecutor(max_workers=32, thread_name_prefix="s3-upload")
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        url = settings.storage_url or ""
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// storage URL: {url!r}")
        bucket, _, rest = url[len("s3://") :].partition("/")
        if rest.strip("/"):
            raise ValueError(
                "key prefixes in FLAGEVAL_STORAGE_URL are not supported: use s3://bucket"
            )
        if not bucket:
            raise ValueError("FLAGEVAL_STORAGE_URL must name a bucket: s3://bucket")
        return cls(
            bucket,
            endpoint=settings.s3_endpoint or "https://s3.amazonaws.com",
            access_key=settings.s3_access_key.get_secret_value()
            if settings.s3_access_key
            else None,
            secret_key=settings.s3_secret_key.get_secret_value()
            if settings.s3_secret_key
            else None,
            region=settings.s3_region,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _ensure_bucket_sync(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if self._bucket_ready:
                return
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Created meanwhile by another process (or another of our replicas).
                    if exc.code not in _BUCKET_EXISTS_CODES or not self._client.bucket_exists(
                        self.bucket
                    ):
                        raise
            self._bucket_ready = True

    async def _call(self, key: str | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an SDK call in a thread (bucket created first), translating its errors."""

        def run() -> T:
            try:
                self._ensure_bucket_sync()
                return fn(*args, **kwargs)
            except Exception as exc:
                translated = _translate(exc, key)
                if translated is exc:
                    raise
                raise translated from exc

        return await asyncio.to_thread(run)

    @staticmethod
    def _modified(result: Any) -> datetime | None:
        headers = getattr(result, "http_headers", None)
        value = headers.get("Last-Modified") if headers is not None else None
        if value:
            with contextlib.suppress(TypeError, ValueError):
                return parsedate_to_datetime(value)
        return datetime.now(UTC)

    # -- ObjectStore -----------------------------------------------------------------------

    async def ping(self) -> None:
        await self._call(None, lambda: None)

    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, length: int | None = None
    ) -> ObjectInfo:
        check_key(key)
        if isinstance(data, bytes | bytearray | memoryview):
            payload = bytes(data)
            if length is not None and length != len(payload):
                raise SizeMismatch(f"expected {length} bytes for {key!r}, got {len(payload)}")
            result = await self._call(
                key,
                self._client.put_object,
                self.bucket,
                key,
                io.BytesIO(payload),
                len(payload),
                part_size=self.part_size,
                num_parallel_uploads=1,
            )
            return ObjectInfo(key, len(payload), self._modified(result))
        return await self._put_stream(key, aiter(data), length)

    async def _put_stream(
        self, key: str, source: AsyncIterator[bytes], length: int | None
    ) -> ObjectInfo:
        loop = asyncio.get_running_loop()
        bridge = _StreamBridge(loop, PREFETCH_BYTES, length)

        def upload() -> Any:
            try:
                self._ensure_bucket_sync()
                # One part in flight at a time: the SDK's parallel mode leaks its worker
                # threads when the stream fails, and prefetching already overlaps reading the
                # source with uploading.
                return self._client.put_object(
                    self.bucket,
                    key,
                    bridge,  # type: ignore[arg-type]
                    -1,
                    part_size=self.part_size,
                    num_parallel_uploads=1,
                )
            except _SourceFailed:
                raise
            except Exception as exc:
                translated = _translate(exc, None)
                if translated is exc:
                    raise
                raise translated from exc

        feeder = asyncio.ensure_future(bridge.feed(source))
        # Keep the thread's own future: when the caller is cancelled, the asyncio future
        # wrapping it is cancelled at once while the thread is still aborting the upload.
        thread = self._uploads.submit(upload)
        uploader = asyncio.wrap_future(thread, loop=loop)
        uploader.add_done_callback(_consume_outcome)  # may outlive a cancelled caller
        try:
            result = await uploader
        except BaseException as exc:
            bridge.abort()
            feeder.cancel()
            with contextlib.suppress(BaseException):
                await feeder
            if not thread.done():  # cancelled: let the SDK abort the multipart upload
                waiter = asyncio.wrap_future(thread, loop=loop)
                waiter.add_done_callback(_consume_outcome)
                with contextlib.suppress(BaseException):
                    await asyncio.wait([waiter], timeout=30)
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]
            if isinstance(exc, _SourceFailed) and bridge.error is not None:
                raise bridge.error from None
            raise
        await feeder
        return ObjectInfo(key, bridge.total, self._modified(result))

    def get(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        check_key(key)
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if length is not None and length < 0:
            raise ValueError("length must be >= 0")
        if chunk_size <= 0:
            raise ValueError("chunk_size must be > 0")
        return self._get(key, offset, length, chunk_size)

    async def _get(
        self, key: str, offset: int, length: int | None, chunk_size: int
    ) -> AsyncIterator[bytes]:
        if length == 0:
            await self.stat(key)  # a missing object is still an error
            return
        try:
            response = await self._call(
                key, self._client.get_object, self.bucket, key, offset=offset, length=length or 0
            )
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, S3Error) and cause.code == "InvalidRange":
                return  # offset at or past the end: nothing to read, like a file
            raise
        try:
            while True:
                try:
                    data = await asyncio.to_thread(response.read, chunk_size)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    raise StorageError(f"reading {key!r} from S3 failed: {exc}") from exc
                if not data:
                    break
                yield data
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> ObjectInfo:
        check_key(key)
        st = await self._call(key, self._client.stat_object, self.bucket, key)
        return ObjectInfo(key, st.size or 0, st.last_modified)

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._call(key, self._client.remove_object, self.bucket, key)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)

        def do() -> list[ObjectInfo]:
            objects = self._client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            return sorted(
                (
                    ObjectInfo(o.object_name, o.size or 0, o.last_modified)
                    for o in objects
                    if not o.is_dir and o.object_name is not None
                ),
                key=lambda info: info.key,
            )

        return await self._call(None, do)

    async def compose(self, key: str, sources: Sequence[str]) -> ObjectInfo:
        check_key(key)
        if isinstance(sources, str) or not sources:
            raise ValueError("compose needs a non-empty sequence of source keys")
        for source in sources:
            check_key(source)
        infos = [await self.stat(source) for source in sources]
        parts = [info for info in infos if info.size > 0]
        total = sum(info.size for info in parts)
        if not parts:
            return await self.put(key, b"")
        if any(info.size < MIN_PART_SIZE for info in parts[:-1]):
            # S3 refuses server-side parts under 5 MiB except the last: copy by streaming.
            return await self.put(key, self._concat(parts), length=total)
        result = await self._call(
            key,
            self._client.compose_object,
            self.bucket,
            key,
            [ComposeSource(self.bucket, info.key) for info in parts],
        )
        return ObjectInfo(key, total, self._modified(result))

    async def _concat(self, parts: Sequence[ObjectInfo]) -> AsyncIterator[bytes]:
        for info in parts:
            async for chunk in self.get(info.key):
                yield chunk

    async def _presign(self, method: str, key: str, expires: timedelta) -> str:
        check_key(key)
        if expires <= timedelta(0) or expires > MAX_PRESIGN_EXPIRY:
            raise ValueError("presigned URL expiry must be between 1 second and 7 days")
        presign = (
            self._client.presigned_get_object
            if method == "GET"
            else self._client.presigned_put_object
        )
        return await self._call(key, presign, self.bucket, key, expires=expires)

    async def presigned_get_url(self, key: str, expires: timedelta) -> str:
        return await self._presign("GET", key, expires)

    async def presigned_put_url(self, key: str, expires: timedelta) -> str:
        return await self._presign("PUT", key, expires)

    async def close(self) -> None:
        self._uploads.shutdown(wait=False)
        self._http.clear()
