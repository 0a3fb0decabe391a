"""Cohorts and pairs: turning a stored match run into a guided program, and the actions
coordinators and participants take on pairs.

The pair lifecycle itself (states, which action leads where, and the one
:func:`~tandem.program.pairs.transition` every change goes through) is in
:mod:`tandem.program.pairs`; its names are importable from here as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.errors import quoted
from tandem.matcher.types import Role
from tandem.program import contact, schedule
from tandem.program.curricula import load_curriculum
from tandem.program.errors import ProgramError
from tandem.program.pairs import (
    ACTIONS,
    IN_EFFECT,
    LIVE_STATES,
    SYSTEM_ACTOR,
    Confirmation,
    MatchResponse,
    PairAction,
    PairState,
    allowed_actions,
    both_accepted,
    resumes_to,
    transition,
)
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import AddressBy, MessageKind
from tandem.program.storage.tables import (
    Cohort,
    MatchPair,
    MatchRun,
    OutboxMessage,
    Pair,
    PairEvent,
    Participant,
)
from tandem.program.voice import MessagingSettings
from tandem.prompts.curriculum import Curriculum
from tandem.prompts.curriculum import load_curriculum as _load_curriculum

if TYPE_CHECKING:
    from tandem.program.link_keys import LinkKeyRing


class CohortError(ProgramError):
    """A cohort or pair operation cannot be carried out as asked."""


__all__ = [
    "LIVE_STATES",
    "CohortCreated",
    "CohortError",
    "CohortSettings",
    "Confirmation",
    "MeetingSlot",
    "PairAction",
    "PairChange",
    "PairState",
    "apply_action",
    "change_pair",
    "create_cohort",
    "find_pair",
    "get_cohort",
    "latest_run",
    "load_curriculum",
    "record_response",
    "send_instants",
    "set_meeting_slot",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARLIEST_START = date(1970, 1, 1)
LATEST_START = date(9000, 12, 31)
"""The start dates a cohort may have: every date of its program (at most two years of
weeks, and the retention period after it) is then one Python can hold."""


class CohortSettings(MessagingSettings):
    """Validated settings of ``tandem cohort create``: its schedule and rules here, how its
    messages are signed, addressed and linked in :class:`MessagingSettings` (which
    ``tandem cohort set`` changes later, by the same rules)."""

    name: str = Field(min_length=1, max_length=100)
    cycle: str
    start: date
    weeks: int | None = Field(default=None, ge=1, le=104)
    timezone: str = "UTC"
    send_day: Annotated[str, Field(pattern="^(mon|tue|wed|thu|fri|sat|sun)$")] = "mon"
    send_time: time = time(9, 0)
    curriculum_dir: Path | None = None
    confirmation: Confirmation = Confirmation.OPT_OUT
    response_days: int = Field(default=7, ge=1, le=60)
    reminder_days: int = Field(default=3, ge=1, le=6)
    grace_days: int = Field(default=2, ge=0, le=6)
    address_by: AddressBy = AddressBy.FIRST_NAME

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """The zone as the database spells it; an abbreviation or unknown name raises
        ScheduleError (a TandemError: it reaches the person as one line, not wrapped)."""
        try:
            return schedule.checked_zone(value)
        except schedule.ScheduleError as error:
            raise schedule.ScheduleError(f"--timezone: {error.message}") from None

    @field_validator("start")
    @classmethod
    def _start_in_range(cls, value: date) -> date:
        if not EARLIEST_START <= value <= LATEST_START:
            raise ValueError(
                f"{value.isoformat()} is outside the range accepted, "
                f"{EARLIEST_START.isoformat()} to {LATEST_START.isoformat()}"
            )
        return value

    @field_validator("send_day", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        return str(value).strip().lower()[:3]

    @field_validator("name", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> str:
        return contact.one_line(value)

    @field_validator("cycle", mode="before")
    @classmethod
    def _cycle(cls, value: Any) -> str:
        return contact.cycle_name(value)


def send_instants(cohort: Cohort) -> list[datetime]:
    """Aware UTC send instants of weeks 0..weeks (0 is the introduction)."""
    hours, minutes = (int(part) for part in cohort.send_time.split(":"))
    return schedule.send_instants(
        cohort.start_date, cohort.weeks, cohort.send_weekday, time(hours, minutes), cohort.timezone
    )


def get_cohort(session: Session, name: str) -> Cohort:
    cohort = session.exec(select(Cohort).where(Cohort.name == name)).first()
    if cohort is None:
        known = (
            ", ".join(session.exec(select(Cohort.name).order_by(Cohort.name)).all()) or "none yet"
        )
        raise CohortError(
            f"no cohort named {quoted(name)} (cohorts: {known}); create it with `tandem cohort create`"
        )
    return cohort


def latest_run(session: Session, cycle: str) -> MatchRun:
    run = session.exec(
        select(MatchRun).where(MatchRun.cycle == cycle).order_by(col(MatchRun.pk).desc())
    ).first()
    if run is None:
        raise CohortError(
            f"no match run for cycle {quoted(cycle)}; run `tandem match --cycle {quoted(cycle)}` first"
        )
    return run


@dataclass(frozen=True)
class CohortCreated:
    name: str
    pairs: int
    weeks: int
    first_send: datetime
    last_send: datetime
    created: bool
    run_id: int
    """The match run the cohort's pairs come from."""
    method: str
    """How that run matched (``optimal`` or ``stable``)."""
    timezone: str
    """The cohort's IANA time zone."""


