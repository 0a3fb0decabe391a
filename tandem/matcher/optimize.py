"""The optimal matching: a min-cost flow, cardinality first, with pruning and proof.

Network (one unit of flow = one pair)::

    source ─1─▶ mentee ─1, −points─▶ [ (mentor, group) ─k─▶ ] mentor ─capacity─▶ sink

OR-Tools' ``solve_max_flow_with_min_cost`` pushes the most flow and, among maximum flows,
the cheapest: exactly "most mentees matched, then the largest total". Arcs are added in
sorted order and the solver is single-threaded, so a run repeats byte for byte.

Large dense sources are solved on candidate arcs (each mentee's best ∪ each mentor's best)
and then *proved* optimal for the complete graph by integer duals (see :mod:`proof`);
pruned pairs with a positive reduced cost are added and the solve repeats until none is
left. When the whole score matrix fits in KEEP_SCORES_BYTES it is scored once into memory
(:class:`~matrix.ScoreMatrix`) and candidates and pricing read it back in parallel chunks;
otherwise blocks are scored again for each pass. The duals are the greatest mentor prices
of the solved flow (:func:`~proof.recover_greatest_duals`), which keep the pruned pairs of
unmatched mentees from pricing positive when the candidates already match the most. Maximin and group caps are solved on the complete graph of allowed pairs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from ortools.graph.python import max_flow, min_cost_flow
from pydantic import BaseModel, ConfigDict, Field

from tandem.matcher.compat import SCALE, CompatibilitySource, IntArray, SparseSource
from tandem.matcher.errors import MatcherError
from tandem.matcher.matrix import ScoreMatrix, candidate_arcs, price_matrix
from tandem.matcher.proof import (
    Duals,
    MentorBest,
    big_m_weight,
    check_duals,
    mentee_candidates,
    price_pruned,
    recover_greatest_duals,
    reuse_flow,
)
from tandem.matcher.result import (
    Algorithm,
    MatchedPair,
    MatchResult,
    OptimalityProof,
    PhaseTiming,
    ProofKind,
    ProofRound,
)
from tandem.matcher.sources import source_scale
from tandem.matcher.stable import Preferences, count_blocking_pairs, count_blocking_pairs_by_scores
from tandem.matcher.types import Objective

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as work advances, for a progress bar."""

BoolArray = npt.NDArray[np.bool_]

DEFAULT_CANDIDATES_PER_MENTEE = 50
DEFAULT_CANDIDATES_PER_MENTOR = 150
DEFAULT_PRUNE_ABOVE = 4_000_000
"""Dense sources with more pairs than this are solved on candidate arcs plus a proof."""
DEFAULT_ADD_PER_MENTEE = 5
"""Pairs with a positive reduced cost added per mentee before the next round."""
ADD_PER_MENTOR = 5
"""Pairs with a positive reduced cost added per mentor before the next round."""
KEEP_SLACK_POINTS = 20_000
"""After a round whose pricing found positive pairs, candidate arcs whose reduced cost is
below −KEEP_SLACK_POINTS (in points at :data:`SCALE`: 2 on the 0–100 scale) leave the
network; pricing checks them again like every pruned pair."""
REUSE_SWEEPS_FACTOR = 3
REUSE_SWEEPS_EXTRA = 20
"""Before re-solving with added arcs, the previous flow is re-checked with at most
``REUSE_SWEEPS_FACTOR × (the previous round's sweeps) + REUSE_SWEEPS_EXTRA`` sweeps."""
NEAR_POINTS = 500
"""Pricing also adds pairs whose reduced cost is within this many points (at
:data:`SCALE`: 0.05 on the 0–100 scale) of positive: re-solving moves the prices a little,
and such pairs would otherwise price positive one round later."""
KEEP_SCORES_BYTES = 1 << 30
"""Pruned solves keep the scores they read in memory up to this size (then read again)."""
BLOCK_CELLS = 2_000_000
"""Scores read per block (rows × mentors): about 16 MB of int64."""


