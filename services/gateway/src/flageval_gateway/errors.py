"""Gateway errors that carry HTTP headers, and the handlers that add those headers.

``PlatformError`` maps to ``{"detail": …, "code": …}`` in one place
(``flageval_platform.service``); the gateway adds what HTTP asks for on top:
``WWW-Authenticate: Bearer`` on every 401 and ``Retry-After`` on a throttled login.
"""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from flageval_platform.errors import TooManyRequests, Unauthorized


class InvalidToken(Unauthorized):
    """A bearer token was sent but is malformed, tampered with, expired or names no user."""


class LoginThrottled(TooManyRequests):
    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, headers={"Retry-After": str(self.retry_after)})


def install_gateway_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Unauthorized)
    async def _unauthorized(_request: Request, exc: Unauthorized) -> JSONResponse:
        challenge = 'Bearer error="invalid_token"' if isinstance(exc, InvalidToken) else "Bearer"
        return JSONResponse(
            exc.body(), status_code=401, headers={**exc.headers, "WWW-Authenticate": challenge}
        )
