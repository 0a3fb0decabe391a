"""Delivering the outbox: claim due rows, hand them to a channel, record each outcome.

A message is claimed with a lease (a conditional UPDATE) before it is handed over, and
marked sent only after the channel accepted it, so processes delivering at the same time
never send a message twice and a crashed process's claims lapse for the next one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, and_, func, or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from tandem.program.outbox.channels import (
    DEFAULT_BREAKER_LIMIT,
    ChannelUnavailableError,
    DeliveryChannel,
    DeliveryConfigError,
    FileOutbox,
    PermanentDeliveryError,
    TransientDeliveryError,
    guarded,
    retry_at,
)
from tandem.program.outbox.store import OUTBOX, file_label, unpack
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import OutboxStatus
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import Cohort, OutboxMessage, Pair, Participant

COHORTS: Any = Cohort.__table__  # type: ignore[attr-defined]  # Core statements
PAIRS: Any = Pair.__table__  # type: ignore[attr-defined]
PARTICIPANTS: Any = Participant.__table__  # type: ignore[attr-defined]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while long work runs."""


@dataclass(frozen=True)
class DeliverySettings:
    """How delivery claims and retries messages."""

    lease: timedelta = timedelta(minutes=10)
    """How long a delivery claim holds before another process may take the row over."""
    retry_limit: timedelta = timedelta(days=7)
    """A message that keeps failing transiently gives up this long after it was due."""
    breaker_limit: int = DEFAULT_BREAKER_LIMIT
    """After this many failed connections or time-outs in a row, a server is not tried
    again in the same tick (see :class:`~tandem.program.outbox.channels.CircuitBreaker`)."""


DEFAULT_DELIVERY = DeliverySettings()


@dataclass
class DeliveryCounts:
    """What delivery did: messages sent, to be retried later, and failed for good."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    stopped: str | None = None
    """Why delivery stopped early (the channel kept failing to connect), if it did."""


@dataclass(frozen=True)
class DeliveryItem:
    """A claimed message ready to hand to the channel."""

    pk: int
    message_id: str
    recipient: str
    cohort_pk: int
    due_at: datetime
    attempts: int
    data: bytes
    label: str = ""
    """What the file outbox names it (see :func:`~tandem.program.outbox.store.file_label`)."""


Outcome = tuple[OutboxStatus, str | None]
"""A delivery attempt's outcome: sent, failed (for good) or pending (retry), and the error."""


def deliver_due(
    engine: Engine,
    now: datetime,
    channel: DeliveryChannel,
    *,
    report: DeliveryCounts | None = None,
    batch: int = 500,
    progress: Progress | None = None,
    settings: DeliverySettings = DEFAULT_DELIVERY,
) -> DeliveryCounts:
    """Deliver every pending message that is due, claiming each so no one else sends it.

    A message is marked sent only after the channel accepted it: an SMTP server's "250"
    is recorded at once, one message at a time; a file outbox's batch is recorded after
    the batch is on disk. Transient failures are retried with backoff; permanent ones
    are marked failed for the coordinator to see. A misconfigured channel stops delivery
    (DeliveryConfigError) and leaves every message pending, its attempts untouched. A server
    that fails to connect or answer ``settings.breaker_limit`` times in a row is not tried
    again: the messages not yet tried stay pending, untouched, and ``report.stopped`` says
    why.
    Returns ``report`` (a new one if none is given) with the counts added.
    """
    report = report if report is not None else DeliveryCounts()
    channel = guarded(channel, settings.breaker_limit)
    claim = uuid.uuid4().hex
    total = _count_due(engine, now)
    done = 0
    while report.stopped is None:
        items = claim_due(engine, now, claim, batch, settings)
        if not items:
            break
        deliver_items(engine, channel, items, now, report, claim, settings)
        done += len(items)
        if progress:
            progress("delivering", done, total)
    return report


