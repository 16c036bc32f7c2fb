"""Dispatch of routed requests: check access, rewrite the trusted headers, hand to a backend.

Each rule of the route table becomes one Starlette route placed after the gateway's own
endpoints, so routed requests still pass through the correlation-id/metrics middleware and the
error mapping. A final catch-all answers 404 for anything else under ``/api/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path
from starlette.types import Receive, Scope, Send

from flageval_contracts.enums import UserStatus
from flageval_gateway.accounts.bearer import (
    ADMIN_ONLY,
    NOT_AUTHENTICATED,
    bearer_token,
    identity_of,
    user_from_token,
)
from flageval_gateway.errors import InvalidToken
from flageval_gateway.models import User
from flageval_gateway.routing.backends import Backend
from flageval_gateway.routing.table import ROUTES, Access, RouteRule
from flageval_platform.errors import Forbidden, NotFound, ServiceUnavailable, Unauthorized
from flageval_platform.identity import IDENTITY_HEADER, sign_identity
from flageval_platform.logging import CORRELATION_HEADER, get_correlation_id, new_correlation_id
from flageval_platform.service import ServiceContext

NOT_FOUND = "Not found"

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_IDENTITY = IDENTITY_HEADER.lower().encode()
_CORRELATION = CORRELATION_HEADER.lower().encode()


def approval_required_message(user: User) -> str:
    prefix = "Your account must be approved before you can do this"
    if user.status == UserStatus.REGISTERED.value:
        return (
            f"{prefix}: fill in your profile (real name and organization) and an administrator "
            "will review it."
        )
    if user.status == UserStatus.PENDING_REVIEW.value:
        return f"{prefix}: your profile is waiting for an administrator's review."
    reason = f" ({user.review_reason})" if user.review_reason else ""
    return f"{prefix}: it was rejected{reason}. Update your profile to ask for another review."


class Dispatcher:
    def __init__(self, ctx: ServiceContext, backends: Mapping[str, Backend]) -> None:
        self.ctx = ctx
        self.backends = backends

    async def _caller(self, access: Access, authorization: str | None) -> User | None:
        token = bearer_token(authorization)
        if access is Access.PUBLIC:
            # A stale token must not break public pages: the caller is then anonymous.
            if token is None:
                return None
            try:
                return await user_from_token(
                    db=self.ctx.db, secret=self.ctx.secret_key, token=token
                )
            except InvalidToken:
                return None
        if token is None:
            raise Unauthorized(NOT_AUTHENTICATED)
        user = await user_from_token(db=self.ctx.db, secret=self.ctx.secret_key, token=token)
        if access is Access.APPROVED and not user.is_approved:
            raise Forbidden(approval_required_message(user))
        if access is Access.ADMIN and not user.is_admin:
            raise Forbidden(ADMIN_ONLY)
        return user

    async def dispatch(self, rule: RouteRule, scope: Scope, receive: Receive, send: Send) -> None:
        if any(part in (".", "..") for part in scope["path"].split("/")):
            raise NotFound(NOT_FOUND)
        user = await self._caller(rule.access, Headers(scope=scope).get("authorization"))
        backend = self.backends.get(rule.service)
        if backend is None:
            raise ServiceUnavailable(
                f"The {rule.service} service is not available in this deployment"
            )
        identity = sign_identity(identity_of(user), self.ctx.secret_key) if user else None
        headers: list[tuple[bytes, bytes]] = []
        for key, value in scope["headers"]:
            key = key.lower()
            if key in (_IDENTITY, _CORRELATION):
                continue  # never trust a client's identity; the correlation id is set below
            if key == b"authorization" and user is not None:
                continue  # the signed identity replaces the token; it goes no further
            headers.append((key, value))
        if identity is not None:
            headers.append((_IDENTITY, identity.encode()))
        headers.append((_CORRELATION, (get_correlation_id() or new_correlation_id()).encode()))
        await backend.forward({**scope, "headers": headers}, receive, send, service=rule.service)


class ProxyRoute(BaseRoute):
    """One rule of the route table as a Starlette route (all methods)."""

    def __init__(self, rule: RouteRule, dispatcher: Dispatcher) -> None:
        self.rule = rule
        self.dispatcher = dispatcher
        self.name = f"proxy:{rule.service}"
        # The rule's pattern names the route in metrics and logs (bounded cardinality).
        self.path = self.path_format = rule.pattern

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.rule.matches(get_route_path(scope)):
            return Match.FULL, {"route": self}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> None:  # type: ignore[override]
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.dispatcher.dispatch(self.rule, scope, receive, send)


class ControlCharacterRoute(BaseRoute):
    """``404`` for any path with a control character (``%0a``, ``%00`` …), placed first.

    No resource has such a name, and Starlette's own routes end their patterns with ``$``, which
    also matches before a trailing newline: without this, ``/api/me%0a`` would be ``/api/me``.
    """

    name = "control-character-path"
    path = path_format = "/{path-with-control-character}"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and _CONTROL.search(get_route_path(scope)):
            return Match.FULL, {"route": self}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> None:  # type: ignore[override]
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound(NOT_FOUND)


class ApiNotFoundRoute(BaseRoute):
    """``404 {"detail": "Not found"}`` for unknown paths under ``/api/``.

    It matches only partially, so a known path with the wrong method still gets its 405.
    """

    name = "api-not-found"
    path = path_format = "/api/{unknown}"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = get_route_path(scope)
        if scope["type"] == "http" and (path == "/api" or path.startswith("/api/")):
            return Match.PARTIAL, {"route": self}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> None:  # type: ignore[override]
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotFound(NOT_FOUND)


def proxy_routes(
    ctx: ServiceContext, backends: Mapping[str, Backend], rules: Sequence[RouteRule] = ROUTES
) -> list[BaseRoute]:
    """The routes to append after the gateway's own: one per rule, then the /api 404."""
    dispatcher = Dispatcher(ctx, backends)
    return [*(ProxyRoute(rule, dispatcher) for rule in rules), ApiNotFoundRoute()]
