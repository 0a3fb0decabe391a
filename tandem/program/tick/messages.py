"""A chunk's messages to pairs: introductions, weekly topics with their calendar
invitations, and the weekly messages that became too late to send on their own.

A weekly message later than the grace period is not sent: the pair's next weekly
message lists the topics they missed. An introduction is never dropped: one that goes out
late opens a fresh response window (see :func:`intros`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.outbox.mail import Attachment, calendar_attachment
from tandem.program.outbox.store import OUTBOX
from tandem.program.pairs import PairState
from tandem.program.sharing import SharedField, shared_fields, shared_profile
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.statements import quiet_update
from tandem.program.storage.tables import OutboxMessage, Pair, Participant
from tandem.program.tick import surveys
from tandem.program.tick.rows import PairRow, Person, Plan, span
from tandem.prompts.render import IntroContext, render_intro

if TYPE_CHECKING:
    from tandem.program.tick.cohort import CohortTick


# --------------------------------------------------------------------------- introductions


def intros(
    tick: CohortTick,
    session: Session,
    pairs: Sequence[PairRow],
    people: dict[int, Person],
    plan: Plan,
) -> list[PairRow]:
    """Introduce both members of each proposed pair (once), with accept/decline links.

    An introduction is never lost. One that goes out later than the grace period, or after
    its response window would have closed (the tick did not run for days), gives the pair
    a fresh window: it is proposed now and may answer for ``response_days`` from now (the
    pair is updated in ``plan``). Returns ``pairs`` as the rest of the chunk's work must
    see them, with those new windows.
    """
    due = [p for p in pairs if p.state == PairState.PROPOSED and p.proposed_at <= tick.now]
    keys = [tick.key(p.pk, 0, MessageKind.INTRO, r.value) for p in due for r in Role]
    existing = tick.existing(session, keys)
    reopened: dict[int, PairRow] = {}
    for pair in due:
        roles = [
            r for r in Role if tick.key(pair.pk, 0, MessageKind.INTRO, r.value) not in existing
        ]
        if not roles:
            continue
        sent = max(pair.proposed_at, tick.instants[0])
        if len(roles) == len(Role) and (
            tick.now - sent > tick.grace or pair.respond_by <= tick.now
        ):
            sent = tick.now
            pair = dataclasses.replace(
                pair,
                proposed_at=sent,
                respond_by=sent + timedelta(days=tick.cohort.response_days),
            )
            reopened[pair.pk] = pair
            plan.reopened.append(
                (pair.pk, {"proposed_at": pair.proposed_at, "respond_by": pair.respond_by})
            )
        for role in roles:
            plan.rows.append(_intro(tick, session, pair, role, people, sent))
    return [reopened.get(p.pk, p) for p in pairs]


def _intro(
    tick: CohortTick,
    session: Session,
    pair: PairRow,
    role: Role,
    people: dict[int, Person],
    sent: datetime,
) -> dict[str, Any]:
    """The outbox row of ``role``'s introduction to ``pair``, dated ``sent``."""
    mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
    partner_pk = pair.mentee_pk if role is Role.MENTOR else pair.mentor_pk
    respond = tick.token_url(pair.pk or 0, 0, role.value, "respond", tick.cohort.response_days + 1)
    partner = mentee if role is Role.MENTOR else mentor
    context = IntroContext(
        mentor_name=mentor.addressed,
        mentee_name=mentee.addressed,
        cohort_name=tick.cohort.name,
        voice=tick.voice,
        accept_url=f"{respond}?answer=accept",
        decline_url=f"{respond}?answer=decline",
        partner_full_name=partner.name,
        partner_profile=partner_profile(session, partner_pk),
        partner_shares_email=shares_email(session, partner_pk),
        shares_email=shares_email(
            session, pair.mentor_pk if role is Role.MENTOR else pair.mentee_pk
        ),
        respond_by=pair.respond_by.astimezone(schedule.zone(tick.cohort.timezone)).date(),
        weeks=max(1, tick.cohort.weeks - max(pair.first_week, tick.next_topic_week()) + 1),
        confirmation=tick.confirmation.value,
    )
    rendered = render_intro(tick.curriculum, role, context)
    return tick.message(
        pair.pk,
        0,
        MessageKind.INTRO,
        role.value,
        mentor if role is Role.MENTOR else mentee,
        rendered.subject,
        rendered.text,
        rendered.html,
        sent,
    )


