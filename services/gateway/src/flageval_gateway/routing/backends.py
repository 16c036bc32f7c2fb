"""Where a routed request goes: a service app in this process, or a service over HTTP.

Both receive the request with the gateway's headers already rewritten (client-supplied
identity dropped, the signed one added, correlation id set).
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flageval_platform.errors import BadGateway, GatewayTimeout, ServiceUnavailable

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
READINESS_TIMEOUT_SECONDS = 2.0

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set again by the gateway's own server and middleware; forwarding them would duplicate them.
_RESPONSE_HEADERS_SET_BY_GATEWAY = frozenset({b"date", b"server", b"x-correlation-id"})


# The standard ASGI keys of an HTTP scope; the gateway's own routing state stays behind.
_ASGI_SCOPE_KEYS = (
    "type",
    "asgi",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "root_path",
    "query_string",
    "headers",
    "client",
    "server",
    "extensions",
)


class Backend(abc.ABC):
    """One internal service as seen from the gateway."""

    @abc.abstractmethod
    async def forward(self, scope: Scope, receive: Receive, send: Send, *, service: str) -> None:
        """Answer the request described by ``scope`` (headers already rewritten)."""

    @abc.abstractmethod
    async def readiness(self) -> str:
        """``"ok"`` when the service can serve, else a short reason."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def openapi(self) -> dict[str, Any] | None:
        """The service's OpenAPI document, or ``None`` when it cannot be had right now."""
        return None


class InProcessBackend(Backend):
    """A service app in this process: the request's ASGI scope goes straight to its app, and
    the body streams through ``receive`` (nothing is copied or re-encoded)."""

    def __init__(self, app: ASGIApp, readiness: Callable[[], Awaitable[dict[str, str]]]) -> None:
        self.app = app
        self._readiness = readiness

    async def forward(self, scope: Scope, receive: Receive, send: Send, *, service: str) -> None:
        inner = {key: scope[key] for key in _ASGI_SCOPE_KEYS if key in scope}
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(inner, receive, tracking_send)
        except Exception:
            if not started:
                raise
            # The service's own error handler already answered 500 and logged the error.
            log.warning("in-process service failed after answering", extra={"target": service})

    async def openapi(self) -> dict[str, Any] | None:
        build = getattr(self.app, "openapi", None)
        return build() if callable(build) else None

    async def readiness(self) -> str:
        checks = await self._readiness()
        failed = {k: v for k, v in checks.items() if v != "ok"}
        return "ok" if not failed else "; ".join(f"{k}: {v}" for k, v in failed.items())


class RemoteBackend(Backend):
    """A service over HTTP: a streaming reverse proxy on one shared connection pool.

    The request body streams from the client to the service and the response streams back;
    neither is held in memory. ``timeout_seconds`` (connect, read, write and pool wait each)
    defaults to ``settings.proxy_timeout_seconds`` once the gateway app is built, and
    ``metrics_token`` (sent to the service's ``/readyz`` so that it says what is failing) to
    ``settings.metrics_token``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float | None = None,
        max_connections: int = 512,
        metrics_token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.metrics_token = metrics_token
        self.max_connections = max_connections
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_seconds or DEFAULT_TIMEOUT_SECONDS),
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=min(128, self.max_connections),
                ),
                follow_redirects=False,
                trust_env=False,  # internal traffic never goes through an HTTP proxy
            )
        return self._client

    def _url(self, scope: Scope) -> str:
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    async def openapi(self) -> dict[str, Any] | None:
        try:
            reply = await self.client.get(f"{self.base_url}/openapi.json", timeout=2.0)
            return reply.json() if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    async def forward(self, scope: Scope, receive: Receive, send: Send, *, service: str) -> None:
        headers, has_body = _request_headers(scope)
        request = self.client.build_request(
            scope["method"],
            self._url(scope),
            headers=headers,
            content=_request_body(receive) if has_body else None,
        )
        try:
            response = await self.client.send(request, stream=True)
        except ClientDisconnect:
            log.info("client disconnected during upload", extra={"target": service})
            return
        except httpx.ConnectError:
            raise ServiceUnavailable(
                f"The {service} service is unavailable, try again shortly"
            ) from None
        except httpx.TimeoutException:
            raise GatewayTimeout(f"The {service} service did not answer in time") from None
        except httpx.TransportError as exc:
            log.warning(
                "proxy transport error", extra={"target": service, "error": type(exc).__name__}
            )
            raise BadGateway(f"The {service} service sent no valid response") from None
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response.headers.raw),
                }
            )
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.TransportError as exc:
            # Too late for an error status: abort so the client sees a truncated response
            # rather than a complete-looking one.
            log.warning(
                "proxy stream broken", extra={"target": service, "error": type(exc).__name__}
            )
            raise
        finally:
            await response.aclose()

    async def readiness(self) -> str:
        headers = {"Authorization": f"Bearer {self.metrics_token}"} if self.metrics_token else {}
        try:
            response = await self.client.get(
                f"{self.base_url}/readyz", headers=headers, timeout=READINESS_TIMEOUT_SECONDS
            )
        except httpx.HTTPError as exc:
            return f"unreachable: {type(exc).__name__}"
        if response.status_code == 200:
            return "ok"
        try:
            checks = response.json().get("checks", {})
            failed = "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
        except (ValueError, AttributeError):
            failed = ""
        return failed or f"not ready (HTTP {response.status_code})"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    """Header names listed in ``Connection``: hop-by-hop for this message too."""
    names: set[bytes] = set()
    for key, value in headers:
        if key.lower() == b"connection":
            names.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return names


def _request_headers(scope: Scope) -> tuple[list[tuple[bytes, bytes]], bool]:
    raw: list[tuple[bytes, bytes]] = list(scope["headers"])
    # ``Expect: 100-continue`` was answered by the gateway's own server already.
    dropped = HOP_BY_HOP | _connection_tokens(raw) | {b"host", b"expect"}
    headers: list[tuple[bytes, bytes]] = []
    host = b""
    forwarded_for = b""
    has_body = False
    for key, value in raw:
        name = key.lower()
        if name == b"host":
            host = value
        elif name == b"x-forwarded-for":
            forwarded_for = value
            continue
        elif name == b"content-length":
            has_body = value.strip() not in (b"", b"0")
        elif name == b"transfer-encoding":
            has_body = True
        if name not in dropped:
            headers.append((name, value))
    client = scope.get("client")
    if client:
        ip = client[0].encode("latin-1")
        forwarded_for = forwarded_for + b", " + ip if forwarded_for else ip
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    if host:
        headers.append((b"x-forwarded-host", host))
    return headers, has_body


def _response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    dropped = HOP_BY_HOP | _connection_tokens(raw) | _RESPONSE_HEADERS_SET_BY_GATEWAY
    return [(k.lower(), v) for k, v in raw if k.lower() not in dropped]


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.request":
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def close_all(backends: dict[str, Backend]) -> None:
    await asyncio.gather(*(b.aclose() for b in backends.values()), return_exceptions=True)
