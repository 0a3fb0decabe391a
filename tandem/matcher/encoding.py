"""The roster encoded for the hard rules and the scorers: columns, codes and factors.

A :class:`Roster` holds a cycle's profiles sorted by id with every column the rules and
scorers read encoded once (codes, incidence matrices, UTC offsets at a reference instant);
the factor types (:class:`TableFactor`, :class:`EqualityFactor`, :class:`PairFactor`,
:class:`LockedFactor`) state a rule or a score over a block of mentee rows × every mentor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from tandem.matcher.config import MatchConfig
from tandem.matcher.errors import MatcherError
from tandem.matcher.types import CareerStage, Profile, Role, normalize_tag, normalize_term

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
Rows = slice | IntArray
"""A selection of mentee rows: a slice ``start:stop`` or an array of row indices."""

STAGES = len(CareerStage)
"""Number of career stages; the code of a missing stage in lookup tables."""

_ENUM_COLUMNS = frozenset({"career_stage", "meeting_modes", "topics"})
_LIST_COLUMNS = frozenset({"languages", "research_areas", "meeting_modes", "topics"})
_SCALAR_COLUMNS = frozenset({"career_stage", "institution", "department", "timezone"})
BUILTIN_COLUMNS = _LIST_COLUMNS | _SCALAR_COLUMNS
"""Profile fields that eligibility rules, group caps and custom criteria may name."""


@lru_cache(maxsize=1 << 16)
def normalize_value(column: str, value: str) -> str:
    """How a value of ``column`` compares: vocabulary terms by term, the rest case-blind."""
    return normalize_term(value) if column in _ENUM_COLUMNS else normalize_tag(value)


def column_values(profile: Profile, column: str) -> tuple[str, ...]:
    """The normalised values of a built-in field or extra column (empty when missing)."""
    raw: tuple[str, ...]
    if column in _LIST_COLUMNS:
        raw = tuple(getattr(profile, column))
    elif column in _SCALAR_COLUMNS:
        value = getattr(profile, column)
        raw = () if value is None else (str(value),)
    else:
        value = profile.custom_value(column)
        raw = () if value is None else (value,)
    return _normalized(column, raw)


@lru_cache(maxsize=1 << 16)
def _normalized(column: str, raw: tuple[str, ...]) -> tuple[str, ...]:
    """:func:`column_values` of raw values: most rosters repeat a few hundred of them."""
    values = (normalize_value(column, v) for v in raw)
    return tuple(sorted({v for v in values if v}))


def utc_offset_hours(timezone: str, instant: datetime) -> float:
    """The UTC offset of an IANA time zone at ``instant``, in hours (DST included).

    Raises :class:`MatcherError` for an unknown zone name.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise MatcherError(
            f'unknown time zone "{timezone}"; use an IANA name such as "Europe/Berlin"'
        ) from None
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset.total_seconds() / 3600.0


def timezone_difference(a: float, b: float) -> float:
    """Hours between two UTC offsets around the clock (0 … 12)."""
    d = (a - b) % 24.0
    return min(d, 24.0 - d)


class Violation(BaseModel):
    """One broken hard rule: its label, the pair or mentor concerned, and what is wrong."""

    model_config = ConfigDict(frozen=True)

    label: str
    mentee_id: str | None
    mentor_id: str | None
    detail: str


def _index(profiles: Iterable[Profile], role: Role) -> tuple[Profile, ...]:
    ordered = tuple(sorted(profiles, key=lambda p: p.id))
    for profile in ordered:
        if profile.role is not role:
            raise MatcherError(
                f'profile "{profile.id}" has role {profile.role.value} but was given as a '
                f"{role.value}; pass it with the {profile.role.value}s"
            )
    repeated = [a.id for a, b in pairwise(ordered) if a.id == b.id]
    if repeated:
        raise MatcherError(f'{role.value} id "{repeated[0]}" appears twice; ids must be unique')
    return ordered


def _codes(values: Sequence[str | None]) -> tuple[IntArray, list[str]]:
    """Integer codes (-1 for missing) over the sorted distinct values."""
    distinct = sorted({v for v in values if v})
    lookup = {v: i for i, v in enumerate(distinct)}
    return np.array([lookup[v] if v else -1 for v in values], dtype=np.int64), distinct


