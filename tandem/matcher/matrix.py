"""A roster's scores held in memory: filled, selected and priced in parallel row chunks.

Pruned solves of large dense sources read every pair several times (candidates, one
pricing pass per proof round, the blocking-pair count). When the whole score matrix fits
in memory (int32: 400 MB at 20,000 × 5,000) it is scored once, two chunks at a time
(numpy and the BLAS release the GIL), and every later pass reads it back.

Selections use thresholds instead of sort keys: a row's ``k``-th largest value comes from
``np.partition``; every value above it is taken, and values equal to it are taken from the
lowest index up until ``k`` are chosen. That is exactly "the ``k`` best, ties to the lower
index", whatever the chunking or the number of threads, so results repeat byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from tandem.matcher.compat import CompatibilitySource, IntArray
from tandem.matcher.proof import Duals, Pricing
from tandem.matcher.sources import source_scale

T = TypeVar("T")
BoolArray = npt.NDArray[np.bool_]

WORKERS = max(1, min(2, os.cpu_count() or 1))
"""Threads for chunked passes; results are combined in chunk order, so the number of
threads never changes a result."""
SCORE_CELLS = 1_000_000
"""Pairs scored per call of the source's ``block`` (large enough to amortise its set-up)."""
CHUNK_CELLS = 250_000
"""Pairs per chunk of a pass over the kept matrix (about 2 MB of int64: stays in cache)."""
_FLOOR = np.iinfo(np.int64).min
_LOW = -(2**62)
"""Below every value a selection compares (points minus an offset)."""


def in_chunks(
    work: Callable[[int, int], T],
    n: int,
    step: int,
    done: Callable[[int], None] | None = None,
    workers: int = WORKERS,
) -> list[T]:
    """``work(start, stop)`` over ``0:n`` in chunks of ``step``; results in chunk order.

    ``done(stop)`` is called in the calling thread as each chunk's result arrives.
    """
    ranges = [(start, min(start + step, n)) for start in range(0, n, max(step, 1))]
    results: list[T] = []
    if workers <= 1 or len(ranges) <= 1:
        for a, b in ranges:
            results.append(work(a, b))
            if done:
                done(b)
        return results
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (_, b), result in zip(ranges, pool.map(lambda r: work(*r), ranges), strict=True):
            results.append(result)
            if done:
                done(b)
    return results


def _exact_top_k_rows(
    values: npt.NDArray[np.integer], k: int, minimum: int
) -> tuple[IntArray, IntArray]:
    """:func:`top_k_rows` by a full partition of every row."""
    n_cols = values.shape[1]
    if k >= n_cols:
        r, c = np.nonzero(values >= minimum)
        return r.astype(np.int64), c.astype(np.int64)
    kth = np.partition(values, n_cols - k, axis=1)[:, n_cols - k]
    return _first_k(values, kth, k, minimum)


def _first_k(
    values: npt.NDArray[np.integer], floor: npt.NDArray[np.integer], k: int, minimum: int
) -> tuple[IntArray, IntArray]:
    """Each row's ``k`` largest entries among those ≥ max(floor, minimum), ties to the lower
    column; rows are assumed to have at least their ``k`` best entries above ``floor``."""
    floor = np.maximum(floor, minimum)
    r, c = np.nonzero(values >= floor[:, None])
    if r.size == 0:
        return r.astype(np.int64), c.astype(np.int64)
    v = values[r, c].astype(np.int64)
    r, c = r.astype(np.int64), c.astype(np.int64)
    n_cols, top = values.shape[1], int(v.max())
    span = top - int(v.min()) + 1
    if values.shape[0] * span * n_cols < 2**62:
        # One int64 sort key: row, then larger value, then lower column.
        key = (r * span + (top - v)) * n_cols + c
        key.sort()
        r, rest = np.divmod(key, span * n_cols)
        c = rest % n_cols
    else:
        order = np.lexsort((c, -v, r))
        r, c = r[order], c[order]
    keep = _rank_in_runs(r) < k
    r, c = r[keep], c[keep]
    order = np.lexsort((c, r))
    return r[order], c[order]


