"""App factory and consumers of the leaderboard service."""

from __future__ import annotations

from pathlib import Path

from flageval_leaderboard.api import admin, boards, submissions
from flageval_leaderboard.config import ServiceSettings
from flageval_leaderboard.models import messaging, metadata
from flageval_leaderboard.people.service import record_person
from flageval_leaderboard.runs.service import record_run_event
from flageval_platform.bus import Subscription
from flageval_platform.service import ServiceContext, ServiceDefinition, app_factory


def consumers(ctx: ServiceContext) -> list[Subscription]:
    """Runs (who owns them, how they ended) and the names named entries show."""
    return [
        Subscription(
            queue="leaderboard.run-events",
            bindings=["run.requested", "run.finished"],
            handler=ctx.messaging.idempotent(ctx.db, "leaderboard.run-events", record_run_event),
        ),
        Subscription(
            queue="leaderboard.user-events",
            bindings=["user.profile_submitted", "user.reviewed"],
            handler=ctx.messaging.idempotent(ctx.db, "leaderboard.user-events", record_person),
        ),
    ]


definition = ServiceDefinition(
    name="leaderboard",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda ctx: [boards.router(ctx), submissions.router(ctx), admin.router(ctx)],
    subscriptions=consumers,
)

create_app = app_factory(definition, ServiceSettings)
