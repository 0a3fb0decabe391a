"""The kept score matrix: threshold selections, parallel pricing and greatest duals, each
against a plain definition or the streaming code they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.matcher import solve
from tandem.matcher.matrix import (
    ScoreMatrix,
    _best_pairs_per_group,
    candidate_arcs,
    in_chunks,
    price_matrix,
    top_k_columns,
    top_k_rows,
)
from tandem.matcher.optimize import _Problem, solve_arcs
from tandem.matcher.proof import (
    MentorBest,
    Pricing,
    big_m_weight,
    check_duals,
    mentee_candidates,
    price_pruned,
    recover_duals,
    recover_greatest_duals,
    reuse_flow,
)
from tests.matcher.test_optimize import popular_mentors

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def matrices(draw: st.DrawFn, max_rows: int = 40, max_cols: int = 40) -> np.ndarray:
    """Integer scores with heavy ties (few levels) and forbidden pairs (−1)."""
    n_rows = draw(st.integers(1, max_rows))
    n_cols = draw(st.integers(1, max_cols))
    levels = draw(st.sampled_from([2, 5, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(0, levels, (n_rows, n_cols)) * 7
    values[rng.random(values.shape) < draw(st.sampled_from([0.0, 0.3, 0.9]))] = -1
    return values


def _best_by_row(values: np.ndarray, k: int, minimum: int) -> list[tuple[int, int]]:
    chosen = []
    for i, row in enumerate(values.tolist()):
        order = sorted((j for j, x in enumerate(row) if x >= minimum), key=lambda j: (-row[j], j))
        chosen += [(i, j) for j in order[:k]]
    return sorted(chosen)


@FAST
@given(values=matrices(), k=st.integers(1, 60), minimum=st.sampled_from([0, 1, 8]))
def test_top_k_rows_is_the_k_best_with_ties_to_the_lower_column(
    values: np.ndarray, k: int, minimum: int
) -> None:
    r, c = top_k_rows(values, k, minimum)
    assert list(zip(r.tolist(), c.tolist(), strict=True)) == _best_by_row(values, k, minimum)


@FAST
@given(values=matrices(), k=st.integers(1, 60), data=st.data())
def test_top_k_columns_is_the_k_best_with_ties_to_the_lower_row(
    values: np.ndarray, k: int, data: st.DataObject
) -> None:
    n_rows, n_cols = values.shape
    free = np.array(data.draw(st.lists(st.booleans(), min_size=n_rows, max_size=n_rows)))
    open_ = np.array(data.draw(st.lists(st.booleans(), min_size=n_cols, max_size=n_cols)))
    offset = np.array(
        data.draw(st.lists(st.integers(-20, 20), min_size=n_rows, max_size=n_rows)), np.int64
    )
    for shift in (None, offset):
        r, c = top_k_columns(values, free, open_, k, shift)
        relative = values - (0 if shift is None else shift[:, None])
        masked = np.where((values >= 0) & free[:, None] & open_[None, :], relative, -(10**9))
        expected = [(i, j) for j, i in _best_by_row(masked.T, k, -(10**9) + 1)]
        assert sorted(zip(r.tolist(), c.tolist(), strict=True)) == sorted(expected)


@FAST
@given(values=matrices(60, 30), per_mentee=st.integers(1, 20), per_mentor=st.integers(0, 40))
def test_candidate_arcs_equal_the_streaming_selection(
    values: np.ndarray, per_mentee: int, per_mentor: int
) -> None:
    n_e, n_m = values.shape
    rng = np.random.default_rng(n_e * n_m)
    free: np.ndarray = np.asarray(rng.random(n_e) < 0.9)
    caps: np.ndarray = np.asarray(rng.integers(0, 3, n_m), dtype=np.int64)
    rows, cols, pts = candidate_arcs(values.astype(np.int32), free, caps, per_mentee, per_mentor)
    masked = values.copy()
    masked[~free] = -1
    masked[:, caps <= 0] = -1
    codes, _ = mentee_candidates(masked, 0, per_mentee)
    best = MentorBest(n_e, n_m, per_mentor)
    best.add(masked, 0)
    mr, mc, _ = best.pairs()
    expected = np.unique(np.concatenate([codes, mr * n_m + mc]))
    assert np.array_equal(rows * n_m + cols, expected)
    assert np.array_equal(pts, values[rows, cols])


def test_chunks_come_back_in_order_with_two_threads() -> None:
    seen: list[int] = []
    got = in_chunks(lambda a, b: (a, b), 10, 3, seen.append, workers=2)
    assert got == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert seen == [3, 6, 9, 10]


@pytest.mark.parametrize("seed", range(6))
def test_pricing_the_kept_matrix_equals_the_streaming_pricing(seed: int) -> None:
    source = popular_mentors(150, 25, seed)
    values = source.block(0, 150)
    caps = np.array(source.capacities, dtype=np.int64)
    free = np.ones(150, dtype=bool)
    free[::17] = False
    rows, cols, pts = candidate_arcs(values.astype(np.int32), free, caps, 2, 1)
    # Duals of the optimum on the candidates, as the proof loop computes them.
    problem = _Problem(source, 150, 25, caps, free, [])
    chosen = solve_arcs(problem, rows, cols, pts)
    big = big_m_weight(int(pts.max()), int(min(free.sum(), caps.sum())), 150)
    weights = pts + big
    duals = recover_greatest_duals(rows, cols, weights, chosen, caps, 150)
    least = recover_duals(rows, cols, weights, chosen, caps, 150)
    # Both are optimal duals of the same flow; the greatest prices bound the least ones.
    assert check_duals(rows, cols, weights, chosen, caps, free, duals) == check_duals(
        rows, cols, weights, chosen, caps, free, least
    )
    assert (duals.v >= least.v).all() and (duals.u <= least.u).all()
    positive = 0
    for near in (0, 3, 10**6):
        fast = price_matrix(values.astype(np.int32), free, caps, rows, cols, duals, big, 3, 2, near)
        slow = price_pruned(
            problem.masked_block, 150, 7, rows, cols, duals, big, 3, add_per_mentor=2, near=near
        )
        assert (fast.pairs_priced, fast.positive_pairs, fast.max_reduced_cost) == (
            slow.pairs_priced,
            slow.positive_pairs,
            slow.max_reduced_cost,
        )
        added = _triples(fast)
        assert added == _triples(slow)
        # Only pairs within ``near`` of positive, with their own points; none when the
        # proof is complete.
        for i, j, p in added:
            assert p == values[i, j] and p + big - duals.u[i] - duals.v[j] > -near
        assert bool(added) == (fast.positive_pairs > 0)
        positive += fast.positive_pairs
    assert positive > 0


def _triples(p: Pricing) -> set[tuple[int, int, int]]:
    return set(zip(p.add_rows.tolist(), p.add_cols.tolist(), p.add_points.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(3))
def test_streaming_fallback_and_kept_matrix_prove_the_same_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = popular_mentors(160, 30, seed)
    full = solve(source, prune_above=10**9)
    kept = solve(source, prune_above=-1, candidates_per_mentee=3, candidates_per_mentor=4)
    monkeypatch.setattr("tandem.matcher.optimize.KEEP_SCORES_BYTES", 0)
    streamed = solve(source, prune_above=-1, candidates_per_mentee=3, candidates_per_mentor=4)
    for result in (kept, streamed):
        assert (result.matched_count, result.total_points) == (
            full.matched_count,
            full.total_points,
        )
        assert result.proof is not None
        assert result.proof.dual_objective == result.proof.primal_objective
    assert any(t.phase == "scoring" for t in kept.timings)
    assert not any(t.phase == "scoring" for t in streamed.timings)


def test_score_matrix_gives_back_the_source_scores() -> None:
    source = popular_mentors(50, 12, 1)
    kept = ScoreMatrix(source, np.int32)
    stages: list[int] = []
    kept.fill(lambda stage, done, total: stages.append(done))
    assert np.array_equal(kept.block(5, 40), source.block(5, 40))
    assert kept.block(0, 1).dtype == np.int64
    assert stages[-1] == 50
    assert kept.mentee_ids == source.mentee_ids and kept.mentor_ids == source.mentor_ids


@FAST
@given(values=matrices(max_rows=30, max_cols=12), seed=st.integers(0, 2**32 - 1))
def test_a_flow_is_reused_exactly_when_it_stays_optimal_with_the_added_arcs(
    values: np.ndarray, seed: int
) -> None:
    """Solve on each mentee's best pair, add every allowed pair: :func:`reuse_flow` gives
    duals (which pass every check) if and only if that flow is optimal on all pairs."""
    rng = np.random.default_rng(seed)
    n_e, n_m = values.shape
    caps: np.ndarray = np.asarray(rng.integers(0, 4, n_m), dtype=np.int64)
    values = np.where(caps[None, :] > 0, values, -1)  # no arcs to a mentor without places
    free = np.ones(n_e, dtype=bool)
    problem = _Problem(None, n_e, n_m, caps, free, [])  # type: ignore[arg-type]
    few_rows, few_cols, few_pts = candidate_arcs(values.astype(np.int32), free, caps, 1, 0)
    chosen_few = solve_arcs(problem, few_rows, few_cols, few_pts)
    rows, cols = np.nonzero(values >= 0)
    pts = values[rows, cols].astype(np.int64)
    if pts.size == 0:
        return
    big = big_m_weight(int(pts.max()), int(min(n_e, caps.sum())), max(n_e, n_m))
    flow = few_rows[chosen_few] * n_m + few_cols[chosen_few]
    chosen = np.isin(rows * n_m + cols, flow)
    weights = pts + big
    best = int(weights[solve_arcs(problem, rows, cols, pts)].sum())
    duals = reuse_flow(rows, cols, weights, chosen, caps, free, max_sweeps=n_m + 2)
    if duals is None:
        assert int(weights[chosen].sum()) < best
    else:
        assert check_duals(rows, cols, weights, chosen, caps, free, duals) == (best, best)


def test_reusing_a_flow_stops_at_the_sweep_limit() -> None:
    """A chain of improving swaps needs many sweeps; a low limit gives up (None) and a
    generous one still finds that the flow is not optimal."""
    values = np.array([[10, 0, -1], [-1, 10, 0], [0, -1, 10]], dtype=np.int64)
    caps = np.ones(3, dtype=np.int64)
    free = np.ones(3, dtype=bool)
    rows, cols = np.nonzero(values >= 0)
    pts = values[rows, cols]
    weights = pts + big_m_weight(10, 3, 3)
    worst = (rows - cols) % 3 == 2  # every mentee at its 0-point mentor
    assert reuse_flow(rows, cols, weights, worst, caps, free, max_sweeps=1) is None
    assert reuse_flow(rows, cols, weights, worst, caps, free, max_sweeps=50) is None
    best = rows == cols
    duals = reuse_flow(rows, cols, weights, best, caps, free, max_sweeps=50)
    assert duals is not None
    assert check_duals(rows, cols, weights, best, caps, free, duals)[0] == int(weights[best].sum())


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(0, 300),
    k=st.integers(1, 8),
    spread=st.sampled_from([3, 1000, 2**60]),
)
def test_best_pairs_per_group_are_each_groups_k_best_with_ties_to_the_lower_tie(
    seed: int, size: int, k: int, spread: int
) -> None:
    # spread 2**60 leaves no room for one int64 key: the argsort path answers instead.
    rng = np.random.default_rng(seed)
    codes = rng.choice(20 * 50, size=min(size, 1000), replace=False)
    groups, ties = codes // 50, codes % 50
    values = rng.integers(-spread, spread, groups.size)
    got_groups, got_ties = _best_pairs_per_group(groups, values, ties, k)
    expected = sorted(
        (g, t)
        for g in set(groups.tolist())
        for _, t in sorted(
            (-v, t) for gg, v, t in zip(groups, values, ties, strict=True) if gg == g
        )[:k]
    )
    assert sorted(zip(got_groups.tolist(), got_ties.tolist(), strict=True)) == expected
