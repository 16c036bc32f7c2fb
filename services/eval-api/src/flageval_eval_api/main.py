"""App factory and consumers of the eval-api service."""

from __future__ import annotations

from pathlib import Path

from flageval_eval_api.api import catalog, evaluations
from flageval_eval_api.config import ServiceSettings
from flageval_eval_api.models import messaging, metadata
from flageval_platform.service import ServiceDefinition, app_factory

definition = ServiceDefinition(
    name="eval-api",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [catalog.router(ctx), evaluations.router(ctx)],
)

create_app = app_factory(definition, ServiceSettings)
