"""Check-ins: per pair, per week, per person — did they meet, for how long, how it went.

Three ways in, one validation: ``tandem checkin add``, ``tandem checkin import FILE`` (a CSV
as a survey tool exports it) and the signed link in every weekly message
(:func:`record_from_link`, which the web page calls). Recording the same check-in again
changes nothing; a changed answer updates it. The ``note`` is visible to coordinators
only: it never appears in reports, digests, certificates or logs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import MeetingMode, Role
from tandem.program import schedule
from tandem.program.cohorts import (
    LIVE_STATES,
    PairState,
    find_pair,
    get_cohort,
)
from tandem.program.curricula import load_curriculum
from tandem.program.errors import ProgramError
from tandem.program.roster.files import InputFileError, Problem, read_table
from tandem.program.roster.parse import meeting_mode_key
from tandem.program.roster.validate import accepted_headers, with_survey_headers
from tandem.program.schedule import zone
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import CheckIn, Cohort, Pair, Participant
from tandem.prompts.curriculum import CheckinKind, CheckinQuestion, Curriculum

if TYPE_CHECKING:
    from tandem.program.link_keys import LinkKeyRing


class CheckinError(ProgramError):
    """A check-in cannot be recorded as given."""


class WeekNotBegunError(CheckinError):
    """A check-in for a week that has not begun yet; ``begins`` is its first local date."""

    def __init__(self, cohort: Cohort, week: int, begins: date) -> None:
        self.begins = begins
        super().__init__(
            f"week {week} has not begun: it begins on {begins:%a %Y-%m-%d} "
            f"({cohort.timezone}); record its check-in from then on"
        )


def week_begins(cohort: Cohort, week: int) -> date:
    """The local date on which the cohort's ``week`` begins: its send date, the local date
    of its send instant (see :mod:`tandem.program.schedule`)."""
    return schedule.send_date(cohort.start_date, cohort.send_weekday, week)


def not_begun(cohort: Cohort, week: int, now: datetime) -> date | None:
    """The date ``week`` begins if it has not begun at ``now`` (in the cohort's zone), else
    None: a check-in is about a week that has begun."""
    begins = week_begins(cohort, week)
    return begins if now.astimezone(zone(cohort.timezone)).date() < begins else None


def _blank(value: Any) -> bool:
    """An optional answer left out: ``None`` (a command option not given) or an empty cell."""
    return value is None or (isinstance(value, str) and not value.strip())


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
    if _blank(value):
        return None
    if isinstance(value, MeetingMode):
        return value
    text = meeting_mode_key(str(value))
    if text not in {m.value for m in MeetingMode}:
        raise ValueError(
            f"expected one of {', '.join(m.value for m in MeetingMode)}, got {str(value)!r}"
        )
    return text


def _whole(value: Any) -> Any:
    if value is None:
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {text!r}")
    return int(number)


def _optional_whole(value: Any) -> Any:
    return None if _blank(value) else _whole(value)


class CheckinAnswers(BaseModel):
    """One person's answers for one week."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    met: Annotated[bool, BeforeValidator(_yes_no)]
    minutes: Annotated[
        Annotated[int, Field(ge=0, le=600)] | None, BeforeValidator(_optional_whole)
    ] = None
    mode: Annotated[MeetingMode | None, BeforeValidator(_mode)] = None
    topic: str | None = Field(default=None, max_length=500)
    rating: Annotated[
        Annotated[int, Field(ge=1, le=5)] | None, BeforeValidator(_optional_whole)
    ] = None
    note: str | None = Field(default=None, max_length=4000)
    answers: dict[str, str | int | bool] = Field(default_factory=dict)
    """Answers to the week's own check-in questions, by question id (see the curriculum)."""

    @classmethod
    def parse(cls, **fields: Any) -> CheckinAnswers:
        """Validate answers as a person typed them; blank and ``None`` fields are left out.

        Raises CheckinError naming every field that is wrong (one line), never a
        pydantic ValidationError.
        """
        try:
            return cls(**fields)
        except ValidationError as error:
            raise CheckinError(
                "check-in not recorded: " + "; ".join(_problem_text(i) for i in error.errors())
            ) from None


def _problem_text(item: Any) -> str:
    where = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


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


def _check_week(cohort: Cohort, pair: Pair, week: int, now: datetime) -> None:
    if not pair.first_week <= week <= cohort.weeks:
        raise CheckinError(
            f"week {week} is outside this pair's program (weeks {pair.first_week}–{cohort.weeks})"
        )
    if pair.state == PairState.DECLINED.value:
        raise CheckinError("this pair was declined; it has no check-ins")
    begins = not_begun(cohort, week, now)
    if begins is not None:
        raise WeekNotBegunError(cohort, week, begins)


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
    """Record one check-in; returns "added", "updated" or "unchanged".

    Raises CheckinError for a week outside the pair's program, a declined pair, or a week
    that has not begun at ``now`` (WeekNotBegunError).
    """
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        pair = find_pair(session, cohort, mentee_id)
        _check_week(cohort, pair, week, now)
        answers = _with_typed_answers(cohort, pair, week, role, answers)
        return _store(session, pair, week, role, answers, source, now)


def record_checked(
    session: Session,
    cohort: Cohort,
    pair: Pair,
    week: int,
    role: Role,
    answers: CheckinAnswers,
    *,
    source: str,
    now: datetime,
) -> str:
    """Record one check-in in ``session`` whose answers are already typed by the week's
    questions (the link page's form does that); returns "added", "updated" or "unchanged".

    Raises CheckinError for a week outside the pair's program or a declined pair, and
    WeekNotBegunError for a week that has not begun at ``now``.
    """
    _check_week(cohort, pair, week, now)
    return _store(session, pair, week, role, answers, source, now)


def record_from_link(
    engine: Engine,
    token: str,
    answers: CheckinAnswers,
    *,
    now: datetime,
    link_keys: LinkKeyRing | None = None,
) -> tuple[int, int, Role]:
    """Record a check-in from a weekly message's signed link; returns (pair, week, role).

    The pair, week and person come from the token alone, so a link can never record for
    another pair, week or person. Raises TokenError subclasses for a damaged, forged or
    expired link, CheckinError as :func:`record_checked` does (a link is sent when its
    week begins, but one made ahead of time records nothing before).
    ``link_keys`` are the link-signing keys from the key file.
    """
    from tandem.program.link_keys import link_secrets
    from tandem.program.tokens import TamperedTokenError, verify_token

    with transaction(engine) as session:
        for cohort in session.exec(select(Cohort).order_by(col(Cohort.pk))).all():
            try:
                claims = verify_token(link_secrets(link_keys, cohort), token, now=now)
            except TamperedTokenError:
                continue
            pair = session.get(Pair, claims.pair_id)
            if pair is None or pair.cohort_pk != cohort.pk or claims.week < 1:
                raise CheckinError("this link is not a check-in link of this program")
            _check_week(cohort, pair, claims.week, now)
            role = Role(claims.role.value)
            answers = _with_typed_answers(cohort, pair, claims.week, role, answers)
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
    "partner_email",
    "partner",
    "mentee_id",
    "timestamp",
)
PARTNER_COLUMNS = ("role", "partner_email", "partner", "mentee_id")
"""Columns that pick one of the pairs an address belongs to; needed only when it has several."""


