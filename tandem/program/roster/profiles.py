"""The roster: validating mentor and mentee application files and storing them atomically.

The data contract (columns, vocabularies, examples) is documented in README.md. Every row
goes through :class:`ParticipantInput` (pydantic); every problem in a file is reported at
once, located by file, row and column, and nothing is stored unless the whole file is valid.
Re-importing the same file changes nothing; an updated file updates the people whose rows
changed (keyed by ``id``).
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Engine, Row, cast, func
from sqlalchemy import Text as SqlText
from sqlmodel import Session, col, select

from tandem.matcher.types import (
    CareerStage,
    MeetingMode,
    MentoringTopic,
    Profile,
    Role,
    closest_term,
    normalize_tag,
    normalize_term,
)
from tandem.program.errors import ProgramError
from tandem.program.roster.files import InputFileError, Problem, RawRow, Table, read_table
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Participant

REQUIRED_COLUMNS: dict[Role, tuple[str, ...]] = {
    Role.MENTOR: ("id", "name", "email"),
    Role.MENTEE: ("id", "name", "email"),
}
"""Columns every file must have. ``capacity`` is optional for mentors (default 1)."""

COMMON_COLUMNS = (
    "id",
    "name",
    "email",
    "career_stage",
    "institution",
    "department",
    "research_areas",
    "research_interests",
    "timezone",
    "languages",
    "meeting_modes",
    "excluded",
    "identity_consent",
    "identity",
    "identity_preferences",
)
ROLE_COLUMNS: dict[Role, tuple[str, ...]] = {
    Role.MENTOR: ("capacity", "expertise"),
    Role.MENTEE: ("goals",),
}
IDENTITY_COLUMNS = ("identity", "identity_preferences")

CAREER_STAGE_ALIASES: dict[str, CareerStage] = {
    "undergrad": CareerStage.UNDERGRADUATE,
    "undergraduate_student": CareerStage.UNDERGRADUATE,
    "graduate": CareerStage.GRADUATE_STUDENT,
    "grad_student": CareerStage.GRADUATE_STUDENT,
    "phd_student": CareerStage.GRADUATE_STUDENT,
    "doctoral_student": CareerStage.GRADUATE_STUDENT,
    "masters_student": CareerStage.GRADUATE_STUDENT,
    "postdoctoral_fellow": CareerStage.POSTDOC,
    "postdoctoral_researcher": CareerStage.POSTDOC,
    "assistant_professor": CareerStage.EARLY_CAREER_FACULTY,
    "associate_professor": CareerStage.MID_CAREER_FACULTY,
    "professor": CareerStage.SENIOR_FACULTY,
    "full_professor": CareerStage.SENIOR_FACULTY,
}

_TRUE = {"yes", "y", "true", "1", "consent", "consented"}
_FALSE = {"no", "n", "false", "0"}
_ID_PATTERN = re.compile(r"^[^\s;,]{1,128}$")


class RosterError(ProgramError):
    """A roster operation cannot be carried out (unknown participant, …)."""


# --- parsing of single cells (each raises ValueError with the message a person reads) ---


def _split(value: Any) -> list[str]:
    items = [str(v) for v in value] if isinstance(value, list | tuple) else str(value).split(";")
    return [item.strip() for item in items if item.strip()]


def _text(value: Any) -> str:
    return str(value).strip()


def _parse_id(value: Any) -> str:
    text = _text(value)
    if not _ID_PATTERN.match(text):
        raise ValueError(
            f"expected an id of 1–128 characters without spaces, commas or semicolons, got {text!r}"
        )
    return text


def _parse_email(value: Any) -> str:
    # Loaded here: only importing a roster checks addresses, and the module takes a while.
    from email_validator import EmailNotValidError, validate_email

    text = _text(value)
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(
            f"expected an e-mail address like name@university.edu, got {text!r}"
        ) from None


def _parse_capacity(value: Any) -> int:
    text = _text(value)
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or number < 0:
        raise ValueError(
            f"expected a whole number ≥ 0 (how many mentees this mentor can take), got {text!r}"
        )
    return int(number)


def _vocabulary_error(kind: str, text: str, choices: Sequence[str]) -> ValueError:
    suggestion = closest_term(text, list(choices))
    hint = f'; did you mean "{suggestion}"?' if suggestion else ""
    return ValueError(f'unknown {kind} "{text}"{hint} Valid: {", ".join(choices)}')


def _parse_stage(value: Any) -> CareerStage:
    text = _text(value)
    key = normalize_term(text)
    if key in CareerStage.__members__.values():
        return CareerStage(key)
    if key in CAREER_STAGE_ALIASES:
        return CAREER_STAGE_ALIASES[key]
    raise _vocabulary_error("career stage", text, [s.value for s in CareerStage])


def _parse_topics(value: Any) -> tuple[MentoringTopic, ...]:
    topics = []
    for item in _split(value):
        key = normalize_term(item)
        if key not in MentoringTopic.__members__.values():
            raise _vocabulary_error("mentoring topic", item, [t.value for t in MentoringTopic])
        topics.append(MentoringTopic(key))
    return tuple(dict.fromkeys(topics))


MEETING_MODE_ALIASES = {"zoom": "video", "online": "video", "email": "async"}
"""Everyday words for a meeting mode, folded as :func:`normalize_term` folds them."""


def meeting_mode_key(text: str) -> str:
    """The canonical spelling of a meeting mode (not checked against the vocabulary)."""
    key = normalize_term(text)
    return MEETING_MODE_ALIASES.get(key, key)


def _parse_modes(value: Any) -> tuple[MeetingMode, ...]:
    modes = []
    for item in _split(value):
        key = meeting_mode_key(item)
        if key not in MeetingMode.__members__.values():
            raise _vocabulary_error("meeting mode", item, [m.value for m in MeetingMode])
        modes.append(MeetingMode(key))
    return tuple(dict.fromkeys(modes))


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _parse_timezone(value: Any) -> str:
    text = _text(value)
    if text in _zones():
        return text
    folded = {z.lower(): z for z in _zones()}
    if text.lower() in folded:
        return folded[text.lower()]
    import difflib

    close = difflib.get_close_matches(text, _zones(), n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    raise ValueError(
        f'unknown time zone "{text}"{hint} Use an IANA name such as Europe/Berlin or '
        "America/Chicago"
    )


def _parse_tags(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_tag(v) for v in _split(value)))


def _parse_ids(value: Any) -> tuple[str, ...]:
    ids = _split(value)
    for item in ids:
        _parse_id(item)
    return tuple(dict.fromkeys(ids))


def _parse_bool(value: Any) -> bool:
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected yes or no, got {_text(value)!r}")


Id = Annotated[str, BeforeValidator(_parse_id)]
Email = Annotated[str, BeforeValidator(_parse_email)]
Text = Annotated[str, BeforeValidator(_text)]
Capacity = Annotated[int, BeforeValidator(_parse_capacity)]
Stage = Annotated[CareerStage, BeforeValidator(_parse_stage)]
Topics = Annotated[tuple[MentoringTopic, ...], BeforeValidator(_parse_topics)]
Modes = Annotated[tuple[MeetingMode, ...], BeforeValidator(_parse_modes)]
Zone = Annotated[str, BeforeValidator(_parse_timezone)]
Tags = Annotated[tuple[str, ...], BeforeValidator(_parse_tags)]
Ids = Annotated[tuple[str, ...], BeforeValidator(_parse_ids)]
Flag = Annotated[bool, BeforeValidator(_parse_bool)]


class ParticipantInput(BaseModel):
    """One validated application row. Column names are the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    id: Id
    name: Text = Field(min_length=1)
    email: Email
    capacity: Capacity | None = None
    career_stage: Stage | None = None
    institution: Text | None = None
    department: Text | None = None
    research_areas: Tags = ()
    research_interests: Text = ""
    goals: Topics = ()
    expertise: Topics = ()
    timezone: Zone | None = None
    languages: Tags = ()
    meeting_modes: Modes = ()
    excluded: Ids = ()
    identity_consent: Flag = False
    identity: Tags = ()
    identity_preferences: Tags = ()
    custom: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _consent_and_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        consent = data.get("identity_consent")
        try:
            consented = consent is not None and _parse_bool(consent)
        except ValueError:
            consented = False
        if not consented:
            # Without consent the attributes are dropped: never validated, stored or used.
            for column in IDENTITY_COLUMNS:
                data.pop(column, None)
        if data.get("role") in (Role.MENTOR, Role.MENTOR.value) and data.get("capacity") is None:
            data["capacity"] = 1
        return data

    @model_validator(mode="after")
    def _not_excluding_self(self) -> Self:
        if self.id in self.excluded:
            raise ValueError("excluded lists this person's own id")
        return self

    def to_profile(self) -> Profile:
        return Profile(
            id=self.id,
            role=self.role,
            name=self.name,
            email=self.email,
            capacity=self.capacity or 0,
            career_stage=self.career_stage,
            institution=self.institution,
            department=self.department,
            research_areas=self.research_areas,
            research_interests=self.research_interests,
            topics=self.goals if self.role is Role.MENTEE else self.expertise,
            timezone=self.timezone,
            languages=self.languages,
            meeting_modes=self.meeting_modes,
            excluded=self.excluded,
            identity_consent=self.identity_consent,
            identity=self.identity,
            identity_preferences=self.identity_preferences,
            custom=self.custom,
        )

    def stored_fields(self) -> dict[str, Any]:
        """The column values of this person's :class:`Participant` row."""
        return {
            "role": self.role.value,
            "external_id": self.id,
            "name": self.name,
            "email": self.email,
            "email_key": self.email.lower(),
            "capacity": self.capacity,
            "career_stage": self.career_stage.value if self.career_stage else None,
            "institution": self.institution,
            "department": self.department,
            "research_areas": list(self.research_areas),
            "research_interests": self.research_interests,
            "topics": [t.value for t in (self.goals or self.expertise)],
            "timezone": self.timezone,
            "languages": list(self.languages),
            "meeting_modes": [m.value for m in self.meeting_modes],
            "excluded": list(self.excluded),
            "identity_consent": self.identity_consent,
            "identity": list(self.identity),
            "identity_preferences": list(self.identity_preferences),
            "custom": dict(self.custom),
        }


