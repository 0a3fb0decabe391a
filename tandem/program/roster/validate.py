"""Validating a whole application file: its header (survey headers read as ours), then
its rows one by one as they stream past, then the checks across rows (duplicate ids and
e-mails, e-mails of stored people, excluded ids).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from tandem.matcher.types import Role
from tandem.program.roster.files import InputFileError, Problem, RawRow, Table, normalize_column
from tandem.program.roster.parse import (
    COMMON_COLUMNS,
    IDENTITY_COLUMNS,
    REQUIRED_COLUMNS,
    ROLE_COLUMNS,
    ParticipantInput,
)


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
        problems.append(Problem(file, row.number, column, message))
    return problems


SURVEY_HEADERS: dict[str, str] = {
    "Email Address": "email",
    "E-mail": "email",
    "E-mail Address": "email",
    "Full Name": "name",
    "Time Zone": "timezone",
}
"""Headers that survey tools write, and the column each one is read as."""
COLUMN_ALIASES = {normalize_column(header): column for header, column in SURVEY_HEADERS.items()}
IGNORED_COLUMNS = frozenset({"timestamp"})
"""Columns survey tools add that say nothing about the person: dropped, not stored."""
ROSTER_FIELDS = frozenset(COMMON_COLUMNS).union(*ROLE_COLUMNS.values())
"""Every column an application file may have that Tandem reads (the rest are custom)."""

_OPENING, _CLOSING = "([{", ")]}"


def header_key(column: str) -> str:
    """A (normalised) header without the hints survey tools add to it: text in brackets
    (to the end, when a bracket is never closed) and punctuation at either end.
    ``research_areas_(separate_with_;)`` → ``research_areas``;
    ``languages_[comma_separated]`` → ``languages``; ``capacity?`` → ``capacity``.

    One pass over the header, however its brackets nest (a header is untrusted text)."""
    kept: list[str] = []
    depth = 0
    for char in column:
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth = max(depth - 1, 0)
            kept.append("_")
        elif depth == 0:
            kept.append(char)
    text = "".join(kept)
    start = next((i for i, c in enumerate(text) if c.isalnum()), len(text))
    end = next((i for i in range(len(text) - 1, start - 1, -1) if text[i].isalnum()), start - 1)
    return re.sub(r"_+", "_", text[start : end + 1])


def _target(column: str, known: Collection[str]) -> str:
    """The column ``column`` is read as: itself, the column a survey header means, or the
    known column its header names with a hint added; else itself (a custom column)."""
    if column in known or column in COLUMN_ALIASES or column in IGNORED_COLUMNS:
        return COLUMN_ALIASES.get(column, column)
    key = header_key(column)
    if key in known or key in COLUMN_ALIASES or key in IGNORED_COLUMNS:
        return COLUMN_ALIASES.get(key, key)
    return column


def accepted_headers(column: str) -> list[str]:
    """Every header read as ``column``, ours first."""
    return [column, *(header for header, target in SURVEY_HEADERS.items() if target == column)]


def survey_headers(
    file: str,
    columns: Sequence[str],
    known: Collection[str] = (),
) -> tuple[dict[str, str], list[Problem]]:
    """Each kept column's name after survey headers are renamed to ours (ignored columns
    left out), and a problem for two columns that mean the same one.

    A header that adds a hint to a column of ``known`` (or to a survey header), such as
    ``Research areas (separate with ;)``, is read as that column."""
    targets = {column: _target(column, known) for column in columns}
    exact = {column for column, target in targets.items() if target == column}
    problems = []
    renamed: dict[str, str] = {}
    claimed: dict[str, str] = {}
    for column in columns:
        target = targets[column]
        if target in IGNORED_COLUMNS:
            continue
        if target != column and (target in exact or target in claimed):
            other = target if target in exact else claimed[target]
            problems.append(
                Problem(
                    file,
                    1,
                    column,
                    f'column means the same as column "{other}"; keep one of them',
                )
            )
            continue
        claimed.setdefault(target, column)
        renamed[column] = target
    return renamed, problems


def _renamed(row: RawRow, renamed: Mapping[str, str]) -> RawRow:
    return RawRow(row.number, {renamed[k]: v for k, v in row.cells.items() if k in renamed})


def with_survey_headers(table: Table) -> tuple[Table, list[Problem]]:
    """``table`` with survey headers renamed to ours and ignored columns dropped."""
    renamed, problems = survey_headers(table.file, table.columns)
    if renamed == {c: c for c in table.columns}:
        return table, problems
    rows = tuple(_renamed(row, renamed) for row in table.rows)
    return replace(table, columns=tuple(renamed.values()), rows=rows), problems


def _missing_column(file: str, column: str) -> Problem:
    others = [f'"{h}"' for h in accepted_headers(column)[1:]]
    also = ""
    if others:
        listed = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
        also = f" (or {listed})"
    return Problem(
        file, 1, column, f'required column is missing; add a column headed "{column}"{also}'
    )


def closest_field(column: str, known: Collection[str]) -> str | None:
    """The known column (or survey header's column) ``column`` is probably a misspelling
    of, when one is close; else None."""
    import difflib

    candidates = {**{k: k for k in known}, **COLUMN_ALIASES}
    close = difflib.get_close_matches(header_key(column), list(candidates), n=1, cutoff=0.8)
    return candidates[close[0]] if close else None


def _custom_column_warning(file: str, written: str, suggestion: str | None) -> Problem:
    hint = f'; did you mean "{suggestion}"?' if suggestion else ""
    return Problem(
        file,
        1,
        None,
        f'column "{written}" is not a field Tandem knows; it is kept as a custom field, '
        f"which matching uses only if a matching configuration names it{hint}",
    )


class RosterValidator:
    """Validates the rows of one application file as they stream past, keeping only what
    the checks across rows need (ids, e-mails, excluded ids), never the people.

    Construction checks the header (raises InputFileError); :meth:`check` validates one
    row (or takes a reader's problem) and returns the person, or None; :meth:`finish`
    raises InputFileError with every problem, sorted by row and column, or returns the
    warnings. ``stored_emails`` maps the e-mails (lower-cased) of stored people of this
    role to their ids.
    """

    def __init__(
        self,
        file: str,
        role: Role,
        columns: Sequence[str],
        stored_emails: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.file = file
        self.role = role
        self.renamed, problems = survey_headers(file, columns, ROSTER_FIELDS)
        kept = set(self.renamed.values())
        problems.extend(
            _missing_column(file, column) for column in REQUIRED_COLUMNS[role] if column not in kept
        )
        other = Role.MENTEE if role is Role.MENTOR else Role.MENTOR
        for column in ROLE_COLUMNS[other]:
            if column in kept and column not in ROLE_COLUMNS[role]:
                problems.append(
                    Problem(
                        file,
                        1,
                        column,
                        f"column is for {other.value}s only; remove it from this file",
                    )
                )
        if problems:
            raise InputFileError(problems)
        self._plain = self.renamed == {c: c for c in columns}
        self._known = set(COMMON_COLUMNS) | set(ROLE_COLUMNS[role])
        self._custom_columns = [
            _custom_column_warning(
                file, (headers or {}).get(column, column), closest_field(column, self._known)
            )
            for column, target in self.renamed.items()
            if target not in ROSTER_FIELDS
        ]
        self._stored_emails = stored_emails or {}
        self.problems: list[Problem] = []
        self.first_id: dict[str, int] = {}
        self._first_email: dict[str, int] = {}
        self._email_owners: list[tuple[int, str]] = []
        self._excluded: list[tuple[int, tuple[str, ...]]] = []
        self._dropped_identity = 0

    def check(self, item: RawRow | Problem) -> ParticipantInput | None:
        """The person on this row, or None when the row (or the item) is a problem."""
        if isinstance(item, Problem):
            self.problems.append(item)
            return None
        row = item if self._plain else _renamed(item, self.renamed)
        known = self._known
        data: dict[str, Any] = {k: v for k, v in row.cells.items() if k in known}
        custom = sorted(
            (k, ";".join(v) if isinstance(v, list) else str(v))
            for k, v in row.cells.items()
            if k not in known
        )
        try:
            person = ParticipantInput(role=self.role, custom=tuple(custom), **data)
        except ValidationError as error:
            self.problems.extend(_row_problems(self.file, row, error))
            return None
        if not person.identity_consent and any(c in row.cells for c in IDENTITY_COLUMNS):
            self._dropped_identity += 1
        first = self.first_id.setdefault(person.id, row.number)
        if first != row.number:
            self.problems.append(
                Problem(
                    self.file,
                    row.number,
                    "id",
                    f'duplicate id "{person.id}" (first on row {first})',
                )
            )
        email_key = person.email.lower()
        first = self._first_email.setdefault(email_key, row.number)
        if first != row.number:
            self.problems.append(
                Problem(
                    self.file,
                    row.number,
                    "email",
                    f"duplicate e-mail within the {self.role.value}s (first on row {first})",
                )
            )
        owner = self._stored_emails.get(email_key)
        if owner is not None and owner != person.id:
            self._email_owners.append((row.number, owner))
        if person.excluded:
            self._excluded.append((row.number, person.excluded))
        return person

    def finish(self, known_ids: Iterable[str] = ()) -> tuple[Problem, ...]:
        """Raise InputFileError for every problem found; otherwise the warnings (excluded
        ids that match no one in this file or in ``known_ids``, identity columns dropped).
        """
        problems = self.problems + [
            # An e-mail may not be taken from a stored person whom this file does not update.
            Problem(
                self.file,
                number,
                "email",
                f'e-mail already belongs to stored {self.role.value} "{owner}"; '
                "use that id, or give that person another e-mail first",
            )
            for number, owner in self._email_owners
            if owner not in self.first_id
        ]
        if problems:
            raise InputFileError(sorted(problems, key=lambda p: (p.row or 0, p.column or "")))
        all_ids = set(self.first_id) | set(known_ids)
        warnings = self._custom_columns + [
            Problem(
                self.file,
                number,
                "excluded",
                f'excluded id "{other_id}" matches no one imported yet (kept; it applies '
                "if that person is imported later)",
            )
            for number, excluded in self._excluded
            for other_id in excluded
            if other_id not in all_ids
        ]
        if self._dropped_identity:
            warnings.append(
                Problem(
                    self.file,
                    None,
                    None,
                    f"identity columns ignored for {self._dropped_identity} row(s) without "
                    "identity_consent = yes (not stored)",
                )
            )
        return tuple(warnings)


def validate_table(
    table: Table,
    role: Role,
    known_ids: Iterable[str] = (),
    stored_emails: Mapping[str, str] | None = None,
) -> ValidatedRoster:
    """Validate every row of ``table`` as ``role`` applications (:class:`RosterValidator`).

    Raises InputFileError listing every problem (missing columns, bad cells, duplicate
    ids or e-mails, an e-mail that belongs to another stored person) at once. Unknown
    ``excluded`` ids are warnings, not errors: the other person may be imported later.
    ``known_ids`` are ids already stored or in the other file.
    """
    validator = RosterValidator(table.file, role, table.columns, stored_emails, table.headers)
    people: list[ParticipantInput] = []
    numbers: list[int] = []
    for problem in table.problems:
        validator.check(problem)
    for row in table.rows:
        person = validator.check(row)
        if person is not None:
            people.append(person)
            numbers.append(row.number)
    warnings = validator.finish(known_ids)
    return ValidatedRoster(role, table.file, tuple(people), tuple(numbers), warnings)
