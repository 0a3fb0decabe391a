"""participant: share, display; cohort: coordinator_name, salutation, address_by, resources

Participants choose what their partner sees (``share``) and keep the spelling of their
free-form lists for display (``display``); a cohort says how its messages greet people,
who signs them, and which local help they name.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participant") as batch_op:
        batch_op.add_column(sa.Column("share", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("display", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("cohort") as batch_op:
        batch_op.add_column(
            sa.Column("coordinator_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "salutation",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="Hello {name}",
            )
        )
        batch_op.add_column(
            sa.Column(
                "address_by",
                sqlmodel.sql.sqltypes.AutoString(),
                nullable=False,
                server_default="first_name",
            )
        )
        batch_op.add_column(
            sa.Column("resources", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("cohort") as batch_op:
        batch_op.drop_column("resources")
        batch_op.drop_column("address_by")
        batch_op.drop_column("salutation")
        batch_op.drop_column("coordinator_name")
    with op.batch_alter_table("participant") as batch_op:
        batch_op.drop_column("display")
        batch_op.drop_column("share")
