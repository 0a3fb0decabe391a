"""Shared fixtures: the storage backends and one runner for the ``tandem`` command.

Storage-backed tests take ``db_url`` (or ``engine``), which is parametrised over every
backend under test: SQLite (a fresh file per test) always, and PostgreSQL when
``TANDEM_TEST_DB`` names a server (``postgresql+psycopg://…``), each test in a fresh database
created and dropped here. Tests that touch no database run once.

``tandem`` is the one way tests drive the command line: it invokes the real application
(``tandem.cli.app``, with its error handler) and re-raises any exception that is not an
exit, so an unexpected traceback fails the test instead of counting as a non-zero exit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from tandem.program.storage.db import open_database

TEST_DB = os.environ.get("TANDEM_TEST_DB", "")
ON_POSTGRES = TEST_DB.startswith("postgresql")
BACKENDS = [pytest.param("sqlite", id="sqlite")]
if ON_POSTGRES:
    BACKENDS.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))


def pytest_report_header() -> str:
    if ON_POSTGRES:
        server = make_url(TEST_DB).render_as_string(hide_password=True)
        return f"tandem storage backends: SQLite and PostgreSQL ({server})"
    return "tandem storage backend: SQLite (set TANDEM_TEST_DB to add PostgreSQL)"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database on each backend under test."""
    if request.param == "sqlite":
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
def on_postgres(db_url: str) -> bool:
    """Whether this test runs on the PostgreSQL backend."""
    return db_url.startswith("postgresql")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with the schema at head."""
    engine = open_database(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


class Tandem:
    """Runs ``tandem ARGS…`` in-process through the real application."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(
        self,
        *args: str | Path,
        db: str | None = None,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
        expect: int | None = 0,
    ) -> Result:
        """Invoke the command; ``db`` adds ``--db``. Any exception other than an exit is
        re-raised; with ``expect`` set (the default 0), the exit code must equal it."""
        from tandem.cli import app

        argv: Sequence[str] = [*(["--db", db] if db else []), *map(str, args)]
        # Output is 100 columns wide off a terminal unless COLUMNS says otherwise: the
        # tests see that width, whatever the shell running them exports.
        env = {"COLUMNS": None, **(env or {})}
        result = self.runner.invoke(app, argv, input=input, env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        if expect is not None:
            assert result.exit_code == expect, (
                f"tandem {' '.join(argv)} exited {result.exit_code}:\n{result.output}"
            )
        return result

    def invoke(
        self,
        args: Sequence[str | Path],
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        """``tandem ARGS`` with the exit code left to the caller (unexpected errors re-raised)."""
        return self(*args, input=input, env=env, expect=None)


@pytest.fixture
def tandem() -> Tandem:
    """The ``tandem`` command, run in-process (see :class:`Tandem`)."""
    return Tandem()
