"""State that every web process shares, kept in the database: request counters and keys.

Several ``tandem serve`` processes on one database behave as one: a rate limit counts the
requests all of them saw, and a CSRF key made by one is the key of all.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, Table, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from tandem.program.storage.db import transaction
from tandem.program.storage.tables import RateCounter, WebSecret

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_COUNTERS: Table = RateCounter.__table__  # type: ignore[attr-defined]
"""The counters' table, for statements that skip the ORM (they run on every request)."""


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``now``."""
    return _EPOCH + ((now - _EPOCH) // window) * window


def _upsert_hit(connection: Connection, key: str, start: datetime) -> int:
    """Count one request under ``key`` in the window from ``start`` in one round trip: the
    first request of a window inserts its counter, later ones (in any process) increment
    it. Returns the window's count."""
    insert = sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert
    statement = (
        insert(_COUNTERS)
        .values(key=key, window_start=start, count=1)
        .on_conflict_do_update(
            index_elements=[_COUNTERS.c.key, _COUNTERS.c.window_start],
            set_={"count": _COUNTERS.c.count + 1},
        )
        .returning(_COUNTERS.c.count)
    )
    return int(connection.execute(statement).scalar_one())


def _forget_old_windows(connection: Connection, now: datetime) -> None:
    connection.execute(delete(_COUNTERS).where(_COUNTERS.c.window_start < now - timedelta(days=1)))


def count_hit(engine: Engine, key: str, *, now: datetime, window: timedelta) -> int:
    """Count one request under ``key`` in the current window; returns the window's count.

    Safe under concurrency (one atomic upsert). Counters of windows older than a day are
    removed as new windows start.
    """
    with engine.begin() as connection:
        count = _upsert_hit(connection, key, window_start(now, window))
        if count == 1:
            _forget_old_windows(connection, now)
    return count


def count_hit_unless(
    engine: Engine,
    key: str,
    *,
    blocker: str,
    blocked_at: int,
    now: datetime,
    window: timedelta,
) -> int | None:
    """Count one request under ``key`` unless the count under ``blocker`` has reached
    ``blocked_at`` in the current window (then nothing is counted and None returned).

    One connection and at most two statements: what a link page asks on every request
    (has this client opened too many invalid links? how often has this link been opened?).
    """
    start = window_start(now, window)
    with engine.begin() as connection:
        blocked = connection.execute(
            select(_COUNTERS.c.count).where(
                _COUNTERS.c.key == blocker, _COUNTERS.c.window_start == start
            )
        ).scalar()
        if int(blocked or 0) >= blocked_at:
            return None
        count = _upsert_hit(connection, key, start)
        if count == 1:
            _forget_old_windows(connection, now)
    return count


def hits(engine: Engine, key: str, *, now: datetime, window: timedelta) -> int:
    """The count under ``key`` in the current window, without counting."""
    with engine.connect() as connection:
        found = connection.execute(
            select(_COUNTERS.c.count).where(
                _COUNTERS.c.key == key, _COUNTERS.c.window_start == window_start(now, window)
            )
        ).scalar()
    return int(found or 0)


def shared_secret(engine: Engine, name: str, *, now: datetime) -> bytes:
    """The random 256-bit key called ``name``, made on first use and then shared by all."""
    with Session(engine) as session:
        row = session.get(WebSecret, name)
        if row is not None:
            return bytes.fromhex(row.value)
    try:
        with transaction(engine) as session:
            session.add(WebSecret(name=name, value=secrets.token_hex(32), created_at=now))
    except IntegrityError:  # another process made it first: use theirs
        pass
    with Session(engine) as session:
        row = session.get(WebSecret, name)
        assert row is not None
        return bytes.fromhex(row.value)
