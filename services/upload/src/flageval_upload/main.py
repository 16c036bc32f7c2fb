"""App factory and consumers of the upload service."""

from __future__ import annotations

from pathlib import Path

from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory
from flageval_upload.api import bundles, datasets, protocol
from flageval_upload.config import UploadSettings
from flageval_upload.evaluations.service import record_evaluation_event
from flageval_upload.models import messaging, metadata

EVALUATION_EVENTS_QUEUE = "upload.evaluation-events"


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """The upload service keeps a read model of evaluations (owner and domain)."""
    return [
        Subscription(
            queue=EVALUATION_EVENTS_QUEUE,
            bindings=["evaluation.*"],
            handler=ctx.messaging.idempotent(
                ctx.db, EVALUATION_EVENTS_QUEUE, record_evaluation_event
            ),
        )
    ]


definition = ServiceDefinition(
    name="upload",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    # The protocol's fixed paths first: they must win over /api/evaluations/{evaluation_id}/….
    routers=lambda ctx: [protocol.router(ctx), bundles.router(ctx), datasets.router(ctx)],
    subscriptions=consumers,
)

create_app = app_factory(definition, UploadSettings)
