"""Calling another service synchronously (eval-api asks the scheduler to charge a quota).

Events are the default way services talk; a few answers must be immediate (a quota check the
user waits for). :class:`Peers` gives an ``httpx.AsyncClient`` per service: over ASGI to the
app in this process when the launcher registered one (standalone, tests), else over HTTP to
``settings.service_urls[name]`` (mesh). The caller's identity travels signed, exactly as the
gateway forwards it, so the called service authorises the call the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from starlette.types import ASGIApp

from flageval_platform.errors import PlatformError, ServiceUnavailable
from flageval_platform.identity import IDENTITY_HEADER, Identity, sign_identity
from flageval_platform.logging import CORRELATION_HEADER, get_correlation_id


class PeerError(PlatformError):
    """The called service answered with an error; its status, detail and code pass through."""

    def __init__(self, status_code: int, detail: Any, code: str | None = None) -> None:
        message = detail if isinstance(detail, str) else "the called service refused the request"
        super().__init__(message, code=code)
        self.status_code = status_code
        self._detail = detail

    @property
    def detail(self) -> Any:
        return self._detail


class Peers:
    """Clients of the other services, created on first use and closed with :meth:`aclose`."""

    def __init__(
        self, secret_key: str, urls: Mapping[str, str], *, timeout_seconds: float = 10.0
    ) -> None:
        self.secret_key = secret_key
        self.urls = dict(urls)
        self.apps: dict[str, ASGIApp] = {}
        self.timeout_seconds = timeout_seconds
        self._clients: dict[str, httpx.AsyncClient] = {}

    def register_app(self, name: str, app: ASGIApp) -> None:
        """Serve calls to ``name`` by ``app`` in this process."""
        self.apps[name] = app
        self._clients.pop(name, None)

    def client(self, name: str) -> httpx.AsyncClient:
        if name not in self._clients:
            if name in self.apps:
                transport = httpx.ASGITransport(app=self.apps[name])
                self._clients[name] = httpx.AsyncClient(
                    transport=transport, base_url=f"http://{name}", timeout=self.timeout_seconds
                )
            elif name in self.urls:
                self._clients[name] = httpx.AsyncClient(
                    base_url=self.urls[name], timeout=self.timeout_seconds
                )
            else:
                raise ServiceUnavailable(f"The {name} service is not reachable from here.")
        return self._clients[name]

    async def call(
        self,
        name: str,
        method: str,
        path: str,
        *,
        identity: Identity,
        json: Any = None,
    ) -> Any:
        """``method path`` on service ``name`` as ``identity``; the JSON reply, or
        :class:`PeerError` with the service's status and detail (a 503 when unreachable)."""
        headers = {IDENTITY_HEADER: sign_identity(identity, self.secret_key)}
        correlation_id = get_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id
        try:
            response = await self.client(name).request(method, path, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"The {name} service did not answer ({type(exc).__name__}); try again shortly."
            ) from exc
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            code = body.get("code") if isinstance(body, dict) else None
            if response.status_code >= 500:
                raise ServiceUnavailable(f"The {name} service failed; try again shortly.")
            raise PeerError(
                response.status_code,
                detail or response.reason_phrase,
                code if isinstance(code, str) else None,
            )
        return body

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
