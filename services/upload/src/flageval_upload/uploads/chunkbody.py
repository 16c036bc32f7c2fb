"""The body of a chunk upload, streamed: ASGI messages → multipart parser → the ``file`` bytes.

``await request.form()`` would spool each part to a temporary file before the endpoint sees it;
here every piece of the ``file`` field is handed on as soon as it arrives, so a chunk goes
straight into the object store and memory stays at a few network buffers per request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from flageval_platform.errors import BadRequest, Unprocessable

#: How much of an unwanted body is still read after an early answer, so that the client (which
#: sends the whole body before it reads the reply) sees the reply instead of a reset connection.
DRAIN_LIMIT = 64 * 1024 * 1024


class RequestBody:
    """The request body as it arrives; remembers whether it has been read to the end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.finished = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.finished:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.finished = True
                raise ClientDisconnect()
            body = message.get("body", b"")
            if not message.get("more_body", False):
                self.finished = True
            if body:
                yield body

    async def drain(self, limit: int = DRAIN_LIMIT) -> None:
        """Read and drop what is left of the body (up to ``limit`` bytes)."""
        try:
            async for data in self.chunks():
                limit -= len(data)
                if limit < 0:
                    return
        except ClientDisconnect:
            return


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/form-data`` body; 422 for any other body."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Unprocessable(
            "A chunk must be sent as multipart/form-data with the bytes in the field 'file'."
        )
    return boundary


class _FieldCollector:
    """Multipart parser callbacks that keep the data of one field, part by part."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.pending: list[bytes] = []
        self.seen = False
        self.ended = False
        self._in_field = False
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        # Only the first part of that name counts; a repeated field is ignored.
        self._in_field = name == self.field and not self.seen
        self.seen = self.seen or self._in_field

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_field:
            self.pending.append(data[start:end])

    def on_part_end(self) -> None:
        self._in_field = False
        self._headers = {}

    def on_end(self) -> None:
        self.ended = True

    def take(self) -> bytes:
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending.clear()
        return data


async def multipart_field(
    body: AsyncIterator[bytes], boundary: bytes, field: str = "file"
) -> AsyncIterator[bytes]:
    """The bytes of one field of a multipart body, as they arrive; other fields are skipped."""
    collector = _FieldCollector(field)
    parser = MultipartParser(
        boundary,
        {
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
    )
    async for data in body:
        try:
            parser.write(data)
        except MultipartParseError as exc:
            raise BadRequest(f"The multipart body of the chunk is malformed: {exc}") from None
        if collector.pending:
            yield collector.take()
        if collector.ended:
            break
    if not collector.seen:
        raise Unprocessable(f"The chunk upload has no multipart field {field!r}.")
    if not collector.ended:
        raise BadRequest("The chunk upload ended before its multipart body was complete.")


async def bounded(
    data: AsyncIterator[bytes], *, low: int, high: int, what: str
) -> AsyncIterator[bytes]:
    """Pass ``data`` on, failing as soon as it is over ``high`` bytes or ends under ``low``.

    The failure is raised inside the stream the store is reading, so the store drops the
    partial object: a chunk of the wrong size is never visible.
    """
    total = 0
    async for piece in data:
        total += len(piece)
        if total > high:
            raise Unprocessable(f"{what} is larger than planned: {_expected(low, high)}.")
        yield piece
    if total < low:
        raise Unprocessable(f"{what} has {total} bytes; {_expected(low, high)}.")


def _expected(low: int, high: int) -> str:
    if low == high:
        return f"the plan expects exactly {low} bytes"
    return f"the plan expects {low} to {high} bytes"