def _typed_answer(question: CheckinQuestion, value: Any) -> str | int | bool:
    """An answer as its question's kind says: ratings and minutes as numbers.

    Raises ValueError with a message for the person who typed it.
    """
    if isinstance(value, str):
        value = value.strip()
    if question.kind is CheckinKind.RATING:
        number = _whole(value)
        if not 1 <= number <= 5:
            raise ValueError(f"expected a rating from 1 to 5, got {str(value)!r}")
        return int(number)
    if question.kind is CheckinKind.MINUTES:
        number = _whole(value)
        if number < 0:
            raise ValueError(f"expected a whole number of minutes ≥ 0, got {str(value)!r}")
        return int(number)
    return value if isinstance(value, str | int | bool) else str(value)


def _questions(curriculum: Curriculum, pair: Pair, week: int, role: Role) -> dict[str, Any]:
    """The check-in questions this person was asked in this week, by id."""
    return {q.id: q for q in curriculum.week(week, pair.track).checkin_for(role)}


def _with_typed_answers(
    cohort: Cohort, pair: Pair, week: int, role: Role, answers: CheckinAnswers
) -> CheckinAnswers:
    """``answers`` with each answer to a rating or minutes question stored as a number."""
    if not answers.answers:
        return answers
    questions = _questions(load_curriculum(cohort), pair, week, role)
    typed: dict[str, str | int | bool] = {}
    for key, value in answers.answers.items():
        question = questions.get(key)
        try:
            typed[key] = value if question is None else _typed_answer(question, value)
        except ValueError as error:
            raise CheckinError(f"check-in not recorded: answer {key!r}: {error}") from None
    return answers.model_copy(update={"answers": typed})