# --- stored rows → matcher profiles ---

_SCALAR_COLUMNS = (
    "external_id",
    "name",
    "email",
    "capacity",
    "career_stage",
    "institution",
    "department",
    "research_interests",
    "timezone",
    "identity_consent",
)
"""The participant columns a profile reads as they are (after ``role``)."""


def _strings(value: Any) -> tuple[tuple[Any, ...], bool]:
    items = tuple(value)
    return items, all(type(item) is str for item in items)


_TOPICS = {t.value: t for t in MentoringTopic}
_MODES = {m.value: m for m in MeetingMode}


def _topics(value: Any) -> tuple[tuple[Any, ...], bool]:
    # The look-up first (calling the enum is slow); the call for what it does not hold.
    return tuple(_TOPICS.get(t) or MentoringTopic(t) for t in value), True


def _modes(value: Any) -> tuple[tuple[Any, ...], bool]:
    return tuple(_MODES.get(m) or MeetingMode(m) for m in value), True


def _custom(value: Any) -> tuple[tuple[Any, ...], bool]:
    items = tuple(sorted(value.items()))
    return items, all(type(k) is str and type(v) is str for k, v in items)


_LIST_COLUMNS: tuple[tuple[str, Callable[[Any], tuple[tuple[Any, ...], bool]]], ...] = (
    ("research_areas", _strings),
    ("topics", _topics),
    ("languages", _strings),
    ("meeting_modes", _modes),
    ("excluded", _strings),
    ("identity", _strings),
    ("identity_preferences", _strings),
    ("custom", _custom),
)
"""The JSON columns a profile reads, in table order, each with its conversion: the
profile's tuple, and whether that tuple is exactly what validating it would give."""
_IDENTITY_AT = frozenset(k for k, (name, _) in enumerate(_LIST_COLUMNS) if name in IDENTITY_COLUMNS)
_NOT_CONSENTED: tuple[tuple[Any, ...], bool] = ((), True)
_PROFILE_FIELDS = frozenset(Profile.model_fields)


