"""scheduler: jobs remember which attempt fetched its spec (reports before that are refused).

Revision ID: 20261202_0004
Revises: 20261128_0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_0004"
down_revision = "20261128_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no table rebuild on SQLite).
    op.add_column("jobs", sa.Column("spec_fetched_attempt", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("spec_fetched_attempt")
