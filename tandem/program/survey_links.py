"""What a person's survey link opens: their evaluation survey, and recording the answers.

A survey link's token (:func:`~tandem.program.tokens.make_survey_token`) names one cohort,
one person in one role and one survey; every function here reads or records exactly that
person's response to that survey. The page asks the instrument's items for the person's
role (a mentee answers the ``mentor_<id>`` items about their mentor), each retrospective
item twice (now, and before the program), and records through the same function as the
import (:func:`~tandem.program.evaluation.responses.store_response`); answering again
replaces the answers given before.

A link that does not verify (damaged, forged, altered, expired, another cohort's, or for a
person who is withdrawn or takes no part in the cohort in that role) raises
:class:`~tandem.program.links.LinkError` with one plain message, so the page never tells a
stranger why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.errors import ProgramError
from tandem.program.evaluation.responses import (
    Answer,
    parse_answer,
    rated_pairs,
    store_response,
)
from tandem.program.link_keys import LinkKeyRing, link_secrets
from tandem.program.links import LinkError
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import PairState, ResponseSource
from tandem.program.storage.tables import Cohort, Pair, Participant, SurveyResponse
from tandem.program.tokens import TokenError, survey_token_cohort, verify_survey_token
from tandem.prompts.surveys import (
    TEXT_MAX,
    Instrument,
    ItemKind,
    SurveyItem,
    SurveyName,
    load_instruments,
)

__all__ = [
    "SurveyFormError",
    "SurveyPage",
    "SurveyQuestion",
    "SurveySection",
    "open_survey",
    "submit_survey",
]


class SurveyFormError(ProgramError):
    """A survey form with answers that cannot be recorded; ``problems`` by field name."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


@dataclass(frozen=True)
class SurveyQuestion:
    """One item as the page asks it: answered in ``field`` (and ``before_field``)."""

    item: SurveyItem
    text: str
    """The item's wording, without a scale written at its end."""
    field: str
    before_field: str | None
    """``<id>_before`` for a retrospective rating, else None."""
    points: tuple[int, ...]
    """The scale's points, lowest first (ratings only)."""
    anchors: dict[int, str]
    """The labelled points of the scale (1 = "not at all skilled", …)."""

    @property
    def kind(self) -> str:
        return self.item.kind.value

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field, self.before_field) if self.before_field else (self.field,)


@dataclass(frozen=True)
class SurveySection:
    """Questions shown together: one competency's items, or the survey's other items."""

    heading: str | None
    """The competency's name; None for the survey's other items."""
    questions: tuple[SurveyQuestion, ...]


@dataclass(frozen=True)
class SurveyPage:
    """A survey as its link holder sees it, with what they recorded so far."""

    cohort_name: str
    survey: SurveyName
    title: str
    description: str
    role: str
    my_name: str
    mentor_name: str | None
    """For a mentee, the mentor their answers are about; None for a mentor."""
    stem: str | None
    """The lead-in to the competency items, for this role."""
    before_stem: str | None
    scale: str | None
    sections: tuple[SurveySection, ...]
    recorded: dict[str, str] | None = None
    """The holder's recorded answers as form values (field name → text), or None."""
    recorded_at: datetime | None = None

    @property
    def questions(self) -> tuple[SurveyQuestion, ...]:
        return tuple(q for section in self.sections for q in section.questions)

    @property
    def retrospective(self) -> bool:
        return any(q.before_field for q in self.questions)


@dataclass(frozen=True)
class _Holder:
    cohort: Cohort
    person: Participant
    role: Role
    survey: SurveyName
    instrument: Instrument
    pair: Pair | None
    """For a mentee, the pair whose mentor they rate."""
    mentor_name: str | None


def _resolve(
    session: Session,
    token: str,
    now: datetime,
    link_keys: LinkKeyRing | None,
    instruments: Mapping[SurveyName, Instrument] | None,
) -> _Holder:
    try:
        cohort = session.get(Cohort, survey_token_cohort(token))
        if cohort is None:
            raise LinkError()
        claims = verify_survey_token(link_secrets(link_keys, cohort), token, now=now)
    except TokenError:
        raise LinkError() from None
    person = session.get(Participant, claims.participant_pk)
    if person is None or person.role != claims.role.value or person.withdrawn_at is not None:
        raise LinkError()
    mine = Pair.mentor_pk if claims.role is Role.MENTOR else Pair.mentee_pk
    pairs = session.exec(
        select(Pair).where(Pair.cohort_pk == cohort.pk, mine == person.pk).order_by(col(Pair.pk))
    ).all()
    if all(p.state == PairState.DECLINED.value for p in pairs):  # also: no pair at all
        raise LinkError()
    instrument = (instruments or load_instruments())[claims.survey]
    if not instrument.items_for(claims.role):
        raise LinkError()
    pair: Pair | None = None
    mentor_name: str | None = None
    if claims.role is Role.MENTEE:
        pair = rated_pairs(pairs)[person.pk or 0]
        mentor = session.get(Participant, pair.mentor_pk)
        mentor_name = mentor.name if mentor is not None else None
    return _Holder(cohort, person, claims.role, claims.survey, instrument, pair, mentor_name)


