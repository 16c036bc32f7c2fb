"""eval-api: catalog card types, seeded with the built-in ones.

The seed rows are copied here on purpose: a migration must not import code that changes later.

Revision ID: 20261127_0002
Revises: 20261127_0001
Create Date: 2026-11-27
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "20261127_0002"
down_revision = "20261127_0001"
branch_labels = None
depends_on = None

SEEDED_AT = datetime(2026, 11, 27, tzinfo=UTC)
CARD_TYPES = (
    ("a100-80g", "NVIDIA A100 80GB", 80, 8),
    ("a800-80g", "NVIDIA A800 80GB", 80, 8),
    ("h100-80g", "NVIDIA H100 80GB", 80, 8),
    ("v100-32g", "NVIDIA V100 32GB", 32, 8),
    ("rtx4090-24g", "NVIDIA GeForce RTX 4090 24GB", 24, 8),
)


def upgrade() -> None:
    table = op.create_table(
        "card_types",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("gpu_memory_gib", sa.Integer, nullable=False),
        sa.Column("max_gpus", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("builtin", sa.Boolean, nullable=False),
    )
    op.bulk_insert(
        table,
        [
            {
                "id": id_,
                "name": name,
                "gpu_memory_gib": memory,
                "max_gpus": gpus,
                "created_at": SEEDED_AT,
                "builtin": True,
            }
            for id_, name, memory, gpus in CARD_TYPES
        ],
    )


def downgrade() -> None:
    op.drop_table("card_types")
