"""NAS-Bench-201 ground truth: per-search benchmark status and per-epoch lookups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "benchmark_status",
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("layout", sa.String(length=32), nullable=True),
        sa.Column("open_seconds", sa.Float(), nullable=True),
        sa.Column("lookup_ms_mean", sa.Float(), nullable=True),
        sa.Column("lookup_ms_max", sa.Float(), nullable=True),
        sa.Column("lookups", sa.Integer(), nullable=False),
        sa.Column("optimum", JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["search.id"],
            name=op.f("fk_benchmark_status_search_id_search"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("search_id", name=op.f("pk_benchmark_status")),
    )
    op.create_table(
        "benchmark_lookup",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("arch_str", sa.String(length=200), nullable=False),
        sa.Column("arch_index", sa.Integer(), nullable=False),
        sa.Column("test_acc", sa.Float(), nullable=False),
        sa.Column("test_acc_std", sa.Float(), nullable=False),
        sa.Column("valid_acc", sa.Float(), nullable=True),
        sa.Column("valid_acc_std", sa.Float(), nullable=True),
        sa.Column("params_m", sa.Float(), nullable=False),
        sa.Column("flops_m", sa.Float(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('epoch', 'best', 'final')", name=op.f("ck_benchmark_lookup_kind")),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["search.id"],
            name=op.f("fk_benchmark_lookup_search_id_search"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmark_lookup")),
        sa.UniqueConstraint(
            "search_id",
            "kind",
            "epoch",
            "dataset",
            name=op.f("uq_benchmark_lookup_search_id_kind_epoch_dataset"),
        ),
    )


def downgrade() -> None:
    op.drop_table("benchmark_lookup")
    op.drop_table("benchmark_status")