def _sections(instrument: Instrument, role: Role) -> tuple[SurveySection, ...]:
    def question(item: SurveyItem) -> SurveyQuestion:
        rating = item.kind is ItemKind.RATING
        return SurveyQuestion(
            item=item,
            text=item.question,
            field=item.id,
            before_field=item.before_column if item.retrospective else None,
            points=tuple(range(item.min or 0, (item.max or 0) + 1)) if rating else (),
            anchors=dict(instrument.anchors(item)),
        )

    sections = [
        SurveySection(competency.label, tuple(question(i) for i in items))
        for competency, items in instrument.competency_items(role).items()
    ]
    others = tuple(question(i) for i in instrument.items_for(role) if i.competency is None)
    if others:
        sections.append(SurveySection(None, others))
    return tuple(sections)


def _form_values(answers: Mapping[str, Answer]) -> dict[str, str]:
    def text(value: Answer) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return {name: text(value) for name, value in answers.items()}


def _page(session: Session, holder: _Holder) -> SurveyPage:
    row = session.exec(
        select(SurveyResponse).where(
            SurveyResponse.cohort_pk == holder.cohort.pk,
            SurveyResponse.participant_pk == holder.person.pk,
            SurveyResponse.survey == holder.survey.value,
        )
    ).first()
    stems = holder.instrument.stems
    return SurveyPage(
        cohort_name=holder.cohort.name,
        survey=holder.survey,
        title=holder.instrument.title,
        description=holder.instrument.description,
        role=holder.role.value,
        my_name=holder.person.name,
        mentor_name=holder.mentor_name,
        stem=stems.get(holder.role.value),
        before_stem=stems.get("before"),
        scale=stems.get("scale"),
        sections=_sections(holder.instrument, holder.role),
        recorded=_form_values(row.answers) if row is not None else None,
        recorded_at=row.recorded_at if row is not None else None,
    )


def open_survey(
    engine: Engine,
    token: str,
    *,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
    instruments: Mapping[SurveyName, Instrument] | None = None,
) -> SurveyPage:
    """The survey a survey link opens, with the holder's answers if recorded; changes
    nothing.

    Raises LinkError for any link that does not open a survey.
    """
    with Session(engine) as session:
        return _page(session, _resolve(session, token, now, link_keys, instruments))


def _missing(item: SurveyItem, before: bool) -> str:
    when = " for before the program" if before else ""
    if item.kind is ItemKind.YES_NO:
        return "choose yes or no"
    return f"choose a rating from {item.min} to {item.max}{when}"


def _answers(questions: tuple[SurveyQuestion, ...], form: Mapping[str, str]) -> dict[str, Answer]:
    """The form's answers, parsed as the import parses a cell. Ratings and yes/no items
    must be answered, written answers may be left empty.

    Raises SurveyFormError naming each field that is missing or wrong.
    """
    problems: dict[str, str] = {}
    answers: dict[str, Answer] = {}
    for question in questions:
        item = question.item
        for name in question.fields:
            raw = (form.get(name) or "").strip()
            if not raw:
                if item.kind is not ItemKind.TEXT:
                    problems[name] = _missing(item, name == question.before_field)
                continue
            if item.kind is ItemKind.TEXT and len(raw) > TEXT_MAX:
                problems[name] = f"keep this under {TEXT_MAX:,} characters (it has {len(raw):,})"
                continue
            try:
                answers[name] = parse_answer(item, raw)
            except ValueError:
                problems[name] = _missing(item, name == question.before_field)
    if problems:
        raise SurveyFormError(problems)
    return answers


def submit_survey(
    engine: Engine,
    token: str,
    form: Mapping[str, str],
    *,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
    instruments: Mapping[SurveyName, Instrument] | None = None,
) -> SurveyPage:
    """Validate a survey form and record it; sending it again replaces the answers.

    Fields are named as the import's columns: the item id, and ``<item id>_before`` for a
    retrospective rating. Every rating and yes/no item must be answered; a written answer
    may be left empty (and is then not stored).

    Raises LinkError for an invalid link; SurveyFormError naming each field that is wrong
    (nothing is recorded then).
    """
    for attempt in (1, 2):
        try:
            with transaction(engine) as session:
                holder = _resolve(session, token, now, link_keys, instruments)
                sections = _sections(holder.instrument, holder.role)
                answers = _answers(tuple(q for s in sections for q in s.questions), form)
                store_response(
                    session,
                    holder.cohort,
                    holder.person,
                    holder.role,
                    holder.survey,
                    answers,
                    pair=holder.pair,
                    now=now,
                    source=ResponseSource.LINK,
                )
            break
        except IntegrityError:
            # The same form sent twice at once (a double click): the other request
            # stored the first response; this one replaces it.
            if attempt == 2:
                raise
    return open_survey(engine, token, now=now, link_keys=link_keys, instruments=instruments)
