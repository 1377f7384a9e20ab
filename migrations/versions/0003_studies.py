"""studies: grids of searches, their children with their axis values

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in store.models: JSONB on PostgreSQL, JSON text on SQLite.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "study",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("owner_key_id", sa.String(length=16), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("priority BETWEEN 0 AND 9", name=op.f("ck_study_priority")),
        sa.ForeignKeyConstraint(
            ["owner_key_id"], ["api_key.id"], name=op.f("fk_study_owner_key_id_api_key"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study")),
        sa.UniqueConstraint(
            "owner_key_id", "idempotency_key", name=op.f("uq_study_owner_key_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_study_created_at_id"), "study", ["created_at", "id"])
    op.create_index(op.f("ix_study_owner_key_id"), "study", ["owner_key_id"])
    op.create_table(
        "study_search",
        sa.Column("study_id", sa.String(length=36), nullable=False),
        sa.Column("search_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cell", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["search_id"], ["search.id"], name=op.f("fk_study_search_search_id_search"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["study.id"], name=op.f("fk_study_search_study_id_study"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("study_id", "search_id", name=op.f("pk_study_search")),
        sa.UniqueConstraint("study_id", "position", name=op.f("uq_study_search_study_id_position")),
    )
    op.create_index(op.f("ix_study_search_search_id"), "study_search", ["search_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_study_search_search_id"), table_name="study_search")
    op.drop_table("study_search")
    op.drop_index(op.f("ix_study_owner_key_id"), table_name="study")
    op.drop_index(op.f("ix_study_created_at_id"), table_name="study")
    op.drop_table("study")
