"""eval-api: complete media dataset uploads (from ``dataset_upload.ready``) awaiting registration.

Revision ID: 20261202_0007
Revises: 20261129_0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_0007"
down_revision = "20261129_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_dataset_uploads",
        sa.Column("upload_id", sa.Uuid, primary_key=True),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_dataset_id", sa.Uuid, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("media_dataset_uploads")
