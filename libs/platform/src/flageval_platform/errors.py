"""One error hierarchy for what a user or client can cause; mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any


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
