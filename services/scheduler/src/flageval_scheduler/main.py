"""App factory, consumers and background engine of the scheduler service."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from flageval_contracts import Envelope
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory
from flageval_platform.settings import specialise
from flageval_scheduler.api import logs, quota, runner
from flageval_scheduler.config import ServiceSettings
from flageval_scheduler.executors import Executor
from flageval_scheduler.jobs import models as _job_models  # noqa: F401  (registers tables)
from flageval_scheduler.jobs import service as jobs
from flageval_scheduler.jobs.engine import Engine, create_executor
from flageval_scheduler.models import messaging, metadata
from flageval_scheduler.quota import models as _quota_models  # noqa: F401  (registers tables)


def executor_of(ctx: ServiceContext) -> Executor:
    """The context's executor: one a test put in ``ctx.state["executor"]``, else the one
    ``FLAGEVAL_EXECUTOR`` names (created once)."""
    if "executor" not in ctx.state:
        ctx.state["executor"] = create_executor(specialise(ctx.settings, ServiceSettings))
    executor: Executor = ctx.state["executor"]
    return executor


def engine_of(ctx: ServiceContext) -> Engine:
    if "engine" not in ctx.state:
        ctx.state["engine"] = Engine(ctx, executor_of(ctx))
    engine: Engine = ctx.state["engine"]
    return engine


def consumers(ctx: ServiceContext) -> list[Subscription]:
    queued = ctx.messaging.idempotent(
        ctx.db,
        "scheduler.run-requests",
        lambda session, envelope: jobs.record_requested(
            session, envelope, executor=executor_of(ctx).name
        ),
    )

    async def on_requested(envelope: Envelope) -> None:
        await queued(envelope)
        engine_of(ctx).wake()

    handles: list[str | None] = []

    async def stop(session: AsyncSession, envelope: Envelope) -> None:
        handles.append(await jobs.record_stop(session, envelope, ctx.messaging))

    stopped = ctx.messaging.idempotent(ctx.db, "scheduler.stop-requests", stop)

    async def on_stop(envelope: Envelope) -> None:
        handles.clear()
        await stopped(envelope)
        for handle in handles:  # killed after the stop is committed
            await engine_of(ctx).stop_handle(handle)

    return [
        Subscription(
            queue="scheduler.run-requests", bindings=["run.requested"], handler=on_requested
        ),
        Subscription(
            queue="scheduler.stop-requests",
            bindings=["run.stop_requested"],
            handler=on_stop,
            prefetch=1,
            retry_delays=(0.5, 2.0, 5.0, 30.0),
        ),
    ]


async def start_engine(ctx: ServiceContext) -> None:
    await engine_of(ctx).start()


async def stop_engine(ctx: ServiceContext) -> None:
    if "engine" in ctx.state:
        await ctx.state.pop("engine").stop()


definition = ServiceDefinition(
    name="scheduler",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [
        quota.router(ctx),
        runner.router(ctx, wake=lambda: engine_of(ctx).wake()),
        logs.router(ctx, executor=lambda: executor_of(ctx)),
    ],
    subscriptions=consumers,
    startup=[start_engine],
    shutdown=[stop_engine],
)

create_app = app_factory(definition, ServiceSettings)
