"""One OpenAPI document for the public API: the gateway's own paths plus, from each routed
service, the paths the route table actually sends to it (internal endpoints stay out).

Every error reply is documented as the shared ``ErrorResponse``; on top of what each service
documents, the gateway adds the 401/403 its route table answers before a request is routed.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

from flageval_gateway.routing.backends import Backend
from flageval_gateway.routing.table import Access, resolve
from flageval_platform.openapi import document_errors

CACHE_SECONDS = 30.0


def access_errors(path: str, _method: str, operation: dict[str, Any]) -> set[int]:
    """401/403 the gateway answers for ``path`` before any service sees the request."""
    rule = resolve(path)
    if rule is not None:
        access = rule.access
    elif path.startswith("/api/admin/"):
        access = Access.ADMIN
    elif operation.get("security"):
        access = Access.AUTHENTICATED
    else:
        access = Access.PUBLIC
    if access is Access.PUBLIC:
        return set()
    if access is Access.AUTHENTICATED:
        return {401}
    return {401, 403}


class PublicOpenAPI:
    """Builds the merged document; a service that does not answer is left out until it does."""

    def __init__(self, own: Callable[[], dict[str, Any]], backends: Mapping[str, Backend]) -> None:
        self.own = own
        self.backends = backends
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def document(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached and now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        merged = copy.deepcopy(self.own())
        paths = merged.setdefault("paths", {})
        schemas = merged.setdefault("components", {}).setdefault("schemas", {})
        complete = True
        for name, backend in self.backends.items():
            doc = await backend.openapi()
            if doc is None:
                complete = False
                continue
            for path, item in doc.get("paths", {}).items():
                rule = resolve(path)
                if rule is not None and rule.service == name and path not in paths:
                    paths[path] = copy.deepcopy(item)
            for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(schema_name, schema)
        document_errors(merged, extra=access_errors)
        if complete:  # only cache a whole document
            self._cached = (now, merged)
        return merged
