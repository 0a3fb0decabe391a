"""The program engine: everything that is due, done once, computed from the database.

:func:`run_due` is what ``tandem tick`` and the scheduler call. It reads the state of every
running cohort and does what the clock says is due: activate or free proposed pairs,
flag pairs at risk, enqueue introductions, weekly topics, reminders and coordinator
digests, close finished programs, and deliver pending messages. It remembers nothing
between calls, so a tick at the same instant does nothing new, a late tick catches up,
and ticks in several processes at once never send a message twice:

* every message is first a row whose ``key`` is unique on (pair, week, kind, recipient),
  inserted with "insert or ignore";
* delivery claims rows with a lease (a conditional UPDATE), and a row is marked sent only
  after the channel accepted it;
* pair transitions are conditional UPDATEs (``… WHERE state = 'proposed'``).

A weekly message later than the grace period is not sent on its own: the pair's next
weekly message lists the topics they missed.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Engine, and_, func, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.cohorts import (
    LIVE_STATES,
    Confirmation,
    PairState,
    load_curriculum,
    send_instants,
)
from tandem.program.outbox.channels import (
    DeliveryChannel,
    DeliveryConfigError,
    FileOutbox,
    PermanentDeliveryError,
    TransientDeliveryError,
    retry_at,
)
from tandem.program.outbox.mail import (
    Attachment,
    build_message,
    calendar_attachment,
    message_bytes,
    message_wire,
)
from tandem.program.runtime import paused_gc
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import (
    CheckIn,
    Cohort,
    OutboxMessage,
    Pair,
    PairEvent,
    Participant,
)
from tandem.program.tokens import checkin_url, make_token
from tandem.prompts.batch import BatchRenderer
from tandem.prompts.curriculum import Curriculum
from tandem.prompts.render import IntroContext, MessageContext, render_intro

CHUNK = 500
"""Pairs handled per transaction: memory stays flat in the number of pairs."""

LEASE = timedelta(minutes=10)
"""How long a delivery claim holds before another process may take the row over."""

RETRY_LIMIT = timedelta(days=7)
"""A message that is not weekly content gives up this long after it was due."""

CLOSE_AFTER = timedelta(days=7)
"""A program closes this long after its final week's message."""

CHECKIN_DAYS = 21
"""How long a weekly check-in link stays valid: the week itself and two more."""

_OUTBOX: Any = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core statements

PARALLEL_PAIRS = 4000
"""From this many pairs in a cohort, a tick spreads the cohort's pairs over processes."""

SYNC_EVERY = 1000
"""Messages written to a file outbox between two syncs (and sent-markings)."""

TASK_CHUNKS = 8
"""Chunks handed to a worker process at a time."""


class Kind:
    INTRO = "intro"
    WEEKLY = "weekly"
    REMINDER = "reminder"
    DIGEST = "digest"
    CERTIFICATE = "certificate"


