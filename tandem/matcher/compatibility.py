"""Profile compatibility: the dense compatibility source built from profiles.

:class:`ProfileCompatibility` prepares the registered scorers (:mod:`scoring`) and the hard
rules (:mod:`rules`) once per cycle — sorting, encoding, fitting TF-IDF, fusing the lookup
tables of table factors — and then scores blocks of mentee rows against every mentor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import scipy.sparse as sp

from tandem.matcher.compat import FORBIDDEN, SCALE, IntArray
from tandem.matcher.config import ConfigError, MatchConfig
from tandem.matcher.encoding import (
    BUILTIN_COLUMNS,
    BoolArray,
    EqualityFactor,
    LockedFactor,
    PairFactor,
    Roster,
    Rows,
    TableFactor,
)
from tandem.matcher.errors import MatcherError
from tandem.matcher.rules import (
    active_pair_rules,
    check_locked_pairs,
    forbidding_reasons,
    forbidding_rules,
)
from tandem.matcher.scoring import (
    SCORERS,
    CustomScorer,
    Float32Array,
    FloatArray,
    LinearFactor,
    ResearchInterests,
    Scorer,
)
from tandem.matcher.text import TextEmbedder
from tandem.matcher.types import Profile, closest_term

GROUP_ROWS = 1024
"""Most distinct mentee code combinations fused into one precomputed lookup table."""


@dataclass(frozen=True, eq=False)
class _TablePart:
    mentee_codes: IntArray
    mentor_codes: IntArray
    numerator: FloatArray
    denominator: FloatArray


@dataclass(frozen=True, eq=False)
class _FusedTable:
    """Several table factors summed per distinct mentee code combination × every mentor."""

    mentee_rows: IntArray
    numerator: Float32Array
    denominator: Float32Array


def _fuse(parts: Sequence[_TablePart], n_mentees: int) -> list[_FusedTable]:
    """Group table factors so that each group has at most GROUP_ROWS mentee combinations;
    a block then costs two row look-ups per group whatever the number of factors."""
    ordered = sorted(parts, key=lambda part: part.numerator.shape[0])
    groups: list[list[_TablePart]] = []
    joint = np.zeros(n_mentees, dtype=np.int64)
    for part in ordered:
        candidate = joint * part.numerator.shape[0] + part.mentee_codes
        distinct, inverse = np.unique(candidate, return_inverse=True)
        if groups and len(distinct) > GROUP_ROWS:
            groups.append([part])
            distinct, inverse = np.unique(part.mentee_codes, return_inverse=True)
        elif groups:
            groups[-1].append(part)
        else:
            groups.append([part])
        joint = inverse.astype(np.int64)
    fused = []
    for group in groups:
        codes = np.stack([part.mentee_codes for part in group], axis=1)
        combos, rows = np.unique(codes, axis=0, return_inverse=True)
        # Mentors too share a few hundred code combinations: sum the tables there, then
        # spread the sums to every mentor once (the same float32 additions, in the same
        # order, as summing every mentor's column).
        mentor_codes = np.stack([part.mentor_codes for part in group], axis=1)
        mentor_combos, columns = np.unique(mentor_codes, axis=0, return_inverse=True)
        columns = columns.reshape(-1)
        numerator = np.zeros((len(combos), len(mentor_combos)), dtype=np.float32)
        denominator = np.zeros((len(combos), len(mentor_combos)), dtype=np.float32)
        for k, part in enumerate(group):
            numerator += part.numerator.astype(np.float32)[combos[:, k]][:, mentor_combos[:, k]]
            denominator += part.denominator.astype(np.float32)[combos[:, k]][:, mentor_combos[:, k]]
        # Row look-ups of a block read these tables: keep each row contiguous.
        fused.append(
            _FusedTable(
                rows.reshape(-1).astype(np.int64),
                np.ascontiguousarray(numerator[:, columns]),
                np.ascontiguousarray(denominator[:, columns]),
            )
        )
    return fused


def _check_columns(roster: Roster, config: MatchConfig) -> None:
    """Every column the configuration names exists in some profile (catches typos)."""
    if not roster.mentees and not roster.mentors:
        return
    known = set(BUILTIN_COLUMNS)
    for p in (*roster.mentees, *roster.mentors):
        known.update(column for column, _ in p.custom)
    named: list[tuple[str, str]] = [
        (f"rules.eligibility[{i}].column", r.column)
        for i, r in enumerate(config.rules.eligibility, 1)
    ]
    named += [(f"group_caps[{i}].column", c.column) for i, c in enumerate(config.group_caps, 1)]
    named += [
        (f"custom_criteria[{i}].column", c.column) for i, c in enumerate(config.custom_criteria, 1)
    ]
    for key, column in named:
        if column not in known:
            hint = closest_term(column, sorted(known))
            fix = f'did you mean "{hint}"?' if hint else "check the application file's columns"
            raise ConfigError(
                f'config key "{key}": no profile has a column "{column}"; {fix}', key=key
            )


class ProfileCompatibility:
    """A :class:`~compat.CompatibilitySource` computed from profiles and a configuration.

    Preparation (sorting, encoding, fitting TF-IDF, fusing lookup tables) happens once
    here; :meth:`block` then scores mentee rows against every mentor. ``reference_instant``
    (or the configuration's ``timezone.reference_instant``) fixes the UTC offsets; the
    clock is never read. ``embedder`` replaces TF-IDF for research interests.

    Raises :class:`MatcherError` for inconsistent profiles and
    :class:`~config.ConfigError` when the configuration names an unknown column or a
    locked pair that a hard rule forbids.
    """

    def __init__(
        self,
        mentees: Iterable[Profile],
        mentors: Iterable[Profile],
        config: MatchConfig,
        reference_instant: datetime | None = None,
        *,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.config = config
        self.roster = Roster(mentees, mentors, config, reference_instant)
        _check_columns(self.roster, config)
        check_locked_pairs(self.roster)
        scorers: list[Scorer] = []
        for name, cls in SCORERS.items():
            weight = float(getattr(config.weights, name))
            if weight > 0:
                if cls is ResearchInterests:
                    scorers.append(ResearchInterests(self.roster, weight, embedder))
                else:
                    scorers.append(cls(self.roster, weight))
        scorers += [CustomScorer(self.roster, c) for c in config.custom_criteria if c.weight > 0]
        self.scorers: tuple[Scorer, ...] = tuple(scorers)
        self._mentee_ids = tuple(p.id for p in self.roster.mentees)
        self._mentor_ids = tuple(p.id for p in self.roster.mentors)
        self._plan()

    def _plan(self) -> None:
        """Sort every scorer's and rule's factors into the fused evaluation of a block."""
        n = len(self._mentee_ids)
        parts: list[_TablePart] = []
        dense: list[tuple[float, LinearFactor]] = []
        sparse: list[tuple[float, LinearFactor]] = []
        self._clipped: list[tuple[float, LinearFactor]] = []
        self._equal_values: list[tuple[float, EqualityFactor]] = []
        self._equal_rules: list[EqualityFactor] = []
        self._locks: list[LockedFactor] = []
        pair_matrices: list[sp.csr_array] = []
        points = 100.0 * SCALE
        for scorer in self.scorers:
            w = scorer.weight
            known = scorer.terms.known
            values = scorer.terms.values
            kn = known.table.astype(np.float64)
            if isinstance(values, TableFactor):
                numerator = points * w * values.table * kn
                parts.append(_TablePart(known.mentee_codes, known.mentor_codes, numerator, w * kn))
                continue
            parts.append(
                _TablePart(known.mentee_codes, known.mentor_codes, np.zeros_like(kn), w * kn)
            )
            if isinstance(values, EqualityFactor):
                self._equal_values.append((points * w, values))
            elif values.clip:
                self._clipped.append((points * w, values))
            elif sp.issparse(values.mentee):
                sparse.append((points * w, values))
            else:
                dense.append((points * w, values))
        for rule in active_pair_rules(self.config):
            factor = rule.vector(self.roster)
            if isinstance(factor, TableFactor):
                blocked = np.where(factor.table, -np.inf, 0.0)
                parts.append(
                    _TablePart(
                        factor.mentee_codes, factor.mentor_codes, np.zeros_like(blocked), blocked
                    )
                )
            elif isinstance(factor, EqualityFactor):
                self._equal_rules.append(factor)
            elif isinstance(factor, PairFactor):
                pair_matrices.append(factor.matrix)
            elif isinstance(factor, LockedFactor):
                self._locks.append(factor)
        self._tables = _fuse(parts, n) if parts and n else []
        self._dense = (
            (
                np.hstack([w * np.asarray(f.mentee, dtype=np.float32) for w, f in dense]),
                np.vstack([np.asarray(f.mentor_t, dtype=np.float32) for _, f in dense]),
            )
            if dense
            else None
        )
        self._sparse = (
            (
                sp.csr_array(sp.hstack([w * f.mentee for w, f in sparse], format="csr")),
                sp.csr_array(sp.vstack([f.mentor_t for _, f in sparse], format="csr")),
            )
            if sparse
            else None
        )
        shape = (n, len(self._mentor_ids))
        self._pairs = (
            sp.csr_array(sum(pair_matrices[1:], pair_matrices[0]))
            if pair_matrices
            else sp.csr_array(shape, dtype=np.int8)
        )

    # The CompatibilitySource protocol.

    @property
    def mentee_ids(self) -> tuple[str, ...]:
        return self._mentee_ids

    @property
    def mentor_ids(self) -> tuple[str, ...]:
        return self._mentor_ids

    @property
    def capacities(self) -> IntArray:
        return self.roster.capacities.copy()

    def block(self, start: int, stop: int) -> IntArray:
        """Integer points of mentees ``start:stop`` × every mentor, FORBIDDEN where a hard
        rule forbids the pair. Blocks of 1,000–2,000 rows keep memory bounded."""
        start, stop = max(0, start), min(stop, len(self._mentee_ids))
        return self._points(slice(start, stop), max(stop - start, 0))

    def rows(self, indices: IntArray) -> IntArray:
        """:meth:`block` for any mentee rows (indices in ``mentee_ids`` order), in the
        order given; a few thousand rows at a time keep memory bounded."""
        indices = np.asarray(indices, dtype=np.int64)
        return self._points(indices, int(indices.size))

    def _points(self, rows: Rows, n_rows: int) -> IntArray:
        points = self._evaluate(rows, n_rows)
        hit_rows, columns = self._pairs[rows].nonzero()
        points[hit_rows, columns] = FORBIDDEN
        for lock in self._locks:
            points[lock.take(rows)] = FORBIDDEN
        return points

    def _evaluate(self, rows: Rows, n_rows: int) -> IntArray:
        """Points with the table and equality rules applied (not the pair-list rules).

        Works in float32, in place where it can (a block is memory-bound); the numerator
        is already in points (× 100 × SCALE), and float32 holds every integer up to
        100 × SCALE exactly. Where nothing is known, numerator and denominator are both 0.
        """
        shape = (n_rows, len(self._mentor_ids))
        if self._sparse is not None:
            numerator = (self._sparse[0][rows] @ self._sparse[1]).toarray()
        else:
            numerator = np.zeros(shape, dtype=np.float32)
        if self._dense is not None:
            numerator += self._dense[0][rows] @ self._dense[1]
        for w, linear in self._clipped:
            numerator += np.float32(w) * linear.take(rows)
        denominator = np.zeros(shape, dtype=np.float32)
        for table in self._tables:
            codes = table.mentee_rows[rows]
            numerator += table.numerator[codes]
            denominator += table.denominator[codes]
        for w, equal in self._equal_values:
            np.add(numerator, np.float32(w), out=numerator, where=equal.take(rows))
        forbidden = denominator < 0
        for equal in self._equal_rules:
            forbidden |= equal.take(rows)
        np.maximum(denominator, np.float32(1e-30), out=denominator)
        np.divide(numerator, denominator, out=numerator)
        np.rint(numerator, out=numerator)
        np.copyto(numerator, np.float32(FORBIDDEN), where=forbidden)
        return numerator.astype(np.int64)

    # Detail for explanations and for the optimizer.

    @property
    def mentees(self) -> tuple[Profile, ...]:
        return self.roster.mentees

    @property
    def mentors(self) -> tuple[Profile, ...]:
        return self.roster.mentors

    def mentee(self, mentee_id: str) -> Profile:
        return self.roster.mentees[self._mentee_position(mentee_id)]

    def mentor(self, mentor_id: str) -> Profile:
        return self.roster.mentors[self._mentor_position(mentor_id)]

    def components(self, mentee_id: str, mentor_id: str) -> dict[str, float]:
        """The known components (0–1) of one pair by name; unknown (neutral) ones are left
        out, as they are left out of the pair's score."""
        return {
            name: value
            for name, _, value in self.component_details(mentee_id, mentor_id)
            if value is not None
        }

    def component_details(
        self, mentee_id: str, mentor_id: str
    ) -> list[tuple[str, float, float | None]]:
        """(name, weight, value or None when unknown) of every scorer with weight > 0."""
        i, j = self._mentee_position(mentee_id), self._mentor_position(mentor_id)
        values, known = self.pair_components(np.array([i]), np.array([j]))
        return [
            (scorer.component, scorer.weight, float(values[0, k]) if known[0, k] else None)
            for k, scorer in enumerate(self.scorers)
        ]

    def pair_components(self, rows: IntArray, cols: IntArray) -> tuple[FloatArray, BoolArray]:
        """Every scorer's component (0–1) for the pairs ``(rows[k], cols[k])`` (mentee and
        mentor indices): values and where they are known, one column per scorer in
        :attr:`scorers` order. Computed per pair, without scoring whole rows."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        values = np.zeros((rows.size, len(self.scorers)), dtype=np.float64)
        known = np.zeros((rows.size, len(self.scorers)), dtype=bool)
        for k, scorer in enumerate(self.scorers):
            values[:, k], known[:, k] = scorer.pairs(rows, cols)
        return values, known

    def reasons(self, mentee_id: str, mentor_id: str) -> dict[str, str]:
        """A short phrase per scorer with weight > 0 explaining its component."""
        mentee, mentor = self.mentee(mentee_id), self.mentor(mentor_id)
        values = {name: value for name, _, value in self.component_details(mentee_id, mentor_id)}
        return {
            scorer.component: scorer.reason(mentee, mentor, values[scorer.component])
            for scorer in self.scorers
        }

    def points(self, mentee_id: str, mentor_id: str) -> int:
        """The pair's integer points (FORBIDDEN when a hard rule forbids it)."""
        return int(self.row(mentee_id)[self._mentor_position(mentor_id)])

    def score(self, mentee_id: str, mentor_id: str) -> float:
        """The pair's score on the 0–100 scale (``points / SCALE``). For a pair that a hard
        rule forbids, the score it would have, from its components."""
        points = self.points(mentee_id, mentor_id)
        if points != FORBIDDEN:
            return points / SCALE
        details = self.component_details(mentee_id, mentor_id)
        weight = sum(w for _, w, v in details if v is not None)
        total = sum(w * v for _, w, v in details if v is not None)
        return round(100.0 * SCALE * total / weight) / SCALE if weight > 0 else 0.0

    def row(self, mentee_id: str) -> IntArray:
        """One mentee's points against every mentor (FORBIDDEN where forbidden)."""
        i = self._mentee_position(mentee_id)
        return self.block(i, i + 1)[0]

    def forbidding_rules(self, mentee_id: str, mentor_id: str) -> list[str]:
        """Labels of the hard rules that forbid the pair (empty when it is allowed)."""
        return forbidding_rules(self.mentee(mentee_id), self.mentor(mentor_id), self.roster)

    def forbidding_reasons(self, mentee_id: str, mentor_id: str) -> list[str]:
        """``label: why`` for each hard rule that forbids the pair (empty when allowed)."""
        return forbidding_reasons(self.mentee(mentee_id), self.mentor(mentor_id), self.roster)

    def group_codes(self, column: str) -> IntArray:
        """Per mentee (in ``mentee_ids`` order), a code of their value of ``column`` for a
        group cap; mentees with the same value share a code; -1 when missing."""
        return self.roster.group_codes(column)

    def mentee_position(self, mentee_id: str) -> int:
        """The index of a mentee in :attr:`mentee_ids`; MatcherError for an unknown id."""
        return self._mentee_position(mentee_id)

    def mentor_position(self, mentor_id: str) -> int:
        """The index of a mentor in :attr:`mentor_ids`; MatcherError for an unknown id."""
        return self._mentor_position(mentor_id)

    def _mentee_position(self, mentee_id: str) -> int:
        try:
            return self.roster.mentee_index[mentee_id]
        except KeyError:
            raise MatcherError(f'no mentee has id "{mentee_id}"') from None

    def _mentor_position(self, mentor_id: str) -> int:
        try:
            return self.roster.mentor_index[mentor_id]
        except KeyError:
            raise MatcherError(f'no mentor has id "{mentor_id}"') from None
