"""participant: withdrawn_at

A withdrawn participant (withdrawn by the coordinator, or erased at their request) is kept
for the program's history and statistics but is no longer matched or messaged.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tandem.program.storage.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participant") as batch_op:
        batch_op.add_column(
            sa.Column("withdrawn_at", tandem.program.storage.db.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("participant") as batch_op:
        batch_op.drop_column("withdrawn_at")
