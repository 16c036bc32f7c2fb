"""Tables the scheduler service owns (its own schema on PostgreSQL, its own file on SQLite)."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="scheduler")


class Base(DeclarativeBase):
    """The ORM base of every scheduler table (quota ledger, limits)."""

    metadata = metadata