def create_cohort(engine: Engine, settings: CohortSettings, *, now: datetime) -> CohortCreated:
    """Create a cohort from the latest match run of ``settings.cycle``, one pair per match
    (but none with a participant withdrawn since the run).

    A cycle has one cohort: its match pairs each applicant once, so a second cohort of
    the cycle would pair everyone again (a mentor twice over their capacity, mentees
    introduced twice). Mentees freed later are paired again with ``cohort rematch``;
    applicants who come later are matched in a cycle of their own.

    Safe to repeat: creating a cohort that exists with the same cycle and start changes
    nothing. Raises CohortError when it exists with other settings, another cohort of the
    cycle exists, the cycle has no run, or the curriculum's length disagrees with ``weeks``.
    """
    curriculum = _load_curriculum(settings.curriculum_dir)
    weeks = settings.weeks or curriculum.weeks_total
    if weeks != curriculum.weeks_total:
        raise CohortError(
            f"--weeks {weeks} does not match the curriculum, which has {curriculum.weeks_total} weeks; "
            "omit --weeks or point --curriculum at a curriculum of that length"
        )
    # Exclusive: two cohorts created at once for one cycle must not both find it free.
    with transaction(engine, exclusive=True) as session:
        existing = session.exec(select(Cohort).where(Cohort.name == settings.name)).first()
        if existing is not None:
            if existing.cycle != settings.cycle or existing.start_date != settings.start:
                raise CohortError(
                    f'cohort "{settings.name}" already exists for cycle "{existing.cycle}" starting '
                    f"{existing.start_date}; choose another name"
                )
            instants = send_instants(existing)
            count = len(session.exec(select(Pair.pk).where(Pair.cohort_pk == existing.pk)).all())
            used = session.get(MatchRun, existing.match_run_pk)
            assert used is not None
            return CohortCreated(
                existing.name,
                count,
                existing.weeks,
                instants[0],
                instants[-1],
                False,
                existing.match_run_pk,
                used.method,
                existing.timezone,
            )
        _refuse_second_cohort(session, settings.cycle)
        run = latest_run(session, settings.cycle)
        assert run.pk is not None
        cohort = Cohort(
            name=settings.name,
            cycle=settings.cycle,
            match_run_pk=run.pk,
            start_date=settings.start,
            weeks=weeks,
            timezone=settings.timezone,
            send_weekday=WEEKDAYS.index(settings.send_day),
            send_time=settings.send_time.strftime("%H:%M"),
            curriculum_dir=str(settings.curriculum_dir.resolve())
            if settings.curriculum_dir
            else None,
            confirmation=settings.confirmation.value,
            response_days=settings.response_days,
            reminder_days=settings.reminder_days,
            grace_days=settings.grace_days,
            coordinator_email=settings.coordinator_email,
            coordinator_name=settings.coordinator_name,
            salutation=settings.salutation,
            address_by=settings.address_by.value,
            resources={r.value: text for r, text in sorted(settings.resources.items())},
            sender=settings.sender,
            base_url=settings.base_url.rstrip("/"),
            # Links are signed with keys kept outside the database (link_keys.py).
            secret="",
            created_at=now,
        )
        session.add(cohort)
        session.flush()
        instants = send_instants(cohort)
        people = participants_by_key(session)
        matches = session.exec(
            select(MatchPair).where(MatchPair.run_pk == run.pk).order_by(MatchPair.mentee_id)
        ).all()
        withdrawn = {key for key, person in people.items() if person.withdrawn_at is not None}
        matches = [
            m
            for m in matches
            if (Role.MENTEE.value, m.mentee_id) not in withdrawn
            and (Role.MENTOR.value, m.mentor_id) not in withdrawn
        ]
        for match in matches:
            add_pair(
                session,
                cohort,
                curriculum,
                people,
                match.mentee_id,
                match.mentor_id,
                match.score,
                proposed_at=instants[0],
                first_week=1,
                now=now,
            )
        return CohortCreated(
            cohort.name,
            len(matches),
            weeks,
            instants[0],
            instants[-1],
            True,
            run.pk,
            run.method,
            cohort.timezone,
        )


