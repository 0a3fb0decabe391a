"""Survey responses: imported from a survey tool's export, validated against the instruments.

``tandem survey import COHORT FILE`` reads a CSV/XLSX/JSON export with one row per person
and survey: ``email``, ``survey`` (baseline, closing or followup), ``role`` (needed only for
someone who is both a mentor and a mentee in the cohort), ``mentee_id`` (optional: picks
the mentee with that id), ``timestamp`` (ignored), then one column per item id and
``<item id>_before`` for the closing survey's retrospective ratings. Every problem is
reported with its row and column and nothing is stored unless the whole file is valid.
Importing again updates changed responses and leaves the others alone.

The survey page that a person's signed link opens (:mod:`tandem.program.survey_links`)
parses each answer with :func:`parse_answer` and records with :func:`store_response`, as
the import does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import PairState, get_cohort
from tandem.program.roster.files import InputFileError, Problem, read_table
from tandem.program.storage.db import transaction
from tandem.program.storage.enums import ResponseSource
from tandem.program.storage.tables import Cohort, Pair, Participant, SurveyResponse
from tandem.prompts.surveys import (
    TEXT_MAX,
    Instrument,
    ItemKind,
    ItemRole,
    SurveyItem,
    SurveyName,
    load_instruments,
)

IMPORT_COLUMNS = ("email", "survey", "role", "mentee_id", "timestamp")
"""The columns that say whose response a row is; every other column is an answer."""

Answer = int | bool | str


@dataclass(frozen=True)
class SurveyImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class _Place:
    """Where an e-mail address sits in a cohort: a participant in one role."""

    participant: Participant
    role: Role
    pair: Pair | None
    """For a mentee, the pair whose mentor they rate (the latest one not declined)."""


def rated_pairs(pairs: Sequence[Pair]) -> dict[int, Pair]:
    """For each mentee of ``pairs`` (in the order of their keys), the pair whose mentor
    their survey answers rate: their latest pair not declined (their first, if every one
    was declined)."""
    mentee_pair: dict[int, Pair] = {}
    for pair in pairs:
        kept = mentee_pair.get(pair.mentee_pk)
        if kept is None or pair.state != PairState.DECLINED.value:
            mentee_pair[pair.mentee_pk] = pair
    return mentee_pair


def _cohort_places(session: Session, cohort: Cohort) -> dict[str, list[_Place]]:
    pairs = session.exec(
        select(Pair).where(Pair.cohort_pk == cohort.pk).order_by(col(Pair.pk))
    ).all()
    people = {p.pk: p for p in session.exec(select(Participant)).all()}
    mentee_pair = rated_pairs(pairs)
    places: dict[str, list[_Place]] = {}
    seen: set[int] = set()
    for pair in pairs:
        for pk, role in ((pair.mentor_pk, Role.MENTOR), (pair.mentee_pk, Role.MENTEE)):
            if pk in seen:
                continue
            seen.add(pk)
            person = people[pk]
            place = _Place(person, role, mentee_pair.get(pk) if role is Role.MENTEE else None)
            places.setdefault(person.email_key, []).append(place)
    return places


def _whole(value: Any) -> int:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(text) from None
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


def parse_answer(item: SurveyItem, value: Any) -> Answer:
    """One cell as the answer ``item`` expects; raises ValueError with the reason."""
    if item.kind is ItemKind.RATING:
        assert item.min is not None and item.max is not None
        try:
            number = _whole(value)
        except ValueError:
            number = None
        if number is None or not item.min <= number <= item.max:
            raise ValueError(
                f"expected a whole number from {item.min} to {item.max}, got {str(value)!r}"
            )
        return number
    if item.kind is ItemKind.YES_NO:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"yes", "y", "true", "1"}:
            return True
        if text in {"no", "n", "false", "0"}:
            return False
        raise ValueError(f"expected yes or no, got {str(value)!r}")
    text = str(value).strip()
    if len(text) > TEXT_MAX:
        raise ValueError(f"is {len(text)} characters long; at most {TEXT_MAX} are kept")
    return text


def _asked_of(item: SurveyItem) -> str:
    return {ItemRole.MENTOR: "mentors", ItemRole.MENTEE: "mentees"}.get(item.role, "everyone")


def import_responses(
    engine: Engine,
    cohort_name: str,
    path: Path,
    *,
    now: datetime,
    dry_run: bool = False,
    instruments: Mapping[SurveyName, Instrument] | None = None,
) -> SurveyImportReport:
    """Import survey responses from a survey tool's export, all or nothing (see the module).

    Raises InputFileError listing every problem (file, row, column) and CohortError for an
    unknown cohort.
    """
    instruments = instruments or load_instruments()
    table = read_table(path)
    file = table.file
    problems: list[Problem] = list(table.problems)
    problems += _header_problems(file, table.columns, instruments)
    if problems:
        raise InputFileError(problems)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        places = _cohort_places(session, cohort)
        seen: dict[tuple[int, str], int] = {}
        todo: list[tuple[_Place, SurveyName, dict[str, Answer]]] = []
        for row in table.rows:
            cells = row.cells
            raw_survey = str(cells.get("survey", "")).strip().lower()
            try:
                survey = SurveyName(raw_survey)
            except ValueError:
                known = ", ".join(s.value for s in SurveyName)
                problems.append(
                    Problem(
                        file, row.number, "survey", f"expected one of {known}, got {raw_survey!r}"
                    )
                )
                continue
            place = _find_place(places, cohort, cells, file, row.number, problems)
            if place is None:
                continue
            columns = instruments[survey].columns()
            answers = _answers(file, row.number, cells, survey, columns, place, problems)
            if answers is None:
                continue
            if not answers:
                problems.append(Problem(file, row.number, None, "the row has no answers"))
                continue
            key = (place.participant.pk or 0, survey.value)
            if key in seen:
                problems.append(
                    Problem(
                        file,
                        row.number,
                        None,
                        f"a second {survey.value} response from the same person "
                        f"(first on row {seen[key]})",
                    )
                )
                continue
            seen[key] = row.number
            todo.append((place, survey, answers))
        if problems:
            raise InputFileError(problems)
        for place, survey, answers in todo:
            stored = store_response(
                session,
                cohort,
                place.participant,
                place.role,
                survey,
                answers,
                pair=place.pair,
                now=now,
                source=ResponseSource.IMPORT,
            )
            counts[stored] += 1
        if dry_run:
            session.rollback()
    return SurveyImportReport(**counts)


def _header_problems(
    file: str, columns: Sequence[str], instruments: Mapping[SurveyName, Instrument]
) -> list[Problem]:
    """Missing required columns, and columns that are neither import columns nor items."""
    answer_columns = {c for i in instruments.values() for c in i.columns()}
    problems = [
        Problem(file, 1, column, "required column is missing")
        for column in ("email", "survey")
        if column not in columns
    ]
    for column in columns:
        if column in IMPORT_COLUMNS or column in answer_columns:
            continue
        close = difflib.get_close_matches(column, sorted(answer_columns), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            Problem(
                file,
                1,
                column,
                f"unknown column{hint}; expected {', '.join(IMPORT_COLUMNS)} and item ids "
                "(see `tandem survey show NAME`)",
            )
        )
    return problems


def _answers(
    file: str,
    number: int,
    cells: Mapping[str, Any],
    survey: SurveyName,
    columns: Mapping[str, Any],
    place: _Place,
    problems: list[Problem],
) -> dict[str, Answer] | None:
    """A row's answers to the survey's items, parsed; None (problems added) if one is
    not an item of this survey, not asked of the row's role, or not a valid answer."""
    answers: dict[str, Answer] = {}
    row_ok = True
    for column, value in cells.items():
        if column in IMPORT_COLUMNS:
            continue
        item = columns.get(column)
        if item is None:
            problems.append(
                Problem(
                    file,
                    number,
                    column,
                    f"not an item of the {survey.value} survey; leave it empty",
                )
            )
            row_ok = False
        elif not item.role.includes(place.role):
            problems.append(
                Problem(
                    file,
                    number,
                    column,
                    f"asked of {_asked_of(item)}; this row is a {place.role.value}'s "
                    "response: leave it empty or fix the role",
                )
            )
            row_ok = False
        else:
            try:
                answers[column] = parse_answer(item, value)
            except ValueError as error:
                problems.append(Problem(file, number, column, str(error)))
                row_ok = False
    return answers if row_ok else None


