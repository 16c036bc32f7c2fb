"""One error hierarchy for what a user or client can cause; mapped to HTTP in one place.

Every error reply of every service has one shape (README "Errors")::

    {"detail": <message | list of problems | {"code", "message", ...}>, "code": "<snake_case>"}

``detail`` is what a person (or the web console) reads; ``code`` is stable for programs: the
error's own code when it has one, else one derived from the HTTP status.
"""

from __future__ import annotations

from typing import Any

#: The top-level ``code`` of an error reply whose error names no code of its own.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def code_for_status(status_code: int) -> str:
    """The stable code of an error reply with ``status_code`` and no code of its own."""
    return STATUS_CODES.get(status_code) or (
        "client_error" if status_code < 500 else "server_error"
    )


def error_body(detail: Any, status_code: int, code: str | None = None) -> dict[str, Any]:
    """The JSON body of an error reply: ``{"detail": detail, "code": code}``."""
    return {"detail": detail, "code": code or code_for_status(status_code)}


class PlatformError(Exception):
    """An error with a message a person understands and the HTTP status it maps to."""

    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extra = extra

    @property
    def detail(self) -> Any:
        if self.code is None and not self.extra:
            return self.message
        return {"code": self.code, "message": self.message, **self.extra}

    def body(self) -> dict[str, Any]:
        """The reply's JSON body (see :func:`error_body`)."""
        return error_body(self.detail, self.status_code, self.code)


class BadRequest(PlatformError):
    status_code = 400


class Unauthorized(PlatformError):
    status_code = 401


class Forbidden(PlatformError):
    status_code = 403


class NotFound(PlatformError):
    status_code = 404


class Conflict(PlatformError):
    status_code = 409


class Unprocessable(PlatformError):
    status_code = 422


class TooManyRequests(PlatformError):
    status_code = 429


class BadGateway(PlatformError):
    status_code = 502


class ServiceUnavailable(PlatformError):
    status_code = 503


class GatewayTimeout(PlatformError):
    status_code = 504
