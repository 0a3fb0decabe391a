"""outbox: no unique index on message_id

The Message-ID is derived from the outbox key (unique), so it is unique already; its own
index was never used by a query, and as a hash it put every enqueued message on a random
index page (a large share of the database writes of a week's dispatch).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Names for the constraints that 0002 created without one (SQLite reflects them unnamed).
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint("uq_outbox_message_id", type_="unique")
    else:
        op.drop_constraint("outbox_message_id_key", "outbox", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("outbox", naming_convention=NAMING) as batch_op:
        batch_op.create_unique_constraint("uq_outbox_message_id", ["message_id"])
