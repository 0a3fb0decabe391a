"""Check-ins: per pair, per week, per person — did they meet, for how long, how it went.

Three ways in, one validation: ``tandem checkin add``, ``tandem checkin import FILE`` (a CSV
as a survey tool exports it) and the signed link in every weekly message
(:func:`record_from_link`, which the web page calls). Recording the same check-in again
changes nothing; a changed answer updates it. The ``note`` is visible to coordinators
only: it never appears in reports, digests, certificates or logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import MeetingMode, Role
from tandem.program.cohorts import LIVE_STATES, PairState, find_pair, get_cohort
from tandem.program.errors import ProgramError
from tandem.program.roster.files import InputFileError, Problem, read_table
from tandem.program.roster.parse import meeting_mode_key
from tandem.program.roster.validate import accepted_headers, with_survey_headers
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import CheckIn, Cohort, Pair, Participant


class CheckinError(ProgramError):
    """A check-in cannot be recorded as given."""


def _yes_no(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"yes", "y", "true", "1", "met"}:
        return True
    if text in {"no", "n", "false", "0"}:
        return False
    raise ValueError(f"expected yes or no, got {str(value)!r}")


def _mode(value: Any) -> Any:
    text = meeting_mode_key(str(value))
    if text not in {m.value for m in MeetingMode}:
        raise ValueError(
            f"expected one of {', '.join(m.value for m in MeetingMode)}, got {str(value)!r}"
        )
    return text


def _whole(value: Any) -> Any:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(number)


class CheckinAnswers(BaseModel):
    """One person's answers for one week."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    met: Annotated[bool, BeforeValidator(_yes_no)]
    minutes: Annotated[int | None, BeforeValidator(_whole), Field(ge=0, le=600)] = None
    mode: Annotated[MeetingMode | None, BeforeValidator(_mode)] = None
    topic: str | None = Field(default=None, max_length=500)
    rating: Annotated[int | None, BeforeValidator(_whole), Field(ge=1, le=5)] = None
    note: str | None = Field(default=None, max_length=4000)
    answers: dict[str, str | int | bool] = Field(default_factory=dict)
    """Answers to the week's own check-in questions, by question id (see the curriculum)."""


@dataclass(frozen=True)
class CheckinReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _store(
    session: Session,
    pair: Pair,
    week: int,
    role: Role,
    answers: CheckinAnswers,
    source: str,
    now: datetime,
) -> str:
    values: dict[str, Any] = {
        "met": answers.met,
        "minutes": answers.minutes,
        "mode": answers.mode.value if answers.mode else None,
        "topic": answers.topic,
        "rating": answers.rating,
        "note": answers.note,
        "answers": dict(sorted(answers.answers.items())),
    }
    existing = session.exec(
        select(CheckIn).where(
            CheckIn.pair_pk == pair.pk, CheckIn.week == week, CheckIn.role == role.value
        )
    ).first()
    if existing is None:
        session.add(
            CheckIn(
                pair_pk=pair.pk or 0,
                week=week,
                role=role.value,
                source=source,
                recorded_at=now,
                **values,
            )
        )
        return "added"
    if all(getattr(existing, k) == v for k, v in values.items()):
        return "unchanged"
    for key, value in values.items():
        setattr(existing, key, value)
    existing.source = source
    existing.recorded_at = now
    session.add(existing)
    return "updated"


def _check_week(cohort: Cohort, pair: Pair, week: int) -> None:
    if not pair.first_week <= week <= cohort.weeks:
        raise CheckinError(
            f"week {week} is outside this pair's program (weeks {pair.first_week}–{cohort.weeks})"
        )
    if pair.state == PairState.DECLINED.value:
        raise CheckinError("this pair was declined; it has no check-ins")


def add_checkin(
    engine: Engine,
    cohort_name: str,
    mentee_id: str,
    week: int,
    role: Role,
    answers: CheckinAnswers,
    *,
    now: datetime,
    source: str = "coordinator",
) -> str:
    """Record one check-in; returns "added", "updated" or "unchanged"."""
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        _check_week(cohort, pair, week)
        return _store(session, pair, week, role, answers, source, now)


def record_from_link(
    engine: Engine, token: str, answers: CheckinAnswers, *, now: datetime
) -> tuple[int, int, Role]:
    """Record a check-in from a weekly message's signed link; returns (pair, week, role).

    The pair, week and person come from the token alone, so a link can never record for
    another pair, week or person. Raises TokenError subclasses for a damaged, forged or
    expired link.
    """
    from tandem.program.tokens import TamperedTokenError, verify_token

    with transaction(engine) as session:
        for cohort in session.exec(select(Cohort).order_by(col(Cohort.pk))).all():
            try:
                claims = verify_token(bytes.fromhex(cohort.secret), token, now=now)
            except TamperedTokenError:
                continue
            pair = session.get(Pair, claims.pair_id)
            if pair is None or pair.cohort_pk != cohort.pk or claims.week < 1:
                raise CheckinError("this link is not a check-in link of this program")
            _check_week(cohort, pair, claims.week)
            role = Role(claims.role.value)
            _store(session, pair, claims.week, role, answers, "link", now)
            return pair.pk or 0, claims.week, role
    raise TamperedTokenError(
        "this check-in link is not valid: it was changed or belongs to another program; "
        "open the link from the e-mail again"
    )