def participant_profile(row: Participant | Row[Any]) -> Profile:
    """The one place stored rows become matcher profiles (from a table object or a plain
    row of the participant table).

    Raises ValueError for a role, career stage, topic or meeting mode outside the
    vocabularies and pydantic's ValidationError for a value that :class:`Profile` refuses.
    """
    role = Role(row.role)
    stage = CareerStage(row.career_stage) if row.career_stage else None
    consent = row.identity_consent
    lists = [
        _NOT_CONSENTED if k in _IDENTITY_AT and not consent else convert(getattr(row, name))
        for k, (name, convert) in enumerate(_LIST_COLUMNS)
    ]
    scalars = tuple(getattr(row, c) for c in _SCALAR_COLUMNS)
    return _profile(role, stage, scalars, lists, all(plain for _, plain in lists))


def _profile(
    role: Role,
    career_stage: CareerStage | None,
    scalars: Sequence[Any],
    lists: Sequence[tuple[tuple[Any, ...], bool]],
    lists_plain: bool,
) -> Profile:
    """The profile of one stored row: ``scalars`` in :data:`_SCALAR_COLUMNS` order,
    ``lists`` converted in :data:`_LIST_COLUMNS` order (identity ones emptied without
    consent); ``lists_plain`` when every one of them is plain.

    Stored rows were validated when they were imported, so nearly every row is already
    exactly what validating :class:`Profile` would give (same types, same values, within
    its constraints): such rows skip the validation, which is most of the cost of loading
    a large roster. Any other row is validated, and refused with the same error as ever.
    """
    external_id, name, email, capacity, _, institution, department, interests, zone, consent = (
        scalars
    )
    capacity = capacity or 0
    values = {
        "id": external_id,
        "role": role,
        "name": name,
        "email": email,
        "capacity": capacity,
        "career_stage": career_stage,
        "institution": institution,
        "department": department,
        "research_areas": lists[0][0],
        "research_interests": interests,
        "topics": lists[1][0],
        "timezone": zone,
        "languages": lists[2][0],
        "meeting_modes": lists[3][0],
        "excluded": lists[4][0],
        "identity_consent": consent,
        "identity": lists[5][0],
        "identity_preferences": lists[6][0],
        "custom": lists[7][0],
    }
    if (
        type(external_id) is str
        and external_id
        and type(name) is str
        and name
        and type(email) is str
        and len(email) >= 3
        and type(capacity) is int
        and capacity >= 0
        and (institution is None or type(institution) is str)
        and (department is None or type(department) is str)
        and type(interests) is str
        and (zone is None or type(zone) is str)
        and type(consent) is bool
        and (consent or not (values["identity"] or values["identity_preferences"]))
        and lists_plain
    ):
        return _unvalidated(values)
    return Profile(**values)


