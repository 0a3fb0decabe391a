"""What a participant's signed link opens: their introduction or their week's check-in.

The link's token is the only key: it names one pair, one week and one person, and every
function here reads or records exactly that. Any link that does not verify (damaged,
forged, altered, expired, or for another kind of page) raises :class:`LinkError` with one
plain message, so a page never tells a stranger why. Recording goes through the same
functions as the CLI: :func:`~tandem.program.cohorts.apply_action` and
:func:`~tandem.program.checkins.record_checked`. Notes, reasons and identity attributes
are never part of what the *other* person's page shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import MeetingMode, Role
from tandem.program.checkins import (
    ANSWER_PREFIX,
    CheckinAnswers,
    CheckinError,
    WeekNotBegunError,
    not_begun,
    record_checked,
)
from tandem.program.cohorts import CohortError, PairAction, PairState, apply_action
from tandem.program.curricula import load_curriculum
from tandem.program.errors import ProgramError
from tandem.program.link_keys import LinkKeyRing, link_secrets
from tandem.program.pairs import allowed_actions, resumes_to
from tandem.program.sharing import shared_profile
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import AuditEntry, CheckIn, Cohort, Pair, Participant
from tandem.program.tokens import TamperedTokenError, TokenError, verify_token
from tandem.prompts.curriculum import (
    CheckinKind,
    CheckinQuestion,
    WeekContent,
)

NOT_VALID = "this link is not valid any more"
STANDARD_FIELDS = ("met", "minutes", "mode", "topic", "rating", "note")
"""Check-in answers with their own column; a curriculum question with one of these ids
(the shipped curriculum asks ``met`` and ``minutes`` every week) is answered there."""


class LinkError(ProgramError):
    """A participant link that cannot be used; the message never says why."""

    def __init__(self) -> None:
        super().__init__(NOT_VALID)


class CheckinFormError(ProgramError):
    """A check-in form with answers that cannot be recorded; ``problems`` by field name."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


class LinkKind(StrEnum):
    RESPOND = "respond"
    """An introduction's accept/decline link (week 0)."""
    CHECKIN = "checkin"
    """A weekly check-in link (weeks 1 and later)."""


class ChangeRequest(StrEnum):
    PAUSE = "pause"
    LEAVE = "leave"


@dataclass(frozen=True)
class _Holder:
    cohort: Cohort
    pair: Pair
    role: Role
    week: int
    me: Participant
    partner: Participant


def _resolve(
    session: Session, token: str, kind: LinkKind, now: datetime, link_keys: LinkKeyRing | None
) -> _Holder:
    for cohort in session.exec(select(Cohort).order_by(col(Cohort.pk))).all():
        try:
            claims = verify_token(link_secrets(link_keys, cohort), token, now=now)
        except TamperedTokenError:
            continue
        except TokenError:
            raise LinkError() from None
        pair = session.get(Pair, claims.pair_id)
        if pair is None or pair.cohort_pk != cohort.pk:
            raise LinkError()
        if kind is LinkKind.RESPOND and claims.week != 0:
            raise LinkError()
        if kind is LinkKind.CHECKIN and (
            not pair.first_week <= claims.week <= cohort.weeks
            or pair.state == PairState.DECLINED.value
        ):
            raise LinkError()
        role = Role(claims.role.value)
        mentor, mentee = (
            session.get(Participant, pair.mentor_pk),
            session.get(Participant, pair.mentee_pk),
        )
        assert mentor is not None and mentee is not None
        me, partner = (mentor, mentee) if role is Role.MENTOR else (mentee, mentor)
        return _Holder(cohort, pair, role, claims.week, me, partner)
    raise LinkError()


# --- introductions


@dataclass(frozen=True)
class Introduction:
    """An introduction as its recipient sees it."""

    cohort_name: str
    role: str
    my_name: str
    partner_name: str
    partner_role: str
    partner_profile: tuple[tuple[str, str], ...]
    respond_by: datetime
    timezone: str
    """The cohort's time zone (an IANA name): the one its pages show times in."""
    my_answer: str | None
    """"accepted", "declined" or None (not answered yet)."""
    pair_state: str
    answerable: bool = False
    """Whether the pair still takes answers: proposed, or paused as a proposal."""


def _introduction(session: Session, holder: _Holder) -> Introduction:
    pair = holder.pair
    answer = pair.mentor_response if holder.role is Role.MENTOR else pair.mentee_response
    return Introduction(
        cohort_name=holder.cohort.name,
        role=holder.role.value,
        my_name=holder.me.name,
        partner_name=holder.partner.name,
        partner_role=holder.partner.role,
        partner_profile=shared_profile(holder.partner),
        respond_by=pair.respond_by,
        timezone=holder.cohort.timezone,
        my_answer=answer,
        pair_state=pair.state,
        answerable=PairAction.DECLINE in allowed_actions(pair.state, resumes_to(session, pair)),
    )


