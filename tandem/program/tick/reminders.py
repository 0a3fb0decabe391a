"""A chunk's follow-ups: check-in reminders, and the flags on pairs at risk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.pairs import Confirmation, PairState
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.tables import CheckIn, OutboxMessage
from tandem.program.tick.rows import PairRow, Person, Plan, span

if TYPE_CHECKING:
    from tandem.program.tick.cohort import CohortTick


def reminders(
    tick: CohortTick,
    session: Session,
    pairs: Sequence[PairRow],
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """Remind each person who got this week's topic but has not checked in (once), from
    ``reminder_days`` after the week's message until the next week's."""
    week = tick.week or 0
    if week < 1:
        return
    instants = tick.instants
    remind_at = instants[week] + timedelta(days=tick.cohort.reminder_days)
    next_week = (
        instants[week + 1] if week + 1 < len(instants) else instants[week] + timedelta(days=7)
    )
    if not remind_at <= tick.now < next_week:
        return
    due = [p for p in pairs if p.state == PairState.ACTIVE or tick.receives_weekly(p)]
    pair_pks = [p.pk or 0 for p in due]
    if not pair_pks:
        return
    got_topic = {
        (pk, role)
        for pk, role, status in session.exec(
            select(OutboxMessage.pair_pk, OutboxMessage.recipient_role, OutboxMessage.status).where(
                span(col(OutboxMessage.pair_pk), pair_pks),
                OutboxMessage.kind == MessageKind.WEEKLY,
                OutboxMessage.week == week,
            )
        ).all()
        if status == OutboxStatus.SENT  # not in SQL: see messages.weekly
    }
    checked_in = {
        (pk, role)
        for pk, role in session.exec(
            select(CheckIn.pair_pk, CheckIn.role).where(
                span(col(CheckIn.pair_pk), pair_pks), CheckIn.week == week
            )
        ).all()
    }
    keys = [tick.key(p.pk, week, MessageKind.REMINDER, r.value) for p in due for r in Role]
    existing = tick.existing(session, keys)
    for pair in due:
        mentor, mentee = people[pair.mentor_pk], people[pair.mentee_pk]
        for role in Role:
            if (pair.pk, role.value) not in got_topic or (pair.pk, role.value) in checked_in:
                continue
            if tick.key(pair.pk, week, MessageKind.REMINDER, role.value) in existing:
                continue
            context = tick.context(pair, role, week, mentor, mentee)
            rendered = tick.renderer.reminder(week, pair.track, role, context)
            recipient = mentor if role is Role.MENTOR else mentee
            plan.rows.append(
                tick.message(
                    pair.pk,
                    week,
                    MessageKind.REMINDER,
                    role.value,
                    recipient,
                    rendered.subject,
                    rendered.text,
                    rendered.html,
                    remind_at,
                )
            )


def flag_risk(tick: CohortTick, session: Session, pairs: Sequence[PairRow], plan: Plan) -> None:
    """Plan each live pair's risk flags: no meeting in two closed weeks running, a low
    rating last week or this, or (``require_both``) no confirmation half-way through the
    response window. A pair newly at risk counts in the report."""
    week = tick.week or 0
    watched = [p for p in pairs if p.state in (PairState.ACTIVE, PairState.PROPOSED)]
    if not watched:
        return
    met: dict[int, set[int]] = defaultdict(set)
    low: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for pair_pk, w, did_meet, rating in session.exec(
        select(CheckIn.pair_pk, CheckIn.week, CheckIn.met, CheckIn.rating).where(
            span(col(CheckIn.pair_pk), [p.pk or 0 for p in watched])
        )
    ).all():
        if did_meet:
            met[pair_pk].add(w)
        if rating is not None and rating <= 2:
            low[pair_pk].append((w, rating))
    closing = tick.instants[-1] + tick.settings.close_after
    closed_through = week - 1 if tick.now < closing else week
    half_window = timedelta(days=tick.cohort.response_days / 2)
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
            pair.state == PairState.PROPOSED
            and tick.confirmation == Confirmation.REQUIRE_BOTH
            and tick.now >= pair.proposed_at + half_window
        ):
            reasons.append("match not yet confirmed by both")
        if reasons != list(pair.risk):
            if reasons and not pair.risk:
                tick.report.flagged += 1
            plan.risk.append(
                (
                    pk,
                    {
                        "risk": reasons,
                        "risk_since": (pair.risk_since or tick.now) if reasons else None,
                    },
                )
            )
