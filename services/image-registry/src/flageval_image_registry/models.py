"""Tables the image-registry service owns (its own schema on PostgreSQL, its own file on SQLite).

The ORM classes live in their domain package (``images/models.py``) on this metadata.
"""

from sqlalchemy import MetaData

from flageval_platform.outbox import Messaging

metadata = MetaData()
messaging = Messaging(metadata, service="image-registry")
