"""A chunk's follow-ups: check-in reminders, and the flags on pairs at risk.

Risk flags: the rules
=====================

The tick writes a pair's risk flags (``Pair.risk``, a list of reasons, shown by
``tandem cohort status``, the digest and the console) from these rules, and only these:

1. **Watched pairs only.** A pair is watched while it is ``active`` or ``proposed``. A
   ``paused``, ``completed``, ``ended`` or ``declined`` pair carries no flags: leaving the
   watched states clears them (:func:`tandem.program.pairs.transition`), and the tick
   clears any left over.
2. **Quiet.** The weeks that count are the pair's own (from its ``first_week``), once
   closed (the week after has begun; the final week once the program closes), and not
   paused: a week during any part of which the pair was paused is excused. When no
   check-in says the pair met in the last two weeks that count (or since, in the week
   still open), the pair is flagged, saying which of two things happened:

   * nobody filed a check-in in those two weeks: ``no check-in since week N`` (N is the
     last week with any check-in), or ``no check-in yet`` when there was never one;
   * check-ins were filed, saying they did not meet: ``checked in: did not meet since
     week N`` (N is the last week they met), or ``checked in: have not met yet``.

   A pair that was never sent topics (``proposed`` under ``require_both``) is not quiet.
3. **Low rating.** A rating of 2 or less in the current week or the one before, by
   either person: the check-in's ``rating``, or the answer to one of the curriculum's own
   rating questions (``kind = "rating"``, 1–5, stored as numbers under the question's
   id). The lowest is named: ``rated the mentoring 2 of 5 in week 3`` or ``rated
   "comfort" 1 of 5 in week 3``.
4. **Unconfirmed.** Under ``require_both``, a proposed pair not accepted by both
   half-way through its response window: ``match not yet confirmed by both``.

A pair newly flagged (no flags before) counts once in the tick's report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.pairs import Confirmation, PairState
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.tables import CheckIn, OutboxMessage, PairEvent
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


WATCHED = (PairState.ACTIVE, PairState.PROPOSED)
"""States in which a pair can be flagged at risk."""

LOW_RATING = 2
"""A rating this low or lower (of 5) flags the pair."""


def flag_risk(tick: CohortTick, session: Session, pairs: Sequence[PairRow], plan: Plan) -> None:
    """Plan each pair's risk flags by the rules in this module's docstring; clear the
    flags of pairs no longer watched. A pair newly at risk counts in the report."""
    for pair in pairs:
        if pair.state not in WATCHED and (pair.risk or pair.risk_since):
            plan.risk.append((pair.pk, {"risk": [], "risk_since": None}))
    watched = [p for p in pairs if p.state in WATCHED]
    if not watched:
        return
    pks = [p.pk for p in watched]
    checked, met, ratings = _checkins(tick, session, watched)
    paused = _paused_spans(tick, session, pks)
    week = tick.week or 0
    closing = tick.instants[-1] + tick.settings.close_after
    closed_through = min(week - 1 if tick.now < closing else week, tick.cohort.weeks)
    half_window = timedelta(days=tick.cohort.response_days / 2)
    for pair in watched:
        pk = pair.pk
        reasons = []
        if tick.receives_weekly(pair):
            counted = [
                w
                for w in range(pair.first_week, closed_through + 1)
                if not _overlaps(tick, w, paused.get(pk, ()))
            ]
            quiet = _quiet(counted[-2:], checked[pk], met[pk]) if len(counted) >= 2 else None
            if quiet:
                reasons.append(quiet)
        recent = sorted((r, -w, what) for r, w, what in ratings[pk] if w >= week - 1)
        if recent and recent[0][0] <= LOW_RATING:
            value, minus_week, what = recent[0]
            reasons.append(f"rated {what} {value} of 5 in week {-minus_week}")
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


def _checkins(
    tick: CohortTick, session: Session, watched: Sequence[PairRow]
) -> tuple[dict[int, set[int]], dict[int, set[int]], dict[int, list[tuple[int, int, str]]]]:
    """For each watched pair: the weeks with a check-in, the weeks they met, and every
    rating (value, week, what was rated), the curriculum's own 1–5 questions included."""
    pks = [p.pk for p in watched]
    wanted = set(pks)
    checked: dict[int, set[int]] = defaultdict(set)
    met: dict[int, set[int]] = defaultdict(set)
    ratings: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    track = {p.pk: p.track for p in watched}
    table = CheckIn.__table__  # type: ignore[attr-defined]  # six columns: Core
    for pair_pk, w, role, did_meet, rating, answers in session.execute(
        core_select(
            table.c.pair_pk,
            table.c.week,
            table.c.role,
            table.c.met,
            table.c.rating,
            table.c.answers,
        ).where(span(table.c.pair_pk, pks))
    ).all():
        if pair_pk not in wanted:
            continue
        checked[pair_pk].add(w)
        if did_meet:
            met[pair_pk].add(w)
        if rating is not None:
            ratings[pair_pk].append((rating, w, "the mentoring"))
        for question, value in _rating_answers(tick, w, track[pair_pk], role, answers):
            ratings[pair_pk].append((value, w, f'"{question}"'))
    return checked, met, ratings


