"""evaluations: from-scratch training of a genotype under a protocol, with per-epoch curves

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in store.models and 0001: JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATUSES = "('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "evaluation",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("dataset", sa.String(length=32), nullable=False),
        sa.Column("space", sa.String(length=16), nullable=False),
        sa.Column("genotype", JSON, nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=True),
        sa.Column("which", sa.String(length=8), nullable=True),
        sa.Column("genotype_epoch", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("model_info", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_key_id", sa.String(length=16), nullable=True),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name=op.f("ck_evaluation_priority")),
        sa.CheckConstraint("protocol IN ('darts', 'nb201')", name=op.f("ck_evaluation_protocol")),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_evaluation_status")),
        sa.ForeignKeyConstraint(
            ["owner_key_id"],
            ["api_key.id"],
            name=op.f("fk_evaluation_owner_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_evaluation_search_id_search"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation")),
        sa.UniqueConstraint(
            "owner_key_id", "idempotency_key", name=op.f("uq_evaluation_owner_key_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_evaluation_created_at_id"), "evaluation", ["created_at", "id"])
    op.create_index(op.f("ix_evaluation_dataset"), "evaluation", ["dataset"])
    op.create_index(op.f("ix_evaluation_owner_key_id"), "evaluation", ["owner_key_id"])
    op.create_index(op.f("ix_evaluation_protocol"), "evaluation", ["protocol"])
    op.create_index(op.f("ix_evaluation_search_id"), "evaluation", ["search_id"])
    op.create_index(op.f("ix_evaluation_status_created_at"), "evaluation", ["status", "created_at"])

    op.create_table(
        "evaluation_epoch",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("train_acc", sa.Float(), nullable=True),
        sa.Column("test_loss", sa.Float(), nullable=True),
        sa.Column("test_acc", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluation.id"],
            name=op.f("fk_evaluation_epoch_evaluation_id_evaluation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_epoch")),
        sa.UniqueConstraint("evaluation_id", "epoch", name=op.f("uq_evaluation_epoch_evaluation_id_epoch")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_epoch")
    for name in ("status_created_at", "search_id", "protocol", "owner_key_id", "dataset", "created_at_id"):
        op.drop_index(op.f(f"ix_evaluation_{name}"), table_name="evaluation")
    op.drop_table("evaluation")
