"""upload: evaluations read model, upload tokens, bundles, their files and chunks.

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

FILE_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("domain", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evaluations_owner_id", "evaluations", ["owner_id"])

    op.create_table(
        "bundles",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("evaluation_id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("total_bytes", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("evaluation_id", "version", name="uq_bundles_evaluation_version"),
    )

    op.create_table(
        "upload_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("evaluation_id", sa.Uuid, nullable=False),
        sa.Column("owner_id", sa.Uuid, nullable=False),
        sa.Column(
            "bundle_id",
            sa.Uuid,
            sa.ForeignKey("bundles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("can_send_targets", sa.Boolean, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_upload_tokens_evaluation_id", "upload_tokens", ["evaluation_id"])

    op.create_table(
        "bundle_files",
        sa.Column("id", FILE_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "bundle_id",
            sa.Uuid,
            sa.ForeignKey("bundles.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(1024), nullable=False),
        sa.Column("size_kb", sa.BigInteger, nullable=False),
        sa.Column("chunk_kb", sa.Integer, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("object_key", sa.String(1088), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assembling_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("bundle_id", "filename", name="uq_bundle_files_bundle_filename"),
        # Never reuse the id of a deleted (replaced) file: the CLI puts ids in its URLs.
        sqlite_autoincrement=True,
    )

    op.create_table(
        "bundle_chunks",
        sa.Column(
            "file_id",
            FILE_ID,
            sa.ForeignKey("bundle_files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("num", sa.Integer, primary_key=True),
        sa.Column("size_kb", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.Column("object_key", sa.String(1088), nullable=True),
        sa.Column("ready", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bundle_chunks")
    op.drop_table("bundle_files")
    op.drop_index("ix_upload_tokens_evaluation_id", "upload_tokens")
    op.drop_table("upload_tokens")
    op.drop_table("bundles")
    op.drop_index("ix_evaluations_owner_id", "evaluations")
    op.drop_table("evaluations")
