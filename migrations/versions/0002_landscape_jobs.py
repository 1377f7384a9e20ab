"""landscape jobs: barriers, barrier matrices and on-demand neighbourhoods run by workers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in store.models and 0001: JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STATUSES = "('queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "landscape_job",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("supernet_search_id", sa.String(length=36), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", JSON, nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner_key_id", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "kind IN ('barrier', 'barrier_matrix', 'neighbourhood')", name=op.f("ck_landscape_job_kind")
        ),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_landscape_job_status")),
        sa.ForeignKeyConstraint(
            ["owner_key_id"],
            ["api_key.id"],
            name=op.f("fk_landscape_job_owner_key_id_api_key"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supernet_search_id"],
            ["search.id"],
            name=op.f("fk_landscape_job_supernet_search_id_search"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landscape_job")),
    )
    op.create_index(op.f("ix_landscape_job_kind_created_at"), "landscape_job", ["kind", "created_at"])
    op.create_index(op.f("ix_landscape_job_owner_key_id"), "landscape_job", ["owner_key_id"])
    op.create_index(op.f("ix_landscape_job_status_created_at"), "landscape_job", ["status", "created_at"])
    op.create_index(op.f("ix_landscape_job_supernet_search_id"), "landscape_job", ["supernet_search_id"])

    op.create_table(
        "landscape_job_search",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('a', 'b', 'member', 'supernet', 'target')", name=op.f("ck_landscape_job_search_role")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["landscape_job.id"],
            name=op.f("fk_landscape_job_search_job_id_landscape_job"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["search.id"],
            name=op.f("fk_landscape_job_search_search_id_search"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "search_id", "role", name=op.f("pk_landscape_job_search")),
    )
    op.create_index(
        op.f("ix_landscape_job_search_search_id_job_id"), "landscape_job_search", ["search_id", "job_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_landscape_job_search_search_id_job_id"), table_name="landscape_job_search")
    op.drop_table("landscape_job_search")
    op.drop_index(op.f("ix_landscape_job_supernet_search_id"), table_name="landscape_job")
    op.drop_index(op.f("ix_landscape_job_status_created_at"), table_name="landscape_job")
    op.drop_index(op.f("ix_landscape_job_owner_key_id"), table_name="landscape_job")
    op.drop_index(op.f("ix_landscape_job_kind_created_at"), table_name="landscape_job")
    op.drop_table("landscape_job")
