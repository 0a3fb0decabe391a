"""application: which cycle(s) each participant applied to

A cycle with applications in a role matches only the participants of that role who
applied to it (``tandem import mentees FILE --cycle NAME`` records them).

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tandem.program.storage.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "application",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("participant_pk", sa.Integer(), nullable=False),
        sa.Column("cycle", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column(
            "applied_at", tandem.program.storage.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["participant_pk"], ["participant.pk"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("participant_pk", "cycle", name="uq_application"),
    )
    with op.batch_alter_table("application") as batch_op:
        batch_op.create_index(batch_op.f("ix_application_cycle"), ["cycle"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_application_participant_pk"), ["participant_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("application") as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_participant_pk"))
        batch_op.drop_index(batch_op.f("ix_application_cycle"))
    op.drop_table("application")
