"""The gateway's migration creates exactly what models.py declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

import flageval_gateway
from flageval_gateway.models import metadata
from flageval_platform import migrations

SCRIPTS = Path(flageval_gateway.__file__).parent / "migrations"


async def test_upgrade_matches_models_and_downgrades(database) -> None:
    await migrations.upgrade(database, SCRIPTS)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"users", "login_failure_counters", "outbox", "inbox"} <= tables
    assert await migrations.schema_drift(database, metadata) == []

    await migrations.downgrade(database, SCRIPTS)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not {"users", "login_failure_counters", "outbox", "inbox"} & tables
    await migrations.upgrade(database, SCRIPTS)
