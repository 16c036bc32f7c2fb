"""eval-api: evaluations.

Revision ID: 20261127_0003
Revises: 20261127_0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "20261127_0003"
down_revision = "20261127_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("datasets", sa.JSON, nullable=True),
        sa.Column("tasks", sa.JSON, nullable=True),
        sa.Column("deploy_mode", sa.String(16), nullable=False),
        sa.Column("robustness", sa.Boolean, nullable=False),
        sa.Column("image_id", sa.String(200), nullable=True),
        sa.Column("priority", sa.String(8), nullable=True),
        sa.Column("card_type", sa.String(64), nullable=True),
        sa.Column("gpus", sa.Integer, nullable=True),
        sa.Column("api_endpoint", sa.String(2048), nullable=True),
        sa.Column("api_model_name", sa.String(256), nullable=True),
        sa.Column("api_key_encrypted", sa.Text, nullable=True),
        sa.Column("model_type", sa.String(64), nullable=True),
        sa.Column("paper_url", sa.String(2048), nullable=True),
        sa.Column("model_url", sa.String(2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_evaluations_name"),
    )
    op.create_index("ix_evaluations_owner_created", "evaluations", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_owner_created", "evaluations")
    op.drop_table("evaluations")