ANSWER_PREFIX = "q_"
"""A column ``q_<question id>`` holds the answer to that check-in question of the week."""

IMPORT_COLUMNS = (
    "email",
    "week",
    "met",
    "minutes",
    "mode",
    "topic",
    "rating",
    "note",
    "role",
    "mentee_id",
    "timestamp",
)


def import_checkins(
    engine: Engine, cohort_name: str, path: Path, *, now: datetime, dry_run: bool = False
) -> CheckinReport:
    """Import check-ins from a survey export (CSV/XLSX/JSON), all or nothing.

    Columns: ``email``, ``week``, ``met`` (required); ``minutes``, ``mode``, ``topic``,
    ``rating``, ``note``, ``role`` (needed only for someone who is both mentor and mentee
    in the cohort), ``mentee_id`` (needed only for a mentor with several mentees),
    ``timestamp`` (ignored), and ``q_<question id>`` for answers to the week's own
    check-in questions (e.g. the closing reflection). Every problem is reported with its row and
    column. Re-importing the same file changes nothing.
    """
    table, problems = with_survey_headers(read_table(path))
    file = table.file
    problems.extend(table.problems)
    for column in ("email", "week", "met"):
        if column not in table.columns:
            problems.append(Problem(file, 1, column, "required column is missing"))
    unknown = [
        c for c in table.columns if c not in IMPORT_COLUMNS and not c.startswith(ANSWER_PREFIX)
    ]
    for column in unknown:
        problems.append(
            Problem(
                file,
                1,
                column,
                f"unknown column; expected {', '.join(IMPORT_COLUMNS)} or q_<question id> "
                f"(also read as email: {', '.join(accepted_headers('email')[1:])})",
            )
        )
    if problems:
        raise InputFileError(problems)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with transaction(engine, exclusive=True) as session:
        cohort = get_cohort(session, cohort_name)
        people = _cohort_people(session, cohort)
        seen: dict[tuple[int, int, str], int] = {}
        todo = []
        for row in table.rows:
            cells = row.cells
            email = str(cells.get("email", "")).strip().lower()
            try:
                week = int(_whole(cells.get("week", "")))
            except ValueError as error:
                problems.append(Problem(file, row.number, "week", str(error)))
                continue
            try:
                answers = CheckinAnswers(
                    **{
                        k: v
                        for k, v in cells.items()
                        if k in CheckinAnswers.model_fields and k != "answers"
                    },
                    answers={
                        k.removeprefix(ANSWER_PREFIX): v
                        for k, v in cells.items()
                        if k.startswith(ANSWER_PREFIX)
                    },
                )
            except ValidationError as error:
                for item in error.errors():
                    where = str(item["loc"][0]) if item["loc"] else None
                    problems.append(
                        Problem(
                            file, row.number, where, str(item["msg"]).removeprefix("Value error, ")
                        )
                    )
                continue
            matches = people.get(email, [])
            if "role" in cells:
                matches = [m for m in matches if m[1].value == str(cells["role"]).strip().lower()]
            if "mentee_id" in cells:
                matches = [m for m in matches if m[2] == str(cells["mentee_id"]).strip()]
            if not matches:
                problems.append(
                    Problem(
                        file,
                        row.number,
                        "email",
                        f'no one in cohort "{cohort.name}" has e-mail {email!r}',
                    )
                )
                continue
            if len(matches) > 1:
                both = len({m[1] for m in matches}) > 1
                fix = (
                    "add a role column"
                    if both
                    else "add a mentee_id column (this mentor has several mentees)"
                )
                problems.append(
                    Problem(file, row.number, "email", f"more than one pair has this e-mail; {fix}")
                )
                continue
            pair, role, _ = matches[0]
            try:
                _check_week(cohort, pair, week)
            except CheckinError as error:
                problems.append(Problem(file, row.number, "week", str(error)))
                continue
            key = (pair.pk or 0, week, role.value)
            if key in seen:
                problems.append(
                    Problem(
                        file,
                        row.number,
                        None,
                        f"a second check-in for the same person and week (first on row {seen[key]})",
                    )
                )
                continue
            seen[key] = row.number
            todo.append((pair, week, role, answers))
        if problems:
            raise InputFileError(problems)
        for pair, week, role, answers in todo:
            counts[_store(session, pair, week, role, answers, "import", now)] += 1
        if dry_run:
            session.rollback()
    return CheckinReport(
        added=counts["added"], updated=counts["updated"], unchanged=counts["unchanged"]
    )


def _cohort_people(session: Session, cohort: Cohort) -> dict[str, list[tuple[Pair, Role, str]]]:
    """E-mail → (pair, role, mentee id) for each place the address holds in the cohort."""
    pairs = session.exec(
        select(Pair).where(
            Pair.cohort_pk == cohort.pk,
            col(Pair.state).in_(
                [*(s.value for s in LIVE_STATES), PairState.COMPLETED.value, PairState.ENDED.value]
            ),
        )
    ).all()
    people = {p.pk: p for p in session.exec(select(Participant)).all()}
    found: dict[str, list[tuple[Pair, Role, str]]] = {}
    for pair in pairs:
        mentee = people[pair.mentee_pk]
        found.setdefault(mentee.email_key, []).append((pair, Role.MENTEE, mentee.external_id))
        found.setdefault(people[pair.mentor_pk].email_key, []).append(
            (pair, Role.MENTOR, mentee.external_id)
        )
    return found