def shares_email(session: Session, person_pk: int) -> bool:
    """Whether a person chose to share their e-mail address with their partner."""
    person = session.get(Participant, person_pk)
    assert person is not None
    return SharedField.EMAIL in shared_fields(person.share)


def partner_profile(session: Session, person_pk: int) -> tuple[tuple[str, str], ...]:
    """What a person chose to share with their partner (see ``program/sharing.py``)."""
    person = session.get(Participant, person_pk)
    assert person is not None
    return shared_profile(person)


# --------------------------------------------------------------------------- late messages


def stale(tick: CohortTick, session: Session, pairs: Sequence[PairRow]) -> list[int]:
    """Pending weekly messages and reminders of ``pairs`` later than the grace period."""
    # The status is checked here, not in SQL: a condition on it would let SQLite pick
    # the status index and read every pending message (a whole week's while it is
    # being sent), for every chunk.
    return [
        pk
        for pk, cohort_pk, status in session.execute(
            core_select(OUTBOX.c.pk, OUTBOX.c.cohort_pk, OUTBOX.c.status).where(
                span(OUTBOX.c.pair_pk, [p.pk or 0 for p in pairs]),
                OUTBOX.c.kind.in_([MessageKind.WEEKLY, MessageKind.REMINDER]),
                OUTBOX.c.due_at < tick.now - tick.grace,
            )
        )
        if status == OutboxStatus.PENDING and cohort_pk == tick.cohort.pk
    ]


