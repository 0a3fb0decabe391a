"""The roster in the database: storing validated files atomically, reading it back,
exporting it, and turning stored rows into matcher profiles.

Nothing is stored unless the whole file is valid (:mod:`tandem.program.roster.validate`).
Re-importing the same file changes nothing; an updated file updates the people whose rows
changed (keyed by ``id``).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    cast,
    insert,
    or_,
    update,
)
from sqlalchemy import Text as SqlText
from sqlmodel import Session, col, select

from tandem.errors import quoted
from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Profile, Role
from tandem.program.contact import cycle_name
from tandem.program.errors import ProgramError
from tandem.program.roster.files import Problem, stream_table
from tandem.program.roster.parse import (
    COMMON_COLUMNS,
    IDENTITY_COLUMNS,
    ParticipantInput,
    RosterError,
)
from tandem.program.roster.validate import RosterValidator
from tandem.program.storage.db import JsonReader, transaction
from tandem.program.storage.tables import Application, Participant

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


def _decode_lists(rows: Sequence[Sequence[Any]], read: JsonReader) -> dict[str, Any]:
    """Each distinct JSON text of ``rows``, decoded once, in row order, by the database's
    own reader (a text that does not parse is a damaged database, said in one line)."""
    decoded: dict[str, Any] = {}
    for row in rows:
        for text in row[_FIRST_LIST:]:
            if text is not None and text not in decoded:
                decoded[text] = read(text)
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
    cycle: str | None = None
    """The cycle the file's people applied to, when given."""
    applied: int = 0
    """How many of them were not yet recorded as applicants of ``cycle``."""


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
    "share",
    "display",
    "custom",
)


BATCH = 1000
"""Rows validated, compared with the stored ones and written at a time."""


def import_roster(
    engine: Engine,
    path: Path,
    role: Role,
    *,
    now: datetime,
    dry_run: bool = False,
    cycle: str | None = None,
) -> ImportReport:
    """Validate ``path`` and store its people in one transaction (or none, on any problem).

    With ``cycle``, everyone in the file is also recorded as applying to that cycle (its
    roster: see :func:`load_profiles`); people applied before stay applicants.

    Raises InputFileError with every problem in the file; the database is untouched then.
    With ``dry_run`` nothing is written and the report says what would change.

    The file streams through in batches of :data:`BATCH` rows: each is validated,
    compared with the stored rows of the same ids and written, so memory follows the batch
    and the ids, not the whole file. Writing stops at the first problem; the problems are
    raised at the end, and the transaction rolls back.
    """
    stream = stream_table(path)
    table = Participant.__table__  # type: ignore[attr-defined]
    with transaction(engine, exclusive=True) as session:
        connection = session.connection()
        known_ids = set(connection.execute(select(table.c.external_id)).scalars())
        stored_emails: dict[str, str] = dict(
            connection.execute(
                select(table.c.email_key, table.c.external_id).where(table.c.role == role.value)
            ).all()
        )
        validator = RosterValidator(
            stream.file, role, stream.columns, stored_emails, stream.headers
        )
        stored_ids = set(stored_emails.values())
        del stored_emails
        batch = _Batch(connection, role, now, write=not dry_run)
        for item in stream.items:
            person = validator.check(item)
            if person is not None and not validator.problems:
                batch.add(person)
        warnings = validator.finish(known_ids)
        batch.flush(final=True)
        not_in_file = len(stored_ids - set(validator.first_id))
        applied = (
            _record_applications(connection, role, list(validator.first_id), cycle, now)
            if cycle is not None
            else 0
        )
        if dry_run:
            session.rollback()
    return ImportReport(
        role=role,
        file=stream.file,
        added=tuple(batch.added),
        updated=tuple(batch.updated),
        unchanged=tuple(batch.unchanged),
        changes=batch.changes,
        not_in_file=not_in_file,
        warnings=warnings,
        dry_run=dry_run,
        cycle=cycle,
        applied=applied,
    )