@dataclass
class TickReport:
    """What one tick did, for people and for tests."""

    activated: int = 0
    freed: int = 0
    completed: int = 0
    flagged: int = 0
    enqueued: Counter[str] = field(default_factory=Counter)
    expired: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def merge(self, other: TickReport) -> None:
        """Add the counts of ``other`` (a worker's part of the same tick) to these."""
        counts = ("activated", "freed", "completed", "flagged", "expired")
        for name in (*counts, "delivered", "retrying", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.enqueued.update(other.enqueued)

    def lines(self) -> list[str]:
        queued = ", ".join(f"{n} {k}" for k, n in sorted(self.enqueued.items())) or "none"
        return [
            f"pairs: {self.activated} activated, {self.freed} freed (not confirmed), "
            f"{self.completed} completed, {self.flagged} newly at risk",
            f"messages queued: {queued}; {self.expired} expired past the grace period",
            f"delivered: {self.delivered}; retrying later: {self.retrying}; failed: {self.failed}",
        ]


Progress = Callable[[str, int, int], None]


def run_due(
    engine: Engine,
    now: datetime,
    channel: DeliveryChannel,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
) -> TickReport:
    """Do all the work due at ``now`` once (see the module docstring).

    ``workers`` is how many processes share a cohort's pairs (rendering and building
    messages is CPU work): ``None`` picks one per available core for cohorts of at least
    :data:`PARALLEL_PAIRS` pairs on a database that other processes can open, and one
    process otherwise. Each worker handles whole chunks of pairs exactly as a single
    process would; with a file outbox it also writes the messages it enqueued, and with
    any other channel the messages are delivered by this process afterwards. The outcome
    is the same with any number of workers (the database decides what is sent). Workers
    are forked while the calling process runs a single thread and started afresh
    (``spawn``) otherwise; as with any use of :mod:`multiprocessing`, a script that calls
    this with more than one worker guards its entry point with
    ``if __name__ == "__main__":``.
    """
    report = TickReport()
    with Session(engine) as session:
        cohorts = session.exec(
            select(Cohort.pk, func.count(col(Pair.pk)))
            .join(Pair, col(Pair.cohort_pk) == col(Cohort.pk), isouter=True)
            .where(col(Cohort.completed_at).is_(None))
            .group_by(col(Cohort.pk))
            .order_by(col(Cohort.pk))
        ).all()
    for cohort_pk, pairs in cohorts:
        assert cohort_pk is not None
        count = _workers(engine, pairs) if workers is None else workers
        _CohortTick(engine, cohort_pk, now, report, progress, channel).run(count)
    deliver_due(engine, now, channel, report=report, progress=progress)
    return report


def _workers(engine: Engine, pairs: int) -> int:
    """How many processes a tick uses for a cohort of ``pairs`` pairs by default."""
    if pairs < PARALLEL_PAIRS or not _reopenable(engine):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def _reopenable(engine: Engine) -> bool:
    """Whether another process can open the same database (not an in-memory SQLite)."""
    database = engine.url.database
    return engine.dialect.name != "sqlite" or bool(database and database != ":memory:")


# --------------------------------------------------------------------------- workers

_worker: _CohortTick | None = None


def _init_worker(
    url: str, cohort_pk: int, now: datetime, channel: FileOutbox | None, claim: str
) -> None:
    """Set up a worker process of a tick: its own engine and the cohort's state."""
    from tandem.program.storage.db import create_db_engine

    global _worker
    _worker = _CohortTick(
        create_db_engine(url), cohort_pk, now, TickReport(), None, channel, claim=claim
    )


def _work(ranges: list[tuple[int, int]]) -> tuple[int, TickReport]:
    """In a worker: do some chunks (pairs after ``low`` up to ``high``); their counts."""
    assert _worker is not None, "the worker was not initialised"
    _worker.report = TickReport()
    done = 0
    for low, high in ranges:
        pairs = _worker.pairs_between(low, high)
        _worker.chunk(pairs)
        done += len(pairs)
    _worker.settle()
    return done, _worker.report


def _span(column: Any, pks: Sequence[int]) -> Any:
    """``column`` between the least and the greatest of ``pks``: a chunk's pairs are
    consecutive in the cohort, so this selects them (and possibly pairs of other cohorts
    in between, which callers ignore or exclude) without one parameter per pair."""
    return and_(column >= min(pks), column <= max(pks))


_PAIR: Any = Pair.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PairRow:
    """A pair as the per-chunk work reads it: the row's values, no ORM bookkeeping."""

    pk: int
    cohort_pk: int
    mentee_pk: int
    mentor_pk: int
    score: float | None
    track: str
    state: str
    state_reason: str | None
    proposed_at: datetime
    respond_by: datetime
    mentor_response: str | None
    mentee_response: str | None
    activated_at: datetime | None
    ended_at: datetime | None
    first_week: int
    meeting_slot: dict[str, Any] | None
    risk: list[str]
    risk_since: datetime | None


@dataclass
class _Plan:
    """What a chunk will write, gathered while reading and rendering."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    risk: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    expire: list[int] = field(default_factory=list)
    """Outbox rows (pks) found pending and late past the grace period."""


# --------------------------------------------------------------------------- per cohort


@dataclass(frozen=True)
class _Person:
    pk: int
    name: str
    email: str


class _CohortTick:
    def __init__(
        self,
        engine: Engine,
        cohort_pk: int,
        now: datetime,
        report: TickReport,
        progress: Progress | None,
        channel: DeliveryChannel | None = None,
        *,
        claim: str | None = None,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.claim = claim or uuid.uuid4().hex
        self._windows: dict[int, tuple[date, date]] = {}
        self._settling: threading.Thread | None = None
        self._unsynced: list[tuple[_Item, tuple[str, str | None]]] = []
        self._settle_error: BaseException | None = None
        self._titles: dict[tuple[int, str | None], str] = {}
        self._fresh: list[_Item] = []
        self.now = now
        self.report = report
        self.progress = progress
        with Session(engine) as session:
            cohort = session.get(Cohort, cohort_pk)
            assert cohort is not None
            self.cohort = cohort
            self._cohort_pk = cohort.pk  # read once: an ORM attribute is slow per message
        self.instants = send_instants(self.cohort)
        self.week = schedule.week_for(now, self.instants)
        self.grace = timedelta(days=self.cohort.grace_days)
        self.domain = sender_domain(self.cohort)

    @cached_property
    def curriculum(self) -> Curriculum:
        return load_curriculum(self.cohort)

    @cached_property
    def renderer(self) -> BatchRenderer:
        return BatchRenderer(self.curriculum)

    def run(self, workers: int = 1) -> None:
        """Do the cohort's due work, its pairs spread over ``workers`` processes."""
        if self.week is None:
            return
        self._lifecycle()
        if workers > 1:
            self._run_parallel(workers)
        else:
            bounds = self._bounds()
            for low, high, done in bounds:
                self.chunk(self.pairs_between(low, high))
                if self.progress:
                    self.progress("pairs", done, bounds[-1][2])
        self._digest()
        self._deliver_fresh()
        self.settle()
        self._close()

    def chunk(self, pairs: Sequence[PairRow]) -> None:
        """Do the per-pair work for ``pairs``: read and render first, then write briefly.

        Everything that takes time (reading state, rendering and building messages) happens
        before the write transaction, which only applies risk flags, expires stale messages
        and inserts the new outbox rows; another process ticking at the same time waits
        for the database's write lock only that long.
        """
        plan = _Plan()
        with paused_gc(), Session(self.engine) as session:
            people = self._people(session, pairs)
            plan.expire = self._stale(session, pairs)
            self._risk(session, pairs, plan)
            self._intros(session, pairs, people, plan)
            self._weekly(session, pairs, people, plan)
            self._reminders(session, pairs, people, plan)
        with transaction(self.engine) as session:
            for pk, values in plan.risk:
                session.execute(_update(Pair).where(col(Pair.pk) == pk).values(**values))
            if plan.expire:
                self._expire_stale(session, plan.expire)
            self._enqueue(session, plan.rows)
        self._deliver_fresh()

    def _run_parallel(self, workers: int) -> None:
        """Hand ranges of pairs to worker processes (see :func:`run_due`)."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        bounds = self._bounds()
        if not bounds:
            return
        url = self.engine.url.render_as_string(hide_password=False)
        channel = self.channel if isinstance(self.channel, FileOutbox) else None
        # A fresh copy of this process (fork) starts at once; a new interpreter (spawn)
        # imports everything again. Fork is safe only while no other thread runs here.
        forkable = "fork" in multiprocessing.get_all_start_methods()
        method = "fork" if forkable and threading.active_count() == 1 else "spawn"
        context = multiprocessing.get_context(method)
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(bounds)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(url, self.cohort.pk or 0, self.now, channel, self.claim),
        )
        try:
            ranges = [(low, high) for low, high, _ in bounds]
            futures = [
                pool.submit(_work, ranges[start : start + TASK_CHUNKS])
                for start in range(0, len(ranges), TASK_CHUNKS)
            ]
            pairs = 0
            for future in as_completed(futures):
                done, report = future.result()
                self.report.merge(report)
                pairs += done
                if self.progress:
                    self.progress("pairs", pairs, bounds[-1][2] if bounds else 0)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _bounds(self) -> list[tuple[int, int, int]]:
        """(after pk, up to pk, pairs so far) for each chunk of the cohort's pairs."""
        with Session(self.engine) as session:
            pks = session.exec(
                select(Pair.pk).where(Pair.cohort_pk == self.cohort.pk).order_by(col(Pair.pk))
            ).all()
        bounds = []
        for start in range(0, len(pks), CHUNK):
            part = pks[start : start + CHUNK]
            bounds.append(((pks[start - 1] or 0) if start else 0, part[-1] or 0, start + len(part)))
        return bounds

    def pairs_between(self, low: int, high: int) -> list[PairRow]:
        """The cohort's pairs after ``low`` up to ``high`` (primary keys), as plain rows."""
        return self._pair_rows((_PAIR.c.pk > low) & (_PAIR.c.pk <= high))

    def _pair_rows(self, condition: Any, limit: int | None = None) -> list[PairRow]:
        query = (
            core_select(_PAIR)
            .where(_PAIR.c.cohort_pk == self.cohort.pk, condition)
            .order_by(_PAIR.c.pk)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [PairRow(**row._mapping) for row in connection.execute(query)]

    def _deliver_fresh(self) -> None:
        """Deliver what this tick just enqueued, straight from memory.

        The rows are committed first (the outbox pattern) and claimed by this tick when
        inserted, so no other process can deliver them; a row another process inserted
        first was not inserted here and is not ours.
        """
        if self.channel is not None and self._fresh:
            if isinstance(self.channel, FileOutbox):
                self._write_files(self.channel, self._fresh)
            else:
                deliver_items(
                    self.engine, self.channel, self._fresh, self.now, self.report, self.claim
                )
            if self.progress:
                self.progress("delivering", self.report.delivered, self.report.delivered)
        self._fresh = []

    def _write_files(self, outbox: FileOutbox, items: list[_Item]) -> None:
        """Write a chunk's messages to the file outbox; record them once they are on disk.

        Making the files durable (one ``sync`` for up to :data:`SYNC_EVERY` messages) and
        recording them as sent happen in a background thread while this one goes on
        building messages; :meth:`settle` waits for it. A message is still marked sent
        only after its file is on disk.
        """
        with outbox.batch(sync=False):
            # These rows were inserted by this tick: no earlier delivery of them exists, and
            # a file of the same name is from another database's run (replaced).
            self._unsynced += [
                (dataclasses.replace(item, data=b""), _write_fresh(outbox, item)) for item in items
            ]
        if len(self._unsynced) >= SYNC_EVERY:
            self._record_in_background(outbox)

    def _record_in_background(self, outbox: FileOutbox) -> None:
        self._join_settling()
        outcomes, self._unsynced = self._unsynced, []
        self._settling = threading.Thread(
            target=self._record_durable, args=(outbox, outcomes), daemon=True
        )
        self._settling.start()

    def _record_durable(
        self, outbox: FileOutbox, outcomes: list[tuple[_Item, tuple[str, str | None]]]
    ) -> None:
        try:
            outbox.sync()
            record_outcomes(self.engine, outcomes, self.now, self.report)
        except BaseException as error:  # handed to the tick's thread by settle()
            self._settle_error = error

    def settle(self) -> None:
        """Wait until the messages written so far are on disk and recorded."""
        if self._unsynced and isinstance(self.channel, FileOutbox):
            self._record_in_background(self.channel)
        self._join_settling()

    def _join_settling(self) -> None:
        if self._settling is not None:
            self._settling.join()
            self._settling = None
        if self._settle_error is not None:
            error, self._settle_error = self._settle_error, None
            raise error

    # -- helpers

    def _people(self, session: Session, pairs: Sequence[PairRow]) -> dict[int, _Person]:
        pks = {p.mentee_pk for p in pairs} | {p.mentor_pk for p in pairs}
        rows = session.exec(
            select(Participant.pk, Participant.name, Participant.email).where(
                col(Participant.pk).in_(pks)
            )
        ).all()
        return {pk: _Person(pk, name, email) for pk, name, email in rows if pk is not None}

    def _transition(self, session: Session, pair: Pair, to: PairState, reason: str | None) -> bool:
        """Move ``pair`` to ``to`` if no one else did first; True if this call did."""
        values: dict[str, Any] = {"state": to.value, "state_reason": reason}
        if to is PairState.ACTIVE:
            values["activated_at"] = self.now
        if to in (PairState.COMPLETED, PairState.DECLINED, PairState.ENDED):
            values["ended_at"] = self.now
        result = session.execute(
            _update(Pair)
            .where(and_(col(Pair.pk) == pair.pk, col(Pair.state) == pair.state))
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        session.add(
            PairEvent(
                pair_pk=pair.pk or 0,
                at=self.now,
                from_state=pair.state,
                to_state=to.value,
                actor="tandem",
                reason=reason,
            )
        )
        return True

    def _lifecycle(self) -> None:
        """Proposed pairs whose response window closed: activate, or free the mentee."""
        with transaction(self.engine) as session:
            due = session.exec(
                select(Pair).where(
                    Pair.cohort_pk == self.cohort.pk,
                    Pair.state == PairState.PROPOSED.value,
                    col(Pair.respond_by) <= self.now,
                )
            ).all()
            for pair in due:
                both = pair.mentor_response == "accepted" and pair.mentee_response == "accepted"
                if self.cohort.confirmation == Confirmation.REQUIRE_BOTH.value and not both:
                    if self._transition(
                        session, pair, PairState.DECLINED, "not confirmed by both in time"
                    ):
                        self.report.freed += 1
                elif self._transition(session, pair, PairState.ACTIVE, "response window closed"):
                    self.report.activated += 1

    def _receives_weekly(self, pair: Pair | PairRow) -> bool:
        if pair.state == PairState.ACTIVE.value:
            return True
        return (
            pair.state == PairState.PROPOSED.value
            and self.cohort.confirmation == Confirmation.OPT_OUT.value
        )

    def _key(self, pair_pk: int | None, week: int, kind: str, role: str) -> str:
        return message_key(self._cohort_pk, pair_pk, week, kind, role)

    def _title(self, week: int, track: str | None) -> str:
        if (week, track) not in self._titles:
            self._titles[week, track] = self.curriculum.week(week, track).title
        return self._titles[week, track]

    def _existing(self, session: Session, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = session.exec(
            select(OutboxMessage.key, OutboxMessage.status).where(col(OutboxMessage.key).in_(keys))
        ).all()
        return dict(rows)

    def _enqueue(self, session: Session, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = {row["key"]: row["data"] for row in rows}
        if self.channel is not None:
            for row in rows:
                row.update(claim=self.claim, claimed_until=self.now + LEASE)
        by_key = {row["key"]: row for row in rows}
        for pk, key, kind in insert_ignore(session, rows):
            self.report.enqueued[kind] += 1
            row = by_key[key]
            self._fresh.append(
                _Item(
                    pk,
                    row["message_id"],
                    row["recipient_email"],
                    row["cohort_pk"],
                    row["due_at"],
                    0,
                    data[key],
                )
            )

    def _message(
        self,
        pair_pk: int | None,
        week: int,
        kind: str,
        role: str,
        to: _Person | tuple[str, str],
        subject: str,
        text: str,
        html: str,
        due: datetime,
        attachments: Sequence[Attachment] = (),
    ) -> dict[str, Any]:
        name, email = (to.name, to.email) if isinstance(to, _Person) else to
        return outbox_row(
            self.cohort,
            pair_pk,
            week,
            kind,
            role,
            (name, email),
            subject,
            text,
            html,
            due,
            now=self.now,
            attachments=attachments,
        )

    def _context(
        self,
        pair: PairRow,
        role: Role,
        week: int,
        mentor: _Person,
        mentee: _Person,
        missed: tuple[str, ...] = (),
    ) -> MessageContext:
        """What a weekly topic or reminder says to ``role`` of ``pair`` in ``week``."""
        start, end = self._window(week)
        return MessageContext(
            mentor_name=mentor.name,
            mentee_name=mentee.name,
            cohort_name=self.cohort.name,
            week_start=start,
            week_end=end,
            checkin_url=self._token_url(pair.pk or 0, week, role.value, "checkin", CHECKIN_DAYS),
            missed_topics=missed,
        )

    def _window(self, week: int) -> tuple[date, date]:
        if week not in self._windows:
            self._windows[week] = schedule.week_window(
                self.cohort.start_date, self.cohort.send_weekday, week
            )
        return self._windows[week]

    @cached_property
    def _secret(self) -> bytes:
        return bytes.fromhex(self.cohort.secret)

    def _token_url(self, pair_pk: int, week: int, role: str, path: str, days: int) -> str:
        token = make_token(
            self._secret,
            pair_id=pair_pk,
            week=week,
            role=role,
            expires=self.now + timedelta(days=days),
        )
        return checkin_url(f"{self.cohort.base_url}/{path}", token)

    # -- introductions

    def _intros(
        self, session: Session, pairs: Sequence[PairRow], people: dict[int, _Person], plan: _Plan
    ) -> None:
        due = [
            p for p in pairs if p.state == PairState.PROPOSED.value and p.proposed_at <= self.now
        ]
        keys = [self._key(p.pk, 0, Kind.INTRO, r.value) for p in due for r in Role]
        existing = self._existing(session, keys)
        for pair in due:
            mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
            for role in (Role.MENTOR, Role.MENTEE):
                if self._key(pair.pk, 0, Kind.INTRO, role.value) in existing:
                    continue
                partner_pk = pair.mentee_pk if role is Role.MENTOR else pair.mentor_pk
                respond = self._token_url(
                    pair.pk or 0, 0, role.value, "respond", self.cohort.response_days + 1
                )
                context = IntroContext(
                    mentor_name=mentor.name,
                    mentee_name=mentee.name,
                    cohort_name=self.cohort.name,
                    accept_url=f"{respond}?answer=accept",
                    decline_url=f"{respond}?answer=decline",
                    partner_profile=self._shared_profile(session, partner_pk),
                    respond_by=pair.respond_by.astimezone(
                        schedule.zone(self.cohort.timezone)
                    ).date(),
                )
                rendered = render_intro(self.curriculum, role, context)
                recipient = mentor if role is Role.MENTOR else mentee
                plan.rows.append(
                    self._message(
                        pair.pk,
                        0,
                        Kind.INTRO,
                        role.value,
                        recipient,
                        rendered.subject,
                        rendered.text,
                        rendered.html,
                        max(pair.proposed_at, self.instants[0]),
                    )
                )

    def _shared_profile(self, session: Session, person_pk: int) -> tuple[tuple[str, str], ...]:
        """What a person chose to share about themselves (never identity attributes)."""
        person = session.get(Participant, person_pk)
        assert person is not None
        lines = [
            ("Career stage", (person.career_stage or "").replace("_", " ")),
            ("Institution", person.institution or ""),
            ("Department", person.department or ""),
            ("Research areas", ", ".join(person.research_areas)),
            ("Research interests", person.research_interests),
            (
                "Wants help with" if person.role == Role.MENTEE.value else "Can help with",
                ", ".join(t.replace("_", " ") for t in person.topics),
            ),
            ("Time zone", person.timezone or ""),
            ("Languages", ", ".join(person.languages)),
            ("Meets by", ", ".join(m.replace("_", " ") for m in person.meeting_modes)),
            ("E-mail", person.email),
        ]
        return tuple((label, value) for label, value in lines if value)

    # -- weekly topics

    def _stale(self, session: Session, pairs: Sequence[PairRow]) -> list[int]:
        """Pending weekly messages and reminders of ``pairs`` later than the grace period."""
        # The status is checked here, not in SQL: a condition on it would let SQLite pick
        # the status index and read every pending message (a whole week's while it is
        # being sent), for every chunk.
        return [
            pk
            for pk, cohort_pk, status in session.execute(
                core_select(_OUTBOX.c.pk, _OUTBOX.c.cohort_pk, _OUTBOX.c.status).where(
                    _span(_OUTBOX.c.pair_pk, [p.pk or 0 for p in pairs]),
                    _OUTBOX.c.kind.in_([Kind.WEEKLY, Kind.REMINDER]),
                    _OUTBOX.c.due_at < self.now - self.grace,
                )
            )
            if status == "pending" and cohort_pk == self.cohort.pk
        ]

    def _expire_stale(self, session: Session, pks: Sequence[int]) -> None:
        """Pending weekly messages later than the grace period will not be sent alone."""
        result = session.execute(
            _update(OutboxMessage)
            .where(col(OutboxMessage.pk).in_(pks), col(OutboxMessage.status) == "pending")
            .values(
                status="expired",
                last_error="late past the grace period; listed in the next message",
            )
        )
        self.report.expired += result.rowcount  # type: ignore[attr-defined]

    def _weekly(
        self, session: Session, pairs: Sequence[PairRow], people: dict[int, _Person], plan: _Plan
    ) -> None:
        week = self.week or 0
        if week < 1 or self.now - self.instants[week] > self.grace:
            return
        due = [p for p in pairs if self._receives_weekly(p) and p.first_week <= week]
        keys = [self._key(p.pk, week, Kind.WEEKLY, r.value) for p in due for r in Role]
        existing = self._existing(session, keys)
        todo = [
            (p, r)
            for p in due
            for r in Role
            if self._key(p.pk, week, Kind.WEEKLY, r.value) not in existing
        ]
        if not todo:
            return
        sent: dict[tuple[int, str], set[int]] = defaultdict(set)
        # The status is checked here, not in SQL: a condition on it would let SQLite pick
        # the status index and read every message ever sent, for every chunk.
        for pair_pk, sent_week, role, status in session.exec(
            select(
                OutboxMessage.pair_pk,
                OutboxMessage.week,
                OutboxMessage.recipient_role,
                OutboxMessage.status,
            ).where(
                _span(col(OutboxMessage.pair_pk), [p.pk or 0 for p, _ in todo]),
                OutboxMessage.kind == Kind.WEEKLY,
            )
        ).all():
            if status == "sent":
                sent[(pair_pk or 0, role)].add(sent_week)
        for pair, role in todo:
            mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
            missed = tuple(
                self._title(w, pair.track)
                for w in range(pair.first_week, week)
                if w not in sent[(pair.pk or 0, role.value)]
            )
            context = self._context(pair, role, week, mentor, mentee, missed)
            rendered = self.renderer.weekly(week, pair.track, role, context)
            recipient = mentor if role is Role.MENTOR else mentee
            attachments = self._invitation(pair, week, mentor, mentee)
            plan.rows.append(
                self._message(
                    pair.pk,
                    week,
                    Kind.WEEKLY,
                    role.value,
                    recipient,
                    rendered.subject,
                    rendered.text,
                    rendered.html,
                    self.instants[week],
                    attachments,
                )
            )

    def _invitation(
        self, pair: PairRow, week: int, mentor: _Person, mentee: _Person
    ) -> tuple[Attachment, ...]:
        """An .ics invitation for the pair's agreed meeting slot in this week, if any."""
        slot = pair.meeting_slot
        if not slot:
            return ()
        from tandem.program.calendar import Participant as CalendarPerson
        from tandem.program.calendar import meeting_invitation

        start_day, _ = schedule.week_window(self.cohort.start_date, self.cohort.send_weekday, week)
        day = start_day + timedelta(days=(int(slot["weekday"]) - start_day.weekday()) % 7)
        hours, minutes = (int(x) for x in str(slot["time"]).split(":"))
        tz = str(slot.get("timezone") or self.cohort.timezone)
        from datetime import time as wall_time

        start = schedule.local_instant(day, wall_time(hours, minutes), schedule.zone(tz))
        ics = meeting_invitation(
            uid_key=self._key(pair.pk, week, "meeting", "pair"),
            sequence=int(slot.get("sequence", 0)),
            summary=f"Mentoring: {self.curriculum.week(week, pair.track).title}",
            description=f"Week {week} of {self.cohort.name}",
            start=start,
            duration=timedelta(minutes=int(slot.get("minutes", 45))),
            tz=tz,
            organizer=CalendarPerson(name=mentor.name, email=mentor.email),
            attendees=(CalendarPerson(name=mentee.name, email=mentee.email),),
            dtstamp=self.instants[week],
            uid_domain=self.domain,
        )
        return (calendar_attachment(ics),)

    # -- reminders

    def _reminders(
        self, session: Session, pairs: Sequence[PairRow], people: dict[int, _Person], plan: _Plan
    ) -> None:
        week = self.week or 0
        if week < 1:
            return
        remind_at = self.instants[week] + timedelta(days=self.cohort.reminder_days)
        next_week = (
            self.instants[week + 1]
            if week + 1 < len(self.instants)
            else self.instants[week] + timedelta(days=7)
        )
        if not remind_at <= self.now < next_week:
            return
        due = [p for p in pairs if p.state == PairState.ACTIVE.value or self._receives_weekly(p)]
        pair_pks = [p.pk or 0 for p in due]
        if not pair_pks:
            return
        got_topic = {
            (pk, role)
            for pk, role, status in session.exec(
                select(
                    OutboxMessage.pair_pk, OutboxMessage.recipient_role, OutboxMessage.status
                ).where(
                    _span(col(OutboxMessage.pair_pk), pair_pks),
                    OutboxMessage.kind == Kind.WEEKLY,
                    OutboxMessage.week == week,
                )
            ).all()
            if status == "sent"  # not in SQL: see _weekly
        }
        checked_in = {
            (pk, role)
            for pk, role in session.exec(
                select(CheckIn.pair_pk, CheckIn.role).where(
                    _span(col(CheckIn.pair_pk), pair_pks), CheckIn.week == week
                )
            ).all()
        }
        keys = [self._key(p.pk, week, Kind.REMINDER, r.value) for p in due for r in Role]
        existing = self._existing(session, keys)
        for pair in due:
            mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
            for role in Role:
                if (pair.pk, role.value) not in got_topic or (pair.pk, role.value) in checked_in:
                    continue
                if self._key(pair.pk, week, Kind.REMINDER, role.value) in existing:
                    continue
                context = self._context(pair, role, week, mentor, mentee)
                rendered = self.renderer.reminder(week, pair.track, role, context)
                recipient = mentor if role is Role.MENTOR else mentee
                plan.rows.append(
                    self._message(
                        pair.pk,
                        week,
                        Kind.REMINDER,
                        role.value,
                        recipient,
                        rendered.subject,
                        rendered.text,
                        rendered.html,
                        remind_at,
                    )
                )

    # -- risk

    def _risk(self, session: Session, pairs: Sequence[PairRow], plan: _Plan) -> None:
        week = self.week or 0
        watched = [
            p for p in pairs if p.state in (PairState.ACTIVE.value, PairState.PROPOSED.value)
        ]
        if not watched:
            return
        met: dict[int, set[int]] = defaultdict(set)
        low: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for pair_pk, w, did_meet, rating in session.exec(
            select(CheckIn.pair_pk, CheckIn.week, CheckIn.met, CheckIn.rating).where(
                _span(col(CheckIn.pair_pk), [p.pk or 0 for p in watched])
            )
        ).all():
            if did_meet:
                met[pair_pk].add(w)
            if rating is not None and rating <= 2:
                low[pair_pk].append((w, rating))
        closed_through = week - 1 if self.now < self.instants[-1] + CLOSE_AFTER else week
        for pair in watched:
            reasons = []
            pk = pair.pk or 0
            first = pair.first_week
            for w in range(max(first + 1, closed_through - 0), closed_through + 1):
                if w - 1 >= first and w - 1 not in met[pk] and w not in met[pk]:
                    reasons.append(f"no meeting in weeks {w - 1} and {w}")
            recent = [r for w, r in low[pk] if w >= week - 1]
            if recent:
                reasons.append(f"rated the mentoring {min(recent)} of 5")
            if (
                pair.state == PairState.PROPOSED.value
                and self.cohort.confirmation == Confirmation.REQUIRE_BOTH.value
                and self.now >= pair.proposed_at + timedelta(days=self.cohort.response_days / 2)
            ):
                reasons.append("match not yet confirmed by both")
            if reasons != list(pair.risk):
                if reasons and not pair.risk:
                    self.report.flagged += 1
                plan.risk.append(
                    (
                        pk,
                        {
                            "risk": reasons,
                            "risk_since": (pair.risk_since or self.now) if reasons else None,
                        },
                    )
                )

    # -- coordinator digest

    def _digest(self) -> None:
        week = self.week or 0
        email = self.cohort.coordinator_email
        if not email or week < 1 or self.now - self.instants[week] > self.grace:
            return
        from tandem.program.reports import render_digest

        with transaction(self.engine) as session:
            key = self._key(None, week, Kind.DIGEST, "coordinator")
            if self._existing(session, [key]):
                return
            since = self.instants[week - 1]
            subject, text, html = render_digest(session, self.cohort, week, since, self.now)
            row = self._message(
                None,
                week,
                Kind.DIGEST,
                "coordinator",
                ("Program coordinator", email),
                subject,
                text,
                html,
                self.instants[week],
            )
            self._enqueue(session, [row])

    # -- closure

    def _close(self) -> None:
        if self.now < self.instants[-1] + CLOSE_AFTER:
            return
        with transaction(self.engine) as session:
            for pair in session.exec(
                select(Pair).where(
                    Pair.cohort_pk == self.cohort.pk,
                    col(Pair.state).in_([s.value for s in LIVE_STATES]),
                )
            ).all():
                if pair.state == PairState.PAUSED.value:
                    self._transition(
                        session, pair, PairState.ENDED, "paused when the program closed"
                    )
                elif self._transition(session, pair, PairState.COMPLETED, "program completed"):
                    self.report.completed += 1
            session.execute(
                _update(Cohort)
                .where(col(Cohort.pk) == self.cohort.pk, col(Cohort.completed_at).is_(None))
                .values(completed_at=self.now)
            )


def message_key(cohort_pk: int | None, pair_pk: int | None, week: int, kind: str, role: str) -> str:
    """The outbox key: unique on (pair, week, kind, recipient) within a cohort."""
    return f"c{cohort_pk}/p{pair_pk or 0}/w{week}/{kind}/{role}"


def sender_domain(cohort: Cohort) -> str:
    """The right-hand side of Message-IDs: the cohort sender's domain."""
    return _domain_of(cohort.sender)


@lru_cache(maxsize=64)
def _domain_of(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "tandem.invalid"


def outbox_row(
    cohort: Cohort,
    pair_pk: int | None,
    week: int,
    kind: str,
    role: str,
    to: tuple[str, str],
    subject: str,
    text: str,
    html: str,
    due: datetime,
    *,
    now: datetime,
    attachments: Sequence[Attachment] = (),
) -> dict[str, Any]:
    """An outbox row (for :func:`insert_ignore`) holding the complete message.

    ``data`` is the message's uncompressed bytes, for immediate delivery; it is not a column.
    """
    name, email = to
    key = message_key(cohort.pk, pair_pk, week, kind, role)
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
    }
    if attachments:
        message = build_message(**values, attachments=attachments)
        message_id, data = str(message["Message-ID"]), message_bytes(message)
    else:
        message_id, data = message_wire(**values)
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
        "status": "pending",
        "due_at": due,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
    }


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


def _update(table: Any) -> Any:
    """An UPDATE that does not evaluate its WHERE against objects held by the session."""
    return update(table).execution_options(synchronize_session=False)


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """Insert outbox rows, skipping any whose key exists; returns (pk, key, kind) inserted.

    A row's ``data`` entry (the uncompressed message, see :func:`outbox_row`) is not stored.
    """
    if not rows:
        return []
    connection = session.connection()
    table: Any = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core, not ORM
    if connection.dialect.name == "sqlite":
        return _sqlite_insert_ignore(connection, table, rows)
    rows = [{k: v for k, v in row.items() if k != "data"} for row in rows]
    statement = (
        postgresql.insert(table)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.pk, table.c.key, table.c.kind)
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
    names = [name for name in rows[0] if name != "data"]
    for row in rows:
        if row.keys() - {"data"} != set(names):
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


# --------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class _Item:
    """A claimed message ready to hand to the channel."""

    pk: int
    message_id: str
    recipient: str
    cohort_pk: int
    due_at: datetime
    attempts: int
    data: bytes


def deliver_due(
    engine: Engine,
    now: datetime,
    channel: DeliveryChannel,
    *,
    report: TickReport | None = None,
    batch: int = 500,
    progress: Progress | None = None,
) -> TickReport:
    """Deliver every pending message that is due, claiming each so no one else sends it.

    A message is marked sent only after the channel accepted it: an SMTP server's "250"
    is recorded at once, one message at a time; a file outbox's batch is recorded after
    the batch is on disk. Transient failures are retried with backoff; permanent ones
    are marked failed for the coordinator to see. A misconfigured channel stops delivery
    (DeliveryConfigError) and leaves every message pending, its attempts untouched.
    """
    report = report or TickReport()
    claim = uuid.uuid4().hex
    total = _count_due(engine, now)
    done = 0
    while True:
        items = _claim(engine, now, claim, batch)
        if not items:
            break
        deliver_items(engine, channel, items, now, report, claim)
        done += len(items)
        if progress:
            progress("delivering", done, total)
    return report


def deliver_items(
    engine: Engine,
    channel: DeliveryChannel,
    items: Sequence[_Item],
    now: datetime,
    report: TickReport,
    claim: str,
) -> None:
    """Hand claimed messages to the channel and record each outcome (see deliver_due)."""
    senders: dict[int, str] = {}
    with Session(engine) as session:
        for item in items:
            if item.cohort_pk not in senders:
                _sender(session, item.cohort_pk, senders)
        outcomes: list[tuple[_Item, tuple[str, str | None]]] = []
        try:
            with channel.batch():
                if isinstance(channel, FileOutbox):
                    # A file outbox is idempotent by Message-ID: the batch is recorded once
                    # it is on disk (the batch ends with one sync for all its files).
                    outcomes = [(i, _deliver_one(channel, i, senders[i.cohort_pk])) for i in items]
                else:
                    # A server is told each message once: each acceptance is committed at once.
                    for item in items:
                        _record(
                            session,
                            item,
                            _deliver_one(channel, item, senders[item.cohort_pk]),
                            now,
                            report,
                        )
                        session.commit()
        except DeliveryConfigError:
            _release(session, claim)
            session.commit()
            raise
    record_outcomes(engine, outcomes, now, report)


def record_outcomes(
    engine: Engine,
    outcomes: Sequence[tuple[_Item, tuple[str, str | None]]],
    now: datetime,
    report: TickReport,
) -> None:
    """Record a batch's delivery outcomes: sent, retry later, or failed."""
    if not outcomes:
        return
    with transaction(engine) as session:
        sent = [item.pk for item, outcome in outcomes if outcome[0] == "sent"]
        if sent:
            session.connection().execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.pk.in_(sent), _OUTBOX.c.status == "pending")
                .values(status="sent", sent_at=now, last_error=None, claim=None, claimed_until=None)
            )
        for item, outcome in outcomes:
            if outcome[0] != "sent":
                _record(session, item, outcome, now, report)
    report.delivered += len(sent)


def _sender(session: Session, cohort_pk: int, senders: dict[int, str]) -> str:
    cohort = session.get(Cohort, cohort_pk)
    assert cohort is not None
    senders[cohort_pk] = parseaddr(cohort.sender)[1]
    return senders[cohort_pk]


def _release(session: Session, claim: str) -> None:
    session.execute(
        _update(OutboxMessage)
        .where(col(OutboxMessage.claim) == claim, col(OutboxMessage.status) == "pending")
        .values(claim=None, claimed_until=None)
    )


def _count_due(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending", col(OutboxMessage.next_attempt_at) <= now)
            ).one()
        )


def _claimable(now: datetime) -> Any:
    return and_(
        col(OutboxMessage.status) == "pending",
        col(OutboxMessage.next_attempt_at) <= now,
        or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) < now),
    )


