"""App factory and consumers of the notifier service."""

from __future__ import annotations

from pathlib import Path

from flageval_notifier.api import notifications
from flageval_notifier.config import ServiceSettings
from flageval_notifier.models import messaging, metadata
from flageval_notifier.notifications.service import record_event
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """The notifier hears the events worth telling a person about (reviews, uploads)."""
    return [
        Subscription(
            queue="notifier.user-events",
            bindings=["user.#"],
            handler=ctx.messaging.idempotent(ctx.db, "notifier.user-events", record_event),
        ),
        Subscription(
            queue="notifier.bundle-events",
            bindings=["bundle.ready"],
            handler=ctx.messaging.idempotent(ctx.db, "notifier.bundle-events", record_event),
        ),
    ]


definition = ServiceDefinition(
    name="notifier",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [notifications.router(ctx)],
    subscriptions=consumers,
)

create_app = app_factory(definition, ServiceSettings)
