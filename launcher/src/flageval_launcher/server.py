"""How the launcher serves an app: uvicorn, with a deadline for a request's headers.

uvicorn bounds only an idle kept-alive connection (``timeout_keep_alive``, armed after a
response). A fresh connection that never sends a request, or one that sends half a header
block and stalls, is held open for ever, and enough of them exhaust the server. The protocol
classes here give every request ``FLAGEVAL_REQUEST_HEADER_TIMEOUT_SECONDS`` from the
connection (or the request's first byte, on a kept-alive connection) to its last header line;
then the connection is closed (with a ``408`` when part of a request came). The body has its
own deadline between chunks (:mod:`flageval_platform.request_guard`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from flageval_platform.errors import error_body
from flageval_platform.settings import Settings

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional in uvicorn; h11 then serves
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

_TIMEOUT_BODY = json.dumps(error_body("The request headers did not arrive in time.", 408)).encode()
_TIMEOUT_REPLY = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class _HeaderDeadline:
    """The timer shared by both protocol classes (set ``header_timeout`` on a subclass)."""

    header_timeout: float = 30.0
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    _header_timer: asyncio.TimerHandle | None = None
    _request_begun = False

    def _arm_header_deadline(self, *, begun: bool) -> None:
        self._request_begun = self._request_begun or begun
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        self._request_begun = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request is still being answered: let it finish, then decide.
            self._arm_header_deadline(begun=False)
            return
        if self._request_begun:
            self.transport.write(_TIMEOUT_REPLY)
        self.transport.close()


if HttpToolsProtocol is not None:

    class HttpToolsHeaderDeadline(_HeaderDeadline, HttpToolsProtocol):  # type: ignore[misc]
        """uvicorn's httptools protocol with the header deadline."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_deadline(begun=False)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_deadline(begun=True)

        def on_headers_complete(self) -> None:
            self._disarm_header_deadline()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)


class H11HeaderDeadline(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline(begun=False)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        # h11 stays IDLE on the client's side until a request's headers are complete.
        if self.conn.their_state is h11.IDLE:
            if data:
                self._arm_header_deadline(begun=True)
        else:
            self._disarm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def http_protocol(header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's ``http=`` protocol class (httptools when installed, as uvicorn's "auto")
    with a deadline of ``header_timeout_seconds`` for each request's headers."""
    base: type[_HeaderDeadline] = (
        HttpToolsHeaderDeadline if HttpToolsProtocol is not None else H11HeaderDeadline
    )
    return type(base.__name__, (base,), {"header_timeout": header_timeout_seconds})


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The server configuration for ``app`` on ``settings.host:port`` (JSON logs are the
    platform's own; no access log: the request middleware writes one line per request)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        http=http_protocol(settings.request_header_timeout_seconds),
        **options,
    )


def serve(app: Any, settings: Settings, **options: Any) -> int:
    """Serve ``app`` until stopped (SIGINT/SIGTERM); 0, or 3 when it failed to start."""
    server = uvicorn.Server(uvicorn_config(app, settings, **options))
    server.run()
    return 0 if server.started else 3
