"""The database: engines for SQLite and PostgreSQL, UTC datetimes, schema migrations.

One URL selects the database (``--db`` / ``TANDEM_DB``). SQLite gets foreign keys, WAL and
a busy timeout on every connection. The schema is managed by Alembic; every command opens
the database through :func:`open_database`, which brings an older schema up to date.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from tandem.program.errors import ProgramError

if TYPE_CHECKING:
    from alembic.config import Config

SCHEMA_HEAD = "0008"
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
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get foreign keys, WAL and a busy timeout.

    Driver errors never carry the statement's values (``hide_parameters``: they would be
    people's names and addresses), and the conditions a person can fix (a read-only file,
    a file that is not a database, a database locked by another program, a folder that
    does not exist) raise :class:`DatabaseError` with one line saying so. A new SQLite
    file is created readable and writable by its owner only (mode 0600).
    """
    _check_url(url)
    try:
        if url.startswith("sqlite"):
            # The busy timeout: 30 s unless the URL sets one (``?timeout=SECONDS``).
            timeout = {} if "timeout" in make_url(url).query else {"timeout": 30}
            engine = create_engine(
                url,
                connect_args=timeout,
                hide_parameters=True,
                json_deserializer=JsonReader(url),
            )
            event.listen(engine, "connect", _sqlite_pragmas)
            _create_private_file(engine.url.database, engine.url.query)
        else:
            engine = create_engine(
                url, pool_pre_ping=True, hide_parameters=True, json_deserializer=JsonReader(url)
            )
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"--db: the driver for '{make_url(url).drivername}://' is not installed; "
            f"use {URL_FORMS}"
        ) from exc
    except ArgumentError as exc:  # an unknown driver (postgresql+nosuchdriver://)
        raise DatabaseError(
            f"--db: '{make_url(url).drivername}://' is not a database URL Tandem knows; "
            f"use {URL_FORMS}"
        ) from exc
    event.listen(engine, "handle_error", _plain_error)
    return engine


class JsonReader:
    """How the database at ``url`` reads a JSON column's value: one that does not parse
    means the file was damaged (or changed by hand), said in one line quoting none of it.
    (A class, not a closure: psycopg warns that a closure may leak its loader classes.)"""

    def __init__(self, url: str) -> None:
        self.url = _safe_url(url)

    def __call__(self, text: str | bytes) -> Any:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise DatabaseError(
                f"{self.url}: the database file is damaged (a stored value is not valid "
                "JSON); restore it from a backup"
            ) from None


URL_FORMS = "postgresql+psycopg://USER@HOST:PORT/NAME or sqlite:///FILE.db"
"""The database URLs Tandem takes, as error messages give them."""
BACKENDS = ("sqlite", "postgresql")


def _check_url(url: str) -> None:
    """Raise DatabaseError, in one line that never shows a password, for a URL that does
    not name a database Tandem knows (``postgres://``, ``mysql://``, a bare file name)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not shown: a URL that does not parse may still hold a password.
        raise DatabaseError(f"--db: not a database URL; use {URL_FORMS}") from None
    if parsed.drivername.partition("+")[0] not in BACKENDS:
        raise DatabaseError(
            f"--db: '{parsed.drivername}://' is not a database URL Tandem knows; use {URL_FORMS}"
        )


def _create_private_file(database: str | None, query: Mapping[str, Any]) -> None:
    """Create a missing SQLite file with mode 0600 before SQLite creates it (0644, as
    the process's umask allows): the file holds people's names and addresses."""
    if not database or database == ":memory:" or query.get("uri") or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps its mode; a missing folder is reported on connect
    with suppress(FileExistsError):  # another process created it first
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


_PLAIN_ERRORS = (
    (
        "database is locked",
        "the database is busy: another Tandem command is writing to it; "
        "try again when it has finished",
    ),
    (
        "attempt to write a readonly database",
        "the database is read-only; make the file (and its folder) writable, or use another --db",
    ),
    (
        "file is not a database",
        "the file is not a Tandem database (not SQLite, or damaged); check --db",
    ),
    (
        "database disk image is malformed",
        "the database file is damaged (SQLite: database disk image is malformed); restore it "
        "from a backup",
    ),
    (
        "malformed database schema",
        "the database file is damaged (SQLite: malformed database schema); restore it from a "
        "backup",
    ),
    (
        # The driver's message quotes the damaged text (a name, an address): never shown.
        "could not decode to utf-8",
        "the database file is damaged (stored text that is not UTF-8); restore it from a backup",
    ),
    (
        "no such table",
        "the database is missing a table of Tandem's (damaged, or changed by hand); "
        "restore it from a backup",
    ),
    (
        "no such column",
        "the database is missing a column of Tandem's (damaged, or changed by hand); "
        "restore it from a backup",
    ),
    (
        "unable to open database file",
        "cannot open the database file; check that its folder "
        "exists and is writable, and that --db names a file",
    ),
    (
        "disk i/o error",
        "the disk reported an error while using the database; check the disk and try again",
    ),
    ("database or disk is full", "the disk is full; free some space and try again"),
)
"""Driver messages a person can act on, and what Tandem says instead."""


class _DriverMessage(Exception):
    """A driver error's first line alone: PostgreSQL's detail line quotes row values."""


def _plain_error(context: ExceptionContext) -> None:
    """Replace a driver error a person can act on with a one-line DatabaseError, and
    drop the detail that quotes row values from any other (its traceback stays)."""
    original = context.original_exception
    text = str(original).lower()
    for needle, message in _PLAIN_ERRORS:
        if needle in text:
            url = _safe_url(str(context.engine.url)) if context.engine is not None else "?"
            raise DatabaseError(f"{url}: {message}") from original
    diag = getattr(original, "diag", None)
    wrapped = context.sqlalchemy_exception
    if diag is not None and diag.message_detail and isinstance(wrapped, DBAPIError):
        scrubbed = type(wrapped)(
            context.statement,
            None,
            _DriverMessage(f"{type(original).__name__}: {diag.message_primary}"),
            hide_parameters=True,
        )
        # "from None": the original, which carries the detail, is not shown beneath it.
        raise scrubbed from None


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
        # The driver's first line: a second one ("Is the server running…?") only repeats it.
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "?"
        raise DatabaseError(
            f"cannot open database {_safe_url(str(engine.url))!r}: {reason}"
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
    try:
        upgrade_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def transaction(engine: Engine, *, exclusive: bool = False) -> Iterator[Session]:
    """A session whose work commits at the end of the block, or rolls back on any error.

    ``exclusive`` serialises the block with every other exclusive block on the same
    database (for work that reads, then writes what it read, such as an import): SQLite
    takes its write lock at the start (``BEGIN IMMEDIATE``; others wait up to the busy
    timeout), PostgreSQL a transaction-scoped advisory lock. The second of two imports of
    one file then finds the first one's rows, instead of failing on them.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            if exclusive:
                connection = session.connection()
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                elif connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EXCLUSIVE_LOCK}
                    )
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_EXCLUSIVE_LOCK = 0x7A4D_3E01
"""The PostgreSQL advisory-lock key of :func:`transaction`'s exclusive blocks."""


def utcnow() -> datetime:
    """The current time as aware UTC: only the CLI and the scheduler call this."""
    return datetime.now(UTC)
