"""The object-store interface. Two implementations: S3 (the ``minio`` SDK) and a local directory.

Keys are ``/``-separated relative paths without ``..`` segments; both implementations refuse
anything else with :class:`InvalidKey`. Objects are streamed in and out in chunks: nothing here
holds a whole object in memory.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


class StorageError(Exception):
    """The store could not do what was asked."""


class ObjectNotFound(StorageError):
    pass


class InvalidKey(StorageError, ValueError):
    pass


class SizeMismatch(StorageError, ValueError):
    """A stream did not carry the number of bytes announced with ``length``."""


def check_prefix(prefix: str) -> str:
    """A listing prefix: like a key, except that it may be empty or end inside a segment."""
    if not prefix:
        return prefix
    head, _, last = prefix.rpartition("/")
    if (
        prefix.startswith("/")
        or "\\" in last
        or any(ord(c) < 32 or ord(c) == 127 for c in last)
        or last in (".", "..")
    ):
        raise InvalidKey(f"unsafe object key prefix {prefix!r}")
    if head:
        check_key(head)
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime | None = None


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative object key, else raise :class:`InvalidKey`."""
    if (
        not key
        or len(key) > 1024
        or key.startswith("/")
        or "\\" in key
        or any(ord(c) < 32 or ord(c) == 127 for c in key)
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise InvalidKey(f"unsafe object key {key!r}")
    return key


class ObjectStore(abc.ABC):
    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise when the store cannot be reached."""

    @abc.abstractmethod
    async def put(
        self, key: str, data: bytes | AsyncIterable[bytes], *, length: int | None = None
    ) -> ObjectInfo:
        """Write an object from bytes or a stream of chunks (multipart for large streams).

        The object becomes visible only once fully written: a reader never sees a partial one.
        """

    @abc.abstractmethod
    def get(
        self, key: str, *, offset: int = 0, length: int | None = None, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """Stream an object (or a byte range of it); raises :class:`ObjectNotFound`."""

    async def read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.get(key)])

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo:
        """Size of one object; raises :class:`ObjectNotFound`."""

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except ObjectNotFound:
            return False
        return True

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove an object; removing a missing one is not an error."""

    @abc.abstractmethod
    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key."""

    @abc.abstractmethod
    async def compose(self, key: str, sources: Sequence[str]) -> ObjectInfo:
        """Concatenate ``sources`` in order into ``key`` (server-side where the store can)."""

    @abc.abstractmethod
    async def presigned_get_url(self, key: str, expires: timedelta) -> str:
        """A URL that lets its holder download ``key`` without credentials until it expires."""

    @abc.abstractmethod
    async def presigned_put_url(self, key: str, expires: timedelta) -> str:
        """A URL that lets its holder upload ``key`` (HTTP PUT) until it expires."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
