"""Routing of public paths to the internal services that own them."""

from flageval_gateway.routing.backends import Backend, InProcessBackend, RemoteBackend
from flageval_gateway.routing.table import ROUTES, Access, RouteRule, resolve

__all__ = [
    "ROUTES",
    "Access",
    "Backend",
    "InProcessBackend",
    "RemoteBackend",
    "RouteRule",
    "resolve",
]
