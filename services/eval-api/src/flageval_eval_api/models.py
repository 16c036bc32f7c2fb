"""Tables the eval-api service owns (its own schema on PostgreSQL, its own file on SQLite)."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="eval-api")


class Base(DeclarativeBase):
    """The ORM base of every eval-api table (catalog, evaluations, available images)."""

    metadata = metadata