def incidence(rows: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> sp.csr_array:
    """A 0/1 CSR matrix: row i has a 1 in column t when ``rows[i]`` contains term t."""
    lookup = {v: i for i, v in enumerate(vocabulary)}
    r: list[int] = []
    c: list[int] = []
    for i, terms in enumerate(rows):
        for t in sorted({lookup[term] for term in terms if term in lookup}):
            r.append(i)
            c.append(t)
    data = np.ones(len(r), dtype=np.float32)
    return sp.csr_array((data, (r, c)), shape=(len(rows), len(vocabulary)), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class TableFactor:
    """A function of one code per mentee and one per mentor, held as a lookup table.

    Codes are ``0 … table.shape - 1`` (missing data has a code of its own).
    """

    mentee_codes: IntArray
    mentor_codes: IntArray
    table: npt.NDArray[Any]

    def block(self, start: int, stop: int) -> npt.NDArray[Any]:
        return self.take(slice(start, stop))

    def take(self, rows: Rows) -> npt.NDArray[Any]:
        """The values of the selected mentee rows × every mentor."""
        return self.table[self.mentee_codes[rows]][:, self.mentor_codes]

    def pairs(self, rows: IntArray, cols: IntArray) -> npt.NDArray[Any]:
        """The values of the pairs ``(rows[k], cols[k])``."""
        return self.table[self.mentee_codes[rows], self.mentor_codes[cols]]


@dataclass(frozen=True, eq=False)
class EqualityFactor:
    """True where both codes are known (≥ 0) and equal (or differ, ``when_equal=False``)."""

    mentee_codes: IntArray
    mentor_codes: IntArray
    when_equal: bool

    def block(self, start: int, stop: int) -> BoolArray:
        return self.take(slice(start, stop))

    def take(self, rows: Rows) -> BoolArray:
        """The values of the selected mentee rows × every mentor."""
        return self._compare(self.mentee_codes[rows][:, None], self.mentor_codes[None, :])

    def pairs(self, rows: IntArray, cols: IntArray) -> BoolArray:
        """The values of the pairs ``(rows[k], cols[k])``."""
        return self._compare(self.mentee_codes[rows], self.mentor_codes[cols])

    def _compare(self, a: IntArray, b: IntArray) -> BoolArray:
        same = a == b
        result: BoolArray = (same if self.when_equal else ~same) & (a >= 0) & (b >= 0)
        return result


@dataclass(frozen=True, eq=False)
class PairFactor:
    """True on the listed pairs: a sparse 0/1 matrix mentees × mentors."""

    matrix: sp.csr_array

    def block(self, start: int, stop: int) -> BoolArray:
        return self.take(slice(start, stop))

    def take(self, rows: Rows) -> BoolArray:
        """The values of the selected mentee rows × every mentor."""
        return self.matrix[rows].toarray().astype(bool)


@dataclass(frozen=True, eq=False)
class LockedFactor:
    """True for every mentor but the one a locked mentee is locked to (-1: not locked)."""

    locked_columns: IntArray
    n_mentors: int

    def block(self, start: int, stop: int) -> BoolArray:
        return self.take(slice(start, stop))

    def take(self, rows: Rows) -> BoolArray:
        """The values of the selected mentee rows × every mentor."""
        locked = self.locked_columns[rows][:, None]
        columns = np.arange(self.n_mentors)[None, :]
        result: BoolArray = (locked >= 0) & (locked != columns)
        return result


Factor = TableFactor | EqualityFactor | PairFactor | LockedFactor
"""The vectorised form of a pair rule (True = forbidden) or of a scorer's values."""


def flag_table(a: BoolArray, b: BoolArray, table: list[list[bool]]) -> TableFactor:
    """A 2 × 2 table factor over one boolean per mentee and per mentor."""
    return TableFactor(a.astype(np.int64), b.astype(np.int64), np.array(table, dtype=bool))


class Roster:
    """The profiles of one cycle, sorted by id and encoded once for vectorised checks.

    Raises :class:`MatcherError` for duplicate ids, a profile in the wrong role, an unknown
    time zone, or time zones needed without a reference instant.
    """

    def __init__(
        self,
        mentees: Iterable[Profile],
        mentors: Iterable[Profile],
        config: MatchConfig,
        reference_instant: datetime | None = None,
    ) -> None:
        self.mentees = _index(mentees, Role.MENTEE)
        self.mentors = _index(mentors, Role.MENTOR)
        self.config = config
        self.mentee_index = {p.id: i for i, p in enumerate(self.mentees)}
        self.mentor_index = {p.id: j for j, p in enumerate(self.mentors)}
        self.offsets = self._offsets(reference_instant or config.timezone.reference_instant)
        self.locked = {a: b for a, b in config.rules.locked_pairs}
        self.forbidden = frozenset(config.rules.forbidden_pairs)

    def _offsets(self, instant: datetime | None) -> dict[str, float]:
        zones = sorted({p.timezone for p in (*self.mentees, *self.mentors) if p.timezone})
        needed = (
            self.config.weights.timezone > 0
            or self.config.rules.max_timezone_difference is not None
        )
        if not zones or not needed:
            return {}
        if instant is None:
            raise MatcherError(
                "time zones are compared at a reference instant: pass reference_instant or "
                'set config key "timezone.reference_instant" (e.g. the program start)'
            )
        offsets: dict[str, float] = {}
        for zone in zones:
            try:
                offsets[zone] = utc_offset_hours(zone, instant)
            except MatcherError as exc:
                owner = next(p.id for p in (*self.mentees, *self.mentors) if p.timezone == zone)
                raise MatcherError(f'profile "{owner}": {exc.message}') from None
        return offsets

    def offset(self, profile: Profile) -> float | None:
        """The profile's UTC offset in hours, or None when unknown or not needed."""
        return self.offsets.get(profile.timezone) if profile.timezone else None

    # Encodings shared by the rules and the scorers, built on first use. Codes for lookup
    # tables are 0 … n - 1 with the last code standing for missing data.

    @cached_property
    def stage_codes(self) -> tuple[IntArray, IntArray]:
        """Career-stage rank per mentee and per mentor (:data:`STAGES` when missing)."""

        def ranks(ps: Sequence[Profile]) -> IntArray:
            return np.array(
                [p.career_stage.rank if p.career_stage else STAGES for p in ps], dtype=np.int64
            )

        return ranks(self.mentees), ranks(self.mentors)

    @cached_property
    def offset_codes(self) -> tuple[IntArray, IntArray, npt.NDArray[np.float64]]:
        """Codes into the sorted distinct UTC offsets per mentee and mentor (missing: the
        number of offsets), and the hours between each two distinct offsets."""
        values = sorted(set(self.offsets.values()))
        lookup = {v: i for i, v in enumerate(values)}

        def codes(ps: Sequence[Profile]) -> IntArray:
            return np.array(
                [lookup[o] if (o := self.offset(p)) is not None else len(values) for p in ps],
                dtype=np.int64,
            )

        offsets = np.array(values, dtype=np.float64)
        d = np.mod(offsets[:, None] - offsets[None, :], 24.0)
        return codes(self.mentees), codes(self.mentors), np.minimum(d, 24.0 - d)

    @cached_property
    def language_sets(self) -> tuple[IntArray, IntArray, BoolArray, BoolArray]:
        """Codes of each profile's set of languages, whether two sets share a language, and
        whether each set is non-empty."""
        a = [column_values(p, "languages") for p in self.mentees]
        b = [column_values(p, "languages") for p in self.mentors]
        sets = sorted(set(a) | set(b))
        lookup = {s: i for i, s in enumerate(sets)}
        vocabulary = sorted({t for s in sets for t in s})
        members = incidence(sets, vocabulary)
        shared = (members @ members.T).toarray() > 0
        nonempty = np.array([bool(s) for s in sets], dtype=bool)
        return (
            np.array([lookup[s] for s in a], dtype=np.int64),
            np.array([lookup[s] for s in b], dtype=np.int64),
            shared,
            nonempty,
        )

    def value_codes(self, column: str) -> tuple[IntArray, IntArray]:
        """Shared integer codes of a column's values for mentees and mentors (-1: missing)."""
        a = [";".join(column_values(p, column)) or None for p in self.mentees]
        b = [";".join(column_values(p, column)) or None for p in self.mentors]
        codes, _ = _codes([*a, *b])
        return codes[: len(a)], codes[len(a) :]

    def cells_matrix(self, cells: Iterable[tuple[int, int]]) -> sp.csr_array:
        """A 0/1 matrix (mentees × mentors) with ones at the given (row, column) cells."""
        ordered = sorted(set(cells))
        return sp.csr_array(
            (
                np.ones(len(ordered), dtype=np.int8),
                ([i for i, _ in ordered], [j for _, j in ordered]),
            ),
            shape=(len(self.mentees), len(self.mentors)),
            dtype=np.int8,
        )

    def pair_matrix(self, pairs: Iterable[tuple[str, str]]) -> sp.csr_array:
        """A 0/1 matrix (mentees × mentors) of the listed id pairs that are in the roster."""
        return self.cells_matrix(
            (self.mentee_index[a], self.mentor_index[b])
            for a, b in pairs
            if a in self.mentee_index and b in self.mentor_index
        )

    @cached_property
    def locked_columns(self) -> IntArray:
        """Per mentee, the index of the mentor they are locked to (-1: not locked)."""
        return np.array(
            [self.mentor_index.get(self.locked.get(p.id, ""), -1) for p in self.mentees],
            dtype=np.int64,
        )

    @cached_property
    def eligible(self) -> tuple[BoolArray, BoolArray]:
        """Whether each mentee and each mentor passes every eligibility rule."""
        return (
            np.array([is_eligible(p, self.config) for p in self.mentees], dtype=bool),
            np.array([is_eligible(p, self.config) for p in self.mentors], dtype=bool),
        )

    @cached_property
    def capacities(self) -> IntArray:
        return np.array([p.capacity for p in self.mentors], dtype=np.int64)

    def group_codes(self, column: str) -> IntArray:
        """Per mentee, a code of their value of ``column`` (-1 when missing): group caps."""
        return self.value_codes(column)[0]


def padded(table: npt.NDArray[Any], fill: Any) -> npt.NDArray[Any]:
    """``table`` with one more row and column (the missing-data code) set to ``fill``."""
    result = np.full((table.shape[0] + 1, table.shape[1] + 1), fill, dtype=table.dtype)
    result[:-1, :-1] = table
    return result


def is_eligible(profile: Profile, config: MatchConfig) -> bool:
    """Whether ``profile`` passes every eligibility rule for its role."""
    for rule in config.rules.eligibility:
        if rule.role is not profile.role:
            continue
        wanted = {normalize_value(rule.column, v) for v in rule.equals}
        if not wanted & set(column_values(profile, rule.column)):
            return False
    return True
