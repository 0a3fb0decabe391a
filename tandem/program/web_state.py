"""State that every web process shares, kept in the database: request counters and keys.

Several ``tandem serve`` processes on one database behave as one: a rate limit counts the
requests all of them saw, and a CSRF key made by one is the key of all.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tandem.program.storage.db import transaction
from tandem.program.storage.tables import RateCounter, WebSecret

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window of length ``window`` that holds ``now``."""
    return _EPOCH + ((now - _EPOCH) // window) * window


def count_hit(engine: Engine, key: str, *, now: datetime, window: timedelta) -> int:
    """Count one request under ``key`` in the current window; returns the window's count.

    Safe under concurrency: the first request of a window inserts the counter, later ones
    (in any process) increment it. Counters of windows older than a day are removed as new
    windows start.
    """
    start = window_start(now, window)
    for _ in range(3):
        try:
            with transaction(engine) as session:
                result = session.execute(
                    update(RateCounter)
                    .where(col(RateCounter.key) == key, col(RateCounter.window_start) == start)
                    .values(count=RateCounter.count + 1)
                )
                if result.rowcount == 0:  # type: ignore[attr-defined]
                    session.add(RateCounter(key=key, window_start=start, count=1))
                    session.execute(
                        delete(RateCounter).where(
                            col(RateCounter.window_start) < now - timedelta(days=1)
                        )
                    )
                    return 1
                found = session.exec(
                    select(RateCounter.count).where(
                        RateCounter.key == key, RateCounter.window_start == start
                    )
                ).one()
                return int(found)
        except IntegrityError:  # another process inserted this window's counter first
            continue
    raise RuntimeError(f"could not count a request for {key!r}")  # pragma: no cover


def hits(engine: Engine, key: str, *, now: datetime, window: timedelta) -> int:
    """The count under ``key`` in the current window, without counting."""
    with Session(engine) as session:
        found = session.exec(
            select(RateCounter.count).where(
                RateCounter.key == key, RateCounter.window_start == window_start(now, window)
            )
        ).first()
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
