"""Hard rules as labelled data, written once and used three ways.

Each rule in :data:`HARD_RULES` has a label (``same_institution``, ``capacity`` …) and
defines, in one class:

* :meth:`HardRule.forbids` — the reference check of one (mentee, mentor) pair;
* :meth:`HardRule.mask` — the same check over a block of mentee rows × every mentor,
  vectorised over the encodings of a :class:`Roster` (the compatibility blocks use it);
* :meth:`HardRule.cohort_violations` — checks that need the whole assignment
  (capacity, group caps, locked pairs present).

:func:`validate_assignment` re-checks any result against all of them and returns the
labels broken; explanations name the rule that forbids a pair. A rule whose data is
missing on either side of a pair passes, except ``eligibility`` (a missing value is not
eligible).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from itertools import pairwise
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from tandem.matcher.config import ConfigError, MatchConfig, SameInstitution
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


class HardRule(ABC):
    """One hard rule: a label, a meaning, a pair check, its vectorised form, cohort checks.

    :meth:`forbids` is the reference definition; :meth:`vector` states the same rule as a
    :data:`Factor` over the roster's encodings (tests check that the two agree).
    """

    label: ClassVar[str]
    meaning: ClassVar[str]
    checked_per_pair: ClassVar[bool] = True
    """False when the validator checks the rule on the whole assignment instead."""

    def active(self, config: MatchConfig) -> bool:
        """Whether the configuration switches the rule on."""
        return True

    @abstractmethod
    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        """The reference check: does the rule forbid this pair?"""

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        """Why the rule forbids this pair, in the pair's own terms (for explanations);
        only meaningful when :meth:`forbids` is true."""
        return self.meaning

    def vector(self, roster: Roster) -> Factor | None:
        """The rule over every pair of the roster (True = forbidden); None: cohort-only."""
        return None

    def mask(self, roster: Roster, start: int, stop: int) -> BoolArray:
        """:meth:`forbids` for mentees ``start:stop`` × every mentor (True = forbidden)."""
        factor = self.vector(roster) if self.active(roster.config) else None
        if factor is None:
            return np.zeros((stop - start, len(roster.mentors)), dtype=bool)
        return factor.block(start, stop).astype(bool)

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        """Violations visible only on the whole assignment."""
        return []


class SelfPair(HardRule):
    label = "self_pair"
    meaning = "a person is never their own mentor (same e-mail, or the same id in both roles)"

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentee.person_key == mentor.person_key or mentee.id == mentor.id

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return "the same person" + (
            " (same e-mail)" if mentee.person_key == mentor.person_key else " (same id)"
        )

    def vector(self, roster: Roster) -> Factor:
        by_key: defaultdict[str, list[int]] = defaultdict(list)
        by_id: defaultdict[str, list[int]] = defaultdict(list)
        for j, mentor in enumerate(roster.mentors):
            by_key[mentor.person_key].append(j)
            by_id[mentor.id].append(j)
        cells = {
            (i, j)
            for i, mentee in enumerate(roster.mentees)
            for j in (*by_key.get(mentee.person_key, ()), *by_id.get(mentee.id, ()))
        }
        return PairFactor(roster.cells_matrix(cells))


class Excluded(HardRule):
    label = "excluded"
    meaning = "neither side lists the other's id among the people they do not want"

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentor.id in mentee.excluded or mentee.id in mentor.excluded

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if mentor.id in mentee.excluded:
            return f"mentee {mentee.id} lists {mentor.id} in excluded"
        return f"mentor {mentor.id} lists {mentee.id} in excluded"

    def vector(self, roster: Roster) -> Factor:
        pairs = [(a.id, x) for a in roster.mentees for x in a.excluded]
        pairs += [(x, b.id) for b in roster.mentors for x in b.excluded]
        return PairFactor(roster.pair_matrix(pairs))


class Eligibility(HardRule):
    label = "eligibility"
    meaning = "both profiles pass every configured eligibility rule for their role"

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.eligibility)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        config = roster.config
        return not (is_eligible(mentee, config) and is_eligible(mentor, config))

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        failing = [
            f"{rule.role.value} {profile.id} has no {rule.column} in {', '.join(rule.equals)}"
            for profile in (mentee, mentor)
            for rule in roster.config.rules.eligibility
            if rule.role is profile.role
            and not {normalize_value(rule.column, v) for v in rule.equals}
            & set(column_values(profile, rule.column))
        ]
        return "; ".join(failing) or self.meaning

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.eligible
        return flag_table(a, b, [[True, True], [True, False]])


class SameInstitutionRule(HardRule):
    label = "same_institution"
    meaning = "pairs from one institution are forbidden, or required, as configured"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.same_institution is not SameInstitution.ALLOWED

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        a, b = column_values(mentee, "institution"), column_values(mentor, "institution")
        if not a or not b or not self.active(roster.config):
            return False
        same = a == b
        if roster.config.rules.same_institution is SameInstitution.FORBIDDEN:
            return same
        return not same

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if roster.config.rules.same_institution is SameInstitution.FORBIDDEN:
            return "both at the same institution (same_institution = forbidden)"
        return "at different institutions (same_institution = required)"

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.value_codes("institution")
        forbidden = roster.config.rules.same_institution is SameInstitution.FORBIDDEN
        return EqualityFactor(a, b, when_equal=forbidden)


class MaxTimezoneDifference(HardRule):
    label = "max_timezone_difference"
    meaning = "the two UTC offsets differ by at most the configured number of hours"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.max_timezone_difference is not None

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        limit = roster.config.rules.max_timezone_difference
        a, b = roster.offset(mentee), roster.offset(mentor)
        if limit is None or a is None or b is None:
            return False
        return timezone_difference(a, b) > limit

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        a, b = roster.offset(mentee), roster.offset(mentor)
        limit = roster.config.rules.max_timezone_difference
        if a is None or b is None or limit is None:
            return self.meaning
        return f"UTC offsets {timezone_difference(a, b):g} hours apart, more than {limit:g}"

    def vector(self, roster: Roster) -> Factor:
        limit = roster.config.rules.max_timezone_difference
        assert limit is not None
        a, b, differences = roster.offset_codes
        return TableFactor(a, b, padded(differences > limit, False))


class SharedLanguage(HardRule):
    label = "shared_language"
    meaning = "the pair shares at least one language"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.shared_language

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        if not self.active(roster.config):
            return False
        a, b = column_values(mentee, "languages"), column_values(mentor, "languages")
        return bool(a) and bool(b) and not set(a) & set(b)

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        a, b = column_values(mentee, "languages"), column_values(mentor, "languages")
        return f"no shared language (mentee: {', '.join(a)}; mentor: {', '.join(b)})"

    def vector(self, roster: Roster) -> Factor:
        a, b, shared, nonempty = roster.language_sets
        known = nonempty[:, None] & nonempty[None, :]
        return TableFactor(a, b, known & ~shared)


class MentorMoreSenior(HardRule):
    label = "mentor_more_senior"
    meaning = "the mentor is at least the configured number of career stages ahead"

    def active(self, config: MatchConfig) -> bool:
        return config.rules.mentor_more_senior

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        if not self.active(roster.config):
            return False
        if mentee.career_stage is None or mentor.career_stage is None:
            return False
        gap = mentor.career_stage.rank - mentee.career_stage.rank
        return gap < roster.config.rules.min_stage_gap

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        if mentee.career_stage is None or mentor.career_stage is None:
            return self.meaning
        need = roster.config.rules.min_stage_gap
        return (
            f"mentor is {mentor.career_stage.label}, mentee {mentee.career_stage.label}; "
            f"the mentor must be at least {need} stage{'' if need == 1 else 's'} ahead"
        )

    def vector(self, roster: Roster) -> Factor:
        a, b = roster.stage_codes
        ranks = np.arange(STAGES)
        behind = (ranks[None, :] - ranks[:, None]) < roster.config.rules.min_stage_gap
        return TableFactor(a, b, padded(behind, False))


class ForbiddenPair(HardRule):
    label = "forbidden_pair"
    meaning = "the coordinator ruled the pair out (rules.forbidden_pairs)"

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.forbidden_pairs)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return (mentee.id, mentor.id) in roster.forbidden

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f'["{mentee.id}", "{mentor.id}"] is in rules.forbidden_pairs'

    def vector(self, roster: Roster) -> Factor:
        return PairFactor(roster.pair_matrix(roster.forbidden))


class LockedPair(HardRule):
    label = "locked_pair"
    meaning = (
        "a mentee the coordinator locked to a mentor (rules.locked_pairs) is paired with "
        "that mentor and no one else"
    )

    def active(self, config: MatchConfig) -> bool:
        return bool(config.rules.locked_pairs)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        locked = roster.locked.get(mentee.id)
        return locked is not None and locked != mentor.id

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f"mentee {mentee.id} is locked to mentor {roster.locked.get(mentee.id)}"

    def vector(self, roster: Roster) -> Factor:
        return LockedFactor(roster.locked_columns, len(roster.mentors))

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        present = {(a.id, b.id) for a, b in pairs}
        return [
            Violation(
                label=self.label,
                mentee_id=a,
                mentor_id=b,
                detail=f'locked pair ("{a}", "{b}") is missing from the assignment',
            )
            for a, b in sorted(roster.locked.items())
            if (a, b) not in present
        ]


class Capacity(HardRule):
    label = "capacity"
    meaning = "a mentor has at most `capacity` mentees (a mentor with capacity 0 has none)"
    checked_per_pair = False

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return mentor.capacity == 0

    def why(self, mentee: Profile, mentor: Profile, roster: Roster) -> str:
        return f"mentor {mentor.id} has capacity {mentor.capacity}"

    def vector(self, roster: Roster) -> Factor:
        a = np.zeros(len(roster.mentees), dtype=bool)
        return flag_table(a, roster.capacities == 0, [[False, True], [False, True]])

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        load = Counter(b.id for _, b in pairs)
        violations = []
        for mentor_id, count in sorted(load.items()):
            capacity = roster.mentors[roster.mentor_index[mentor_id]].capacity
            if count > capacity:
                violations.append(
                    Violation(
                        label=self.label,
                        mentee_id=None,
                        mentor_id=mentor_id,
                        detail=f'mentor "{mentor_id}" has {count} mentees, capacity {capacity}',
                    )
                )
        return violations


class GroupCapRule(HardRule):
    label = "group_cap"
    meaning = "a mentor has at most `max_per_mentor` mentees sharing a value of the column"
    checked_per_pair = False

    def active(self, config: MatchConfig) -> bool:
        return bool(config.group_caps)

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return False

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        violations = []
        for cap in roster.config.group_caps:
            groups: Counter[tuple[str, str]] = Counter()
            for mentee, mentor in pairs:
                for value in column_values(mentee, cap.column):
                    groups[(mentor.id, value)] += 1
            for (mentor_id, value), count in sorted(groups.items()):
                if count > cap.max_per_mentor:
                    violations.append(
                        Violation(
                            label=self.label,
                            mentee_id=None,
                            mentor_id=mentor_id,
                            detail=(
                                f'mentor "{mentor_id}" has {count} mentees with {cap.column} '
                                f'"{value}", at most {cap.max_per_mentor} allowed'
                            ),
                        )
                    )
        return violations


class OneMentorPerMentee(HardRule):
    label = "one_mentor_per_mentee"
    meaning = "a mentee has at most one mentor"
    checked_per_pair = False

    def forbids(self, mentee: Profile, mentor: Profile, roster: Roster) -> bool:
        return False

    def cohort_violations(
        self, pairs: Sequence[tuple[Profile, Profile]], roster: Roster
    ) -> list[Violation]:
        mentors: defaultdict[str, list[str]] = defaultdict(list)
        for a, b in pairs:
            mentors[a.id].append(b.id)
        return [
            Violation(
                label=self.label,
                mentee_id=mentee_id,
                mentor_id=None,
                detail=f'mentee "{mentee_id}" has {len(ids)} mentors: ' + ", ".join(sorted(ids)),
            )
            for mentee_id, ids in sorted(mentors.items())
            if len(ids) > 1
        ]


HARD_RULES: tuple[HardRule, ...] = (
    SelfPair(),
    Excluded(),
    Eligibility(),
    SameInstitutionRule(),
    MaxTimezoneDifference(),
    SharedLanguage(),
    MentorMoreSenior(),
    ForbiddenPair(),
    LockedPair(),
    Capacity(),
    GroupCapRule(),
    OneMentorPerMentee(),
)
"""Every hard rule, in the order explanations and violations list them."""

RULES_BY_LABEL: Mapping[str, HardRule] = {rule.label: rule for rule in HARD_RULES}
PAIR_RULES: tuple[HardRule, ...] = tuple(
    r for r in HARD_RULES if not isinstance(r, GroupCapRule | OneMentorPerMentee)
)
"""The rules that can forbid a single pair (and so appear in the block mask)."""


def active_pair_rules(config: MatchConfig) -> tuple[HardRule, ...]:
    return tuple(rule for rule in PAIR_RULES if rule.active(config))


def forbidding_rules(mentee: Profile, mentor: Profile, roster: Roster) -> list[str]:
    """Labels of the active rules that forbid this pair, in :data:`HARD_RULES` order."""
    return [
        rule.label
        for rule in active_pair_rules(roster.config)
        if rule.forbids(mentee, mentor, roster)
    ]


def forbidding_reasons(mentee: Profile, mentor: Profile, roster: Roster) -> list[str]:
    """Each active rule that forbids this pair, as ``label: why``, in :data:`HARD_RULES`
    order (``capacity: mentor M004 has capacity 0``)."""
    return [
        f"{rule.label}: {rule.why(mentee, mentor, roster)}"
        for rule in active_pair_rules(roster.config)
        if rule.forbids(mentee, mentor, roster)
    ]


def check_locked_pairs(roster: Roster) -> None:
    """Raise :class:`ConfigError` when a locked pair cannot be honoured, naming the rule."""
    key = "rules.locked_pairs"
    load: Counter[str] = Counter()
    pairs: list[tuple[Profile, Profile]] = []
    for mentee_id, mentor_id in roster.config.rules.locked_pairs:
        where = f'config key "{key}": locked pair ["{mentee_id}", "{mentor_id}"]'
        if mentee_id not in roster.mentee_index:
            raise ConfigError(f'{where}: no mentee has id "{mentee_id}"', key=key)
        if mentor_id not in roster.mentor_index:
            raise ConfigError(f'{where}: no mentor has id "{mentor_id}"', key=key)
        mentee = roster.mentees[roster.mentee_index[mentee_id]]
        mentor = roster.mentors[roster.mentor_index[mentor_id]]
        broken = forbidding_rules(mentee, mentor, roster)
        if broken:
            rule = RULES_BY_LABEL[broken[0]]
            raise ConfigError(
                f'{where} is forbidden by hard rule "{rule.label}" ({rule.meaning}); '
                "remove the lock or change the rule",
                key=key,
            )
        load[mentor_id] += 1
        pairs.append((mentee, mentor))
    for rule in (RULES_BY_LABEL["capacity"], RULES_BY_LABEL["group_cap"]):
        if rule.active(roster.config):
            violations = rule.cohort_violations(pairs, roster)
            if violations:
                raise ConfigError(
                    f'config key "{key}": the locked pairs alone break hard rule '
                    f'"{rule.label}": {violations[0].detail}; remove a lock or raise the limit',
                    key=key,
                )


def validate_assignment(
    pairs: Iterable[tuple[str, str]] | Mapping[str, str | None],
    mentees: Iterable[Profile],
    mentors: Iterable[Profile],
    config: MatchConfig,
    reference_instant: datetime | None = None,
    *,
    roster: Roster | None = None,
) -> list[Violation]:
    """Every hard rule that an assignment breaks (empty when it is valid).

    ``pairs`` is a list of (mentee id, mentor id) or a mapping mentee id → mentor id (None:
    unmatched). Pair rules are checked per pair (except capacity, checked on the whole),
    then capacity, group caps, locked pairs present and one mentor per mentee. Violations
    come in :data:`HARD_RULES` order, then by ids. Raises :class:`MatcherError` for an id
    that is not in the roster. ``roster``, when the caller already built it from the same
    profiles, config and instant (for scoring), saves encoding them again.
    """
    if roster is None:
        roster = Roster(mentees, mentors, config, reference_instant)
    items = (
        [(a, b) for a, b in pairs.items() if b is not None]
        if isinstance(pairs, Mapping)
        else list(pairs)
    )
    resolved: list[tuple[Profile, Profile]] = []
    for mentee_id, mentor_id in items:
        if mentee_id not in roster.mentee_index:
            raise MatcherError(f'the assignment names unknown mentee "{mentee_id}"')
        if mentor_id not in roster.mentor_index:
            raise MatcherError(f'the assignment names unknown mentor "{mentor_id}"')
        resolved.append(
            (
                roster.mentees[roster.mentee_index[mentee_id]],
                roster.mentors[roster.mentor_index[mentor_id]],
            )
        )
    resolved.sort(key=lambda p: (p[0].id, p[1].id))
    violations: list[Violation] = []
    for rule in HARD_RULES:
        if not rule.active(config):
            continue
        if rule.checked_per_pair:
            violations += [
                Violation(
                    label=rule.label,
                    mentee_id=a.id,
                    mentor_id=b.id,
                    detail=f'pair ("{a.id}", "{b.id}") breaks {rule.label}: {rule.meaning}',
                )
                for a, b in resolved
                if rule.forbids(a, b, roster)
            ]
        violations += rule.cohort_violations(resolved, roster)
    return violations
