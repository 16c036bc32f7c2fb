"""notifier: the HTML part of each email.

Revision ID: 20261204_0004
Revises: 20261127_0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "20261204_0004"
down_revision = "20261127_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("emails", sa.Column("html_body", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("emails") as batch:
        batch.drop_column("html_body")
