"""App factory and consumers of the eval-api service."""

from __future__ import annotations

from pathlib import Path

from flageval_eval_api.api import catalog, evaluations
from flageval_eval_api.config import ServiceSettings
from flageval_eval_api.images.service import record_available
from flageval_eval_api.models import messaging, metadata
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """eval-api learns which images deployments may use from the image registry."""
    return [
        Subscription(
            queue="eval-api.image-events",
            bindings=["image.available"],
            handler=ctx.messaging.idempotent(ctx.db, "eval-api.image-events", record_available),
        )
    ]


definition = ServiceDefinition(
    name="eval-api",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [catalog.router(ctx), evaluations.router(ctx)],
    subscriptions=consumers,
)

create_app = app_factory(definition, ServiceSettings)