@dataclass(frozen=True)
class _Place:
    """One place an e-mail address holds in a cohort: a pair and the role in it."""

    pair: Pair
    role: Role
    mentee_id: str
    partner_email: str
    partner_name: str


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _pick_place(places: list[_Place], cells: dict[str, Any]) -> list[_Place]:
    """The places that agree with the row's role, partner and mentee id columns."""
    wanted = {
        "role": lambda p: p.role.value,
        "partner_email": lambda p: p.partner_email,
        "partner": lambda p: p.partner_name,
        "mentee_id": lambda p: p.mentee_id.casefold(),
    }
    for column, key in wanted.items():
        if column in cells:
            given = str(cells[column])
            value = _name_key(given) if column == "partner" else given.strip().casefold()
            places = [p for p in places if key(p) == value]
    return places


def _ambiguity(places: list[_Place], week: int, columns: Iterable[str]) -> str:
    """What to add to a row whose address has several pairs in the week (``columns``: the
    file's columns, to say whether to add one or fill it in)."""
    columns = set(columns)
    if len({p.role for p in places}) > 1:
        return "this address is both a mentor and a mentee in the cohort; " + (
            "fill in its role (mentor or mentee)"
            if "role" in columns
            else "add a role column (mentor or mentee)"
        )
    fix = (
        "fill in this row's partner_email with the partner's e-mail"
        if "partner_email" in columns or "partner" in columns
        else "add a partner_email column with the partner's e-mail (or partner with their name)"
    )
    return f"this {places[0].role.value} has {len(places)} pairs in week {week}; {fix}"


def import_checkins(
    engine: Engine, cohort_name: str, path: Path, *, now: datetime, dry_run: bool = False
) -> CheckinReport:
    """Import check-ins from a survey export (CSV/XLSX/JSON), all or nothing.

    Columns: ``email``, ``week``, ``met`` (required); ``minutes``, ``mode``, ``topic``,
    ``rating``, ``note``; ``q_<question id>`` for answers to the week's own check-in
    questions (ratings and minutes are stored as numbers). Only when an address has more
    than one pair in a week (a mentor with several mentees, someone who is both mentor
    and mentee) does a row need ``partner_email`` (or ``partner``, the partner's name),
    ``role`` or ``mentee_id`` to say which; ``timestamp`` is ignored. Every problem is
    reported with its row and column (a week that has not begun at ``now`` is one);
    nothing is stored unless every row is right.
    Re-importing the same file changes nothing.
    """
    table, problems = with_survey_headers(read_table(path))
    problems.extend(table.problems)
    problems.extend(_header_problems(table.file, table.columns))
    if problems:
        raise InputFileError(problems)
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    with transaction(engine, exclusive=True) as session:
        cohort = get_cohort(session, cohort_name)
        rows = _Rows(
            table.file,
            cohort,
            load_curriculum(cohort),
            _cohort_people(session, cohort),
            now,
            tuple(table.columns),
        )
        for row in table.rows:
            rows.read(row.number, row.cells)
        if rows.problems:
            raise InputFileError(rows.problems)
        for pair, week, role, answers in rows.todo:
            counts[_store(session, pair, week, role, answers, "import", now)] += 1
        if dry_run:
            session.rollback()
    return CheckinReport(
        added=counts["added"], updated=counts["updated"], unchanged=counts["unchanged"]
    )


