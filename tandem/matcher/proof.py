"""Candidate arcs, integer duals and pricing: proving a pruned matching optimal.

The lexicographic objective (most pairs, then the largest total) is one linear objective
with the weight ``W = big_m + points`` per pair, where ``big_m`` exceeds the largest total
that a matching with one pair fewer could have (:func:`big_m_weight`). Its LP is

    max Σ W_ij x_ij   s.t.  Σ_j x_ij ≤ 1 (mentee i),  Σ_i x_ij ≤ c_j (mentor j),  x ≥ 0

with dual ``min Σ u_i + Σ c_j v_j`` s.t. ``u_i + v_j ≥ W_ij``, ``u, v ≥ 0``. A matching
on candidate arcs plus duals that are feasible for *every* allowed pair and have the same
objective is optimal for the complete graph (weak duality), hence lexicographically
optimal. The duals come from a vectorised Jacobi Bellman–Ford after the solve; every
condition is checked in exact int64 arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tandem.matcher.compat import IntArray
from tandem.matcher.errors import MatcherError

_LIMIT = 2**62


def big_m_weight(max_points: int, max_pairs: int, n_keys: int = 1) -> int:
    """The per-pair bonus that makes one more pair worth more than any score difference.

    A matching with ``k + 1`` pairs has weight ≥ ``(k + 1) × big`` and one with ``k`` pairs
    at most ``k × (big + max_points)``; ``big = max_points × (max_pairs − 1) + 1`` makes the
    first larger for every ``k < max_pairs``. (``big = max_points + 1`` is only right when
    every pair is allowed.)

    Raises:
        MatcherError: the weights would not fit in int64 with room for the dual arithmetic.
    """
    big = max_points * max(max_pairs - 1, 0) + 1
    if (big + max_points) * max(max_pairs, n_keys, 1) >= _LIMIT:
        raise MatcherError(
            "scores are too fine for an exact proof at this roster size; "
            "round the scores to fewer decimals."
        )
    return big


def mentee_candidates(block: IntArray, start: int, per_mentee: int) -> tuple[IntArray, IntArray]:
    """Each row's ``per_mentee`` best allowed mentors (ties: lower index): (codes, points).

    A code is ``mentee × n_mentors + mentor``.
    """
    n_rows, n_m = block.shape
    if n_rows == 0 or n_m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if per_mentee >= n_m:
        r, c = np.nonzero(block >= 0)
        return (r + start) * n_m + c, block[r, c]
    keys = np.where(block >= 0, block * n_m + (n_m - 1 - np.arange(n_m)), -1)
    idx = np.argpartition(keys, n_m - per_mentee, axis=1)[:, n_m - per_mentee :]
    points = np.take_along_axis(block, idx, axis=1)
    keep = points >= 0
    r = np.nonzero(keep)[0]
    return (r + start) * n_m + idx[keep], points[keep]


class MentorBest:
    """Each mentor's ``per_mentor`` best pairs over all blocks (ties: lower mentee index).

    A key is ``points × n_mentees + (n_mentees − 1 − mentee)``: unique per mentor, so the
    best set is well defined. The best keys are kept as one row per mentor (−1 = none);
    each block contributes only the pairs above their mentor's current ``per_mentor``-th
    best key, so after the first blocks a pass costs a few comparisons per pair.
    """

    def __init__(self, n_mentees: int, n_mentors: int, per_mentor: int) -> None:
        self.n_mentees, self.n_mentors, self.per_mentor = n_mentees, n_mentors, per_mentor
        self.best = np.full((n_mentors, 0), -1, dtype=np.int64)
        self.threshold = np.full(n_mentors, -1, dtype=np.int64)
        self._pending_cols: list[IntArray] = []
        self._pending_keys: list[IntArray] = []
        self._pending = 0

    def add(self, block: IntArray, start: int) -> None:
        if self.per_mentor == 0 or block.size == 0:
            return
        n_rows = block.shape[0]
        n_e = self.n_mentees
        # Compare points first (cheap); keys only for the pairs that pass.
        floor_points = np.where(self.threshold >= 0, self.threshold // n_e, 0)
        passing = block >= floor_points[None, :]
        if np.count_nonzero(passing) * 4 > block.size:
            keys = block * n_e
            keys += (n_e - 1 - (start + np.arange(n_rows, dtype=np.int64)))[:, None]
            self._merge(np.where(passing & (keys > self.threshold[None, :]), keys, -1).T)
            return
        r, c = np.nonzero(passing)
        keys_rc = block[r, c] * n_e + (n_e - 1 - (start + r))
        above = keys_rc > self.threshold[c]
        self._pending_cols.append(c[above])
        self._pending_keys.append(keys_rc[above])
        self._pending += int(above.sum())
        if self._pending > self.n_mentors * self.per_mentor:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        c = np.concatenate(self._pending_cols)
        keys = np.concatenate(self._pending_keys)
        self._pending_cols, self._pending_keys, self._pending = [], [], 0
        order = np.argsort(c, kind="stable")
        c_sorted = c[order]
        counts = np.bincount(c_sorted, minlength=self.n_mentors)
        starts = np.cumsum(counts) - counts
        fresh = np.full((self.n_mentors, int(counts.max())), -1, dtype=np.int64)
        fresh[c_sorted, np.arange(c_sorted.size) - starts[c_sorted]] = keys[order]
        self._merge(fresh)

    def _merge(self, fresh: IntArray) -> None:
        merged = np.concatenate([self.best, fresh], axis=1)
        if merged.shape[1] > self.per_mentor:
            cut = merged.shape[1] - self.per_mentor
            idx = np.argpartition(merged, cut, axis=1)[:, cut:]
            merged = np.take_along_axis(merged, idx, axis=1)
        self.best = merged
        if merged.shape[1] == self.per_mentor:
            self.threshold = merged.min(axis=1)

    def pairs(self) -> tuple[IntArray, IntArray, IntArray]:
        """(mentee index, mentor index, points) of the best pairs."""
        self._flush()
        cols = np.repeat(np.arange(self.n_mentors, dtype=np.int64), self.best.shape[1])
        keys = self.best.reshape(-1)
        keep = keys >= 0
        cols, keys = cols[keep], keys[keep]
        return self.n_mentees - 1 - keys % self.n_mentees, cols, keys // self.n_mentees


@dataclass(frozen=True)
class Duals:
    """Mentee prices ``u``, mentor prices ``v`` and the sweeps that found them."""

    u: IntArray
    v: IntArray
    sweeps: int


def recover_duals(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    n_mentees: int,
) -> Duals:
    """Least mentor prices for an optimal flow by Jacobi Bellman–Ford.

    Start with ``v = 0``; repeat ``u_i = W(i, m(i)) − v_m(i)`` (0 when unmatched) and
    ``v_j = max(0, max over arcs (i, j) of W_ij − u_i)`` until ``v`` stops changing.

    Raises:
        MatcherError: no fixed point within ``mentors + 2`` sweeps, i.e. the flow was not
            optimal (a bug).
    """
    n_m = capacities.size
    order = np.argsort(cols, kind="stable")
    col_sorted, row_sorted, w_sorted = cols[order], rows[order], weights[order]
    if col_sorted.size:
        starts = np.flatnonzero(np.r_[True, col_sorted[1:] != col_sorted[:-1]])
    else:
        starts = np.zeros(0, np.int64)
    arc_mentors = col_sorted[starts]
    mentor_of = np.full(n_mentees, -1, dtype=np.int64)
    mentor_of[rows[chosen]] = cols[chosen]
    weight_of = np.zeros(n_mentees, dtype=np.int64)
    weight_of[rows[chosen]] = weights[chosen]
    matched = np.flatnonzero(mentor_of >= 0)
    v = np.zeros(n_m, dtype=np.int64)
    for sweep in range(1, n_m + 3):
        u = np.zeros(n_mentees, dtype=np.int64)
        u[matched] = weight_of[matched] - v[mentor_of[matched]]
        new_v = np.zeros(n_m, dtype=np.int64)
        if starts.size:
            best = np.maximum.reduceat(w_sorted - u[row_sorted], starts)
            new_v[arc_mentors] = np.maximum(best, 0)
        if np.array_equal(new_v, v):
            return Duals(u=u, v=v, sweeps=sweep)
        v = new_v
    raise MatcherError("the duals did not converge: the flow was not optimal (a matcher bug).")


def recover_greatest_duals(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    n_mentees: int,
) -> Duals:
    """Greatest mentor prices for an optimal flow (the least mentee prices), by Jacobi
    Bellman–Ford from above.

    A full mentor's price starts at the smallest weight of its matched arcs (so that no
    mentee price is negative), a mentor with room stays at 0, and every matched mentee
    ``i`` at ``m`` with a candidate arc to ``k`` bounds ``v_m ≤ v_k + W_im − W_ik``, until
    nothing changes. Unmatched mentees keep ``u = 0``; high mentor prices keep their
    pruned pairs from pricing positive, which the least prices of :func:`recover_duals`
    do whenever a mentor's candidates reach no unmatched mentee. Correctness does not
    depend on the choice: :func:`check_duals` checks whichever duals are used.

    Raises:
        MatcherError: no fixed point within ``mentors + 2`` sweeps (the flow was not
            optimal: a bug).
    """
    duals = _greatest_duals(rows, cols, weights, chosen, capacities, n_mentees, None)
    if duals is None:
        raise MatcherError("the duals did not converge: the flow was not optimal (a matcher bug).")
    return duals


def reuse_flow(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    free: np.ndarray,
    max_sweeps: int,
) -> Duals | None:
    """Duals proving that a flow found on fewer arcs is still optimal on these arcs, or
    None if that could not be shown.

    After arcs are added, the previous round's flow often stays optimal (the added pairs
    priced positive only against one choice of prices among several). Then the greatest
    prices of :func:`recover_greatest_duals` on the larger arc set are feasible, and no
    re-solve is needed. Prices only decrease from sweep to sweep, so the search stops as
    soon as one falls below a bound it must respect (an unmatched mentee's arc, or zero),
    or after ``max_sweeps`` sweeps; None means the caller solves again. Duals that are
    returned pass every condition of :func:`check_duals`.
    """
    duals = _greatest_duals(
        rows, cols, weights, chosen, capacities, free.size, max_sweeps, free=free
    )
    if duals is None or _failures(rows, cols, weights, chosen, capacities, free, duals):
        return None
    return duals


def _greatest_duals(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    n_mentees: int,
    max_sweeps: int | None,
    *,
    free: np.ndarray | None = None,
) -> Duals | None:
    """The fixed point of :func:`recover_greatest_duals`, or None if there is none within
    ``max_sweeps`` (default ``mentors + 2``) or, given ``free``, once a price is below
    the least value any feasible price could have."""
    n_m = capacities.size
    mentor_of = np.full(n_mentees, -1, dtype=np.int64)
    mentor_of[rows[chosen]] = cols[chosen]
    weight_of = np.zeros(n_mentees, dtype=np.int64)
    weight_of[rows[chosen]] = weights[chosen]
    load = np.bincount(cols[chosen], minlength=n_m)
    full = (load >= capacities) & (load > 0)
    top = np.iinfo(np.int64).max
    v = np.full(n_m, top, dtype=np.int64)
    if chosen.any():
        np.minimum.at(v, cols[chosen], weights[chosen])
    v[~full] = 0
    floor: IntArray | None = None
    if free is not None:
        # Prices only decrease: one below an unmatched mentee's arc (u = 0 there) can
        # never become feasible again.
        floor = np.zeros(n_m, dtype=np.int64)
        loose = free[rows] & (mentor_of[rows] < 0)
        np.maximum.at(floor, cols[loose], weights[loose])
        if (v < floor).any():
            return None
    # Arcs of matched mentees, grouped by the mentor each such mentee is matched to.
    own = mentor_of[rows]
    keep = own >= 0
    a_own, a_other = own[keep], cols[keep]
    a_gain = weight_of[rows[keep]] - weights[keep]
    order = np.argsort(a_own, kind="stable")
    a_own, a_other, a_gain = a_own[order], a_other[order], a_gain[order]
    if a_own.size:
        starts = np.flatnonzero(np.r_[True, a_own[1:] != a_own[:-1]])
    else:
        starts = np.zeros(0, np.int64)
    groups = a_own[starts]
    matched = np.flatnonzero(mentor_of >= 0)
    limit = n_m + 2 if max_sweeps is None else max_sweeps
    for sweep in range(1, limit + 1):
        new_v = v.copy()
        if starts.size:
            bound = np.minimum.reduceat(v[a_other] + a_gain, starts)
            new_v[groups] = np.minimum(v[groups], bound)
        new_v[~full] = 0
        if np.array_equal(new_v, v):
            u = np.zeros(n_mentees, dtype=np.int64)
            u[matched] = weight_of[matched] - v[mentor_of[matched]]
            return Duals(u=u, v=v, sweeps=sweep)
        if floor is not None and (new_v < floor).any():
            return None
        v = new_v
    return None


def check_duals(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    free: np.ndarray,
    duals: Duals,
) -> tuple[int, int]:
    """Check the optimality conditions on the candidate arcs exactly; (primal, dual).

    Raises:
        MatcherError: a condition fails (which would be a matcher bug).
    """
    failures = _failures(rows, cols, weights, chosen, capacities, free, duals)
    if failures:
        raise MatcherError("optimality check failed: " + "; ".join(failures) + " (a matcher bug).")
    dual = int(duals.u.sum()) + int((capacities * duals.v).sum())
    return int(weights[chosen].sum()), dual


def _failures(
    rows: IntArray,
    cols: IntArray,
    weights: IntArray,
    chosen: np.ndarray,
    capacities: IntArray,
    free: np.ndarray,
    duals: Duals,
) -> list[str]:
    """The optimality conditions that fail, in words (none: the flow is optimal)."""
    u, v = duals.u, duals.v
    slack = weights - u[rows] - v[cols]
    matched = np.zeros(u.size, dtype=bool)
    matched[rows[chosen]] = True
    load = np.bincount(cols[chosen], minlength=capacities.size)
    failures = []
    if (u < 0).any() or (v < 0).any():
        failures.append("a negative price")
    if slack.size and int(slack.max()) > 0:
        failures.append("a candidate arc with a positive reduced cost")
    if (slack[chosen] != 0).any():
        failures.append("a matched arc that is not tight")
    if (u[free & ~matched] != 0).any():
        failures.append("an unmatched mentee with a positive price")
    if (v[load < capacities] != 0).any():
        failures.append("a mentor with spare capacity and a positive price")
    primal = int(weights[chosen].sum())
    dual = int(u.sum()) + int((capacities * v).sum())
    if primal != dual:
        failures.append(f"dual objective {dual} ≠ primal objective {primal}")
    return failures


@dataclass(frozen=True)
class Pricing:
    """What pricing every pruned pair found, and the arcs to add for the next round."""

    pairs_priced: int
    positive_pairs: int
    max_reduced_cost: int | None
    add_rows: IntArray
    add_cols: IntArray
    add_points: IntArray


def price_pruned(
    read_block: Callable[[int, int], IntArray],
    n_mentees: int,
    block_rows: int,
    rows: IntArray,
    cols: IntArray,
    duals: Duals,
    big: int,
    add_per_mentee: int,
    progress: Callable[[str, int, int], None] | None = None,
    add_per_mentor: int = 0,
    near: int = 0,
) -> Pricing:
    """Reduced cost ``big + points − u_i − v_j`` of every allowed pair not in the candidates.

    ``rows``/``cols`` (the candidates) must be sorted by mentee. When some pair's reduced
    cost is positive, each mentee's ``add_per_mentee`` best pairs with a reduced cost above
    ``−near`` (ties: lower index) are returned for the next round, and so are each
    mentor's ``add_per_mentor`` best such pairs (ties: lower mentee index); ``near > 0``
    also adds pairs just short of positive, which the next prices often make positive. The mentor side matters when many mentees are
    unmatched: a mentor whose candidates reach no unmatched mentee keeps a low price, and
    adding a few pairs per mentee would take many rounds to reach every such mentor.
    """
    floor = np.iinfo(np.int64).min
    priced = positive = 0
    best: int | None = None
    add_r: list[IntArray] = []
    add_c: list[IntArray] = []
    add_p: list[IntArray] = []
    n_mentors = duals.v.size
    mentor_best = MentorBest(n_mentees, n_mentors, add_per_mentor)
    for start in range(0, n_mentees, block_rows):
        stop = min(start + block_rows, n_mentees)
        block = read_block(start, stop)
        n_m = block.shape[1]
        reduced = block + big
        reduced -= duals.u[start:stop, None]
        reduced -= duals.v[None, :]
        reduced[block < 0] = floor
        lo, hi = np.searchsorted(rows, [start, stop])
        reduced[rows[lo:hi] - start, cols[lo:hi]] = floor
        count = int((block >= 0).sum()) - int(hi - lo)
        priced += count
        if count:
            block_best = int(reduced.max())
            best = block_best if best is None else max(best, block_best)
        positive += int(np.count_nonzero(reduced > 0))
        hits = reduced > -near
        if hits.any():
            # Shifted by ``near`` so that every pair kept has a positive key (0: none).
            hit_rows = np.flatnonzero(hits.any(axis=1))
            sub = np.where(hits[hit_rows], reduced[hit_rows] + near, 0)
            keys = sub * n_m + (n_m - 1 - np.arange(n_m))
            take = min(add_per_mentee, n_m)
            idx = np.argpartition(keys, n_m - take, axis=1)[:, n_m - take :]
            ok = np.take_along_axis(sub, idx, axis=1) > 0
            r = hit_rows[np.nonzero(ok)[0]]
            c = idx[ok]
            add_r.append(r + start)
            add_c.append(c)
            add_p.append(block[r, c])
            if add_per_mentor:
                mentor_best.add(np.where(hits, reduced + near, -1), start)
        if progress:
            progress("pricing", stop, n_mentees)
    empty = np.zeros(0, np.int64)
    if not positive:
        add_r, add_c, add_p = [], [], []
    elif add_per_mentor:
        mentor_rows, mentor_cols, mentor_shifted = mentor_best.pairs()
        add_r.append(mentor_rows)
        add_c.append(mentor_cols)
        # points = reduced cost − big + u + v, exactly (no second read of the scores).
        mentor_reduced = mentor_shifted - near
        add_p.append(mentor_reduced - big + duals.u[mentor_rows] + duals.v[mentor_cols])
    return Pricing(
        pairs_priced=priced,
        positive_pairs=positive,
        max_reduced_cost=best,
        add_rows=np.concatenate(add_r) if add_r else empty,
        add_cols=np.concatenate(add_c) if add_c else empty,
        add_points=np.concatenate(add_p) if add_p else empty,
    )
