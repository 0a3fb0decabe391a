"""Alembic environment: runs on the connection Tandem hands over (see program/db.py)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import tandem.program.storage.tables  # noqa: F401  (registers every table on the metadata)

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from tandem.program.storage.db import create_db_engine

        url = context.config.get_main_option("sqlalchemy.url")
        assert url, "set sqlalchemy.url or pass a connection"
        with create_db_engine(url).begin() as conn:
            _configure_and_run(conn)
        return
    _configure_and_run(connection)


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The scheduler's job store lives in the same database but is APScheduler's own table.
    return not (type_ == "table" and name == "apscheduler_jobs")


def _configure_and_run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        include_object=_include_object,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