def _header_problems(file: str, columns: Sequence[str]) -> list[Problem]:
    """Required columns that are missing and columns the import does not know."""
    problems = [
        Problem(file, 1, column, "required column is missing")
        for column in ("email", "week", "met")
        if column not in columns
    ]
    for column in columns:
        if column not in IMPORT_COLUMNS and not column.startswith(ANSWER_PREFIX):
            problems.append(
                Problem(
                    file,
                    1,
                    column,
                    f"unknown column; expected {', '.join(IMPORT_COLUMNS)} or q_<question id> "
                    f"(also read as email: {', '.join(accepted_headers('email')[1:])})",
                )
            )
    return problems


@dataclass
class _Rows:
    """The rows of one check-in import: what to store, and every problem found."""

    file: str
    cohort: Cohort
    curriculum: Curriculum
    people: dict[str, list[_Place]]
    now: datetime
    columns: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    todo: list[tuple[Pair, int, Role, CheckinAnswers]] = field(default_factory=list)
    seen: dict[tuple[int, int, str], int] = field(default_factory=dict)

    def problem(self, row: int, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, row, column, message))

    def read(self, number: int, cells: dict[str, Any]) -> None:
        """Check one row; queue its check-in or record what is wrong with it."""
        try:
            week = int(_whole(cells.get("week", "")))
        except ValueError as error:
            return self.problem(number, "week", str(error))
        try:
            fields = {
                k: v
                for k, v in cells.items()
                if k in CheckinAnswers.model_fields and k != "answers"
            }
            answers = CheckinAnswers(**fields)
        except ValidationError as error:
            for item in error.errors():
                where = str(item["loc"][0]) if item["loc"] else None
                self.problem(number, where, str(item["msg"]).removeprefix("Value error, "))
            return None
        place = self._place(number, cells, week)
        if place is None:
            return None
        typed = self._typed(number, cells, place, week)
        if typed is None:
            return None
        key = (place.pair.pk or 0, week, place.role.value)
        if key in self.seen:
            return self.problem(
                number,
                None,
                f"a second check-in for the same person and week (first on row {self.seen[key]})",
            )
        self.seen[key] = number
        answers = answers.model_copy(update={"answers": typed})
        self.todo.append((place.pair, week, place.role, answers))
        return None

    def _place(self, number: int, cells: dict[str, Any], week: int) -> _Place | None:
        """The one pair and role this row is about, or None with the problem recorded."""
        email = str(cells.get("email", "")).strip().lower()
        everywhere = self.people.get(email, [])
        if not everywhere:
            self.problem(
                number, "email", f'no one in cohort "{self.cohort.name}" has e-mail {email!r}'
            )
            return None
        places = _pick_place(everywhere, cells)
        if not places:
            given = [c for c in PARTNER_COLUMNS if c in cells]
            self.problem(
                number,
                given[0],
                f'{email!r} has no pair in cohort "{self.cohort.name}" that matches this '
                f"row's {', '.join(given)}",
            )
            return None
        if len(places) > 1:
            # Several pairs, but maybe only one of them has this week (a pair that ended,
            # or one that started late): then the row is not ambiguous.
            in_week = [
                p for p in places if _week_problem(self.cohort, p.pair, week, self.now) is None
            ]
            if len(in_week) > 1:
                self.problem(number, "email", _ambiguity(in_week, week, self.columns))
                return None
            places = in_week or places[:1]
        week_problem = _week_problem(self.cohort, places[0].pair, week, self.now)
        if week_problem is not None:
            self.problem(number, "week", week_problem)
            return None
        return places[0]

    def _typed(
        self, number: int, cells: dict[str, Any], place: _Place, week: int
    ) -> dict[str, str | int | bool] | None:
        """The row's answers to the week's own questions, typed; None if one is wrong."""
        questions = _questions(self.curriculum, place.pair, week, place.role)
        typed: dict[str, str | int | bool] = {}
        wrong = False
        for column, value in cells.items():
            if not column.startswith(ANSWER_PREFIX):
                continue
            question = questions.get(column.removeprefix(ANSWER_PREFIX))
            try:
                typed[column.removeprefix(ANSWER_PREFIX)] = (
                    value if question is None else _typed_answer(question, value)
                )
            except ValueError as error:
                self.problem(number, column, str(error))
                wrong = True
        return None if wrong else typed


