"""The evaluation surveys through the outbox: invitations, the follow-up, one reminder each.

When each survey reaches whom: the rules
========================================

1. **Baseline.** Its invitation, a message of its own with the person's link, goes with
   their first weekly topic: week 1 for most, the first week of a pair that joined later
   (a rematch); never in the final week, and not to someone who has answered already.
2. **Closing.** The final week's topic carries each person's link and says so; there is
   no separate invitation.
3. **Follow-up.** ``followup_after`` (13 weeks) after the program closes, to each person of
   a completed pair whose role the instrument asks anything (mentors, with the shipped
   instruments); sent up to ``survey_late`` after that day, not later.
4. **One reminder** per person and survey, ``survey_reminder_after`` (4 days) after the
   first message carrying their link was sent (delivered, not just queued), if they have
   not answered by then; up to ``survey_late`` after that, not later.
5. **Who.** Only people who still take part: in a pair that receives weekly topics or has
   completed (the follow-up: completed), and not withdrawn. A declined or ended pair brings
   no invitation and no reminder; a person answers about the pair their survey is about.
6. **Once.** Each message is keyed per person and survey
   (:func:`~tandem.program.outbox.store.survey_message_key`), however many pairs the person
   has, and inserted or ignored: ticking again, or in two processes at once, sends nothing
   twice.

Every message carries a fresh signed link (``survey_days`` valid, see
:func:`tandem.program.tokens.make_survey_token`) to ``/survey/TOKEN``
(:mod:`tandem.program.survey_links`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from functools import cache
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.pairs import PairState
from tandem.program.storage.enums import MessageKind, OutboxStatus
from tandem.program.storage.tables import OutboxMessage, SurveyResponse
from tandem.program.tick.rows import PairRow, Person, Plan
from tandem.prompts.render import SurveyContext
from tandem.prompts.surveys import Instrument, SurveyName, load_instruments

if TYPE_CHECKING:
    from tandem.program.tick.cohort import CohortTick


@cache
def _instrument(survey: SurveyName) -> Instrument:
    return load_instruments()[survey]


def roles_asked(survey: SurveyName) -> tuple[Role, ...]:
    """The roles the instrument asks anything of (only they are invited)."""
    return tuple(r for r in Role if _instrument(survey).items_for(r))


def questions(survey: SurveyName, role: Role) -> int:
    """How many answers the survey asks of ``role`` (a before-and-now item counts twice)."""
    return sum(2 if i.retrospective else 1 for i in _instrument(survey).items_for(role))


def followup_at(tick: CohortTick) -> datetime:
    """When the follow-up survey goes out: ``followup_after`` past the day the program
    closes, at the cohort's send time (``tick.followup_at`` keeps it)."""
    cohort = tick.cohort
    zone = schedule.zone(cohort.timezone)
    final_day = tick.instants[-1].astimezone(zone).date()
    day = final_day + tick.settings.close_after + tick.settings.followup_after
    hours, minutes = (int(x) for x in cohort.send_time.split(":"))
    return schedule.local_instant(day, time(hours, minutes), zone)


# --------------------------------------------------------------------------- who and when


@dataclass(frozen=True)
class _Invitee:
    """A person asked a survey, through one of their pairs."""

    pair: PairRow
    role: Role
    person: Person

    @property
    def mentor_pk(self) -> int:
        return self.pair.mentor_pk


def _invitees(
    pairs: Sequence[tuple[PairRow, Role]], people: dict[int, Person], survey: SurveyName
) -> dict[tuple[int, Role], list[_Invitee]]:
    """The people of ``pairs`` in the roles the survey asks, each with their pairs."""
    asked = roles_asked(survey)
    found: dict[tuple[int, Role], list[_Invitee]] = {}
    for pair, role in pairs:
        if role not in asked:
            continue
        pk = pair.mentor_pk if role is Role.MENTOR else pair.mentee_pk
        found.setdefault((pk, role), []).append(_Invitee(pair, role, people[pk]))
    return found