def check_cycle_name(cycle: str) -> str:
    """A cycle's name, stripped (:func:`tandem.program.contact.cycle_name`). Raises
    RosterError for an empty or over-long one, or one holding a control character."""
    try:
        return cycle_name(cycle)
    except ValueError as error:
        raise RosterError(f"--cycle: {error}") from None


def _record_applications(
    connection: Connection, role: Role, ids: Sequence[str], cycle: str, now: datetime
) -> int:
    """Record ``ids`` (of ``role``) as applicants of ``cycle``; return how many were new."""
    participants = Participant.__table__  # type: ignore[attr-defined]
    applications = Application.__table__  # type: ignore[attr-defined]
    applied = set(
        connection.execute(
            select(applications.c.participant_pk).where(applications.c.cycle == cycle)
        ).scalars()
    )
    new: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH):
        pks = connection.execute(
            select(participants.c.pk).where(
                participants.c.role == role.value,
                participants.c.external_id.in_(ids[start : start + BATCH]),
            )
        ).scalars()
        new += [
            {"participant_pk": pk, "cycle": cycle, "applied_at": now}
            for pk in pks
            if pk not in applied
        ]
    if new:
        connection.execute(insert(applications), new)
    return len(new)


class _Batch:
    """Validated people waiting to be compared with their stored rows and written."""

    def __init__(self, connection: Connection, role: Role, now: datetime, *, write: bool) -> None:
        self.connection = connection
        self.role = role
        self.now = now
        self.write = write
        self.people: list[ParticipantInput] = []
        self.added: list[str] = []
        self.updated: list[str] = []
        self.unchanged: list[str] = []
        self.changes: dict[str, tuple[str, ...]] = {}
        self.moved_emails: list[dict[str, Any]] = []
        """New rows whose e-mail a stored person in this file gives up: inserted last."""
        self.table = Participant.__table__  # type: ignore[attr-defined]

    def add(self, person: ParticipantInput) -> None:
        self.people.append(person)
        if len(self.people) >= BATCH:
            self.flush()

    def flush(self, final: bool = False) -> None:
        table = self.table
        people, self.people = self.people, []
        ids = [p.id for p in people]
        stored = (
            {
                row.external_id: row
                for row in self.connection.execute(
                    select(table.c.pk, table.c.external_id, *(table.c[c] for c in _COMPARED)).where(
                        table.c.role == self.role.value, table.c.external_id.in_(ids)
                    )
                )
            }
            if ids
            else {}
        )
        emails_taken = self._emails_held_elsewhere(people, stored)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for person in people:
            values = person.stored_fields()
            row = stored.get(person.id)
            if row is None:
                self.added.append(person.id)
                values.update(created_at=self.now, updated_at=self.now)
                (self.moved_emails if values["email_key"] in emails_taken else inserts).append(
                    values
                )
                continue
            changed = tuple(c for c in _COMPARED if getattr(row, c) != values[c])
            if not changed:
                self.unchanged.append(person.id)
                continue
            self.updated.append(person.id)
            self.changes[person.id] = changed
            updates.append({**values, "_pk": row.pk, "updated_at": self.now})
        if self.write:
            if updates:
                self.connection.execute(
                    update(table)
                    .where(table.c.pk == bindparam("_pk"))
                    .values({c: bindparam(c) for c in (*_COMPARED, "email_key", "updated_at")}),
                    updates,
                )
            if inserts:
                self.connection.execute(insert(table), inserts)
            if final and self.moved_emails:
                self.connection.execute(insert(table), self.moved_emails)

    def _emails_held_elsewhere(
        self, people: Sequence[ParticipantInput], stored: Mapping[str, Any]
    ) -> set[str]:
        """E-mails of new people that a stored person of this role still holds (one this
        file moves to another e-mail, or validation reports it)."""
        new_emails = [p.email.lower() for p in people if p.id not in stored]
        if not new_emails:
            return set()
        table = self.table
        return set(
            self.connection.execute(
                select(table.c.email_key).where(
                    table.c.role == self.role.value, table.c.email_key.in_(new_emails)
                )
            ).scalars()
        )


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
            f"no participant with id {quoted(participant_id)}; see `tandem participants list`"
        )
    return rows


