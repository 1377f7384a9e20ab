"""landscape jobs: queue priority and cancel request, as searches and evaluations have

Every job kind now runs through one lease lifecycle (store/repositories/_lease.py), which re-queues
a row at its own priority and polls its cancel request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a check constraint to an existing table in place. The server
    # defaults fill the rows already there; the models set both columns in Python, like the others.
    with op.batch_alter_table("landscape_job") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="5"))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_check_constraint(op.f("ck_landscape_job_priority"), "priority BETWEEN 0 AND 9")
    with op.batch_alter_table("landscape_job") as batch:
        batch.alter_column("priority", server_default=None)
        batch.alter_column("cancel_requested", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("landscape_job") as batch:
        batch.drop_constraint(op.f("ck_landscape_job_priority"), type_="check")
        batch.drop_column("cancel_requested")
        batch.drop_column("priority")
