"""The leaderboard's migrations create exactly what models.py declares, on SQLite and
PostgreSQL, and go down again."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select

import flageval_leaderboard
from flageval_leaderboard.models import Board, metadata
from flageval_platform import migrations

SCRIPTS = Path(flageval_leaderboard.__file__).parent / "migrations"
TABLES = {"runs", "people", "entries", "boards"}


async def test_upgrade_matches_models_and_downgrades(database) -> None:
    await migrations.upgrade(database, SCRIPTS)
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {*TABLES, "outbox", "inbox"} <= tables
    assert await migrations.schema_drift(database, metadata) == []
    async with database.transaction() as session:
        boards = (await session.execute(select(Board.domain, Board.revision))).all()
    assert sorted(boards) == sorted((d, 0) for d in ("nlp", "cv", "multimodal", "audio", "safety"))

    await migrations.downgrade(database, SCRIPTS, "20261127_0001")
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not TABLES & tables and {"outbox", "inbox"} <= tables
    await migrations.upgrade(database, SCRIPTS)
