"""The error replies in every service's OpenAPI document: one ``ErrorResponse`` schema.

:func:`document_errors` points every documented error response at that schema (FastAPI's own
``HTTPValidationError`` included) and adds the errors an operation can meet whatever its
endpoint does: 422 when it takes parameters or a body, 404 when its path names a resource,
409 when it changes something, 401 when it needs a bearer token. The gateway adds 401/403 of
its route table on top (``flageval_gateway.routing.openapi``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from flageval_platform.errors import STATUS_CODES

ERROR_SCHEMA = "ErrorResponse"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}

ERROR_RESPONSE_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "description": "The body of every 4xx/5xx reply.",
    "required": ["detail", "code"],
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "What went wrong, for a person: a message; or, for invalid input, "
            "a list of problems (request validation: {type, loc, msg}); or an object "
            "{code, message, ...} with the facts a client needs (e.g. resets_at).",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    "additionalProperties": True,
                },
            ],
        },
        "code": {
            "title": "Code",
            "type": "string",
            "description": "Stable snake_case code for programs: the error's own (e.g. "
            "quota_exhausted) or the status's ("
            + ", ".join(f"{s} {c}" for s, c in sorted(STATUS_CODES.items()) if s < 500)
            + ", 5xx internal_error, bad_gateway, service_unavailable, gateway_timeout).",
        },
    },
    "additionalProperties": True,
}

_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})
_WRITES = frozenset({"put", "post", "delete", "patch"})
_DESCRIPTIONS = {
    401: "Not authenticated: no bearer token, or one that is invalid or expired",
    403: "Not allowed for this account",
    404: "Not found",
    409: "Conflicts with the current state",
    422: "Invalid input",
    429: "Too many requests",
}

#: ``extra(path, method, operation)`` → more error statuses an operation can answer.
ExtraErrors = Callable[[str, str, dict[str, Any]], Iterable[int]]


def _standard_errors(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = set()
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(422)
    if "{" in path:
        statuses.add(404)
    if method in _WRITES:
        statuses.add(409)
    if operation.get("security"):
        statuses.add(401)
    return statuses


def document_errors(doc: dict[str, Any], *, extra: ExtraErrors | None = None) -> dict[str, Any]:
    """Make every error response of ``doc`` an ``ErrorResponse`` (in place; idempotent)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = ERROR_RESPONSE_SCHEMA
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            statuses = _standard_errors(path, method, operation)
            if extra is not None:
                statuses.update(extra(path, method, operation))
            for status in statuses:
                responses.setdefault(str(status), {})
            for status, response in responses.items():
                if not (status.isdigit() and int(status) >= 400) and status != "default":
                    continue
                if status.isdigit() and not response.get("description"):
                    code = int(status)
                    response["description"] = _DESCRIPTIONS.get(code) or HTTPStatus(code).phrase
                response["content"] = {"application/json": {"schema": dict(ERROR_REF)}}
    # FastAPI's own 422 schemas, now referenced by no operation.
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas:
            schema = schemas.pop(unused)
            if f'"#/components/schemas/{unused}"' in json.dumps(doc):
                schemas[unused] = schema  # still used (a service's own model of that name)
    return doc


def install_error_documentation(app: FastAPI, *, extra: ExtraErrors | None = None) -> None:
    """Make ``app.openapi()`` document its errors with :func:`document_errors`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # FastAPI caches the generated document in app.openapi_schema; amend that one.
            document_errors(generate(), extra=extra)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
