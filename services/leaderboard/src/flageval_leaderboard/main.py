"""App factory and consumers of the leaderboard service."""

from __future__ import annotations

from pathlib import Path

from flageval_leaderboard.config import ServiceSettings
from flageval_leaderboard.models import messaging, metadata
from flageval_platform.service import ServiceDefinition, app_factory

definition = ServiceDefinition(
    name="leaderboard",
    metadata=metadata,
    messaging=messaging,
    migrations=Path(__file__).parent / "migrations",
    routers=lambda _ctx: [],
)

create_app = app_factory(definition, ServiceSettings)
