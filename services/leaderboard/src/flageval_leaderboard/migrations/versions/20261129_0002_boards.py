"""leaderboard: runs and people read models, entries, board revisions.

Revision ID: 20261129_0002
Revises: 20261127_0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "20261129_0002"
down_revision = "20261127_0001"
branch_labels = None
depends_on = None

DOMAINS = ("nlp", "cv", "multimodal", "audio", "safety")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finished", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_runs_owner_id", "runs", ["owner_id"])
    op.create_table(
        "people",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("real_name", sa.String(200), nullable=True),
        sa.Column("organization", sa.String(200), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("run_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("reproducibility", sa.JSON, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.Text, nullable=True),
        sa.Column("hidden_by", sa.Uuid, nullable=True),
    )
    op.create_index("ix_entries_owner_id", "entries", ["owner_id"])
    op.create_index("ix_entries_domain", "entries", ["domain"])
    boards = op.create_table(
        "boards",
        sa.Column("domain", sa.String(32), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.bulk_insert(boards, [{"domain": d, "revision": 0} for d in DOMAINS])


def downgrade() -> None:
    op.drop_table("boards")
    op.drop_index("ix_entries_domain", "entries")
    op.drop_index("ix_entries_owner_id", "entries")
    op.drop_table("entries")
    op.drop_table("people")
    op.drop_index("ix_runs_owner_id", "runs")
    op.drop_table("runs")
