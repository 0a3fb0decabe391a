"""survey responses: one row per person and evaluation survey of a cohort

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tandem.program.storage.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_response",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("cohort_pk", sa.Integer(), nullable=False),
        sa.Column("participant_pk", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("survey", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pair_pk", sa.Integer(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "recorded_at", tandem.program.storage.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["cohort_pk"], ["cohort.pk"]),
        sa.ForeignKeyConstraint(["pair_pk"], ["pair.pk"]),
        sa.ForeignKeyConstraint(["participant_pk"], ["participant.pk"]),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("cohort_pk", "participant_pk", "survey", name="uq_survey_response"),
    )
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_response_cohort_pk"), ["cohort_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("survey_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_response_cohort_pk"))
    op.drop_table("survey_response")