def _still_asked(
    session: Session,
    tick: CohortTick,
    survey: SurveyName,
    invitees: dict[tuple[int, Role], list[_Invitee]],
) -> dict[tuple[int, Role], list[_Invitee]]:
    """Those of ``invitees`` who have not withdrawn nor answered the survey in this cohort
    (asked before the outbox is: after a few days most have answered)."""
    left = {k: found for k, found in invitees.items() if not found[0].person.withdrawn}
    if not left:
        return left
    answered = set(
        session.exec(
            select(SurveyResponse.participant_pk).where(
                SurveyResponse.cohort_pk == tick.cohort_pk,
                SurveyResponse.survey == survey.value,
                col(SurveyResponse.participant_pk).in_({pk for pk, _ in left}),
            )
        ).all()
    )
    return {k: found for k, found in left.items() if k[0] not in answered}


def _taking_part(tick: CohortTick, pair: PairRow, survey: SurveyName) -> bool:
    """Whether the pair brings its people a survey message (rule 5)."""
    if pair.state == PairState.COMPLETED:
        return True
    return survey is not SurveyName.FOLLOWUP and tick.receives_weekly(pair)


# --------------------------------------------------------------------------- messages


def _message(
    tick: CohortTick,
    invitee: _Invitee,
    survey: SurveyName,
    kind: MessageKind,
    week: int,
    due: datetime,
    people: dict[int, Person],
) -> dict[str, object]:
    person, role = invitee.person, invitee.role
    mentor = people.get(invitee.mentor_pk) if role is Role.MENTEE else None
    context = SurveyContext(
        recipient_name=person.addressed,
        cohort_name=tick.cohort.name,
        voice=tick.voice,
        survey=survey.value,
        survey_title=_instrument(survey).title,
        survey_url=tick.survey_url(person.pk, survey, role),
        questions=questions(survey, role),
        mentor_name=mentor.addressed if mentor is not None else "",
        reminder=kind is MessageKind.SURVEY_REMINDER,
    )
    rendered = tick.renderer.survey(role, context)
    return tick.message(
        invitee.pair.pk,
        week,
        kind,
        role.value,
        person,
        rendered.subject,
        rendered.text,
        rendered.html,
        due,
        key=tick.survey_key(person.pk, survey, kind, role.value),
    )


