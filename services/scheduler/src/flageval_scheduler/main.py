"""App factory and consumers of the scheduler service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app

from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.models import messaging, metadata

definition = ServiceDefinition(
    name="scheduler",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The scheduler service as its own process (mesh mode)."""
    ctx = ServiceContext.standalone_process(definition, settings or ServiceSettings())
    return build_app(ctx)