def load_profiles(engine: Engine, cycle: str | None = None) -> tuple[list[Profile], list[Profile]]:
    """(mentees, mentors) as matcher profiles, sorted by id: :func:`participant_profile`
    of every stored row that is not withdrawn, with the same errors for a row it refuses.

    With ``cycle``: in a role with applications to that cycle, only those who applied
    (a role with none recorded keeps everyone, as before cycles had rosters)."""
    # Only the columns a profile needs, as plain rows (no ORM objects), and the JSON
    # columns as their text: decoding each distinct text once is several times faster
    # than the driver decoding every cell.
    table = Participant.__table__  # type: ignore[attr-defined]
    query = select(
        table.c.role,
        *(table.c[c] for c in _SCALAR_COLUMNS),
        *(cast(table.c[c], SqlText) for c, _ in _LIST_COLUMNS),
    ).where(table.c.withdrawn_at.is_(None))  # withdrawn or erased: never matched again
    if cycle is not None:
        query = query.where(_in_cycle_roster(engine, cycle))
    query = query.order_by(table.c.role.desc(), table.c.external_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    decoded = _decode_lists(rows, JsonReader(str(engine.url)))
    return (
        _stored_profiles(rows, Role.MENTEE, decoded),
        _stored_profiles(rows, Role.MENTOR, decoded),
    )


def _in_cycle_roster(engine: Engine, cycle: str) -> Any:
    """A condition on participant rows: applied to ``cycle``, in each role that has
    applications to it."""
    table = Participant.__table__  # type: ignore[attr-defined]
    applications = Application.__table__  # type: ignore[attr-defined]
    applicants = select(applications.c.participant_pk).where(applications.c.cycle == cycle)
    with engine.connect() as connection:
        roles = set(
            connection.execute(
                select(table.c.role).distinct().where(table.c.pk.in_(applicants))
            ).scalars()
        )
    return or_(
        *(
            and_(table.c.role == role.value, table.c.pk.in_(applicants))
            if role.value in roles
            else table.c.role == role.value
            for role in Role
        )
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


EXPORT_FORMATS = ("csv", "xlsx")
"""The file types a roster is exported to, by their file name's extension."""


def export_format(path: Path) -> str:
    """``csv`` or ``xlsx``, by the export file's name; raises RosterError for another."""
    kind = path.suffix.lower().removeprefix(".")
    if kind not in EXPORT_FORMATS:
        raise RosterError(f"cannot export to {path.name}: use a .csv or .xlsx file name")
    return kind


def export_roster(engine: Engine, role: Role, out: IO[bytes], kind: str) -> int:
    """Write the stored roster of ``role`` to ``out`` as ``kind`` (see
    :func:`export_format`), a file that imports back unchanged; returns the row count."""
    from tandem.program.roster.files import write_csv_rows, write_xlsx_rows

    columns, rows = export_rows(engine, role)
    if kind == "xlsx":
        write_xlsx_rows(out, columns, rows)
    else:
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        write_csv_rows(text, columns, rows)
        text.flush()
        text.detach()
    return len(rows)


def find_participant(
    session: Session,
    participant_id: str,
    role: Role | None,
    error: type[ProgramError] = RosterError,
) -> Participant:
    """The one participant with ``participant_id`` (in ``role``, when given).

    Raises ``error`` when there is none, or when the id names a mentor and a mentee and
    ``role`` does not say which.
    """
    query = select(Participant).where(col(Participant.external_id) == participant_id)
    if role is not None:
        query = query.where(col(Participant.role) == role.value)
    rows = list(session.exec(query.order_by(col(Participant.role))).all())
    if not rows:
        where = f" as a {role.value}" if role is not None else ""
        raise error(
            f"no participant with id {quoted(participant_id)}{where}; see `tandem participants list`"
        )
    if len(rows) > 1:
        raise error(
            f'"{participant_id}" is the id of a mentor and of a mentee; say which with '
            "--role mentor or --role mentee"
        )
    return rows[0]