def open_introduction(
    engine: Engine, token: str, *, now: datetime, link_keys: LinkKeyRing | None = None
) -> Introduction:
    """The introduction an accept/decline link opens; changes nothing.

    Raises LinkError for any link that does not open an introduction.
    """
    with Session(engine) as session:
        return _introduction(session, _resolve(session, token, LinkKind.RESPOND, now, link_keys))


def answer_introduction(
    engine: Engine,
    token: str,
    *,
    accept: bool,
    reason: str | None,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
) -> Introduction:
    """Record the link holder's accept or decline (the pair's one ``apply_action``, as
    ``record_response`` and the coordinator's ``pair accept`` do) and return the
    introduction as it now stands.

    A reason given with the answer is kept in the audit log for the coordinator only.
    Raises LinkError for an invalid link, CohortError when the pair's state no longer
    allows the answer (e.g. accepting a declined pair); nothing is recorded then.
    """
    with transaction(engine) as session:
        holder = _resolve(session, token, LinkKind.RESPOND, now, link_keys)
        apply_action(
            session,
            holder.cohort,
            holder.pair,
            PairAction.ACCEPT if accept else PairAction.DECLINE,
            actor=holder.role.value,
            now=now,
            reason=None if accept else f"declined by the {holder.role.value}",
            role=holder.role,
        )
        session.add(
            AuditEntry(
                at=now,
                actor=holder.role.value,
                action="pair.accepted" if accept else "pair.declined",
                subject=f"pair {holder.pair.pk}",
                details={
                    "cohort": holder.cohort.name,
                    "reason": (reason or "").strip()[:2000] or None,
                },
            )
        )
        session.flush()
        return _introduction(session, holder)


# --- weekly check-ins


@dataclass(frozen=True)
class CheckinPage:
    """A week's check-in as its link holder sees it, with what they recorded so far."""

    cohort_name: str
    role: str
    my_name: str
    partner_name: str
    week: int
    weeks_total: int
    topic: str
    final: bool
    questions: tuple[CheckinQuestion, ...]
    """The week's own questions, answered in ``q_<id>`` fields."""
    labels: dict[str, str] = field(default_factory=dict)
    """The curriculum's wording for questions that are standard fields (``met``, ``minutes``)."""
    recorded: dict[str, Any] | None = None
    """The holder's own recorded answers as form values (field name → text), or None."""
    recorded_at: datetime | None = None
    timezone: str = "UTC"
    """The cohort's time zone (an IANA name): the one its pages show times in."""
    first_week: int = 1
    """The pair's first week of topics (later than 1 for a pair that joined late)."""
    modes: tuple[str, ...] = field(default_factory=lambda: tuple(m.value for m in MeetingMode))
    opens: date | None = None
    """The local date the week begins, while it has not (the page then takes no answers)."""


def _week(cohort: Cohort, number: int, track: str) -> WeekContent:
    """A week of a cohort's curriculum (read once per process, see ``load_curriculum``)."""
    return load_curriculum(cohort).week(number, track)


def _form_values(row: CheckIn) -> dict[str, Any]:
    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    values = {
        "met": text(row.met),
        "minutes": text(row.minutes),
        "mode": text(row.mode),
        "rating": text(row.rating),
        "note": text(row.note),
    }
    values.update({f"{ANSWER_PREFIX}{k}": text(v) for k, v in row.answers.items()})
    return values


def open_checkin(
    engine: Engine, token: str, *, now: datetime, link_keys: LinkKeyRing | None = None
) -> CheckinPage:
    """The check-in a weekly link opens, with the holder's own answers if recorded.

    Raises LinkError for any link that does not open a check-in.
    """
    with Session(engine) as session:
        holder = _resolve(session, token, LinkKind.CHECKIN, now, link_keys)
        row = session.exec(
            select(CheckIn).where(
                CheckIn.pair_pk == holder.pair.pk,
                CheckIn.week == holder.week,
                CheckIn.role == holder.role.value,
            )
        ).first()
        return _checkin_page(holder, row, not_begun(holder.cohort, holder.week, now))


def _checkin_page(holder: _Holder, row: CheckIn | None, opens: date | None) -> CheckinPage:
    week = _week(holder.cohort, holder.week, holder.pair.track)
    asked = week.checkin_for(holder.role)
    return CheckinPage(
        cohort_name=holder.cohort.name,
        role=holder.role.value,
        my_name=holder.me.name,
        partner_name=holder.partner.name,
        week=holder.week,
        weeks_total=holder.cohort.weeks,
        topic=week.title,
        final=holder.week == holder.cohort.weeks,
        questions=_own_questions(asked),
        labels={q.id: q.text for q in asked if q.id in STANDARD_FIELDS},
        recorded=_form_values(row) if row else None,
        recorded_at=row.recorded_at if row else None,
        timezone=holder.cohort.timezone,
        first_week=holder.pair.first_week,
        opens=opens,
    )


