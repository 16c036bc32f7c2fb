"""The upload service's migrations create exactly what models.py declares, on SQLite and
PostgreSQL, and go down again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

import flageval_upload
from flageval_platform import migrations
from flageval_upload.models import metadata

SCRIPTS = Path(flageval_upload.__file__).parent / "migrations"
TABLES = {"evaluations", "upload_tokens", "bundles", "bundle_files", "bundle_chunks"}


async def test_upgrade_matches_models_and_downgrades(database) -> None:
    await migrations.upgrade(database, SCRIPTS)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {*TABLES, "outbox", "inbox"} <= tables
    assert await migrations.schema_drift(database, metadata) == []

    await migrations.downgrade(database, SCRIPTS, "20261127_0001")
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not TABLES & tables and {"outbox", "inbox"} <= tables
    await migrations.upgrade(database, SCRIPTS)
