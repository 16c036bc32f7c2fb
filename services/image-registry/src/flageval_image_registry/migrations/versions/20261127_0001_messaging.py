"""image-registry: outbox and inbox.

Revision ID: 20261127_0001
Revises:
Create Date: 2026-11-27
"""

from flageval_platform.outbox import create_messaging_tables, drop_messaging_tables

revision = "20261127_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    drop_messaging_tables()
