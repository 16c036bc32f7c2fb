"""App factory and consumers of the scheduler service."""

from __future__ import annotations

from pathlib import Path

from flageval_platform.service import ServiceDefinition, app_factory
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.models import messaging, metadata

definition = ServiceDefinition(
    name="scheduler",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)

create_app = app_factory(definition, ServiceSettings)