def deliver_items(
    engine: Engine,
    channel: DeliveryChannel,
    items: Sequence[DeliveryItem],
    now: datetime,
    report: DeliveryCounts,
    claim: str,
    settings: DeliverySettings = DEFAULT_DELIVERY,
) -> None:
    """Hand claimed messages to the channel and record each outcome (see deliver_due)."""
    senders: dict[int, str] = {}
    with Session(engine) as session:
        for item in items:
            if item.cohort_pk not in senders:
                senders[item.cohort_pk] = _sender(session, item.cohort_pk)
        outcomes: list[tuple[DeliveryItem, Outcome]] = []
        try:
            with channel.batch():
                if isinstance(channel, FileOutbox):
                    # A file outbox is idempotent by file name: the batch is recorded once
                    # it is on disk (the batch ends with one sync for all its files).
                    outcomes = [(i, write_stored(channel, i)) for i in items]
                else:
                    # A server is told each message once: each acceptance is committed at once.
                    for item in items:
                        outcome = _deliver_one(channel, item, senders[item.cohort_pk])
                        _record(session, item, outcome, now, report, settings)
                        session.commit()
        except DeliveryConfigError:
            _release(session, claim)
            session.commit()
            raise
        except ChannelUnavailableError as error:
            # The rest of the batch was not tried: released as it was, for the next tick.
            _release(session, claim)
            session.commit()
            report.stopped = str(error)
    record_outcomes(engine, outcomes, now, report, settings)


def record_outcomes(
    engine: Engine,
    outcomes: Sequence[tuple[DeliveryItem, Outcome]],
    now: datetime,
    report: DeliveryCounts,
    settings: DeliverySettings = DEFAULT_DELIVERY,
) -> None:
    """Record a batch's delivery outcomes: sent, retry later, or failed."""
    if not outcomes:
        return
    with transaction(engine) as session:
        sent = [item.pk for item, (status, _) in outcomes if status is OutboxStatus.SENT]
        if sent:
            session.connection().execute(
                update(OUTBOX)
                .where(OUTBOX.c.pk.in_(sent), OUTBOX.c.status == OutboxStatus.PENDING)
                .values(
                    status=OutboxStatus.SENT,
                    sent_at=now,
                    last_error=None,
                    claim=None,
                    claimed_until=None,
                )
            )
        for item, outcome in outcomes:
            if outcome[0] is not OutboxStatus.SENT:
                _record(session, item, outcome, now, report, settings)
    report.delivered += len(sent)


def write_fresh(outbox: FileOutbox, item: DeliveryItem) -> Outcome:
    """Write a message this tick just enqueued to a file outbox (replacing a stale file)."""
    return attempt(lambda: outbox.write(item.message_id, item.data, label=item.label, replace=True))


def write_stored(outbox: FileOutbox, item: DeliveryItem) -> Outcome:
    """Write a claimed message to a file outbox unless its file is there already."""
    return attempt(lambda: outbox.write(item.message_id, item.data, label=item.label))


def attempt(send: Callable[[], None]) -> Outcome:
    """One delivery attempt's outcome: sent, failed (permanently) or pending (retry later)."""
    try:
        send()
    except PermanentDeliveryError as error:
        return OutboxStatus.FAILED, str(error)
    except TransientDeliveryError as error:
        return OutboxStatus.PENDING, str(error)
    return OutboxStatus.SENT, None


