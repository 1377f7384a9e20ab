"""studies: each child search's evaluation (studies with `evaluate`)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 20:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("study_search") as batch:
        batch.add_column(sa.Column("evaluation_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_study_search_evaluation_id_evaluation"),
            "evaluation",
            ["evaluation_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_study_search_evaluation_id"), ["evaluation_id"])


def downgrade() -> None:
    with op.batch_alter_table("study_search") as batch:
        batch.drop_index(op.f("ix_study_search_evaluation_id"))
        batch.drop_constraint(op.f("fk_study_search_evaluation_id_evaluation"), type_="foreignkey")
        batch.drop_column("evaluation_id")
