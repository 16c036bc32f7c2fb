"""App factory and consumers of the scheduler service."""

from __future__ import annotations

from pathlib import Path

from flageval_platform.service import ServiceDefinition, app_factory
from flageval_scheduler.api import quota
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.models import messaging, metadata
from flageval_scheduler.quota import models as _quota_models  # noqa: F401  (registers tables)

definition = ServiceDefinition(
    name="scheduler",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [quota.router(ctx)],
)

create_app = app_factory(definition, ServiceSettings)