def _own_questions(asked: tuple[CheckinQuestion, ...]) -> tuple[CheckinQuestion, ...]:
    return tuple(q for q in asked if q.id not in STANDARD_FIELDS)


def _answer(question: CheckinQuestion, raw: str) -> str | int | bool:
    if question.kind is CheckinKind.YES_NO:
        if raw not in ("yes", "no"):
            raise ValueError("choose yes or no")
        return raw == "yes"
    if question.kind in (CheckinKind.RATING, CheckinKind.MINUTES):
        try:
            number = int(raw)
        except ValueError:
            raise ValueError("give a whole number") from None
        low, high = (1, 5) if question.kind is CheckinKind.RATING else (0, 600)
        if not low <= number <= high:
            raise ValueError(f"give a number from {low} to {high}")
        return number
    if len(raw) > 4000:
        raise ValueError("keep this under 4,000 characters")
    return raw


def _checked_form(
    questions: tuple[CheckinQuestion, ...], form: Mapping[str, str]
) -> CheckinAnswers:
    """A check-in form's answers, typed by their questions; CheckinFormError naming each
    field that is wrong."""
    problems: dict[str, str] = {}
    values = {k: (v or "").strip() for k, v in form.items()}
    answers: dict[str, str | int | bool] = {}
    for question in questions:
        name = f"{ANSWER_PREFIX}{question.id}"
        raw = values.get(name, "")
        if not raw:
            continue
        try:
            answers[question.id] = _answer(question, raw)
        except ValueError as error:
            problems[name] = str(error)
    if values.get("met") not in ("yes", "no"):
        problems["met"] = "say whether you met this week"
    fields = {k: values[k] for k in ("met", "minutes", "mode", "rating", "note") if values.get(k)}
    if not problems:
        try:
            return CheckinAnswers(**fields, answers=answers)
        except ValidationError as error:
            for item in error.errors():
                where = str(item["loc"][0]) if item["loc"] else "form"
                problems[where] = str(item["msg"]).removeprefix("Value error, ")
    raise CheckinFormError(problems)


def submit_checkin(
    engine: Engine,
    token: str,
    form: Mapping[str, str],
    *,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
) -> None:
    """Validate a check-in form and record it; submitting again updates it. Fields are
    named as the check-in import's columns: ``met``, ``minutes``, ``mode``, ``rating``,
    ``note`` and ``q_<question id>`` for the week's own questions.

    The link is checked once and the answers are stored in the same transaction, through
    the check-ins' own :func:`~tandem.program.checkins.record_checked` (what the CLI's
    ``checkin add`` and import store through as well).

    Raises LinkError for an invalid link; WeekNotBegunError for a week that has not begun
    (its page says when it does); CheckinFormError naming each field that is wrong
    (nothing is recorded then).
    """
    with transaction(engine) as session:
        holder = _resolve(session, token, LinkKind.CHECKIN, now, link_keys)
        begins = not_begun(holder.cohort, holder.week, now)
        if begins is not None:
            raise WeekNotBegunError(holder.cohort, holder.week, begins)
        week = _week(holder.cohort, holder.week, holder.pair.track)
        answers = _checked_form(_own_questions(week.checkin_for(holder.role)), form)
        try:
            record_checked(
                session,
                holder.cohort,
                holder.pair,
                holder.week,
                holder.role,
                answers,
                source="link",
                now=now,
            )
        except CheckinError:
            raise LinkError() from None


# --- pause or leave


def request_change(
    engine: Engine,
    token: str,
    request: ChangeRequest,
    *,
    reason: str | None,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
) -> str:
    """Tell the coordinator that the link holder asks to pause or leave their pair.

    Nothing changes and nothing is deleted: the request is an audit entry the coordinator
    sees on the pair's page and acts on. Works from an introduction or a check-in link.
    Returns the pair's cohort name. Raises LinkError for an invalid link.
    """
    with transaction(engine) as session:
        try:
            holder = _resolve(session, token, LinkKind.CHECKIN, now, link_keys)
        except LinkError:
            holder = _resolve(session, token, LinkKind.RESPOND, now, link_keys)
        if holder.pair.state not in (
            PairState.PROPOSED.value,
            PairState.ACTIVE.value,
            PairState.PAUSED.value,
        ):
            raise CohortError(f"this pair is {holder.pair.state}: there is nothing to change")
        session.add(
            AuditEntry(
                at=now,
                actor=holder.role.value,
                action=f"pair.{request.value}_requested",
                subject=f"pair {holder.pair.pk}",
                details={
                    "cohort": holder.cohort.name,
                    "week": holder.week,
                    "reason": (reason or "").strip()[:2000] or None,
                },
            )
        )
        return holder.cohort.name
