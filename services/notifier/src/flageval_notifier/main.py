"""App factory and consumers of the notifier service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app

from flageval_notifier.config import ServiceSettings
from flageval_notifier.models import messaging, metadata

definition = ServiceDefinition(
    name="notifier",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The notifier service as its own process (mesh mode)."""
    ctx = ServiceContext.standalone_process(definition, settings or ServiceSettings())
    return build_app(ctx)