class GroupCap(BaseModel):
    """At most ``per_mentor`` mentees with the same value of ``column`` per mentor.

    ``mentee_groups`` maps mentee id → that mentee's value; mentees not in it (no value)
    are not limited.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    per_mentor: int = Field(ge=1)
    mentee_groups: dict[str, str]


@dataclass
class _Problem:
    """The residual problem once locked pairs are fixed (indices into the source)."""

    source: CompatibilitySource
    n_mentees: int
    n_mentors: int
    capacities: IntArray
    """Residual capacity per mentor."""
    free: BoolArray
    """Mentees still to match (not locked)."""
    locked: list[tuple[int, int, int]]
    group_of: IntArray | None = None
    """Group index per mentee, −1 for no group; None without group caps."""
    group_room: IntArray | None = None
    """Residual room per (mentor, group), shape (n_mentors, n_groups)."""
    timings: list[PhaseTiming] = field(default_factory=list)

    def block_rows(self) -> int:
        return max(1, BLOCK_CELLS // max(self.n_mentors, 1))

    def masked_block(self, start: int, stop: int) -> IntArray:
        """Scores with locked mentees and full mentors forbidden."""
        block = self.source.block(start, stop)
        block[~self.free[start:stop]] = -1
        block[:, self.capacities <= 0] = -1
        return block


def _keep_scores(source: CompatibilitySource) -> CompatibilitySource:
    """A :class:`ScoreMatrix` of the source when its scores fit in KEEP_SCORES_BYTES."""
    cells = len(source.mentee_ids) * len(source.mentor_ids)
    dtype: type[np.signedinteger] = (
        np.int32 if 100 * source_scale(source) < np.iinfo(np.int32).max else np.int64
    )
    if cells * np.dtype(dtype).itemsize > KEEP_SCORES_BYTES:
        return source
    return ScoreMatrix(source, dtype)


def _timed(problem: _Problem, phase: str, started: float) -> float:
    now = time.perf_counter()
    problem.timings.append(PhaseTiming(phase=phase, seconds=round(now - started, 6)))
    return now


def _prepare(
    source: CompatibilitySource,
    locked_pairs: Sequence[tuple[str, str]],
    group_cap: GroupCap | None,
) -> _Problem:
    mentees, mentors = source.mentee_ids, source.mentor_ids
    n_e, n_m = len(mentees), len(mentors)
    caps = np.array(source.capacities, dtype=np.int64)
    mentee_at = {m: i for i, m in enumerate(mentees)}
    mentor_at = {m: j for j, m in enumerate(mentors)}
    problems: list[str] = []
    unique_pairs = sorted(set(locked_pairs))
    for mentee, mentor in unique_pairs:
        if mentee not in mentee_at:
            problems.append(f"locked pair ({mentee}, {mentor}): unknown mentee id {mentee!r}")
        if mentor not in mentor_at:
            problems.append(f"locked pair ({mentee}, {mentor}): unknown mentor id {mentor!r}")
    repeated = sorted(m for m, n in Counter(m for m, _ in unique_pairs).items() if n > 1)
    problems.extend(f"mentee {m!r} is locked to more than one mentor" for m in repeated)
    locked: list[tuple[int, int, int]] = []
    for mentee, mentor in unique_pairs:
        if mentee not in mentee_at or mentor not in mentor_at or mentee in repeated:
            continue
        i, j = mentee_at[mentee], mentor_at[mentor]
        points = int(source.block(i, i + 1)[0, j])
        if points < 0:
            problems.append(
                f"locked pair ({mentee}, {mentor}) is forbidden by a hard rule; "
                "remove the lock or the rule"
            )
        locked.append((i, j, points))
    load = Counter(j for _, j, _ in locked)
    for j, count in sorted(load.items()):
        if count > caps[j]:
            problems.append(
                f"mentor {mentors[j]!r} has {count} locked mentees but capacity {caps[j]}; "
                "raise the capacity or unlock a pair"
            )
    free = np.ones(n_e, dtype=bool)
    for i, j, _ in locked:
        free[i] = False
        caps[j] -= 1
    np.maximum(caps, 0, out=caps)
    problem = _Problem(source, n_e, n_m, caps, free, locked)
    if group_cap is not None:
        problems += _apply_group_cap(problem, group_cap, mentee_at)
    if problems:
        raise MatcherError("Bad locked pairs:\n  " + "\n  ".join(problems))
    return problem


def _apply_group_cap(
    problem: _Problem, group_cap: GroupCap, mentee_at: dict[str, int]
) -> list[str]:
    """Set each mentor's room per group, less the locked pairs; return the locks that
    break the cap. Raises MatcherError for group values of unknown mentees."""
    mentees, mentors = problem.source.mentee_ids, problem.source.mentor_ids
    unknown = sorted(set(group_cap.mentee_groups) - set(mentee_at))
    if unknown:
        raise MatcherError(
            f"the {group_cap.column} group cap names unknown mentee ids: "
            f"{', '.join(unknown[:10])}; give values only for mentees of this cycle."
        )
    values = sorted(set(group_cap.mentee_groups.values()))
    index = {v: g for g, v in enumerate(values)}
    groups = group_cap.mentee_groups
    group_of = np.array([index[groups[m]] if m in groups else -1 for m in mentees], dtype=np.int64)
    room = np.full((len(mentors), max(len(values), 1)), group_cap.per_mentor, dtype=np.int64)
    problems: list[str] = []
    for i, j, _ in problem.locked:
        if group_of[i] >= 0:
            room[j, group_of[i]] -= 1
            if room[j, group_of[i]] < 0:
                problems.append(
                    f"mentor {mentors[j]!r} has more than {group_cap.per_mentor} locked "
                    f"mentees with {group_cap.column} = {values[group_of[i]]!r}"
                )
    problem.group_of, problem.group_room = group_of, np.maximum(room, 0)
    return problems


def _all_arcs(problem: _Problem, progress: Progress | None) -> tuple[IntArray, IntArray, IntArray]:
    """Every allowed pair of the residual problem, sorted by (mentee, mentor)."""
    source = problem.source
    if isinstance(source, SparseSource):
        rows, cols, pts = source.arcs()
        keep = problem.free[rows] & (problem.capacities[cols] > 0) & (pts >= 0)
        return rows[keep], cols[keep], pts[keep]
    parts_r, parts_c, parts_p = [], [], []
    step = problem.block_rows()
    for start in range(0, problem.n_mentees, step):
        stop = min(start + step, problem.n_mentees)
        block = problem.masked_block(start, stop)
        r, c = np.nonzero(block >= 0)
        parts_r.append(r.astype(np.int64) + start)
        parts_c.append(c.astype(np.int64))
        parts_p.append(block[r, c])
        if progress:
            progress("reading scores", stop, problem.n_mentees)
    if not parts_r:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_p)


def _network(
    problem: _Problem, rows: IntArray, cols: IntArray
) -> tuple[IntArray, IntArray, IntArray, int, int]:
    """Tails, heads, capacities of the network; the pair arcs come first.

    Returns (tails, heads, capacities, source node, sink node).
    """
    n_e, n_m = problem.n_mentees, problem.n_mentors
    source_node, sink = 0, 1 + n_e + n_m
    mentor_node = 1 + n_e + cols
    tails = [1 + rows]
    heads_pairs = mentor_node
    extra_t: list[IntArray] = []
    extra_h: list[IntArray] = []
    extra_c: list[IntArray] = []
    if problem.group_of is not None and problem.group_room is not None:
        groups = problem.group_of[rows]
        grouped = groups >= 0
        n_g = problem.group_room.shape[1]
        codes = cols[grouped] * n_g + groups[grouped]
        unique_codes, inverse = np.unique(codes, return_inverse=True)
        group_nodes = sink + 1 + np.arange(unique_codes.size, dtype=np.int64)
        heads_pairs = mentor_node.copy()
        heads_pairs[grouped] = group_nodes[inverse]
        extra_t.append(group_nodes)
        extra_h.append(1 + n_e + unique_codes // n_g)
        extra_c.append(problem.group_room[unique_codes // n_g, unique_codes % n_g])
    free_mentees = np.flatnonzero(problem.free)
    open_mentors = np.flatnonzero(problem.capacities > 0)
    tails_all = np.concatenate(
        [*tails, *extra_t, np.zeros(free_mentees.size, np.int64), 1 + n_e + open_mentors]
    )
    heads_all = np.concatenate(
        [heads_pairs, *extra_h, 1 + free_mentees, np.full(open_mentors.size, sink)]
    )
    caps_all = np.concatenate(
        [
            np.ones(rows.size, np.int64),
            *extra_c,
            np.ones(free_mentees.size, np.int64),
            problem.capacities[open_mentors],
        ]
    )
    return tails_all, heads_all, caps_all, source_node, sink


def solve_arcs(problem: _Problem, rows: IntArray, cols: IntArray, pts: IntArray) -> BoolArray:
    """The most pairs, then the largest total, on the given arcs; a mask of chosen arcs.

    Raises:
        MatcherError: the solver did not report an optimal flow (a bug or absurd scores).
    """
    tails, heads, caps, source_node, sink = _network(problem, rows, cols)
    costs = np.zeros(tails.size, dtype=np.int64)
    costs[: rows.size] = -pts
    solver = min_cost_flow.SimpleMinCostFlow()
    arcs = solver.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps, costs
    )
    supply = int(problem.free.sum())
    solver.set_nodes_supplies(
        np.array([source_node, sink], dtype=np.int32), np.array([supply, -supply], dtype=np.int64)
    )
    status = solver.solve_max_flow_with_min_cost()
    if status != solver.OPTIMAL:
        raise MatcherError(
            f"the min-cost-flow solver stopped with status {status.name}; "
            "this is a bug in the matcher unless the scores are out of range."
        )
    flows = solver.flows(arcs[: rows.size])
    return np.asarray(flows) > 0


def _max_pairs(problem: _Problem, rows: IntArray, cols: IntArray) -> int:
    """How many mentees can be matched at all using only these arcs."""
    if rows.size == 0:
        return 0
    tails, heads, caps, source_node, sink = _network(problem, rows, cols)
    solver = max_flow.SimpleMaxFlow()
    solver.add_arcs_with_capacity(tails.astype(np.int32), heads.astype(np.int32), caps)
    status = solver.solve(source_node, sink)
    if status != solver.OPTIMAL:
        raise MatcherError(f"the max-flow solver stopped with status {status.name}.")
    return int(solver.optimal_flow())


def _maximin_threshold(
    problem: _Problem, rows: IntArray, cols: IntArray, pts: IntArray, progress: Progress | None
) -> int:
    """The largest t such that arcs with points ≥ t still match as many mentees as all arcs."""
    if pts.size == 0:
        return 0
    target = _max_pairs(problem, rows, cols)
    levels = np.unique(pts)
    lo, hi = 0, levels.size - 1  # levels[lo] always reaches the target
    steps, total = 0, int(np.ceil(np.log2(levels.size))) + 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        keep = pts >= levels[mid]
        if _max_pairs(problem, rows[keep], cols[keep]) == target:
            lo = mid
        else:
            hi = mid - 1
        steps += 1
        if progress:
            progress("maximin search", steps, total)
    return int(levels[lo])


def _pruned_solve(
    problem: _Problem,
    per_mentee: int,
    per_mentor: int,
    add_per_mentee: int,
    progress: Progress | None,
) -> tuple[IntArray, IntArray, IntArray, OptimalityProof]:
    started = time.perf_counter()
    kept = problem.source if isinstance(problem.source, ScoreMatrix) else None
    if kept is not None:
        kept.fill(progress)
        started = _timed(problem, "scoring", started)
        rows, cols, pts = candidate_arcs(
            kept.matrix, problem.free, problem.capacities, per_mentee, per_mentor
        )
        # Every free mentee's best allowed pair is a candidate: this is the largest score.
        max_points = int(pts.max()) if pts.size else 0
    else:
        rows, cols, pts, max_points = _candidates(problem, per_mentee, per_mentor, progress)
    started = _timed(problem, "candidates", started)
    upper = int(min(problem.free.sum(), problem.capacities.sum()))
    big = big_m_weight(max_points, upper, max(problem.n_mentees, problem.n_mentors))
    rounds: list[ProofRound] = []
    reused: tuple[BoolArray, Duals] | None = None
    solves = 0
    while True:
        weights = pts + big
        if reused is None:
            chosen = solve_arcs(problem, rows, cols, pts)
            solves += 1
            started = _timed(problem, f"solve round {len(rounds) + 1}", started)
            duals = recover_greatest_duals(
                rows, cols, weights, chosen, problem.capacities, problem.n_mentees
            )
        else:
            chosen, duals = reused
        primal, dual = check_duals(
            rows, cols, weights, chosen, problem.capacities, problem.free, duals
        )
        started = _timed(problem, f"duals round {len(rounds) + 1}", started)
        pricing = (
            price_matrix(
                kept.matrix,
                problem.free,
                problem.capacities,
                rows,
                cols,
                duals,
                big,
                add_per_mentee,
                ADD_PER_MENTOR,
                NEAR_POINTS * source_scale(problem.source) // SCALE,
            )
            if kept is not None
            else price_pruned(
                problem.masked_block,
                problem.n_mentees,
                problem.block_rows(),
                rows,
                cols,
                duals,
                big,
                add_per_mentee,
                progress,
                add_per_mentor=ADD_PER_MENTOR,
                near=NEAR_POINTS * source_scale(problem.source) // SCALE,
            )
        )
        started = _timed(problem, f"pricing round {len(rounds) + 1}", started)
        rounds.append(
            ProofRound(
                arcs=int(rows.size),
                pairs_priced=pricing.pairs_priced,
                positive_pairs=pricing.positive_pairs,
                max_reduced_cost=pricing.max_reduced_cost,
                arcs_added=int(pricing.add_rows.size),
                dual_rounds=duals.sweeps,
            )
        )
        if progress:
            progress("proof rounds", len(rounds), len(rounds) + (pricing.positive_pairs > 0))
        if pricing.positive_pairs == 0:
            break
        # The next round keeps only the arcs that are (nearly) tight under these duals:
        # the others are pruned pairs like any other and are priced again, so the proof
        # stays exact, but the re-solve is on a far smaller network.
        keep = (
            weights - duals.u[rows] - duals.v[cols]
            >= -KEEP_SLACK_POINTS * source_scale(problem.source) // SCALE
        )
        flow = rows[chosen] * problem.n_mentors + cols[chosen]
        rows, cols, pts = _merge_arcs(
            problem,
            rows[keep],
            cols[keep],
            pts[keep],
            pricing.add_rows,
            pricing.add_cols,
            pricing.add_points,
        )
        # The flow often stays optimal with the added arcs: then prices that prove it come
        # from a few sweeps, and the next round needs no solve.
        chosen = np.isin(rows * problem.n_mentors + cols, flow, assume_unique=True)
        found = reuse_flow(
            rows,
            cols,
            pts + big,
            chosen,
            problem.capacities,
            problem.free,
            max_sweeps=REUSE_SWEEPS_FACTOR * duals.sweeps + REUSE_SWEEPS_EXTRA,
        )
        reused = None if found is None else (chosen, found)
        started = _timed(problem, f"reuse round {len(rounds) + 1}", started)
    proof = OptimalityProof(
        kind=ProofKind.DUAL_CERTIFICATE,
        statement=(
            f"optimal: {len(rounds)} round(s), {solves} solve(s); the final round used "
            f"{rows.size} candidate arcs; "
            f"integer duals checked exactly (dual objective {dual} == primal objective "
            f"{primal}); {rounds[-1].pairs_priced} pruned pairs priced, none with a positive "
            "reduced cost"
        ),
        rounds=tuple(rounds),
        big_m=big,
        primal_objective=primal,
        dual_objective=dual,
    )
    return rows[chosen], cols[chosen], pts[chosen], proof


def _merge_arcs(
    problem: _Problem,
    rows: IntArray,
    cols: IntArray,
    pts: IntArray,
    add_rows: IntArray,
    add_cols: IntArray,
    add_pts: IntArray,
) -> tuple[IntArray, IntArray, IntArray]:
    """The union of two arc lists, sorted by (mentee, mentor), each pair once."""
    n_m = problem.n_mentors
    codes = np.concatenate([rows, add_rows]) * n_m + np.concatenate([cols, add_cols])
    all_pts = np.concatenate([pts, add_pts])
    codes, first = np.unique(codes, return_index=True)
    return codes // n_m, codes % n_m, all_pts[first]


def _candidates(
    problem: _Problem, per_mentee: int, per_mentor: int, progress: Progress | None
) -> tuple[IntArray, IntArray, IntArray, int]:
    """Each mentee's best ``per_mentee`` ∪ each mentor's best ``per_mentor`` allowed pairs.

    Ties go to the lower index. Also returns the largest score of any allowed pair.
    """
    n_e, n_m = problem.n_mentees, problem.n_mentors
    step = problem.block_rows()
    parts: list[tuple[IntArray, IntArray]] = []
    mentor_best = MentorBest(n_e, n_m, per_mentor)
    max_points = 0
    for start in range(0, n_e, step):
        stop = min(start + step, n_e)
        block = problem.masked_block(start, stop)
        if block.size:
            max_points = max(max_points, int(block.max()))
        parts.append(mentee_candidates(block, start, per_mentee))
        mentor_best.add(block, start)
        if progress:
            progress("candidates", stop, n_e)
    rows_m, cols_m, pts_m = mentor_best.pairs()
    codes_m = rows_m * n_m + cols_m
    codes_e = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, np.int64)
    pts_e = np.concatenate([p for _, p in parts]) if parts else np.zeros(0, np.int64)
    codes, first = np.unique(np.concatenate([codes_e, codes_m]), return_index=True)
    pts = np.concatenate([pts_e, pts_m])[first]
    return codes // n_m, codes % n_m, pts, max_points


def solve_source(
    source: CompatibilitySource,
    *,
    objective: Objective = Objective.TOTAL,
    group_cap: GroupCap | None = None,
    locked_pairs: Sequence[tuple[str, str]] = (),
    candidates_per_mentee: int = DEFAULT_CANDIDATES_PER_MENTEE,
    candidates_per_mentor: int = DEFAULT_CANDIDATES_PER_MENTOR,
    prune_above: int = DEFAULT_PRUNE_ABOVE,
    add_per_mentee: int = DEFAULT_ADD_PER_MENTEE,
    preferences: Preferences | None = None,
    progress: Progress | None = None,
) -> MatchResult:
    """The optimal assignment for ``source`` (see :func:`tandem.matcher.solve`)."""
    if candidates_per_mentee < 1 or candidates_per_mentor < 0 or add_per_mentee < 1:
        raise MatcherError(
            "candidates_per_mentee and add_per_mentee must be at least 1 and "
            "candidates_per_mentor at least 0."
        )
    started = time.perf_counter()
    problem = _prepare(source, locked_pairs, group_cap)
    started = _timed(problem, "prepare", started)
    prune = (
        objective is Objective.TOTAL
        and group_cap is None
        and not isinstance(source, SparseSource)
        and problem.n_mentees * problem.n_mentors > prune_above
    )
    if prune:
        problem.source = _keep_scores(source)
        rows, cols, pts, proof = _pruned_solve(
            problem, candidates_per_mentee, candidates_per_mentor, add_per_mentee, progress
        )
    else:
        rows, cols, pts = _all_arcs(problem, progress)
        started = _timed(problem, "arcs", started)
        statement = "optimal: solved on the complete graph of allowed pairs"
        if objective is Objective.MAXIMIN:
            threshold = _maximin_threshold(problem, rows, cols, pts, progress)
            keep = pts >= threshold
            rows, cols, pts = rows[keep], cols[keep], pts[keep]
            started = _timed(problem, "maximin search", started)
            statement += (
                f"; the worst pair's points {threshold} are the largest that still match "
                "the most mentees"
            )
        chosen = solve_arcs(problem, rows, cols, pts)
        _timed(problem, "solve", started)
        rows, cols, pts = rows[chosen], cols[chosen], pts[chosen]
        proof = OptimalityProof(kind=ProofKind.COMPLETE_GRAPH, statement=statement)
    if progress:
        progress("solve", 1, 1)
    return build_result(
        problem,
        rows,
        cols,
        pts,
        objective=objective,
        algorithm=Algorithm.MIN_COST_FLOW,
        proof=proof,
        preferences=preferences,
    )


def build_result(
    problem: _Problem,
    rows: IntArray,
    cols: IntArray,
    pts: IntArray,
    *,
    objective: Objective | None,
    algorithm: Algorithm,
    proof: OptimalityProof | None,
    preferences: Preferences | None,
) -> MatchResult:
    """Assemble the sorted :class:`MatchResult`, counting blocking pairs."""
    started = time.perf_counter()
    source = problem.source
    mentees, mentors = source.mentee_ids, source.mentor_ids
    scale = source_scale(source)
    triples = sorted(
        [(int(i), int(j), int(p), False) for i, j, p in zip(rows, cols, pts, strict=True)]
        + [(i, j, p, True) for i, j, p in problem.locked]
    )
    pairs = tuple(
        MatchedPair(
            mentee_id=mentees[i],
            mentor_id=mentors[j],
            score=p / scale,
            points=p,
            locked=locked,
        )
        for i, j, p, locked in triples
    )
    matched = {i for i, _, _, _ in triples}
    assignment = {mentees[i]: mentors[j] for i, j, _, _ in triples}
    if preferences is not None:
        blocking = count_blocking_pairs(assignment, preferences)
    else:
        blocking = count_blocking_pairs_by_scores(
            assignment, source, {mentees[i]: p for i, _, p, _ in triples}
        )
    _timed(problem, "result", started)
    return MatchResult(
        pairs=pairs,
        unmatched_mentee_ids=tuple(m for i, m in enumerate(mentees) if i not in matched),
        objective=objective,
        algorithm=algorithm,
        matched_count=len(pairs),
        total_points=sum(p.points for p in pairs),
        min_points=min((p.points for p in pairs), default=None),
        scale=scale,
        blocking_pairs=blocking,
        proof=proof,
        timings=tuple(problem.timings),
    )


def prepare(
    source: CompatibilitySource,
    locked_pairs: Sequence[tuple[str, str]] = (),
    group_cap: GroupCap | None = None,
) -> _Problem:
    """Validate locked pairs and group caps; the residual problem (for :mod:`stable`)."""
    return _prepare(source, locked_pairs, group_cap)


__all__ = [
    "DEFAULT_CANDIDATES_PER_MENTEE",
    "DEFAULT_CANDIDATES_PER_MENTOR",
    "DEFAULT_PRUNE_ABOVE",
    "GroupCap",
    "Progress",
    "solve_source",
]
