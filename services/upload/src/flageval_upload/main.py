"""App factory and consumers of the upload service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from flageval_platform.service import ServiceContext, ServiceDefinition, build_app

from flageval_upload.config import ServiceSettings
from flageval_upload.models import messaging, metadata

definition = ServiceDefinition(
    name="upload",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The upload service as its own process (mesh mode)."""
    ctx = ServiceContext.standalone_process(definition, settings or ServiceSettings())
    return build_app(ctx)