def _refuse_second_cohort(session: Session, cycle: str) -> None:
    """Raise CohortError if ``cycle`` has a cohort already (see :func:`create_cohort`)."""
    other = session.exec(
        select(Cohort).where(Cohort.cycle == cycle).order_by(col(Cohort.pk))
    ).first()
    if other is None:
        return
    raise CohortError(
        f'cycle "{cycle}" already has cohort "{other.name}" (from match run '
        f"{other.match_run_pk}): a second cohort would pair the same people again. "
        f'To pair mentees freed since, use `tandem cohort rematch "{other.name}"`; to match '
        "new applicants, import them to a cycle of their own (--cycle) and match that cycle"
    )


def participants_by_key(session: Session) -> dict[tuple[str, str], Participant]:
    return {(p.role, p.external_id): p for p in session.exec(select(Participant)).all()}


def add_pair(
    session: Session,
    cohort: Cohort,
    curriculum: Curriculum,
    people: dict[tuple[str, str], Participant],
    mentee_id: str,
    mentor_id: str,
    score: float | None,
    *,
    proposed_at: datetime,
    first_week: int,
    now: datetime,
) -> Pair:
    mentee = people.get((Role.MENTEE.value, mentee_id))
    mentor = people.get((Role.MENTOR.value, mentor_id))
    if mentee is None or mentor is None:
        missing = mentee_id if mentee is None else mentor_id
        raise CohortError(f'participant "{missing}" of the match run is no longer in the roster')
    from tandem.matcher.types import CareerStage

    stage = CareerStage(mentee.career_stage) if mentee.career_stage else None
    assert cohort.pk is not None and mentee.pk is not None and mentor.pk is not None
    pair = Pair(
        cohort_pk=cohort.pk,
        mentee_pk=mentee.pk,
        mentor_pk=mentor.pk,
        score=score,
        track=curriculum.track_for(stage),
        state=PairState.PROPOSED.value,
        proposed_at=proposed_at,
        respond_by=proposed_at + timedelta(days=cohort.response_days),
        first_week=first_week,
    )
    session.add(pair)
    session.flush()
    assert pair.pk is not None
    session.add(
        PairEvent(pair_pk=pair.pk, at=now, to_state=PairState.PROPOSED.value, actor=SYSTEM_ACTOR)
    )
    return pair


# --- actions on pairs (the lifecycle itself is in pairs.py) ---


def find_pair(session: Session, cohort: Cohort, mentee_id: str) -> Pair:
    """The mentee's current pair in the cohort (the live one, else the latest)."""
    mentee = session.exec(
        select(Participant).where(
            Participant.role == Role.MENTEE.value, Participant.external_id == mentee_id
        )
    ).first()
    if mentee is None:
        raise CohortError(f'no mentee with id "{mentee_id}"')
    pairs = session.exec(
        select(Pair)
        .where(Pair.cohort_pk == cohort.pk, Pair.mentee_pk == mentee.pk)
        .order_by(col(Pair.pk).desc())
    ).all()
    if not pairs:
        raise CohortError(f'mentee "{mentee_id}" has no pair in cohort "{cohort.name}"')
    live = [p for p in pairs if p.state in LIVE_STATES]
    return live[0] if live else pairs[0]


@dataclass(frozen=True)
class PairChange:
    """What a pair action did, for the person who took it to be told."""

    action: PairAction
    role: Role | None
    """On whose behalf (None: a coordinator's own action; ``accept`` then accepts for both)."""
    before: PairState
    state: PairState
    """The pair's state afterwards."""
    pair_pk: int
    mentee_id: str
    mentor_id: str
    mentee_response: str | None
    mentor_response: str | None
    respond_by: datetime
    confirmation: Confirmation
    timezone: str
    """The cohort's IANA time zone."""
    changed: bool
    """False when the action was already in effect (nothing was written)."""
    proposal: bool
    """Whether the pair still waits for answers (proposed, or paused as a proposal)."""


