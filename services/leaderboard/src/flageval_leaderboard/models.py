"""Tables the leaderboard service owns (its own schema on PostgreSQL, its own file on SQLite)."""

from sqlalchemy import MetaData

from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="leaderboard")