def _find_place(
    places: dict[str, list[_Place]],
    cohort: Cohort,
    cells: Mapping[str, Any],
    file: str,
    number: int,
    problems: list[Problem],
) -> _Place | None:
    email = str(cells.get("email", "")).strip().lower()
    matches = places.get(email, [])
    if not matches:
        problems.append(
            Problem(file, number, "email", f'no one in cohort "{cohort.name}" has this e-mail')
        )
        return None
    if "role" in cells:
        role = str(cells["role"]).strip().lower()
        if role not in {r.value for r in Role}:
            problems.append(
                Problem(file, number, "role", f"expected mentor or mentee, got {role!r}")
            )
            return None
        matches = [m for m in matches if m.role.value == role]
        if not matches:
            problems.append(
                Problem(file, number, "role", f"this e-mail is not a {role} in the cohort")
            )
            return None
    if "mentee_id" in cells and len(matches) > 1:
        mentee_id = str(cells["mentee_id"]).strip()
        matches = [
            m for m in matches if m.role is Role.MENTOR or m.participant.external_id == mentee_id
        ]
    if len(matches) > 1:
        problems.append(
            Problem(
                file,
                number,
                "email",
                "this e-mail is a mentor and a mentee in the cohort; add a role column",
            )
        )
        return None
    return matches[0]


