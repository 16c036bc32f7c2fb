"""eval-api: the images private deployments may use (read model of image.available).

Revision ID: 20261127_0004
Revises: 20261127_0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_0004"
down_revision = "20261127_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "available_images",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Uuid, nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("preset", sa.Boolean, nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_available_images_owner_id", "available_images", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_available_images_owner_id", "available_images")
    op.drop_table("available_images")
