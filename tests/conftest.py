"""Shared fixtures: the storage backend comes from one environment variable.

``TANDEM_TEST_DB`` unset (or ``sqlite``) runs the storage tests on a fresh SQLite file per
test; a ``postgresql+psycopg://…`` URL runs the same tests on that server, each test in a
fresh database created and dropped here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tandem.program.storage.db import open_database

TEST_DB = os.environ.get("TANDEM_TEST_DB", "sqlite")
ON_POSTGRES = TEST_DB.startswith("postgresql")


def pytest_report_header() -> str:
    if ON_POSTGRES:
        return f"tandem storage backend: PostgreSQL ({make_url(TEST_DB).render_as_string(hide_password=True)})"
    return "tandem storage backend: SQLite (a fresh file per test)"


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database on the backend under test."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'tandem.db'}"
        return
    name = f"tandem_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DB, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DB).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with the schema at head."""
    engine = open_database(db_url)
    try:
        yield engine
    finally:
        engine.dispose()
