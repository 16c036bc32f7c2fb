"""App factory and consumers of the upload service."""

from __future__ import annotations

from pathlib import Path

from flageval_platform.service import ServiceDefinition, app_factory
from flageval_upload.config import ServiceSettings
from flageval_upload.models import messaging, metadata

definition = ServiceDefinition(
    name="upload",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)

create_app = app_factory(definition, ServiceSettings)
