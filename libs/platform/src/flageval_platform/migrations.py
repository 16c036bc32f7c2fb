"""Alembic migrations per service, run programmatically on PostgreSQL or SQLite.

Each service keeps ``migrations/`` (script location) whose ``env.py`` is just::

    from flageval_platform.migrations import run_env
    from <service>.models import metadata
    run_env(metadata)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from flageval_platform.db import Database


def _config(script_location: Path, connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade(db: Database, script_location: Path, revision: str = "head") -> None:
    """Bring one service's tables to ``revision`` (creating its schema first on PostgreSQL)."""
    await db.ensure_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(script_location, sync), revision))


async def downgrade(db: Database, script_location: Path, revision: str = "base") -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda sync: command.downgrade(_config(script_location, sync), revision)
        )


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``env.py``: migrate on the connection handed over by :func:`upgrade`."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through flageval_platform.migrations.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def schema_drift(db: Database, metadata: MetaData) -> list[object]:
    """What differs between the database's tables and ``metadata`` (empty: migrations and
    models agree). Tests call it after :func:`upgrade` to catch a model edited without a
    migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: list(
                compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
        )
