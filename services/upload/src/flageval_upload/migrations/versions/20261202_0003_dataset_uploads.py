"""upload: media dataset uploads (a bundle of kind ``dataset``, scoped by its dataset name).

Plain ``ADD COLUMN``s: no table is rebuilt (on SQLite a rebuild of ``bundles`` would drop the
old table, and with foreign keys on that cascades to every file, chunk and token).

Revision ID: 20261202_0003
Revises: 20261127_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_0003"
down_revision = "20261127_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "bundles", sa.Column("kind", sa.String(16), nullable=False, server_default="model")
    )
    op.add_column("bundles", sa.Column("dataset", sa.String(64), nullable=True))
    op.add_column("bundles", sa.Column("dataset_version", sa.String(64), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM bundles WHERE kind = 'dataset'")
    op.drop_column("bundles", "dataset_version")
    op.drop_column("bundles", "dataset")
    op.drop_column("bundles", "kind")
