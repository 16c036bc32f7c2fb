"""App factory and consumers of the image-registry service."""

from __future__ import annotations

from pathlib import Path

from flageval_image_registry.config import ServiceSettings
from flageval_image_registry.models import messaging, metadata
from flageval_platform.service import ServiceDefinition, app_factory

definition = ServiceDefinition(
    name="image-registry",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)

create_app = app_factory(definition, ServiceSettings)
