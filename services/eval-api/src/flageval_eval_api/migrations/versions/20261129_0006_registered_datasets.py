"""eval-api: datasets registered by administrators (SPEC §6), one row per version.

Revision ID: 20261129_0006
Revises: 20261128_0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "20261129_0006"
down_revision = "20261128_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registered_datasets",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("task", sa.String(64), nullable=False),
        sa.Column("card", sa.JSON, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("dev_size", sa.Integer, nullable=False),
        sa.Column("data_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("registered_by", sa.Uuid, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_registered_datasets_name_version"),
        sa.UniqueConstraint("name", "seq", name="uq_registered_datasets_name_seq"),
    )


def downgrade() -> None:
    op.drop_table("registered_datasets")