def change_pair(
    engine: Engine,
    cohort_name: str,
    mentee_id: str,
    action: PairAction,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    role: Role | None = None,
) -> PairChange:
    """Apply a coordinator's (or participant's) action to a pair; returns what it did.

    ``accept`` records ``role``'s acceptance (both for a coordinator without a role).
    Declining and ending early need a reason. Raises CohortError for a transition the
    pair's state does not allow. Repeating an action already in effect changes nothing.
    """
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        before = PairState(pair.state)
        answers = (pair.mentee_response, pair.mentor_response)
        apply_action(session, cohort, pair, action, actor=actor, now=now, reason=reason, role=role)
        mentor = session.get(Participant, pair.mentor_pk)
        assert mentor is not None and pair.pk is not None
        return PairChange(
            action=action,
            role=role,
            before=before,
            state=PairState(pair.state),
            pair_pk=pair.pk,
            mentee_id=mentee_id,
            mentor_id=mentor.external_id,
            mentee_response=pair.mentee_response,
            mentor_response=pair.mentor_response,
            respond_by=pair.respond_by,
            confirmation=Confirmation(cohort.confirmation),
            timezone=cohort.timezone,
            changed=(before.value, *answers)
            != (pair.state, pair.mentee_response, pair.mentor_response),
            proposal=pair.state == PairState.PROPOSED
            or resumes_to(session, pair) is PairState.PROPOSED,
        )


def apply_action(
    session: Session,
    cohort: Cohort,
    pair: Pair,
    action: PairAction,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    role: Role | None = None,
) -> None:
    """Apply ``action`` to ``pair`` in ``session`` (see :func:`change_pair`)."""
    if now < cohort.created_at:
        raise CohortError(
            f"{now:%Y-%m-%d %H:%M} UTC is before cohort {quoted(cohort.name)} was created "
            f"({cohort.created_at:%Y-%m-%d %H:%M} UTC): a pair's history cannot run "
            "backwards; check --now"
        )
    state = PairState(pair.state)
    was = resumes_to(session, pair)
    if action not in allowed_actions(state, was):
        if state in IN_EFFECT[action]:
            return
        if action is PairAction.ACCEPT:
            raise CohortError(f"cannot accept a pair that is {state.value}")
        allowed = ACTIONS[action][0]
        raise CohortError(
            f"cannot {action.value} a pair that is {state.value} "
            f"(only a pair that is {' or '.join(s.value for s in allowed)})"
        )
    if action in (PairAction.DECLINE, PairAction.END) and not reason:
        raise CohortError(f"give a reason to {action.value} a pair (--reason)")
    if action is PairAction.ACCEPT:
        if role in (None, Role.MENTOR):
            pair.mentor_response = MatchResponse.ACCEPTED.value
        if role in (None, Role.MENTEE):
            pair.mentee_response = MatchResponse.ACCEPTED.value
        session.add(pair)
        if state is PairState.PROPOSED and both_accepted(pair):
            _transition(session, pair, PairState.ACTIVE, actor, now, "both accepted")
        return  # a paused proposal accepted by both is active when resumed
    if action is PairAction.DECLINE and role is not None:
        setattr(pair, f"{role.value}_response", MatchResponse.DECLINED.value)
    target = ACTIONS[action][1]
    if action is PairAction.RESUME:
        target = was or PairState.ACTIVE
    _transition(session, pair, target, actor, now, reason)


def _transition(
    session: Session, pair: Pair, to: PairState, actor: str, now: datetime, reason: str | None
) -> None:
    state = pair.state
    if not transition(session, pair, to, actor=actor, now=now, reason=reason):
        raise CohortError(
            f"the pair is no longer {state}: someone changed it at the same time; "
            "look at it again (`tandem cohort status`) and repeat the action if it still applies"
        )