def _invite(
    tick: CohortTick,
    session: Session,
    invitees: dict[tuple[int, Role], list[_Invitee]],
    survey: SurveyName,
    week: int,
    due: datetime,
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """Plan the survey's invitation to each of ``invitees`` who has none yet and has not
    answered (nor withdrawn)."""
    invitees = _still_asked(session, tick, survey, invitees)
    if not invitees:
        return
    keys = {
        (pk, role): tick.survey_key(pk, survey, MessageKind.SURVEY, role.value)
        for pk, role in invitees
    }
    existing = tick.existing(session, list(keys.values()))
    for (pk, role), found in invitees.items():
        if keys[pk, role] in existing:
            continue
        plan.rows.append(_message(tick, found[0], survey, MessageKind.SURVEY, week, due, people))


def baseline(
    tick: CohortTick,
    session: Session,
    firsts: Sequence[tuple[PairRow, Role]],
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """The baseline survey's invitations that go with ``firsts``: the first weekly topic of
    each (pair, role) this chunk sends this week (rule 1)."""
    week = tick.week or 0
    if week >= tick.cohort.weeks:
        return
    invitees = _invitees(firsts, people, SurveyName.BASELINE)
    _invite(tick, session, invitees, SurveyName.BASELINE, week, tick.instants[week], people, plan)


def closing_url(tick: CohortTick, person: Person, role: Role) -> str:
    """The person's closing-survey link for the final week's message ("" if the closing
    survey asks nothing of their role)."""
    if role not in roles_asked(SurveyName.CLOSING):
        return ""
    return tick.survey_url(person.pk, SurveyName.CLOSING, role)


def followup(
    tick: CohortTick,
    session: Session,
    pairs: Sequence[PairRow],
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """The follow-up survey's invitations, once its day has come (rule 3)."""
    at = tick.followup_at
    if not at <= tick.now < at + tick.settings.survey_late:
        return
    completed = [(p, r) for p in pairs if p.state == PairState.COMPLETED for r in Role]
    invitees = _invitees(completed, people, SurveyName.FOLLOWUP)
    _invite(tick, session, invitees, SurveyName.FOLLOWUP, tick.cohort.weeks, at, people, plan)


# --------------------------------------------------------------------------- reminders


def _sent_within(tick: CohortTick, survey: SurveyName) -> tuple[datetime, datetime] | None:
    """The earliest and latest due time of the messages that carry the survey's link, as
    the schedule has them; None when the survey asks nothing in this program."""
    instants, weeks = tick.instants, tick.cohort.weeks
    if survey is SurveyName.BASELINE:
        return (instants[1], instants[weeks - 1] + tick.grace) if weeks > 1 else None
    if survey is SurveyName.CLOSING:
        return instants[weeks], instants[weeks] + tick.grace
    at = tick.followup_at
    return at, at + tick.settings.survey_late


def reminder_window_open(tick: CohortTick, survey: SurveyName) -> bool:
    """Whether a reminder of the survey can be due now (cheap: the schedule only)."""
    span = _sent_within(tick, survey)
    if span is None:
        return False
    after, late = tick.settings.survey_reminder_after, tick.settings.survey_late
    return span[0] + after <= tick.now < span[1] + after + late


def due(tick: CohortTick) -> bool:
    """Whether any survey message of the cohort can be due now (the follow-up, or a
    reminder): a closed cohort's tick does survey work only then."""
    at = tick.followup_at
    if at <= tick.now < at + tick.settings.survey_late:
        return True
    return any(reminder_window_open(tick, s) for s in SurveyName)


def _carriers(tick: CohortTick, survey: SurveyName, invitee: _Invitee) -> str:
    """The key of the message that carried the person's link through this pair."""
    if survey is SurveyName.CLOSING:
        return tick.key(invitee.pair.pk, tick.cohort.weeks, MessageKind.WEEKLY, invitee.role.value)
    return tick.survey_key(invitee.person.pk, survey, MessageKind.SURVEY, invitee.role.value)


def reminders(
    tick: CohortTick,
    session: Session,
    pairs: Sequence[PairRow],
    people: dict[int, Person],
    plan: Plan,
) -> None:
    """One reminder of each survey to those of ``pairs``' people who were sent its link
    ``survey_reminder_after`` ago and have not answered (rules 4 and 5)."""
    for survey in SurveyName:
        if not reminder_window_open(tick, survey):
            continue
        taking_part = [(p, r) for p in pairs if _taking_part(tick, p, survey) for r in Role]
        invitees = _still_asked(session, tick, survey, _invitees(taking_part, people, survey))
        if not invitees:
            continue
        carriers = {
            person: [_carriers(tick, survey, i) for i in found]
            for person, found in invitees.items()
        }
        sent: dict[str, tuple[datetime, int]] = {
            key: (sent_at, week)
            for key, status, sent_at, week in session.exec(
                select(
                    OutboxMessage.key,
                    OutboxMessage.status,
                    OutboxMessage.sent_at,
                    OutboxMessage.week,
                ).where(col(OutboxMessage.key).in_([k for ks in carriers.values() for k in ks]))
            ).all()
            if status == OutboxStatus.SENT and sent_at is not None
        }
        keys = {
            (pk, role): tick.survey_key(pk, survey, MessageKind.SURVEY_REMINDER, role.value)
            for pk, role in invitees
        }
        existing = tick.existing(session, list(keys.values()))
        after, late = tick.settings.survey_reminder_after, tick.settings.survey_late
        for (pk, role), found in invitees.items():
            times = sorted(sent[k] for k in carriers[pk, role] if k in sent)
            if keys[pk, role] in existing or not times:
                continue
            first_sent, week = times[0]
            remind_at = first_sent + after
            if remind_at <= tick.now < remind_at + late:
                plan.rows.append(
                    _message(
                        tick, found[0], survey, MessageKind.SURVEY_REMINDER, week, remind_at, people
                    )
                )
