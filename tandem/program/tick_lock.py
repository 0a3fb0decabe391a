"""One ticking process at a time, across processes and hosts, with no shared job store.

Any number of ``tandem scheduler run`` processes may serve one database for availability.
Before each tick a scheduler takes the *tick lock*; if another process holds it, this one
skips the tick and tries again at its next one. The lock belongs to the holder's
connection or open file, so the operating system or the database server releases it the
moment the holder dies (SIGKILL, a lost host): a survivor takes over at its next tick, that
is within one tick interval (two at the most, if the holder died just after a survivor
looked).

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection held
  for the whole tick. The server drops it when the connection ends.
- SQLite (one host by nature): ``flock`` on a lock file beside the database file, created
  mode 0600. The kernel drops it when the process ends.

Correctness never depends on the lock: every message is claimed and recorded in the
database, so even two ticks at once send nothing twice. The lock only keeps several
schedulers from doing the same work side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from sqlalchemy import Engine, text

# "tandem" in ASCII, as one 64-bit key in PostgreSQL's advisory-lock space.
TICK_LOCK_KEY = int.from_bytes(b"tandem", "big")


@contextlib.contextmanager
def tick_lock(engine: Engine) -> Iterator[bool]:
    """Try to take the tick lock for the duration of the ``with`` block; yield whether this
    process holds it. Never waits: a held lock means another process is ticking now."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine) as held:
            yield held
        return
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield True  # a private database: no other process can reach it
        return
    with _file_lock(f"{database}.tick-lock") as held:
        yield held


@contextlib.contextmanager
def _advisory_lock(engine: Engine) -> Iterator[bool]:
    with engine.connect() as connection:
        held = bool(
            connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": TICK_LOCK_KEY}
            ).scalar()
        )
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": TICK_LOCK_KEY})
                connection.commit()


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[bool]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
