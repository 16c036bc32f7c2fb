"""Every service's migrations run on both databases, up and down."""

import importlib

import pytest
from sqlalchemy import inspect

from flageval_platform import migrations
from flageval_platform.db import Database

SERVICES = ["eval_api", "scheduler", "upload", "image_registry", "leaderboard", "notifier"]


@pytest.mark.parametrize("service", SERVICES)
async def test_service_migrations_up_and_down(database: Database, service: str) -> None:
    main = importlib.import_module(f"flageval_{service}.main")
    await migrations.upgrade(database, main.definition.migrations)
    # Running it again is a no-op, not an error (every start runs it).
    await migrations.upgrade(database, main.definition.migrations)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"outbox", "inbox", "alembic_version"} <= tables
    await migrations.downgrade(database, main.definition.migrations)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert "outbox" not in tables and "inbox" not in tables
