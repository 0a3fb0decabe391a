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

import uuid
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import Engine, and_, or_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
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
from tandem.program.db import transaction
from tandem.program.delivery import (
    DeliveryChannel,
    DeliveryConfigError,
    FileOutbox,
    PermanentDeliveryError,
    TransientDeliveryError,
    retry_at,
)
from tandem.program.mail import Attachment, build_message, calendar_attachment, message_bytes
from tandem.program.models import CheckIn, Cohort, OutboxMessage, Pair, PairEvent, Participant
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
) -> TickReport:
    """Do all the work due at ``now`` once (see the module docstring)."""
    report = TickReport()
    with Session(engine) as session:
        cohorts = session.exec(
            select(Cohort.pk).where(col(Cohort.completed_at).is_(None)).order_by(col(Cohort.pk))
        ).all()
    for cohort_pk in cohorts:
        assert cohort_pk is not None
        _CohortTick(engine, cohort_pk, now, report, progress, channel).run()
    deliver_due(engine, now, channel, report=report, progress=progress)
    return report


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
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.claim = uuid.uuid4().hex
        self._fresh: list[_Item] = []
        self.now = now
        self.report = report
        self.progress = progress
        with Session(engine) as session:
            cohort = session.get(Cohort, cohort_pk)
            assert cohort is not None
            self.cohort = cohort
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

    def run(self) -> None:
        if self.week is None:
            return
        self._lifecycle()
        for pairs in self._chunks():
            with transaction(self.engine) as session:
                people = self._people(session, pairs)
                self._risk(session, pairs)
                self._intros(session, pairs, people)
                self._weekly(session, pairs, people)
                self._reminders(session, pairs, people)
            self._deliver_fresh()
        self._digest()
        self._deliver_fresh()
        self._close()

    def _deliver_fresh(self) -> None:
        """Deliver what this tick just enqueued, straight from memory.

        The rows are committed first (the outbox pattern) and claimed by this tick when
        inserted, so no other process can deliver them; a row another process inserted
        first was not inserted here and is not ours.
        """
        if self.channel is not None and self._fresh:
            deliver_items(self.engine, self.channel, self._fresh, self.now, self.report, self.claim)
            if self.progress:
                self.progress("delivering", self.report.delivered, self.report.delivered)
        self._fresh = []

    # -- helpers

    def _chunks(self) -> Iterator[list[Pair]]:
        last = 0
        while True:
            with Session(self.engine) as session:
                pairs = list(
                    session.exec(
                        select(Pair)
                        .where(Pair.cohort_pk == self.cohort.pk, col(Pair.pk) > last)
                        .order_by(col(Pair.pk))
                        .limit(CHUNK)
                    ).all()
                )
            if not pairs:
                return
            yield pairs
            last = pairs[-1].pk or 0

    def _people(self, session: Session, pairs: Sequence[Pair]) -> dict[int, _Person]:
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

    def _receives_weekly(self, pair: Pair) -> bool:
        if pair.state == PairState.ACTIVE.value:
            return True
        return (
            pair.state == PairState.PROPOSED.value
            and self.cohort.confirmation == Confirmation.OPT_OUT.value
        )

    def _key(self, pair_pk: int | None, week: int, kind: str, role: str) -> str:
        return message_key(self.cohort, pair_pk, week, kind, role)

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
        pair: Pair,
        role: Role,
        week: int,
        mentor: _Person,
        mentee: _Person,
        missed: tuple[str, ...] = (),
    ) -> MessageContext:
        """What a weekly topic or reminder says to ``role`` of ``pair`` in ``week``."""
        start, end = schedule.week_window(self.cohort.start_date, self.cohort.send_weekday, week)
        return MessageContext(
            mentor_name=mentor.name,
            mentee_name=mentee.name,
            cohort_name=self.cohort.name,
            week_start=start,
            week_end=end,
            checkin_url=self._token_url(pair.pk or 0, week, role.value, "checkin", CHECKIN_DAYS),
            missed_topics=missed,
        )

    def _token_url(self, pair_pk: int, week: int, role: str, path: str, days: int) -> str:
        token = make_token(
            bytes.fromhex(self.cohort.secret),
            pair_id=pair_pk,
            week=week,
            role=role,
            expires=self.now + timedelta(days=days),
        )
        return checkin_url(f"{self.cohort.base_url}/{path}", token)

    # -- introductions

    def _intros(self, session: Session, pairs: Sequence[Pair], people: dict[int, _Person]) -> None:
        due = [
            p for p in pairs if p.state == PairState.PROPOSED.value and p.proposed_at <= self.now
        ]
        keys = [self._key(p.pk, 0, Kind.INTRO, r.value) for p in due for r in Role]
        existing = self._existing(session, keys)
        rows = []
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
                rows.append(
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
        self._enqueue(session, rows)

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

    def _expire_stale(self, session: Session, pair_pks: Sequence[int]) -> None:
        """Pending weekly messages later than the grace period will not be sent alone."""
        result = session.execute(
            _update(OutboxMessage)
            .where(
                col(OutboxMessage.pair_pk).in_(pair_pks),
                col(OutboxMessage.kind).in_([Kind.WEEKLY, Kind.REMINDER]),
                col(OutboxMessage.status) == "pending",
                col(OutboxMessage.due_at) < self.now - self.grace,
            )
            .values(
                status="expired",
                last_error="late past the grace period; listed in the next message",
            )
        )
        self.report.expired += result.rowcount  # type: ignore[attr-defined]

    def _weekly(self, session: Session, pairs: Sequence[Pair], people: dict[int, _Person]) -> None:
        week = self.week or 0
        pair_pks = [p.pk or 0 for p in pairs]
        self._expire_stale(session, pair_pks)
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
        for pair_pk, sent_week, role in session.exec(
            select(OutboxMessage.pair_pk, OutboxMessage.week, OutboxMessage.recipient_role).where(
                col(OutboxMessage.pair_pk).in_([p.pk for p, _ in todo]),
                OutboxMessage.kind == Kind.WEEKLY,
                OutboxMessage.status == "sent",
            )
        ).all():
            sent[(pair_pk or 0, role)].add(sent_week)
        rows = []
        for pair, role in todo:
            mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
            missed = tuple(
                self.curriculum.week(w, pair.track).title
                for w in range(pair.first_week, week)
                if w not in sent[(pair.pk or 0, role.value)]
            )
            context = self._context(pair, role, week, mentor, mentee, missed)
            rendered = self.renderer.weekly(week, pair.track, role, context)
            recipient = mentor if role is Role.MENTOR else mentee
            attachments = self._invitation(pair, week, mentor, mentee)
            rows.append(
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
        self._enqueue(session, rows)

    def _invitation(
        self, pair: Pair, week: int, mentor: _Person, mentee: _Person
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
        self, session: Session, pairs: Sequence[Pair], people: dict[int, _Person]
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
        pair_pks = [p.pk for p in due]
        if not pair_pks:
            return
        got_topic = {
            (pk, role)
            for pk, role in session.exec(
                select(OutboxMessage.pair_pk, OutboxMessage.recipient_role).where(
                    col(OutboxMessage.pair_pk).in_(pair_pks),
                    OutboxMessage.kind == Kind.WEEKLY,
                    OutboxMessage.week == week,
                    OutboxMessage.status == "sent",
                )
            ).all()
        }
        checked_in = {
            (pk, role)
            for pk, role in session.exec(
                select(CheckIn.pair_pk, CheckIn.role).where(
                    col(CheckIn.pair_pk).in_(pair_pks), CheckIn.week == week
                )
            ).all()
        }
        keys = [self._key(p.pk, week, Kind.REMINDER, r.value) for p in due for r in Role]
        existing = self._existing(session, keys)
        rows = []
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
                rows.append(
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
        self._enqueue(session, rows)

    # -- risk

    def _risk(self, session: Session, pairs: Sequence[Pair]) -> None:
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
                col(CheckIn.pair_pk).in_([p.pk for p in watched])
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
                session.execute(
                    _update(Pair)
                    .where(col(Pair.pk) == pk)
                    .values(
                        risk=reasons, risk_since=(pair.risk_since or self.now) if reasons else None
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


def message_key(cohort: Cohort, pair_pk: int | None, week: int, kind: str, role: str) -> str:
    """The outbox key: unique on (pair, week, kind, recipient) within a cohort."""
    return f"c{cohort.pk}/p{pair_pk or 0}/w{week}/{kind}/{role}"


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
    key = message_key(cohort, pair_pk, week, kind, role)
    message = build_message(
        sender=cohort.sender,
        recipient_name=name,
        recipient_email=email,
        subject=subject,
        text=text,
        html=html,
        message_key=key,
        domain=sender_domain(cohort),
        date=due,
        attachments=attachments,
    )
    return {
        "key": key,
        "message_id": str(message["Message-ID"]),
        "cohort_pk": cohort.pk,
        "pair_pk": pair_pk,
        "week": week,
        "kind": kind,
        "recipient_role": role,
        "recipient_email": email,
        "subject": subject,
        "content": zlib.compress(data := message_bytes(message), 1),
        "data": data,
        "status": "pending",
        "due_at": due,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
    }


def _update(table: Any) -> Any:
    """An UPDATE that does not evaluate its WHERE against objects held by the session."""
    return update(table).execution_options(synchronize_session=False)


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """Insert outbox rows, skipping any whose key exists; returns (pk, key, kind) inserted.

    A row's ``data`` entry (the uncompressed message, see :func:`outbox_row`) is not stored.
    """
    rows = [{k: v for k, v in row.items() if k != "data"} for row in rows]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = OutboxMessage.__table__  # type: ignore[attr-defined]  # Core, not ORM: fast executemany
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.pk, table.c.key, table.c.kind)
    )
    return [
        (pk, key, kind) for pk, key, kind in session.connection().execute(statement, rows).all()
    ]


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
        sent = [item.pk for item, outcome in outcomes if outcome[0] == "sent"]
        if sent:
            session.execute(
                _update(OutboxMessage)
                .where(col(OutboxMessage.pk).in_(sent), col(OutboxMessage.status) == "pending")
                .values(status="sent", sent_at=now, last_error=None, claim=None, claimed_until=None)
            )
            report.delivered += len(sent)
        for item, outcome in outcomes:
            if outcome[0] != "sent":
                _record(session, item, outcome, now, report)
        session.commit()


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
    from sqlalchemy import func

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
            _Item(pk, message_id, recipient, cohort_pk, due_at, attempts, zlib.decompress(content))
            for pk, message_id, recipient, cohort_pk, due_at, attempts, content in connection.execute(
                query
            )
        ]


def _deliver_one(channel: DeliveryChannel, item: _Item, sender: str) -> tuple[str, str | None]:
    try:
        channel.send_raw(item.message_id, item.data, sender, item.recipient)
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
