"""Tables the notifier service owns (its own schema on PostgreSQL, its own file on SQLite)."""

from flageval_platform.outbox import Messaging
from sqlalchemy import MetaData

metadata = MetaData()
messaging = Messaging(metadata, service="notifier")