def claim_due(
    engine: Engine,
    now: datetime,
    claim: str,
    batch: int,
    settings: DeliverySettings = DEFAULT_DELIVERY,
) -> list[DeliveryItem]:
    """Claim up to ``batch`` due messages for ``claim`` (a lease); the claimed messages."""
    with transaction(engine) as session:
        candidates = (
            select(OutboxMessage.pk)
            .where(_claimable(now))
            .order_by(col(OutboxMessage.pk))
            .limit(batch)
            .scalar_subquery()
        )
        # The claim conditions are repeated outside the subquery: under concurrent updates
        # PostgreSQL re-checks only the outer WHERE on the newest row version.
        session.execute(
            quiet_update(OutboxMessage)
            .where(col(OutboxMessage.pk).in_(candidates), _claimable(now))
            .values(claim=claim, claimed_until=now + settings.lease)
        )
    mentor, mentee = PARTICIPANTS.alias("mentor"), PARTICIPANTS.alias("mentee")
    query = (
        core_select(
            OUTBOX.c.pk,
            OUTBOX.c.message_id,
            OUTBOX.c.recipient_email,
            OUTBOX.c.cohort_pk,
            OUTBOX.c.due_at,
            OUTBOX.c.attempts,
            OUTBOX.c.content,
            OUTBOX.c.week,
            OUTBOX.c.kind,
            OUTBOX.c.recipient_role,
            COHORTS.c.name,
            COHORTS.c.timezone,
            mentor.c.external_id,
            mentee.c.external_id,
        )
        .select_from(
            OUTBOX.join(COHORTS, COHORTS.c.pk == OUTBOX.c.cohort_pk)
            .outerjoin(PAIRS, PAIRS.c.pk == OUTBOX.c.pair_pk)
            .outerjoin(mentor, mentor.c.pk == PAIRS.c.mentor_pk)
            .outerjoin(mentee, mentee.c.pk == PAIRS.c.mentee_pk)
        )
        .where(OUTBOX.c.claim == claim, OUTBOX.c.status == OutboxStatus.PENDING)
        .order_by(OUTBOX.c.pk)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    items = []
    for row in rows:
        pk, message_id, recipient, cohort_pk, due_at, attempts, content = row[:7]
        week, kind, role, cohort_name, timezone, mentor_id, mentee_id = row[7:]
        # The same facts the tick named the message by when it enqueued it (outbox_row).
        participant = {"mentor": mentor_id, "mentee": mentee_id}.get(role)
        label = file_label(cohort_name, timezone, due_at, week, kind, role, participant)
        items.append(
            DeliveryItem(
                pk, message_id, recipient, cohort_pk, due_at, attempts, unpack(content), label
            )
        )
    return items


def _sender(session: Session, cohort_pk: int) -> str:
    cohort = session.get(Cohort, cohort_pk)
    assert cohort is not None
    return parseaddr(cohort.sender)[1]


def _release(session: Session, claim: str) -> None:
    session.execute(
        quiet_update(OutboxMessage)
        .where(col(OutboxMessage.claim) == claim, col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(claim=None, claimed_until=None)
    )


def _count_due(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                )
            ).one()
        )


def _claimable(now: datetime) -> Any:
    return and_(
        col(OutboxMessage.status) == OutboxStatus.PENDING,
        col(OutboxMessage.next_attempt_at) <= now,
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now),
    )


def _deliver_one(channel: DeliveryChannel, item: DeliveryItem, sender: str) -> Outcome:
    return attempt(lambda: channel.send_raw(item.message_id, item.data, sender, item.recipient))


def _record(
    session: Session,
    row: DeliveryItem,
    outcome: Outcome,
    now: datetime,
    report: DeliveryCounts,
    settings: DeliverySettings,
) -> None:
    status, error = outcome
    values: dict[str, Any] = {"claim": None, "claimed_until": None}
    if status is OutboxStatus.SENT:
        values.update(status=OutboxStatus.SENT, sent_at=now, last_error=None)
        report.delivered += 1
    elif status is OutboxStatus.FAILED:
        values.update(status=OutboxStatus.FAILED, last_error=error, attempts=row.attempts + 1)
        report.failed += 1
    else:
        attempts = row.attempts + 1
        later = retry_at(attempts, now) or now + timedelta(hours=6)
        if now - row.due_at > settings.retry_limit:
            values.update(
                status=OutboxStatus.FAILED,
                last_error=f"gave up after {attempts} attempts: {error}",
                attempts=attempts,
            )
            report.failed += 1
        else:
            values.update(attempts=attempts, next_attempt_at=later, last_error=error)
            report.retrying += 1
    session.execute(
        quiet_update(OutboxMessage)
        .where(col(OutboxMessage.pk) == row.pk, col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(**values)
    )