def record_response(
    engine: Engine,
    token: str,
    *,
    accept: bool,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
) -> Pair:
    """Record an accept or decline from an introduction link (a week-0 token).

    ``link_keys`` are the link-signing keys from the key file (see
    :mod:`tandem.program.link_keys`).

    Raises:
        CohortError: the link is not valid (damaged, altered, forged, not an
            introduction's), or it expired (the message says when), or the pair can no
            longer take this answer.
    """
    from tandem.program.link_keys import link_secrets
    from tandem.program.tokens import ExpiredTokenError, verify_token

    with transaction(engine) as session:
        claims = None
        for cohort in session.exec(select(Cohort)).all():
            try:
                claims = verify_token(link_secrets(link_keys, cohort), token, now=now)
            except ExpiredTokenError as error:
                zone = schedule.zone(cohort.timezone)
                raise CohortError(
                    "this introduction link expired on "
                    f"{error.expires.astimezone(zone):%Y-%m-%d %H:%M} ({cohort.timezone}), "
                    "after the time to answer: ask the program coordinator to record the "
                    "answer (`tandem pair accept` or `tandem pair decline`)"
                ) from None
            except ProgramError:
                continue
            pair = session.get(Pair, claims.pair_id)
            if pair is None or pair.cohort_pk != cohort.pk or claims.week != 0:
                raise CohortError("this link does not belong to an introduction")
            role = Role(claims.role.value)
            action = PairAction.ACCEPT if accept else PairAction.DECLINE
            reason = None if accept else f"declined by the {role.value}"
            apply_action(
                session, cohort, pair, action, actor=role.value, now=now, reason=reason, role=role
            )
            return pair
        raise CohortError("this link is not valid: open it from the introduction e-mail again")


@dataclass(frozen=True)
class MeetingSlot:
    """A pair's agreed weekly slot, as recorded, and when it first reaches the pair."""

    slot: dict[str, Any]
    """weekday (0 = Monday), time (HH:MM), minutes, timezone, sequence."""
    invitation_week: int | None
    """The week whose message carries the first invitation for this slot (None: the
    pair has no weekly message left)."""
    invitation_day: date | None
    """That message's day in the cohort's time zone."""


def set_meeting_slot(
    engine: Engine,
    cohort_name: str,
    mentee_id: str,
    *,
    weekday: int,
    at: time,
    now: datetime,
    minutes: int = 45,
    timezone: str | None = None,
) -> MeetingSlot:
    """Record the pair's agreed weekly slot; later weekly messages carry an invitation.

    Changing the slot raises the invitation's SEQUENCE so calendars update the event. The
    first message to carry it is this week's if it has not gone yet and is still due
    (within the grace period), else the next week's, as of ``now``.

    Raises:
        CohortError: an unknown cohort or mentee, a meeting shorter than 5 or longer than
            480 minutes, or a pair that has ended (declined, ended or completed): it gets
            no more weekly messages.
    """
    if timezone is not None:
        try:
            timezone = schedule.checked_zone(timezone)
        except schedule.ScheduleError as error:
            raise CohortError(f"--timezone: {error.message}") from None
    if not 5 <= minutes <= 480:
        raise CohortError(f"a meeting of {minutes} minutes? Use 5 to 480")
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        if pair.state not in LIVE_STATES:
            raise CohortError(
                f'the pair of mentee "{mentee_id}" in "{cohort.name}" is {pair.state}: it gets '
                "no more weekly messages to carry an invitation"
            )
        previous = pair.meeting_slot or {}
        slot: dict[str, Any] = {
            "weekday": weekday,
            "time": at.strftime("%H:%M"),
            "minutes": minutes,
            "timezone": timezone or cohort.timezone,
        }
        same = all(previous.get(k) == v for k, v in slot.items())
        slot["sequence"] = int(previous.get("sequence", -1)) + (0 if same else 1)
        pair.meeting_slot = slot
        session.add(pair)
        week = _next_weekly(session, cohort, pair, now)
        instants = send_instants(cohort)
        day = (
            instants[week].astimezone(schedule.zone(cohort.timezone)).date()
            if week is not None
            else None
        )
        return MeetingSlot(slot, week, day)


def _next_weekly(session: Session, cohort: Cohort, pair: Pair, now: datetime) -> int | None:
    """The first week whose message the pair has yet to receive, as of ``now``: the current
    week while its message has not gone and is still within the grace period, else the
    next one (None after the pair's final week)."""
    instants = send_instants(cohort)
    current = schedule.week_for(now, instants) or 0
    first = max(pair.first_week, 1)
    if current >= first and now - instants[current] <= timedelta(days=cohort.grace_days):
        sent = session.exec(
            select(OutboxMessage.pk).where(
                OutboxMessage.pair_pk == pair.pk,
                OutboxMessage.kind == MessageKind.WEEKLY,
                OutboxMessage.week == current,
            )
        ).first()
        if sent is None:
            return current
    upcoming = max(first, current + 1)
    return upcoming if upcoming <= cohort.weeks else None