def store_response(
    session: Session,
    cohort: Cohort,
    participant: Participant,
    role: Role,
    survey: SurveyName,
    answers: Mapping[str, Answer],
    *,
    pair: Pair | None,
    now: datetime,
    source: ResponseSource,
) -> str:
    """Store one person's answers to one survey of ``cohort`` (validated by the caller
    against the instrument): a new response, or the one they gave before replaced.

    The import and the survey page both record through this function. ``pair`` is, for a
    mentee, the pair whose mentor they rated (see :func:`rated_pairs`). Returns "added",
    "updated" or "unchanged" (the same answers again: nothing is written).
    """
    values = dict(sorted(answers.items()))
    pair_pk = pair.pk if pair is not None and role is Role.MENTEE else None
    existing = session.exec(
        select(SurveyResponse).where(
            SurveyResponse.cohort_pk == cohort.pk,
            SurveyResponse.participant_pk == participant.pk,
            SurveyResponse.survey == survey.value,
        )
    ).first()
    if existing is None:
        session.add(
            SurveyResponse(
                cohort_pk=cohort.pk or 0,
                participant_pk=participant.pk or 0,
                role=role.value,
                survey=survey.value,
                pair_pk=pair_pk,
                answers=values,
                source=source.value,
                recorded_at=now,
            )
        )
        return "added"
    if existing.answers == values and existing.pair_pk == pair_pk:
        return "unchanged"
    existing.answers = values
    existing.pair_pk = pair_pk
    existing.source = source.value
    existing.recorded_at = now
    session.add(existing)
    return "updated"


@dataclass(frozen=True)
class StoredResponse:
    """A response as the statistics read it: whose, which survey, the answers."""

    participant_pk: int
    role: Role
    survey: SurveyName
    mentor_pk: int | None
    """For a mentee's response, the mentor they rated."""
    answers: Mapping[str, Answer]


def cohort_responses(session: Session, cohort: Cohort) -> list[StoredResponse]:
    """Every stored survey response of the cohort, by participant and survey."""
    pairs = {p.pk: p for p in session.exec(select(Pair).where(Pair.cohort_pk == cohort.pk))}
    rows = session.exec(
        select(SurveyResponse)
        .where(SurveyResponse.cohort_pk == cohort.pk)
        .order_by(col(SurveyResponse.participant_pk), col(SurveyResponse.survey))
    ).all()
    found = []
    for row in rows:
        pair = pairs.get(row.pair_pk) if row.pair_pk is not None else None
        found.append(
            StoredResponse(
                participant_pk=row.participant_pk,
                role=Role(row.role),
                survey=SurveyName(row.survey),
                mentor_pk=pair.mentor_pk if pair is not None else None,
                answers=dict(row.answers),
            )
        )
    return found