def _unvalidated(values: dict[str, Any]) -> Profile:
    """``Profile.model_construct(**values)`` for a complete set of field values (in field
    order), without its per-field alias and default look-ups."""
    profile = Profile.__new__(Profile)
    object.__setattr__(profile, "__dict__", values)
    object.__setattr__(profile, "__pydantic_fields_set__", set(_PROFILE_FIELDS))
    object.__setattr__(profile, "__pydantic_extra__", None)
    object.__setattr__(profile, "__pydantic_private__", None)
    return profile


_STAGE_AT = 1 + _SCALAR_COLUMNS.index("career_stage")
_FIRST_LIST = 1 + len(_SCALAR_COLUMNS)
"""Where the career stage and the JSON texts are in a row of :func:`load_profiles`' query."""


def _decode_lists(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Each distinct JSON text of ``rows``, decoded once, in row order (as the database
    driver would decode every cell, so a broken text is reported first, as ever)."""
    decoded: dict[str, Any] = {}
    for row in rows:
        for text in row[_FIRST_LIST:]:
            if text is not None and text not in decoded:
                decoded[text] = json.loads(text)
    return decoded


def _stored_profiles(
    rows: Sequence[Sequence[Any]], role: Role, decoded: dict[str, Any]
) -> list[Profile]:
    """:func:`participant_profile` of the rows of ``role`` among ``rows`` (role, then
    :data:`_SCALAR_COLUMNS`, then the JSON texts of :data:`_LIST_COLUMNS`), in order.

    Each distinct text is converted once: most values repeat (empty lists, a few
    languages and meeting modes), and frozen profiles can share equal tuples.
    """
    first = _FIRST_LIST
    wanted = role.value
    stages = {s.value: s for s in CareerStage}
    converted: list[dict[str | None, tuple[tuple[Any, ...], bool]]] = [{} for _ in _LIST_COLUMNS]
    conversions = [convert for _, convert in _LIST_COLUMNS]
    profiles = []
    for row in rows:
        if row[0] != wanted:
            continue
        stage_text = row[_STAGE_AT]
        stage = (stages.get(stage_text) or CareerStage(stage_text)) if stage_text else None
        consent = row[first - 1]
        lists = []
        plain = True
        for k, text in enumerate(row[first:]):
            if k in _IDENTITY_AT and not consent:
                lists.append(_NOT_CONSENTED)
                continue
            done = converted[k].get(text)
            if done is None:
                done = conversions[k](None if text is None else decoded[text])
                converted[k][text] = done
            lists.append(done)
            plain = plain and done[1]
        profiles.append(_profile(role, stage, row[1:first], lists, plain))
    return profiles


# --- validating a whole file ---


@dataclass(frozen=True)
class ValidatedRoster:
    role: Role
    file: str
    people: tuple[ParticipantInput, ...]
    row_numbers: tuple[int, ...]
    warnings: tuple[Problem, ...] = ()


def _row_problems(file: str, row: RawRow, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        column = str(item["loc"][0]) if item["loc"] else None
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "string_too_short":
            message = "must not be empty"
        problems.append(Problem(file, message, row.number, column))
    return problems


def validate_table(table: Table, role: Role, known_ids: Iterable[str] = ()) -> ValidatedRoster:
    """Validate every row of ``table`` as ``role`` applications.

    Raises InputFileError listing every problem (missing columns, bad cells, duplicate
    ids or e-mails) at once. Unknown ``excluded`` ids are warnings, not errors: the other
    person may be imported later. ``known_ids`` are ids already stored or in the other file.
    """
    file = table.file
    problems: list[Problem] = []
    missing = [c for c in REQUIRED_COLUMNS[role] if c not in table.columns]
    for column in missing:
        problems.append(Problem(file, "required column is missing", 1, column))
    other = Role.MENTEE if role is Role.MENTOR else Role.MENTOR
    for column in ROLE_COLUMNS[other]:
        if column in table.columns and column not in ROLE_COLUMNS[role]:
            problems.append(
                Problem(
                    file, f"column is for {other.value}s only; remove it from this file", 1, column
                )
            )
    if problems:
        raise InputFileError(problems)

    problems.extend(table.problems)
    known = set(COMMON_COLUMNS) | set(ROLE_COLUMNS[role])
    people: list[ParticipantInput] = []
    first_id: dict[str, int] = {}
    first_email: dict[str, int] = {}
    warnings: list[Problem] = []
    dropped_identity = 0
    for row in table.rows:
        data: dict[str, Any] = {k: v for k, v in row.cells.items() if k in known}
        custom = sorted(
            (k, ";".join(v) if isinstance(v, list) else str(v))
            for k, v in row.cells.items()
            if k not in known
        )
        try:
            person = ParticipantInput(role=role, custom=tuple(custom), **data)
        except ValidationError as error:
            problems.extend(_row_problems(file, row, error))
            continue
        if not person.identity_consent and any(c in row.cells for c in IDENTITY_COLUMNS):
            dropped_identity += 1
        if person.id in first_id:
            problems.append(
                Problem(
                    file,
                    f'duplicate id "{person.id}" (first on row {first_id[person.id]})',
                    row.number,
                    "id",
                )
            )
        else:
            first_id[person.id] = row.number
        email_key = person.email.lower()
        if email_key in first_email:
            problems.append(
                Problem(
                    file,
                    f"duplicate e-mail within the {role.value}s (first on row {first_email[email_key]})",
                    row.number,
                    "email",
                )
            )
        else:
            first_email[email_key] = row.number
        people.append(person)
    if problems:
        raise InputFileError(sorted(problems, key=lambda p: (p.row or 0, p.column or "")))
    all_ids = set(first_id) | set(known_ids)
    for row, person in zip(table.rows, people, strict=True):
        for other_id in person.excluded:
            if other_id not in all_ids:
                warnings.append(
                    Problem(
                        file,
                        f'excluded id "{other_id}" matches no one imported yet (kept; it applies '
                        "if that person is imported later)",
                        row.number,
                        "excluded",
                    )
                )
    if dropped_identity:
        warnings.append(
            Problem(
                file,
                f"identity columns ignored for {dropped_identity} row(s) without identity_consent "
                "= yes (not stored)",
            )
        )
    numbers = tuple(r.number for r in table.rows)
    return ValidatedRoster(role, file, tuple(people), numbers, tuple(warnings))


# --- storing ---


@dataclass(frozen=True)
class ImportReport:
    role: Role
    file: str
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """For each updated id, the columns whose values changed."""
    not_in_file: int = 0
    warnings: tuple[Problem, ...] = ()
    dry_run: bool = False


_COMPARED = (
    "name",
    "email",
    "capacity",
    "career_stage",
    "institution",
    "department",
    "research_areas",
    "research_interests",
    "topics",
    "timezone",
    "languages",
    "meeting_modes",
    "excluded",
    "identity_consent",
    "identity",
    "identity_preferences",
    "custom",
)


def import_roster(
    engine: Engine, path: Path, role: Role, *, now: datetime, dry_run: bool = False
) -> ImportReport:
    """Validate ``path`` and store its people in one transaction (or none, on any problem).

    Raises InputFileError with every problem in the file; the database is untouched then.
    With ``dry_run`` nothing is written and the report says what would change.
    """
    table = read_table(path)
    with transaction(engine) as session:
        known_ids = set(session.exec(select(Participant.external_id)).all())
        roster = validate_table(table, role, known_ids)
        existing = {
            p.external_id: p
            for p in session.exec(select(Participant).where(Participant.role == role.value)).all()
        }
        _check_email_moves(roster, existing)
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        changes: dict[str, tuple[str, ...]] = {}
        for person in roster.people:
            values = person.stored_fields()
            row = existing.get(person.id)
            if row is None:
                added.append(person.id)
                if not dry_run:
                    session.add(Participant(**values, created_at=now, updated_at=now))
                continue
            changed = tuple(c for c in _COMPARED if getattr(row, c) != values[c])
            if not changed:
                unchanged.append(person.id)
                continue
            updated.append(person.id)
            changes[person.id] = changed
            if not dry_run:
                for column in changed:
                    setattr(row, column, values[column])
                row.email_key = values["email_key"]
                row.updated_at = now
                session.add(row)
        in_file = {p.id for p in roster.people}
        not_in_file = sum(1 for key in existing if key not in in_file)
        if dry_run:
            session.rollback()
    return ImportReport(
        role=role,
        file=table.file,
        added=tuple(added),
        updated=tuple(updated),
        unchanged=tuple(unchanged),
        changes=changes,
        not_in_file=not_in_file,
        warnings=roster.warnings,
        dry_run=dry_run,
    )


def _check_email_moves(roster: ValidatedRoster, existing: dict[str, Participant]) -> None:
    """An e-mail may not be taken from a stored person whom this file does not update."""
    in_file = {p.id for p in roster.people}
    owner = {p.email_key: key for key, p in existing.items() if key not in in_file}
    problems = [
        Problem(
            roster.file,
            f'e-mail already belongs to stored {roster.role.value} "{owner[person.email.lower()]}"; '
            "use that id, or give that person another e-mail first",
            number,
            "email",
        )
        for number, person in zip(roster.row_numbers, roster.people, strict=True)
        if person.email.lower() in owner
    ]
    if problems:
        raise InputFileError(problems)


# --- reading back ---


def list_participants(engine: Engine, role: Role | None = None) -> list[Participant]:
    """Stored participants, mentors first, each role sorted by id."""
    with Session(engine) as session:
        query = select(Participant)
        if role is not None:
            query = query.where(Participant.role == role.value)
        rows = session.exec(query.order_by(col(Participant.role).desc(), Participant.external_id))
        return list(rows.all())


def get_participant(
    engine: Engine, participant_id: str, role: Role | None = None
) -> list[Participant]:
    """The stored rows for ``participant_id`` (one per role). Raises RosterError if none."""
    rows = [p for p in list_participants(engine, role) if p.external_id == participant_id]
    if not rows:
        raise RosterError(
            f'no participant with id "{participant_id}"; see `tandem participants list`'
        )
    return rows


def load_profiles(engine: Engine) -> tuple[list[Profile], list[Profile]]:
    """(mentees, mentors) as matcher profiles, sorted by id: :func:`participant_profile`
    of every stored row that is not withdrawn, with the same errors for a row it refuses."""
    # Only the columns a profile needs, as plain rows (no ORM objects), and the JSON
    # columns as their text: decoding each distinct text once is several times faster
    # than the driver decoding every cell.
    table = Participant.__table__  # type: ignore[attr-defined]
    query = select(
        table.c.role,
        *(table.c[c] for c in _SCALAR_COLUMNS),
        *(cast(table.c[c], SqlText) for c, _ in _LIST_COLUMNS),
    ).where(table.c.withdrawn_at.is_(None))  # withdrawn or erased: never matched again
    query = query.order_by(table.c.role.desc(), table.c.external_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    decoded = _decode_lists(rows)
    return (
        _stored_profiles(rows, Role.MENTEE, decoded),
        _stored_profiles(rows, Role.MENTOR, decoded),
    )


@dataclass(frozen=True)
class RosterSummary:
    mentors: int
    mentees: int
    mentor_capacity: int
    people_in_both_roles: int
    institutions: int
    by_stage: dict[str, dict[str, int]]
    time_zones: int
    identity_consents: int


def summarize(engine: Engine) -> RosterSummary:
    """Counts a coordinator checks after an import (no personal data)."""
    rows = list_participants(engine)
    mentors = [r for r in rows if r.role == Role.MENTOR.value]
    mentees = [r for r in rows if r.role == Role.MENTEE.value]
    by_stage: dict[str, dict[str, int]] = {}
    for group, people in (("mentors", mentors), ("mentees", mentees)):
        counts = Counter(p.career_stage or "(not given)" for p in people)
        by_stage[group] = dict(sorted(counts.items()))
    both = {m.email_key for m in mentors} & {m.email_key for m in mentees}
    return RosterSummary(
        mentors=len(mentors),
        mentees=len(mentees),
        mentor_capacity=sum(m.capacity or 0 for m in mentors),
        people_in_both_roles=len(both),
        institutions=len({r.institution for r in rows if r.institution}),
        by_stage=by_stage,
        time_zones=len({r.timezone for r in rows if r.timezone}),
        identity_consents=sum(1 for r in rows if r.identity_consent),
    )


def count_participants(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Participant)).one())


EXPORT_COLUMNS: dict[Role, tuple[str, ...]] = {
    Role.MENTOR: (*COMMON_COLUMNS[:3], "capacity", *COMMON_COLUMNS[3:], "expertise"),
    Role.MENTEE: (*COMMON_COLUMNS, "goals"),
}


def export_rows(engine: Engine, role: Role) -> tuple[list[str], list[list[Any]]]:
    """The stored roster of one role as columns and rows that import back unchanged."""
    rows = list_participants(engine, role)
    custom_columns = sorted({k for r in rows for k in r.custom})
    columns = [*EXPORT_COLUMNS[role], *custom_columns]
    table = []
    for r in rows:
        values = {
            "id": r.external_id,
            "expertise": r.topics,
            "goals": r.topics,
            **{c: getattr(r, c) for c in EXPORT_COLUMNS[role] if hasattr(r, c) and c != "id"},
            **r.custom,
        }
        table.append([values.get(c) for c in columns])
    return columns, table


def export_roster(engine: Engine, role: Role, path: Path) -> int:
    """Write the stored roster of ``role`` to a .csv or .xlsx file; returns the row count."""
    from tandem.program.roster.files import write_csv_rows, write_xlsx_rows

    columns, rows = export_rows(engine, role)
    if path.suffix.lower() == ".xlsx":
        write_xlsx_rows(path, columns, rows)
    elif path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as out:
            write_csv_rows(out, columns, rows)
    else:
        raise RosterError(f"cannot export to {path.name}: use a .csv or .xlsx file name")
    return len(rows)
