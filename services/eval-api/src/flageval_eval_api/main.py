"""App factory and consumers of the eval-api service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_eval_api.api import catalog, datasets, evaluations, media_datasets, runs
from flageval_eval_api.config import ServiceSettings
from flageval_eval_api.datasets import media as media_datasets_service
from flageval_eval_api.datasets import models as _dataset_models  # noqa: F401  (registers tables)
from flageval_eval_api.images.service import record_available
from flageval_eval_api.models import messaging, metadata
from flageval_eval_api.runs import models as _run_models  # noqa: F401  (registers tables)
from flageval_eval_api.runs import service as run_service
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """Which images deployments may use (image registry), which bundles are checked (upload),
    and what the scheduler reports about runs."""

    async def apply_status(session: AsyncSession, envelope: Envelope) -> None:
        await run_service.apply_status(session, envelope, ctx.messaging)

    async def apply_run_event(session: AsyncSession, envelope: Envelope) -> None:
        if envelope.type == "run.status_changed":
            await apply_status(session, envelope)
        else:
            await run_service.apply_progress(session, envelope)

    return [
        Subscription(
            queue="eval-api.image-events",
            bindings=["image.available"],
            handler=ctx.messaging.idempotent(ctx.db, "eval-api.image-events", record_available),
        ),
        Subscription(
            queue="eval-api.bundle-events",
            bindings=["bundle.ready"],
            handler=ctx.messaging.idempotent(
                ctx.db, "eval-api.bundle-events", run_service.record_bundle
            ),
        ),
        Subscription(
            queue="eval-api.dataset-upload-events",
            bindings=["dataset_upload.ready"],
            handler=ctx.messaging.idempotent(
                ctx.db, "eval-api.dataset-upload-events", media_datasets_service.record_upload
            ),
        ),
        # One queue for both, so a run's reports are applied in the order they were sent.
        Subscription(
            queue="eval-api.run-events",
            bindings=["run.status_changed", "run.progress"],
            handler=ctx.messaging.idempotent(ctx.db, "eval-api.run-events", apply_run_event),
            prefetch=1,
        ),
    ]


definition = ServiceDefinition(
    name="eval-api",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [
        catalog.router(ctx),
        datasets.router(ctx),
        media_datasets.router(ctx),
        evaluations.router(ctx),
        runs.router(ctx),
    ],
    subscriptions=consumers,
)

create_app = app_factory(definition, ServiceSettings)
