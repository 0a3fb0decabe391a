"""The outbox table as a store: message keys, complete rows, compression, insert-or-ignore.

Every message Tandem sends is first a row of the outbox, whose ``key`` is unique on
(cohort, pair, week, kind, recipient), or for a survey message on (cohort, person, survey,
kind, recipient role): inserting a message that exists already does
nothing, so work that is done twice enqueues each message once. A row holds the whole
message (compressed), built when it is enqueued; delivery (``dispatch.py``) only hands
the stored bytes to a channel.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parseaddr
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from tandem.program.outbox.mail import (
    Attachment,
    MailError,
    build_message,
    message_bytes,
    message_id_for,
    message_wire,
)
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.tables import Cohort, OutboxMessage

OUTBOX: Any = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core statements


def message_key(
    cohort_pk: int | None, pair_pk: int | None, week: int, kind: MessageKind | str, role: str
) -> str:
    """The outbox key: unique on (pair, week, kind, recipient) within a cohort."""
    return f"c{cohort_pk}/p{pair_pk or 0}/w{week}/{kind}/{role}"


def survey_message_key(
    cohort_pk: int | None, participant_pk: int, survey: str, kind: MessageKind | str, role: str
) -> str:
    """The outbox key of a survey message: one person's, unique on (survey, kind, role)
    within a cohort, however many pairs the person has."""
    return f"c{cohort_pk}/u{participant_pk}/{survey}/{kind}/{role}"


def file_label(
    cohort_name: str,
    timezone: str,
    due: datetime,
    week: int,
    kind: MessageKind | str,
    role: str,
    participant_id: str | None,
) -> str:
    """What the file outbox calls a message, before its short Message-ID hash.

    ``2026-09-14_fall-2026_week-02_weekly_mentor-M001``: the day it is due (in the
    cohort's time zone), the cohort, the program week (0: introductions), the kind, and
    whom it is for (the role and the participant's id; the coordinator's digest has no
    id). So a folder listed by name is in the order the messages went out, and "week 5,
    mentor M003" is ``*_week-05_*_mentor-M003_*``. It holds ids only, never a name or an
    e-mail address (an id that is an address is replaced by a hash of it), and only the
    characters ``A–Z a–z 0–9 . _ -``, each part bounded in length.

    The same row always gives the same label (everything in it is fixed when the row is
    made), which is how the file outbox recognises a message it wrote already.
    """
    day = _local_day(due, timezone)
    who = f"{role}-{_participant_part(participant_id)}" if participant_id else str(role)
    return f"{day}_{_cohort_part(cohort_name)}_week-{week:02d}_{_safe(str(kind), 16)}_{who}"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(text: str, limit: int) -> str:
    """``text`` with every run of other characters as one ``-``, trimmed to ``limit``."""
    return _UNSAFE.sub("-", text)[:limit].strip("._-")


@lru_cache(maxsize=256)
def _cohort_part(name: str) -> str:
    return _safe(name.lower(), 40) or "cohort"


@lru_cache(maxsize=65536)
def _participant_part(participant_id: str) -> str:
    if "@" in participant_id:  # an e-mail address used as the id: personal data
        return "id-" + hashlib.sha256(participant_id.encode("utf-8")).hexdigest()[:10]
    safe = _safe(participant_id, 40)
    if not safe:
        return "id-" + hashlib.sha256(participant_id.encode("utf-8")).hexdigest()[:10]
    return safe


@lru_cache(maxsize=4096)  # a week's messages share their due instant
def _local_day(due: datetime, timezone: str) -> str:
    return due.astimezone(ZoneInfo(timezone)).date().isoformat()


def sender_domain(cohort: Cohort) -> str:
    """The right-hand side of Message-IDs: the cohort sender's domain."""
    return _domain_of(cohort.sender)


@lru_cache(maxsize=64)
def _domain_of(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "tandem.invalid"


def reply_to(cohort: Cohort) -> tuple[str, str] | None:
    """Where replies to the cohort's messages go: its coordinator (name, address), when it
    names one. Checked when a message is built (a value no e-mail can carry fails it)."""
    if not cohort.coordinator_email:
        return None
    return cohort.coordinator_name or "", cohort.coordinator_email


def outbox_row(
    cohort: Cohort,
    pair_pk: int | None,
    week: int,
    kind: MessageKind,
    role: str,
    to: tuple[str, str],
    subject: str,
    text: str,
    html: str,
    due: datetime,
    *,
    now: datetime,
    attachments: Sequence[Attachment] = (),
    key: str | None = None,
    recipient_id: str | None = None,
    unbuildable: str | None = None,
) -> dict[str, Any]:
    """An outbox row (for :func:`insert_ignore`) holding the complete message.

    ``key`` is the message's key when it is not :func:`message_key`'s (a survey message's
    is :func:`survey_message_key`'s). ``recipient_id`` is the participant's id (None for
    the coordinator). ``data`` is the message's uncompressed bytes, for immediate
    delivery, and ``label`` its :func:`file_label`; neither is a column.
    A message that cannot be built (a recipient's name or address that no e-mail can carry,
    e.g. stored before the roster import refused it) becomes a row that has failed already,
    with the reason, for the coordinator to see; it never stops the other messages.
    ``unbuildable`` is such a reason found by the caller (a link that cannot be made).
    """
    name, email = to
    key = key or message_key(cohort.pk, pair_pk, week, kind, role)
    label = file_label(cohort.name, cohort.timezone, due, week, kind, role, recipient_id)
    try:
        if unbuildable is not None:
            raise MailError(unbuildable)
        message_id, data = _built(
            cohort, name, email, subject, text, html, key, due, attachments=attachments
        )
    except MailError as error:
        row = _unbuildable_row(
            cohort, key, pair_pk, week, kind, role, email, subject, due, now, error
        )
        row["label"] = label
        return row
    return {
        "key": key,
        "message_id": message_id,
        "cohort_pk": cohort.pk,
        "pair_pk": pair_pk,
        "week": week,
        "kind": kind,
        "recipient_role": role,
        "recipient_email": email,
        "subject": subject,
        "content": pack(data),
        "data": data,
        "label": label,
        "status": OutboxStatus.PENDING,
        "due_at": due,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
        "last_error": None,
    }


def _built(
    cohort: Cohort,
    name: str,
    email: str,
    subject: str,
    text: str,
    html: str,
    key: str,
    due: datetime,
    *,
    attachments: Sequence[Attachment],
) -> tuple[str, bytes]:
    """(Message-ID, wire bytes) of one message. Raises MailError (see build_message)."""
    values: dict[str, Any] = {
        "sender": cohort.sender,
        "recipient_name": name,
        "recipient_email": email,
        "subject": subject,
        "text": text,
        "html": html,
        "message_key": key,
        "domain": sender_domain(cohort),
        "date": due,
        "reply_to": reply_to(cohort),
    }
    if attachments:
        message = build_message(**values, attachments=attachments)
        return str(message["Message-ID"]), message_bytes(message)
    return message_wire(**values)


def _unbuildable_row(
    cohort: Cohort,
    key: str,
    pair_pk: int | None,
    week: int,
    kind: MessageKind,
    role: str,
    email: str,
    subject: str,
    due: datetime,
    now: datetime,
    error: MailError,
) -> dict[str, Any]:
    """The row of a message that cannot be built: failed at once, with the reason."""
    try:
        message_id = message_id_for(key, sender_domain(cohort))
    except MailError:
        message_id = message_id_for(key, "tandem.invalid")
    return {
        "key": key,
        "message_id": message_id,
        "cohort_pk": cohort.pk,
        "pair_pk": pair_pk,
        "week": week,
        "kind": kind,
        "recipient_role": role,
        "recipient_email": email,
        "subject": subject,
        "content": pack(b""),
        "data": b"",
        "status": OutboxStatus.FAILED,
        "due_at": due,
        "attempts": 1,
        "next_attempt_at": due,
        "created_at": now,
        "last_error": f"not built: {error}",
    }


# --------------------------------------------------------------------------- packing

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def pack(data: bytes) -> bytes:
    """The stored form of a message: a Zstandard frame (level 1)."""
    return _compressor().compress(data)


def unpack(content: bytes) -> bytes:
    """A stored message's bytes: Zstandard, or zlib as rows written by earlier versions."""
    if content.startswith(_ZSTD_MAGIC):
        return _decompressor().decompress(content)
    return zlib.decompress(content)


_codecs = threading.local()


def _compressor() -> Any:
    """This thread's Zstandard compressor (one object must not serve two threads)."""
    if not hasattr(_codecs, "compressor"):
        import zstandard

        _codecs.compressor = zstandard.ZstdCompressor(level=1)
        _codecs.decompressor = zstandard.ZstdDecompressor()
    return _codecs.compressor


def _decompressor() -> Any:
    _compressor()
    return _codecs.decompressor


# --------------------------------------------------------------------------- inserting


NOT_COLUMNS = frozenset({"data", "label"})
"""Entries of a row from :func:`outbox_row` that are not stored."""


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """Insert outbox rows, skipping any whose key exists; returns (pk, key, kind) inserted.

    A row's ``data`` and ``label`` entries (see :func:`outbox_row`) are not stored.
    """
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        return _sqlite_insert_ignore(connection, OUTBOX, rows)
    rows = [{k: v for k, v in row.items() if k not in NOT_COLUMNS} for row in rows]
    statement = (
        postgresql.insert(OUTBOX)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OUTBOX.c.pk, OUTBOX.c.key, OUTBOX.c.kind)
    )
    return [(pk, key, kind) for pk, key, kind in connection.execute(statement, rows).all()]


_SQLITE_BATCH = 500
"""Rows per multi-row INSERT on SQLite (its limit is 32,766 parameters a statement)."""


def _sqlite_insert_ignore(
    connection: Any, table: Any, rows: list[dict[str, Any]]
) -> list[tuple[int, str, str]]:
    """SQLite: multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` on the driver.

    The same statement SQLAlchemy would send, with each value converted by the column's
    own bind processor (so datetimes are stored exactly as the ORM stores them), minus
    SQLAlchemy's per-parameter bookkeeping, which dominated enqueueing a large week.
    """
    names = [name for name in rows[0] if name not in NOT_COLUMNS]
    for row in rows:
        if row.keys() - NOT_COLUMNS != set(names):
            raise ValueError("outbox rows of one insert must have the same columns")
    processors = []
    for name in names:
        processor = table.c[name].type._cached_bind_processor(connection.dialect)
        processors.append(_memoised(processor) if processor is not None else None)
    values = [
        [
            value if convert is None else convert(value)
            for value, convert in zip(row, processors, strict=True)
        ]
        for row in ([row[name] for name in names] for row in rows)
    ]
    columns = ", ".join(f'"{name}"' for name in names)
    one = "(" + ", ".join("?" * len(names)) + ")"
    cursor = connection.connection.driver_connection.cursor()
    inserted: list[tuple[int, str, str]] = []
    try:
        for start in range(0, len(values), _SQLITE_BATCH):
            batch = values[start : start + _SQLITE_BATCH]
            cursor.execute(
                f"INSERT INTO {table.name} ({columns}) VALUES {', '.join([one] * len(batch))} "
                'ON CONFLICT ("key") DO NOTHING RETURNING pk, "key", kind',
                [value for row in batch for value in row],
            )
            inserted.extend(cursor.fetchall())
    finally:
        cursor.close()
    return inserted


def _memoised(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` remembering its results: a chunk's rows share a few datetimes."""
    seen: dict[Any, Any] = {}

    def call(value: Any) -> Any:
        if value is None or not isinstance(value, datetime):
            return convert(value)
        if value not in seen:
            seen[value] = convert(value)
        return seen[value]

    return call
