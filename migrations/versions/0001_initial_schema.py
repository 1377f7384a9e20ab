"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 10:54:32.867482
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL (containment queries on tags), JSON text on SQLite; as in store.models.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("hashed_key", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'submit', 'admin')", name=op.f("ck_api_key_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
    )
    op.create_table(
        "search",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("space", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_key_id", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')",
            name=op.f("ck_search_status"),
        ),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name=op.f("ck_search_priority")),
        sa.ForeignKeyConstraint(
            ["owner_key_id"], ["api_key.id"], name=op.f("fk_search_owner_key_id_api_key"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search")),
        sa.UniqueConstraint(
            "owner_key_id", "idempotency_key", name=op.f("uq_search_owner_key_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_search_created_at_id"), "search", ["created_at", "id"], unique=False)
    op.create_index(op.f("ix_search_dataset"), "search", ["dataset"], unique=False)
    op.create_index(op.f("ix_search_method"), "search", ["method"], unique=False)
    op.create_index(op.f("ix_search_owner_key_id"), "search", ["owner_key_id"], unique=False)
    op.create_index(op.f("ix_search_space"), "search", ["space"], unique=False)
    op.create_index(op.f("ix_search_status_created_at"), "search", ["status", "created_at"], unique=False)

    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_checkpoint_search_id_search"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint")),
        sa.UniqueConstraint("search_id", "epoch", name=op.f("uq_checkpoint_search_id_epoch")),
    )
    op.create_table(
        "epoch_metric",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=False),
        sa.Column("train_acc", sa.Float(), nullable=False),
        sa.Column("val_loss", sa.Float(), nullable=False),
        sa.Column("val_acc", sa.Float(), nullable=False),
        sa.Column("lr", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("alphas", JSON, nullable=False),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_epoch_metric_search_id_search"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epoch_metric")),
        sa.UniqueConstraint("search_id", "epoch", name=op.f("uq_epoch_metric_search_id_epoch")),
    )
    op.create_table(
        "flatness_metric",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_flatness_metric_search_id_search"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flatness_metric")),
    )
    op.create_index(
        op.f("ix_flatness_metric_search_id_kind"), "flatness_metric", ["search_id", "kind"], unique=False
    )

    op.create_table(
        "genotype",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("genotype", JSON, nullable=False),
        sa.Column("is_best", sa.Boolean(), nullable=False),
        sa.Column("is_final", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_genotype_search_id_search"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_genotype")),
        sa.UniqueConstraint("search_id", "epoch", name=op.f("uq_genotype_search_id_epoch")),
    )
    op.create_table(
        "sample",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("genotype", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_sample_search_id_search"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample")),
        sa.UniqueConstraint("search_id", "rank", name=op.f("uq_sample_search_id_rank")),
    )


def downgrade() -> None:
    op.drop_table("sample")
    op.drop_table("genotype")
    op.drop_index(op.f("ix_flatness_metric_search_id_kind"), table_name="flatness_metric")

    op.drop_table("flatness_metric")
    op.drop_table("epoch_metric")
    op.drop_table("checkpoint")
    op.drop_index(op.f("ix_search_status_created_at"), table_name="search")
    op.drop_index(op.f("ix_search_space"), table_name="search")
    op.drop_index(op.f("ix_search_owner_key_id"), table_name="search")
    op.drop_index(op.f("ix_search_method"), table_name="search")
    op.drop_index(op.f("ix_search_dataset"), table_name="search")
    op.drop_index(op.f("ix_search_created_at_id"), table_name="search")

    op.drop_table("search")
    op.drop_table("api_key")