def _week_problem(cohort: Cohort, pair: Pair, week: int, now: datetime) -> str | None:
    try:
        _check_week(cohort, pair, week, now)
    except CheckinError as error:
        return error.message
    return None


def _cohort_people(session: Session, cohort: Cohort) -> dict[str, list[_Place]]:
    """E-mail → each place the address holds in the cohort (a pair and a role)."""
    pairs = session.exec(
        select(Pair)
        .where(
            Pair.cohort_pk == cohort.pk,
            col(Pair.state).in_(
                [*(s.value for s in LIVE_STATES), PairState.COMPLETED.value, PairState.ENDED.value]
            ),
        )
        .order_by(col(Pair.pk))
    ).all()
    people = {p.pk: p for p in session.exec(select(Participant)).all()}
    found: dict[str, list[_Place]] = {}
    for pair in pairs:
        mentee, mentor = people[pair.mentee_pk], people[pair.mentor_pk]
        found.setdefault(mentee.email_key, []).append(
            _Place(pair, Role.MENTEE, mentee.external_id, mentor.email_key, _name_key(mentor.name))
        )
        found.setdefault(mentor.email_key, []).append(
            _Place(pair, Role.MENTOR, mentee.external_id, mentee.email_key, _name_key(mentee.name))
        )
    return found


@dataclass(frozen=True)
class CheckinRow:
    """One stored check-in as the coordinator sees it (the note included: coordinators only).

    ``recorded_at`` is in the cohort's time zone.
    """

    week: int
    mentee_id: str
    mentee: str
    mentor_id: str
    mentor: str
    role: str
    met: bool
    minutes: int | None
    mode: str | None
    topic: str | None
    rating: int | None
    answers: dict[str, Any]
    note: str | None
    source: str
    recorded_at: datetime

    def as_row(self) -> dict[str, object]:
        return {
            "week": self.week,
            "mentee_id": self.mentee_id,
            "mentee": self.mentee,
            "mentor_id": self.mentor_id,
            "mentor": self.mentor,
            "role": self.role,
            "met": "yes" if self.met else "no",
            "minutes": self.minutes,
            "mode": self.mode,
            "topic": self.topic,
            "rating": self.rating,
            "answers": dict(self.answers),
            "note": self.note,
            "source": self.source,
            "recorded_at": self.recorded_at.isoformat(timespec="minutes"),
        }


def list_checkins(engine: Engine, cohort_name: str, week: int | None = None) -> list[CheckinRow]:
    """The cohort's stored check-ins (of one week if given), sorted by week, mentee, role.

    For the coordinator: the rows include the note, which reports never show. Raises
    CohortError for an unknown cohort and CheckinError for a week outside the program.
    """
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        if week is not None and not 1 <= week <= cohort.weeks:
            raise CheckinError(f"week {week} is outside the program (weeks 1–{cohort.weeks})")
        local = zone(cohort.timezone)
        query = (
            select(CheckIn, Pair)
            .join(Pair, col(Pair.pk) == col(CheckIn.pair_pk))
            .where(Pair.cohort_pk == cohort.pk)
        )
        if week is not None:
            query = query.where(CheckIn.week == week)
        people = {p.pk: p for p in session.exec(select(Participant)).all()}
        rows = []
        for checkin, pair in session.exec(query).all():
            mentee, mentor = people[pair.mentee_pk], people[pair.mentor_pk]
            rows.append(
                CheckinRow(
                    week=checkin.week,
                    mentee_id=mentee.external_id,
                    mentee=mentee.name,
                    mentor_id=mentor.external_id,
                    mentor=mentor.name,
                    role=checkin.role,
                    met=checkin.met,
                    minutes=checkin.minutes,
                    mode=checkin.mode,
                    topic=checkin.topic,
                    rating=checkin.rating,
                    answers=dict(checkin.answers or {}),
                    note=checkin.note,
                    source=checkin.source,
                    recorded_at=checkin.recorded_at.astimezone(local),
                )
            )
    return sorted(rows, key=lambda r: (r.week, r.mentee_id, r.mentor_id, r.role))
