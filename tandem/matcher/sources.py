"""Concrete compatibility sources: a dense score matrix and an explicit list of allowed pairs.

Both implement :class:`~tandem.matcher.compat.CompatibilitySource`; :class:`SparseScores`
also implements :class:`~tandem.matcher.compat.SparseSource`. They are what tests,
benchmarks and a coordinator's ``--scores`` file use; profile-based scoring lives elsewhere.

A source may carry a ``scale`` (integer points per 1.0 of score) finer than
:data:`~tandem.matcher.compat.SCALE` when its input had more decimals;
:func:`source_scale` reads it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tandem.matcher.compat import FORBIDDEN, SCALE, CompatibilitySource, IntArray
from tandem.matcher.errors import MatcherError


def source_scale(source: CompatibilitySource) -> int:
    """Integer points per 1.0 of score for ``source`` (``SCALE`` unless it says otherwise)."""
    scale = getattr(source, "scale", SCALE)
    return int(scale)


def _check_ids(ids: Sequence[str], role: str) -> tuple[str, ...]:
    ids = tuple(ids)
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise MatcherError(
            f"{role} ids must be unique; repeated: {', '.join(duplicates[:10])}. "
            f"Give every {role} exactly one row."
        )
    return ids


def _check_capacities(capacities: npt.ArrayLike, n_mentors: int) -> IntArray:
    caps = np.asarray(capacities, dtype=np.int64).reshape(-1)
    if caps.shape != (n_mentors,):
        raise MatcherError(
            f"capacities has {caps.shape[0]} entries but there are {n_mentors} mentors; "
            "give one capacity per mentor, in mentor order."
        )
    if n_mentors and int(caps.min()) < 0:
        raise MatcherError("mentor capacities must be 0 or more.")
    caps.setflags(write=False)
    return caps


class DenseScores:
    """Every pair's integer score held in one matrix (mentees × mentors).

    ``matrix`` may use any integer dtype (``int32`` halves the memory of a large roster);
    :meth:`block` always returns ``int64``. Ids need not be sorted: rows and columns are
    permuted once so that both sides are in id order, as the protocol requires.

    Raises:
        MatcherError: shapes disagree, ids repeat, a capacity is negative, or a value is
            neither :data:`FORBIDDEN` nor within ``0 … 100 × scale``.
    """

    def __init__(
        self,
        matrix: npt.ArrayLike,
        mentee_ids: Sequence[str],
        mentor_ids: Sequence[str],
        capacities: npt.ArrayLike,
        *,
        scale: int = SCALE,
    ) -> None:
        values = np.asarray(matrix)
        if values.ndim != 2 or not np.issubdtype(values.dtype, np.integer):
            raise MatcherError("the score matrix must be a 2-D array of integer points.")
        mentees = _check_ids(mentee_ids, "mentee")
        mentors = _check_ids(mentor_ids, "mentor")
        if values.shape != (len(mentees), len(mentors)):
            raise MatcherError(
                f"the score matrix is {values.shape[0]} × {values.shape[1]} but there are "
                f"{len(mentees)} mentees and {len(mentors)} mentors."
            )
        caps = _check_capacities(capacities, len(mentors))
        if values.size:
            low, high = int(values.min()), int(values.max())
            if low < FORBIDDEN or high > 100 * scale:
                raise MatcherError(
                    f"score points must be {FORBIDDEN} (forbidden) or 0 … {100 * scale}; "
                    f"found values from {low} to {high}."
                )
        row_order = sorted(range(len(mentees)), key=mentees.__getitem__)
        col_order = sorted(range(len(mentors)), key=mentors.__getitem__)
        if row_order != list(range(len(mentees))):
            values = values[row_order]
        if col_order != list(range(len(mentors))):
            values = values[:, col_order]
            caps = caps[col_order]
            caps.setflags(write=False)
        self._matrix = values
        self._mentee_ids = tuple(mentees[i] for i in row_order)
        self._mentor_ids = tuple(mentors[j] for j in col_order)
        self._capacities = caps
        self.scale = scale

    @property
    def mentee_ids(self) -> tuple[str, ...]:
        return self._mentee_ids

    @property
    def mentor_ids(self) -> tuple[str, ...]:
        return self._mentor_ids

    @property
    def capacities(self) -> IntArray:
        return self._capacities

    def block(self, start: int, stop: int) -> IntArray:
        """Scores of mentees ``start:stop`` against every mentor, as a fresh int64 array."""
        return np.array(self._matrix[start:stop], dtype=np.int64)


class SparseScores:
    """Only the allowed pairs, listed explicitly; every other pair is forbidden.

    ``mentee_index``/``mentor_index`` are positions in the *sorted* id tuples; the arcs are
    stored sorted by (mentee, mentor).

    Raises:
        MatcherError: ids repeat or are not sorted, indices are out of range, a pair is
            listed twice, or a score is outside ``0 … 100 × scale``.
    """

    def __init__(
        self,
        mentee_ids: Sequence[str],
        mentor_ids: Sequence[str],
        capacities: npt.ArrayLike,
        mentee_index: npt.ArrayLike,
        mentor_index: npt.ArrayLike,
        points: npt.ArrayLike,
        *,
        scale: int = SCALE,
    ) -> None:
        mentees = _check_ids(mentee_ids, "mentee")
        mentors = _check_ids(mentor_ids, "mentor")
        if list(mentees) != sorted(mentees) or list(mentors) != sorted(mentors):
            raise MatcherError("SparseScores needs mentee and mentor ids in sorted order.")
        caps = _check_capacities(capacities, len(mentors))
        rows = np.asarray(mentee_index, dtype=np.int64).reshape(-1)
        cols = np.asarray(mentor_index, dtype=np.int64).reshape(-1)
        pts = np.asarray(points, dtype=np.int64).reshape(-1)
        if not rows.shape == cols.shape == pts.shape:
            raise MatcherError("mentee_index, mentor_index and points must have equal length.")
        if rows.size:
            if rows.min() < 0 or rows.max() >= len(mentees):
                raise MatcherError("a mentee index is out of range.")
            if cols.min() < 0 or cols.max() >= len(mentors):
                raise MatcherError("a mentor index is out of range.")
            if pts.min() < 0 or pts.max() > 100 * scale:
                raise MatcherError(f"allowed pairs need points from 0 to {100 * scale}.")
        codes = rows * max(len(mentors), 1) + cols
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        if codes.size > 1 and bool(np.any(codes[1:] == codes[:-1])):
            raise MatcherError("a (mentee, mentor) pair is listed twice.")
        self._mentee_ids = mentees
        self._mentor_ids = mentors
        self._capacities = caps
        self._rows = rows[order]
        self._cols = cols[order]
        self._points = pts[order]
        for array in (self._rows, self._cols, self._points):
            array.setflags(write=False)
        self._row_starts = np.searchsorted(self._rows, np.arange(len(mentees) + 1))
        self.scale = scale

    @property
    def mentee_ids(self) -> tuple[str, ...]:
        return self._mentee_ids

    @property
    def mentor_ids(self) -> tuple[str, ...]:
        return self._mentor_ids

    @property
    def capacities(self) -> IntArray:
        return self._capacities

    def arcs(self) -> tuple[IntArray, IntArray, IntArray]:
        """(mentee index, mentor index, points) of every allowed pair, sorted by both."""
        return self._rows, self._cols, self._points

    def block(self, start: int, stop: int) -> IntArray:
        """A dense view of mentees ``start:stop``: listed pairs' points, else FORBIDDEN."""
        out = np.full((stop - start, len(self._mentor_ids)), FORBIDDEN, dtype=np.int64)
        lo, hi = int(self._row_starts[start]), int(self._row_starts[stop])
        out[self._rows[lo:hi] - start, self._cols[lo:hi]] = self._points[lo:hi]
        return out