def expire_stale(tick: CohortTick, session: Session, pks: Sequence[int]) -> None:
    """Pending weekly messages later than the grace period will not be sent alone."""
    result = session.execute(
        quiet_update(OutboxMessage)
        .where(col(OutboxMessage.pk).in_(pks), col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(
            status=OutboxStatus.EXPIRED,
            last_error="late past the grace period; listed in the next message",
        )
    )
    tick.report.expired += result.rowcount  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- weekly topics


def weekly(
    tick: CohortTick,
    session: Session,
    pairs: Sequence[PairRow],
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """This week's topic for both members of each pair that receives it (once), listing
    the earlier topics that never reached them; the final week's carries the closing
    survey's link, and a person's first topic brings the baseline survey's invitation
    (see ``surveys.py``)."""
    week = tick.week or 0
    if week < 1 or tick.now - tick.instants[week] > tick.grace:
        return
    due = [p for p in pairs if tick.receives_weekly(p) and p.first_week <= week]
    keys = [tick.key(p.pk, week, MessageKind.WEEKLY, r.value) for p in due for r in Role]
    existing = tick.existing(session, keys)
    todo = [
        (p, r)
        for p in due
        for r in Role
        if tick.key(p.pk, week, MessageKind.WEEKLY, r.value) not in existing
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
            span(col(OutboxMessage.pair_pk), [p.pk or 0 for p, _ in todo]),
            OutboxMessage.kind == MessageKind.WEEKLY,
        )
    ).all():
        if status == OutboxStatus.SENT:
            sent[(pair_pk or 0, role)].add(sent_week)
    firsts: list[tuple[PairRow, Role]] = []
    for pair, role in todo:
        mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
        recipient = mentor if role is Role.MENTOR else mentee
        got = sent[(pair.pk or 0, role.value)]
        if not got:
            firsts.append((pair, role))
        # A pair that joined late (a rematch) catches up on the alignment weeks it never
        # had, in its first weekly message.
        joined_late = () if got else tick.alignment_before(pair.first_week, pair.track)
        missed = joined_late + tuple(
            tick.title(w, pair.track) for w in range(pair.first_week, week) if w not in got
        )
        survey = surveys.closing_url(tick, recipient, role) if week == tick.cohort.weeks else ""
        context = tick.context(pair, role, week, mentor, mentee, missed, survey)
        rendered = tick.renderer.weekly(week, pair.track, role, context)
        attachments = invitation(tick, pair, week, mentor, mentee)
        plan.rows.append(
            tick.message(
                pair.pk,
                week,
                MessageKind.WEEKLY,
                role.value,
                recipient,
                rendered.subject,
                rendered.text,
                rendered.html,
                tick.instants[week],
                attachments,
            )
        )
    surveys.baseline(tick, session, firsts, people, plan)


def invitation(
    tick: CohortTick, pair: PairRow, week: int, mentor: Person, mentee: Person
) -> tuple[Attachment, ...]:
    """An .ics invitation for the pair's agreed meeting slot in this week, if any."""
    slot = pair.meeting_slot
    if not slot:
        return ()
    from tandem.program.calendar import Participant as CalendarPerson
    from tandem.program.calendar import meeting_invitation

    cohort = tick.cohort
    start_day, _ = schedule.week_window(cohort.start_date, cohort.send_weekday, week)
    day = start_day + timedelta(days=(int(slot["weekday"]) - start_day.weekday()) % 7)
    hours, minutes = (int(x) for x in str(slot["time"]).split(":"))
    tz = str(slot.get("timezone") or cohort.timezone)
    start = schedule.local_instant(day, time(hours, minutes), schedule.zone(tz))
    ics = meeting_invitation(
        uid_key=tick.key(pair.pk, week, "meeting", "pair"),
        sequence=int(slot.get("sequence", 0)),
        summary=f"Mentoring: {tick.curriculum.week(week, pair.track).title}",
        description=f"Week {week} of {cohort.name}",
        start=start,
        duration=timedelta(minutes=int(slot.get("minutes", 45))),
        tz=tz,
        organizer=CalendarPerson(name=mentor.name, email=mentor.email),
        attendees=(CalendarPerson(name=mentee.name, email=mentee.email),),
        dtstamp=tick.instants[week],
        uid_domain=tick.domain,
    )
    return (calendar_attachment(ics),)


# --------------------------------------------------------------------------- the end


def closing(tick: CohortTick) -> None:
    """Once the program has closed: thank both members of each completed pair (once).

    Mentees' thank-you carries their completion letter (PDF and HTML).
    """
    if tick.now < tick.instants[-1] + tick.settings.close_after:
        return
    from tandem.program.letters import CompletionLetter, letter_attachments
    from tandem.prompts.render import ClosingContext, render_closing

    cohort = tick.cohort
    week = cohort.weeks
    zone = schedule.zone(cohort.timezone)
    with Session(tick.engine) as session:
        pairs = session.exec(
            select(Pair)
            .where(Pair.cohort_pk == cohort.pk, Pair.state == PairState.COMPLETED)
            .order_by(col(Pair.pk))
        ).all()
    competencies = tuple(c.label for c in tick.curriculum.competencies_covered())
    size = tick.settings.chunk
    for start in range(0, len(pairs), size):
        part = pairs[start : start + size]
        keys = [tick.key(p.pk, week, MessageKind.CLOSING, r.value) for p in part for r in Role]
        rows: list[dict[str, object]] = []
        with Session(tick.engine) as session:
            existing = tick.existing(session, keys)
            people = tick.people_by_pk(
                session, {p.mentor_pk for p in part} | {p.mentee_pk for p in part}
            )
        for pair in part:
            mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
            for role in (Role.MENTOR, Role.MENTEE):
                if tick.key(pair.pk, week, MessageKind.CLOSING, role.value) in existing:
                    continue
                letter: tuple[Attachment, ...] = ()
                if role is Role.MENTEE:
                    letter = letter_attachments(
                        CompletionLetter(
                            mentee_name=mentee.name,
                            mentor_name=mentor.name,
                            cohort_name=cohort.name,
                            weeks_total=cohort.weeks,
                            start=tick.window(1)[0],
                            end=tick.window(week)[1],
                            issued=tick.now.astimezone(zone).date(),
                            signatory=cohort.coordinator_name or f"The {cohort.name} team",
                            contact=cohort.coordinator_email or "",
                            competencies=competencies,
                        ),
                        "completion-letter",
                    )
                context = ClosingContext(
                    mentor_name=mentor.addressed,
                    mentee_name=mentee.addressed,
                    cohort_name=cohort.name,
                    voice=tick.voice,
                    completion_letter=bool(letter),
                )
                rendered = render_closing(tick.curriculum, role, context)
                rows.append(
                    tick.message(
                        pair.pk,
                        week,
                        MessageKind.CLOSING,
                        role.value,
                        mentor if role is Role.MENTOR else mentee,
                        rendered.subject,
                        rendered.text,
                        rendered.html,
                        tick.now,
                        letter,
                    )
                )
        if rows:
            with transaction(tick.engine) as session:
                tick.enqueue(session, rows)
            tick.deliver_fresh()
