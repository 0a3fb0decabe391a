"""The database: engines for SQLite and PostgreSQL, UTC datetimes, schema migrations.

One URL selects the database (``--db`` / ``TANDEM_DB``). SQLite gets foreign keys, WAL and
a busy timeout on every connection. The schema is managed by Alembic; every command opens
the database through :func:`open_database`, which brings an older schema up to date.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from tandem.program.errors import ProgramError

if TYPE_CHECKING:
    from alembic.config import Config

SCHEMA_HEAD = "0004"
"""The newest migration's revision (a test checks it against Alembic's scripts). A database
already at it opens without loading Alembic, which takes longer than most commands' work."""


class DatabaseError(ProgramError):
    """The database cannot be opened or is at a schema this version does not know."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always an aware UTC datetime in Python.

    Naive datetimes are refused on the way in: a naive value is a bug (whose clock?).
    SQLite stores UTC without an offset; PostgreSQL uses ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: Tandem stores aware UTC datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get foreign keys, WAL and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ModuleNotFoundError) as exc:
        raise DatabaseError(
            f"cannot use database URL {_safe_url(url)!r}: {exc}. Use sqlite:///FILE or "
            "postgresql+psycopg://USER@HOST:PORT/NAME"
        ) from exc
    return engine


def _safe_url(url: str) -> str:
    """The URL with any password masked, for error messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "tandem.program.storage:migrations")
    return config


def head_revision() -> str:
    """The newest schema revision this version of Tandem knows (from Alembic's scripts)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _at_head(engine: Engine) -> bool:
    """Whether the database's one stored revision is :data:`SCHEMA_HEAD` (plain SQL)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        stored = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return [row[0] for row in stored] == [SCHEMA_HEAD]


def upgrade_schema(engine: Engine) -> str:
    """Apply every pending migration; returns the revision now in force.

    Raises DatabaseError when the database was written by a newer Tandem.
    """
    try:
        if _at_head(engine):
            return SCHEMA_HEAD
        current = current_revision(engine)
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open database {_safe_url(str(engine.url))!r}: {exc.orig}"
        ) from exc
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise DatabaseError(
            f"database schema revision {current!r} is newer than this Tandem "
            f"({head_revision()!r}): upgrade Tandem"
        )
    head = head_revision()
    if current != head:
        config = _alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    return head


def open_database(url: str) -> Engine:
    """An engine on ``url`` with the schema brought up to date."""
    engine = create_db_engine(url)
    upgrade_schema(engine)
    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits at the end of the block, or rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def utcnow() -> datetime:
    """The current time as aware UTC: only the CLI and the scheduler call this."""
    return datetime.now(UTC)