def top_k_rows(values: npt.NDArray[np.integer], k: int, minimum: int) -> tuple[IntArray, IntArray]:
    """Each row's ``k`` largest entries that are ≥ ``minimum`` (ties: lower column).

    Returns (row, column) of the chosen entries, sorted by row then column. A threshold
    estimated from a strided sample of columns keeps about ``2k`` entries per row for an
    exact selection; rows where it keeps fewer than ``k`` are selected from all their
    entries.
    """
    n_rows, n_cols = values.shape
    if n_rows == 0 or n_cols == 0 or k <= 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    stride = k // 8
    if stride < 2 or k >= n_cols:
        return _exact_top_k_rows(values, k, minimum)
    sample = values[:, ::stride]
    j = min(2 * k // stride, sample.shape[1])
    estimate = np.partition(sample, sample.shape[1] - j, axis=1)[:, sample.shape[1] - j]
    enough = np.count_nonzero(values >= np.maximum(estimate, minimum)[:, None], axis=1) >= k
    # Rows with fewer than k entries above the estimate are selected from all their entries.
    return _first_k(values, np.where(enough, estimate, minimum), k, minimum)


class ScoreMatrix:
    """A :class:`~compat.CompatibilitySource` whose scores are all held in memory.

    Built from another source by :meth:`fill`; ids, capacities and scale are the source's
    own, and :meth:`block` returns the same int64 values the source gives.
    """

    def __init__(self, source: CompatibilitySource, dtype: type[np.signedinteger]) -> None:
        self.inner = source
        self.scale = source_scale(source)
        self.matrix = np.empty((len(source.mentee_ids), len(source.mentor_ids)), dtype=dtype)

    @property
    def mentee_ids(self) -> tuple[str, ...]:
        return tuple(self.inner.mentee_ids)

    @property
    def mentor_ids(self) -> tuple[str, ...]:
        return tuple(self.inner.mentor_ids)

    @property
    def capacities(self) -> IntArray:
        return self.inner.capacities

    def block(self, start: int, stop: int) -> IntArray:
        return self.matrix[start:stop].astype(np.int64)

    def fill(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        """Score every pair, two chunks at a time (the source's ``block`` must allow it)."""
        n_e, n_m = self.matrix.shape

        def score(start: int, stop: int) -> None:
            self.matrix[start:stop] = self.inner.block(start, stop)

        def done(stop: int) -> None:
            if progress:
                progress("scoring", stop, n_e)

        in_chunks(score, n_e, max(1, SCORE_CELLS // max(n_m, 1)), done)


def top_k_columns(
    matrix: npt.NDArray[np.integer],
    free: BoolArray,
    open_: BoolArray,
    k: int,
    offset: IntArray | None = None,
) -> tuple[IntArray, IntArray]:
    """Each open column's ``k`` largest values ``matrix[i, j] − offset[i]`` over its
    allowed entries (``matrix ≥ 0``) in free rows, ties to the lower row: (row, column)
    pairs, in no particular order. ``offset`` defaults to 0.

    The matrix is read by rows: a threshold per column estimated from a strided sample of
    rows keeps about ``2k`` entries per column for an exact selection; columns where it
    keeps fewer than ``k`` are selected from all their entries.
    """
    n_rows, n_cols = matrix.shape
    shift = np.zeros(n_rows, np.int64) if offset is None else offset
    stride = max(1, k // 8)
    estimate = np.full(n_cols, _LOW, dtype=np.int64)
    if k < n_rows and stride >= 2:
        picked = matrix[::stride]
        sample = np.subtract(picked, shift[::stride, None], dtype=np.int64)
        sample[(picked < 0) | ~free[::stride, None]] = _LOW
        sample = np.ascontiguousarray(sample.T)
        j = min(2 * k // stride, sample.shape[1])
        estimate = np.partition(sample, sample.shape[1] - j, axis=1)[:, sample.shape[1] - j]
    estimate[~open_] = np.iinfo(np.int64).max

    def above(start: int, stop: int) -> tuple[IntArray, IntArray, IntArray]:
        block = matrix[start:stop]
        values = np.subtract(block, shift[start:stop, None], dtype=np.int64)
        hit = values >= estimate[None, :]
        hit &= block >= 0
        hit[~free[start:stop]] = False
        r, c = np.nonzero(hit)
        return r.astype(np.int64) + start, c.astype(np.int64), values[r, c]

    found = in_chunks(above, n_rows, max(1, CHUNK_CELLS // max(n_cols, 1)))
    rows = np.concatenate([f[0] for f in found]) if found else np.zeros(0, np.int64)
    cols = np.concatenate([f[1] for f in found]) if found else np.zeros(0, np.int64)
    values = np.concatenate([f[2] for f in found]) if found else np.zeros(0, np.int64)
    counts = np.bincount(cols, minlength=n_cols)
    short = np.flatnonzero((counts < k) & open_ & (estimate > _LOW))
    if short.size:
        # Columns with fewer than k entries above the estimate: all their allowed entries.
        drop = np.isin(cols, short)
        rows, cols, values = rows[~drop], cols[~drop], values[~drop]
        picked = matrix[:, short]
        extra = picked >= 0
        extra[~free] = False
        er, ec = np.nonzero(extra)
        rows = np.concatenate([rows, er.astype(np.int64)])
        cols = np.concatenate([cols, short[ec]])
        values = np.concatenate([values, picked[er, ec].astype(np.int64) - shift[er]])
    cols, rows = _best_pairs_per_group(cols, values, rows, k)
    return rows, cols


def _masked(block: npt.NDArray[np.integer], free: BoolArray, closed: IntArray) -> npt.NDArray:
    """``block`` with rows of mentees not to match and columns of full mentors at −1."""
    if free.all() and closed.size == 0:
        return block
    block = block.copy()
    block[~free] = -1
    block[:, closed] = -1
    return block


def candidate_arcs(
    matrix: npt.NDArray[np.integer],
    free: BoolArray,
    capacities: IntArray,
    per_mentee: int,
    per_mentor: int,
) -> tuple[IntArray, IntArray, IntArray]:
    """Each free mentee's best ``per_mentee`` ∪ each open mentor's best ``per_mentor``
    allowed pairs (ties: lower index), as (mentee, mentor, points) sorted by both."""
    n_e, n_m = matrix.shape
    closed = np.flatnonzero(capacities <= 0)

    def by_mentee(start: int, stop: int) -> tuple[IntArray, IntArray]:
        block = _masked(matrix[start:stop], free[start:stop], closed)
        r, c = top_k_rows(block, per_mentee, 0)
        return r + start, c

    found = in_chunks(by_mentee, n_e, max(1, CHUNK_CELLS // max(n_m, 1)))
    rows = np.concatenate([r for r, _ in found]) if found else np.zeros(0, np.int64)
    cols = np.concatenate([c for _, c in found]) if found else np.zeros(0, np.int64)
    parts = [rows * n_m + cols]
    if per_mentor > 0:
        mentees, mentors = top_k_columns(matrix, free, capacities > 0, per_mentor)
        parts.append(mentees * n_m + mentors)
    codes = _unique(np.concatenate(parts))
    rows, cols = codes // n_m, codes % n_m
    return rows, cols, matrix[rows, cols].astype(np.int64)


def price_matrix(
    matrix: npt.NDArray[np.integer],
    free: BoolArray,
    capacities: IntArray,
    rows: IntArray,
    cols: IntArray,
    duals: Duals,
    big: int,
    add_per_mentee: int,
    add_per_mentor: int,
    near: int = 0,
) -> Pricing:
    """:func:`~proof.price_pruned` on a kept matrix, in parallel chunks.

    Reduced cost ``big + points − u_i − v_j`` of every allowed pair of a free mentee and
    an open mentor that is not among the candidates ``rows``/``cols`` (sorted by mentee).
    When some pair's is positive, returns each mentee's ``add_per_mentee`` and each
    mentor's ``add_per_mentor`` best pairs with a reduced cost above ``−near`` (ties:
    lower index) for the next round: with ``near > 0`` also pairs just short of positive,
    which the next round's prices often make positive.
    """
    n_e, n_m = matrix.shape
    closed = np.flatnonzero(capacities <= 0)
    # points − v_j > u_i − big  ⇔  a positive reduced cost; exact in int64.
    offset = duals.u - big
    v = duals.v

    def price(start: int, stop: int) -> tuple[int, int, int, tuple[IntArray, ...]]:
        block = matrix[start:stop]
        reduced = np.subtract(block, v[None, :], dtype=np.int64)
        reduced -= offset[start:stop, None]
        excluded = block < 0
        excluded[~free[start:stop]] = True
        excluded[:, closed] = True
        lo, hi = np.searchsorted(rows, [start, stop])
        excluded[rows[lo:hi] - start, cols[lo:hi]] = True
        priced = excluded.size - int(np.count_nonzero(excluded))
        np.copyto(reduced, _FLOOR, where=excluded)
        best = int(reduced.max()) if priced else _FLOOR
        if best <= -near:
            return priced, 0, best, ()
        n_hits = int(np.count_nonzero(reduced > 0))
        hits = reduced > -near
        hit_rows = np.flatnonzero(hits.any(axis=1))
        r, c = top_k_rows(reduced[hit_rows], add_per_mentee, 1 - near)
        r = hit_rows[r]
        found: tuple[IntArray, ...] = (r + start, c, block[r, c].astype(np.int64))
        if add_per_mentor:
            hit_cols = np.flatnonzero(hits.any(axis=0))
            mc, mr = top_k_rows(
                np.ascontiguousarray(reduced[:, hit_cols].T), add_per_mentor, 1 - near
            )
            mc = hit_cols[mc]
            found += (mr + start, mc, reduced[mr, mc], block[mr, mc].astype(np.int64))
        return priced, n_hits, best, found

    results = in_chunks(price, n_e, max(1, CHUNK_CELLS // max(n_m, 1)))
    priced = sum(p for p, _, _, _ in results)
    positive = sum(h for _, h, _, _ in results)
    best_all = max((b for _, _, b, _ in results), default=_FLOOR)
    found = [f for _, _, _, f in results if f] if positive else []
    empty = np.zeros(0, np.int64)
    add_r = [f[0] for f in found]
    add_c = [f[1] for f in found]
    add_p = [f[2] for f in found]
    if add_per_mentor and found:
        m_rows = np.concatenate([f[3] for f in found])
        m_cols = np.concatenate([f[4] for f in found])
        m_reduced = np.concatenate([f[5] for f in found])
        m_points = np.concatenate([f[6] for f in found])
        keep = _best_per_group(m_cols, m_reduced, m_rows, add_per_mentor)
        add_r.append(m_rows[keep])
        add_c.append(m_cols[keep])
        add_p.append(m_points[keep])
    return Pricing(
        pairs_priced=priced,
        positive_pairs=positive,
        max_reduced_cost=best_all if priced else None,
        add_rows=np.concatenate(add_r) if add_r else empty,
        add_cols=np.concatenate(add_c) if add_c else empty,
        add_points=np.concatenate(add_p) if add_p else empty,
    )


def _best_per_group(groups: IntArray, values: IntArray, ties: IntArray, k: int) -> IntArray:
    """Indices of each group's ``k`` largest values (ties: lower ``ties``), ascending."""
    if groups.size == 0:
        return np.zeros(0, np.int64)
    top, span = int(values.max()), int(values.max()) - int(values.min()) + 1
    n_ties = int(ties.max()) + 1
    if (int(groups.max()) + 1) * span * n_ties < 2**62:
        # One int64 sort key: group, then larger value, then lower tie.
        order = np.argsort((groups * span + (top - values)) * n_ties + ties)
    else:
        order = np.lexsort((ties, -values, groups))
    return np.sort(order[_rank_in_runs(groups[order]) < k])


def _best_pairs_per_group(
    groups: IntArray, values: IntArray, ties: IntArray, k: int
) -> tuple[IntArray, IntArray]:
    """(group, tie) of each group's ``k`` largest values (ties: lower ``ties``), in no
    particular order; ``(group, tie)`` pairs must be distinct.

    Like :func:`_best_per_group`, but when one int64 key holds (group, value, tie) the keys
    are sorted in place and decoded, which is several times faster than an argsort.
    """
    if groups.size == 0:
        return groups, ties
    top = int(values.max())
    span = top - int(values.min()) + 1
    n_ties = int(ties.max()) + 1
    if (int(groups.max()) + 1) * span * n_ties >= 2**62:
        keep = _best_per_group(groups, values, ties, k)
        return groups[keep], ties[keep]
    key = (groups * span + (top - values)) * n_ties + ties
    key.sort()
    sorted_groups, rest = np.divmod(key, span * n_ties)
    chosen = _rank_in_runs(sorted_groups) < k
    return sorted_groups[chosen], rest[chosen] % n_ties


def _rank_in_runs(sorted_groups: IntArray) -> IntArray:
    """Each element's position within its run of equal values (0 for the first)."""
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    return np.arange(sorted_groups.size) - np.repeat(
        starts, np.diff(np.r_[starts, sorted_groups.size])
    )


def _unique(codes: IntArray) -> IntArray:
    """Sorted distinct values (a plain sort: faster than ``np.unique`` on millions)."""
    codes = np.sort(codes)
    return codes[np.r_[True, codes[1:] != codes[:-1]]] if codes.size else codes


__all__: Sequence[str] = [
    "ScoreMatrix",
    "candidate_arcs",
    "in_chunks",
    "price_matrix",
    "top_k_columns",
    "top_k_rows",
]
