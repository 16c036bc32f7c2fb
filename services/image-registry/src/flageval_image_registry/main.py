"""App factory and consumers of the image-registry service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import IntegrityError

from flageval_image_registry.api import admin, images
from flageval_image_registry.config import ServiceSettings, registry_prefix
from flageval_image_registry.images import service
from flageval_image_registry.models import messaging, metadata
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


async def seed_presets(ctx: ServiceContext) -> None:
    """Upsert the presets and enqueue their ``image.available`` once (see ``images/presets.py``)."""
    for attempt in range(2):
        try:
            async with ctx.db.transaction() as session:
                await service.seed_presets(session=session, messaging=ctx.messaging)
            return
        except IntegrityError:
            # Another replica seeded at the same moment; one more pass finds its rows.
            if attempt:
                raise


async def start_import_worker(ctx: ServiceContext) -> None:
    worker = service.ImportWorker(
        ctx.db, ctx.messaging, service.RegistryReferenceImporter(registry_prefix(ctx.settings))
    )
    ctx.state["import_worker"] = worker
    await worker.resume()


async def stop_import_worker(ctx: ServiceContext) -> None:
    worker = ctx.state.pop("import_worker", None)
    if worker is not None:
        await worker.close()


definition = ServiceDefinition(
    name="image-registry",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [images.router(ctx), admin.router(ctx)],
    startup=[seed_presets, start_import_worker],
    shutdown=[stop_import_worker],
)

create_app = app_factory(definition, ServiceSettings)
