"""Schema migrations on the backend under test (SQLite, or PostgreSQL in CI's second pass)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from tandem.program.storage import db


def test_migrations_build_exactly_the_models_schema(db_url: str) -> None:
    engine = db.create_db_engine(db_url)
    assert db.current_revision(engine) is None
    assert db.upgrade_schema(engine) == db.head_revision()
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_upgrade_is_idempotent_and_older_schema_is_upgraded_on_open(db_url: str) -> None:
    from alembic import command

    engine = db.open_database(db_url)
    config = db._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    assert db.current_revision(engine) == "0001"
    engine.dispose()
    engine = db.open_database(db_url)
    assert db.current_revision(engine) == db.head_revision()
    assert db.upgrade_schema(engine) == db.head_revision()
    engine.dispose()


def test_a_newer_schema_is_refused(db_url: str) -> None:
    engine = db.open_database(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(db.DatabaseError, match="newer than this Tandem"):
        db.upgrade_schema(engine)
    engine.dispose()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: object) -> None:
    engine = db.open_database(f"sqlite:///{tmp_path}/x.db")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(db.DatabaseError, match="'nosuch://' is not a database URL Tandem knows"):
        db.create_db_engine("nosuch://x")


def test_the_known_head_is_alembics_newest_revision() -> None:
    assert db.head_revision() == db.SCHEMA_HEAD


@pytest.mark.slow
def test_a_database_at_the_head_opens_without_loading_alembic(db_url: str) -> None:
    db.open_database(db_url).dispose()
    code = (
        "import sys\n"
        "from tandem.program.storage import db\n"
        f"assert db.open_database({db_url!r}) is not None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
