"""App factory and consumers of the eval-api service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app

from flageval_eval_api.config import ServiceSettings
from flageval_eval_api.models import messaging, metadata

definition = ServiceDefinition(
    name="eval-api",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The eval-api service as its own process (mesh mode)."""
    ctx = ServiceContext.standalone_process(definition, settings or ServiceSettings())
    return build_app(ctx)