def _quiet(window: list[int], checked: set[int], met: set[int]) -> str | None:
    """The quiet flag for the last two counted weeks ``window``, or None if they met
    then or since (a meeting reported for the week still open counts too)."""
    if any(w >= window[0] for w in met):
        return None
    if not any(w >= window[0] for w in checked):
        last = max(checked, default=None)
        return "no check-in yet" if last is None else f"no check-in since week {last}"
    last = max(met, default=None)
    return (
        "checked in: have not met yet"
        if last is None
        else f"checked in: did not meet since week {last}"
    )


def _rating_answers(
    tick: CohortTick, week: int, track: str, role: str, answers: dict[str, object]
) -> list[tuple[str, int]]:
    """(question id, rating) of the answers to the week's rating questions."""
    if not answers or not 1 <= week <= tick.curriculum.weeks_total:
        return []
    questions = tick.rating_questions(week, track, role)
    return [
        (key, value)
        for key, value in answers.items()
        if key in questions and isinstance(value, int) and not isinstance(value, bool)
    ]


def _paused_spans(
    tick: CohortTick, session: Session, pks: Sequence[int]
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per pair, the spans of time it was paused (an open span ends at ``now``)."""
    events: dict[int, list[tuple[datetime, str | None, str]]] = defaultdict(list)
    wanted = set(pks)
    for pair_pk, at, from_state, to_state in session.exec(
        select(PairEvent.pair_pk, PairEvent.at, PairEvent.from_state, PairEvent.to_state)
        .where(
            span(col(PairEvent.pair_pk), pks),
            (col(PairEvent.to_state) == PairState.PAUSED)
            | (col(PairEvent.from_state) == PairState.PAUSED),
        )
        .order_by(col(PairEvent.pk))
    ).all():
        if pair_pk in wanted:
            events[pair_pk].append((at, from_state, to_state))
    spans: dict[int, list[tuple[datetime, datetime]]] = {}
    for pair_pk, items in events.items():
        start: datetime | None = None
        for at, from_state, to_state in items:
            if to_state == PairState.PAUSED:
                start = at
            elif from_state == PairState.PAUSED and start is not None:
                spans.setdefault(pair_pk, []).append((start, at))
                start = None
        if start is not None:
            spans.setdefault(pair_pk, []).append((start, max(start, tick.now)))
    return spans


def _overlaps(tick: CohortTick, week: int, paused: Sequence[tuple[datetime, datetime]]) -> bool:
    """Whether the pair was paused during any part of ``week``."""
    begin = tick.instants[week]
    end = tick.instants[week + 1] if week + 1 < len(tick.instants) else begin + timedelta(days=7)
    return any(start < end and stop > begin for start, stop in paused)
