"""image-registry: images (presets and custom import requests).

Presets are not inserted here: the service upserts them from ``images/presets.py`` at startup,
so changing that list needs no migration.

Revision ID: 20261127_0002
Revises: 20261127_0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_0002"
down_revision = "20261127_0001"
branch_labels = None
depends_on = None

LIVE_ONLY = sa.text("status <> 'rejected'")


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("preset", sa.Boolean, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=True),
        sa.Column("owner_username", sa.String(128), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("framework", sa.String(128), nullable=True),
        sa.Column("card_types", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("domain", sa.String(16), nullable=True),
        sa.Column("import_mode", sa.String(16), nullable=False),
        sa.Column("source_url", sa.String(512), nullable=False),
        sa.Column("dockerfile", sa.Text, nullable=True),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("reviewed_by", sa.Uuid, nullable=True),
        sa.Column("registry_ref", sa.String(512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "uq_images_owner_name_tag_live",
        "images",
        ["owner_id", "name", "tag"],
        unique=True,
        postgresql_where=LIVE_ONLY,
        sqlite_where=LIVE_ONLY,
    )
    op.create_index("ix_images_status_created", "images", ["status", "created_at"])
    op.create_index("ix_images_owner_created", "images", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_images_owner_created", "images")
    op.drop_index("ix_images_status_created", "images")
    op.drop_index("uq_images_owner_name_tag_live", "images")
    op.drop_table("images")