def _claim(engine: Engine, now: datetime, claim: str, batch: int) -> list[_Item]:
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
            _update(OutboxMessage)
            .where(col(OutboxMessage.pk).in_(candidates), _claimable(now))
            .values(claim=claim, claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    table: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
    query = (
        core_select(
            table.c.pk,
            table.c.message_id,
            table.c.recipient_email,
            table.c.cohort_pk,
            table.c.due_at,
            table.c.attempts,
            table.c.content,
        )
        .where(table.c.claim == claim, table.c.status == "pending")
        .order_by(table.c.pk)
    )
    with engine.connect() as connection:
        return [
            _Item(pk, message_id, recipient, cohort_pk, due_at, attempts, unpack(content))
            for pk, message_id, recipient, cohort_pk, due_at, attempts, content in connection.execute(
                query
            )
        ]


def _write_fresh(outbox: FileOutbox, item: _Item) -> tuple[str, str | None]:
    return _attempt(lambda: outbox.write(item.message_id, item.data, replace=True))


def _deliver_one(channel: DeliveryChannel, item: _Item, sender: str) -> tuple[str, str | None]:
    return _attempt(lambda: channel.send_raw(item.message_id, item.data, sender, item.recipient))


def _attempt(send: Callable[[], None]) -> tuple[str, str | None]:
    """One delivery attempt's outcome: sent, failed (permanently) or retry (later)."""
    try:
        send()
    except PermanentDeliveryError as error:
        return "failed", str(error)
    except TransientDeliveryError as error:
        return "retry", str(error)
    return "sent", None


def _record(
    session: Session,
    row: _Item,
    outcome: tuple[str, str | None],
    now: datetime,
    report: TickReport,
) -> None:
    status, error = outcome
    values: dict[str, Any] = {"claim": None, "claimed_until": None}
    if status == "sent":
        values.update(status="sent", sent_at=now, last_error=None)
        report.delivered += 1
    elif status == "failed":
        values.update(status="failed", last_error=error, attempts=row.attempts + 1)
        report.failed += 1
    else:
        attempts = row.attempts + 1
        later = retry_at(attempts, now) or now + timedelta(hours=6)
        if now - row.due_at > RETRY_LIMIT:
            values.update(
                status="failed",
                last_error=f"gave up after {attempts} attempts: {error}",
                attempts=attempts,
            )
            report.failed += 1
        else:
            values.update(attempts=attempts, next_attempt_at=later, last_error=error)
            report.retrying += 1
    session.execute(
        _update(OutboxMessage)
        .where(col(OutboxMessage.pk) == row.pk, col(OutboxMessage.status) == "pending")
        .values(**values)
    )
