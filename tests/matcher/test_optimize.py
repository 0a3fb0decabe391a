"""The optimizer against brute force and a second solver, on uniform and correlated scores."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from tandem.matcher import (
    DenseScores,
    GroupCap,
    MatchResult,
    Objective,
    SparseScores,
    solve,
)
from tandem.matcher.errors import MatcherError
from tandem.matcher.proof import MentorBest, big_m_weight
from tandem.matcher.result import ProofKind
from tandem.matcher.stable import (
    count_blocking_pairs,
    count_blocking_pairs_by_scores,
    preferences_from_scores,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Instance:
    scores: np.ndarray  # points, −1 forbidden
    capacities: tuple[int, ...]

    @property
    def mentees(self) -> list[str]:
        return [f"e{i}" for i in range(self.scores.shape[0])]

    @property
    def mentors(self) -> list[str]:
        return [f"m{j}" for j in range(self.scores.shape[1])]

    def dense(self) -> DenseScores:
        return DenseScores(self.scores, self.mentees, self.mentors, self.capacities)


@st.composite
def instances(draw, max_mentees: int = 5, max_mentors: int = 3, max_capacity: int = 2) -> Instance:
    """Small rosters; scores uniform or 'popular mentors' correlated, with forbidden pairs."""
    n_e = draw(st.integers(0, max_mentees))
    n_m = draw(st.integers(1, max_mentors))
    caps = tuple(draw(st.lists(st.integers(0, max_capacity), min_size=n_m, max_size=n_m)))
    correlated = draw(st.booleans())
    forbid = draw(st.sampled_from([0.0, 0.2, 0.5]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if correlated:
        popularity = rng.integers(0, 7, n_m)
        scores = np.minimum(popularity[None, :] + rng.integers(0, 4, (n_e, n_m)), 10) * 10
    else:
        scores = rng.integers(0, 11, (n_e, n_m)) * 10  # coarse scale: many ties
    scores = scores.astype(np.int64) * 100
    scores[rng.random((n_e, n_m)) < forbid] = -1
    return Instance(scores, caps)


def all_assignments(inst: Instance, groups: list[int | None] | None = None, cap: int = 0):
    """Every feasible assignment as a tuple of mentor indices (None = unmatched)."""
    n_e, n_m = inst.scores.shape
    options = [[None, *[j for j in range(n_m) if inst.scores[i, j] >= 0]] for i in range(n_e)]
    for choice in itertools.product(*options):
        load = [0] * n_m
        per_group: dict[tuple[int, int], int] = {}
        ok = True
        for i, j in enumerate(choice):
            if j is None:
                continue
            load[j] += 1
            if load[j] > inst.capacities[j]:
                ok = False
                break
            group = None if groups is None else groups[i]
            if group is not None:
                key = (j, group)
                per_group[key] = per_group.get(key, 0) + 1
                if per_group[key] > cap:
                    ok = False
                    break
        if ok:
            yield choice


def values(inst: Instance, choice) -> tuple[int, int, int]:
    points = [int(inst.scores[i, j]) for i, j in enumerate(choice) if j is not None]
    return len(points), sum(points), min(points, default=0)


def brute_total(inst: Instance, **kw) -> tuple[int, int]:
    return max((v[0], v[1]) for v in (values(inst, c) for c in all_assignments(inst, **kw)))


def lsa_total(inst: Instance) -> tuple[int, int]:
    """Second solver: scipy's assignment on the capacity-expanded matrix, cardinality first."""
    n_e, n_m = inst.scores.shape
    columns = [j for j in range(n_m) for _ in range(inst.capacities[j])]
    if n_e == 0 or not columns:
        return 0, 0
    allowed = inst.scores[:, columns] >= 0
    big = int(inst.scores.max(initial=0)) * n_e + 1
    weights = np.where(allowed, big + inst.scores[:, columns], 0)
    if weights.shape[1] < n_e:
        weights = np.hstack([weights, np.zeros((n_e, n_e - weights.shape[1]), np.int64)])
    rows, cols = linear_sum_assignment(weights, maximize=True)
    picked = [(r, c) for r, c in zip(rows, cols, strict=True) if c < len(columns) and allowed[r, c]]
    return len(picked), int(sum(inst.scores[r, columns[c]] for r, c in picked))


def check_consistent(result: MatchResult, inst: Instance) -> None:
    """Pairs are allowed, within capacity, and the objective values add up."""
    mentor_at = {m: j for j, m in enumerate(inst.mentors)}
    load = [0] * len(inst.mentors)
    for pair in result.pairs:
        i, j = int(pair.mentee_id[1:]), mentor_at[pair.mentor_id]
        assert inst.scores[i, j] == pair.points >= 0
        load[j] += 1
    assert all(a <= b for a, b in zip(load, inst.capacities, strict=True))
    assert result.matched_count == len(result.pairs)
    assert result.total_points == sum(p.points for p in result.pairs)
    matched = {p.mentee_id for p in result.pairs}
    assert set(result.unmatched_mentee_ids) == set(inst.mentees) - matched


@FAST
@given(instances())
def test_total_equals_brute_force_and_second_solver(inst: Instance) -> None:
    result = solve(inst.dense())
    check_consistent(result, inst)
    assert (result.matched_count, result.total_points) == brute_total(inst) == lsa_total(inst)
    assert result.proof is not None and result.proof.kind is ProofKind.COMPLETE_GRAPH


@FAST
@given(instances())
def test_pruned_with_proof_equals_brute_force(inst: Instance) -> None:
    result = solve(
        inst.dense(),
        prune_above=-1,
        candidates_per_mentee=1,
        candidates_per_mentor=0,
        add_per_mentee=1,
    )
    check_consistent(result, inst)
    assert (result.matched_count, result.total_points) == brute_total(inst)
    proof = result.proof
    assert proof is not None and proof.kind is ProofKind.DUAL_CERTIFICATE
    assert proof.dual_objective == proof.primal_objective
    assert proof.rounds[-1].positive_pairs == 0


@FAST
@given(instances())
def test_maximin_equals_brute_force(inst: Instance) -> None:
    result = solve(inst.dense(), objective=Objective.MAXIMIN)
    check_consistent(result, inst)
    best = max((v[0], v[2], v[1]) for v in (values(inst, c) for c in all_assignments(inst)))
    got = (result.matched_count, result.min_points or 0, result.total_points)
    assert got == best


@FAST
@given(instances(max_mentees=6, max_mentors=2, max_capacity=3), st.data())
def test_group_caps_equal_brute_force(inst: Instance, data: st.DataObject) -> None:
    n_e = inst.scores.shape[0]
    groups = data.draw(st.lists(st.sampled_from([None, 0, 1]), min_size=n_e, max_size=n_e))
    cap = data.draw(st.integers(1, 2))
    group_cap = GroupCap(
        column="department",
        per_mentor=cap,
        mentee_groups={f"e{i}": f"d{g}" for i, g in enumerate(groups) if g is not None},
    )
    for objective in Objective:
        result = solve(inst.dense(), group_caps=group_cap, objective=objective)
        check_consistent(result, inst)
        seen: dict[tuple[str, str], int] = {}
        for pair in result.pairs:
            g = group_cap.mentee_groups.get(pair.mentee_id)
            if g is not None:
                seen[pair.mentor_id, g] = seen.get((pair.mentor_id, g), 0) + 1
        assert all(n <= cap for n in seen.values())
        assignments = list(all_assignments(inst, groups=groups, cap=cap))
        if objective is Objective.TOTAL:
            expected = max((values(inst, c)[0], values(inst, c)[1]) for c in assignments)
            assert (result.matched_count, result.total_points) == expected
        else:
            expected3 = max((v[0], v[2], v[1]) for v in (values(inst, c) for c in assignments))
            got = (result.matched_count, result.min_points or 0, result.total_points)
            assert got == expected3


@FAST
@given(instances(), st.data())
def test_locked_pairs_are_kept_and_the_rest_is_optimal(inst: Instance, data: st.DataObject) -> None:
    feasible = list(all_assignments(inst))
    choice = data.draw(st.sampled_from(feasible))
    chosen = [(i, j) for i, j in enumerate(choice) if j is not None]
    locked = data.draw(st.lists(st.sampled_from(chosen), unique=True) if chosen else st.just([]))
    locked_ids = [(f"e{i}", f"m{j}") for i, j in locked]
    for prune in (10**9, -1):
        result = solve(
            inst.dense(),
            locked_pairs=locked_ids,
            prune_above=prune,
            candidates_per_mentee=1,
            candidates_per_mentor=0,
        )
        check_consistent(result, inst)
        pairs = {(p.mentee_id, p.mentor_id): p.locked for p in result.pairs}
        assert all(pairs.get(pair) is True for pair in locked_ids)
        expected = max(
            (values(inst, c)[0], values(inst, c)[1])
            for c in feasible
            if all(c[i] == j for i, j in locked)
        )
        assert (result.matched_count, result.total_points) == expected


def popular_mentors(n_e: int, n_m: int, seed: int) -> DenseScores:
    rng = np.random.default_rng(seed)
    popularity = rng.integers(0, 60, n_m)
    scores = np.minimum(popularity[None, :] + rng.integers(0, 41, (n_e, n_m)), 100) * 10_000
    scores[rng.random((n_e, n_m)) < 0.1] = -1
    return DenseScores(
        scores,
        [f"e{i:03}" for i in range(n_e)],
        [f"m{j:03}" for j in range(n_m)],
        rng.integers(1, 4, n_m),
    )


@pytest.mark.parametrize("seed", range(4))
def test_pruning_forces_rounds_and_proves_the_unpruned_optimum(seed: int) -> None:
    source = popular_mentors(120, 30, seed)
    full = solve(source, prune_above=10**9)
    pruned = solve(
        source, prune_above=-1, candidates_per_mentee=2, candidates_per_mentor=1, add_per_mentee=2
    )
    assert (pruned.matched_count, pruned.total_points) == (full.matched_count, full.total_points)
    proof = pruned.proof
    assert proof is not None and proof.kind is ProofKind.DUAL_CERTIFICATE
    assert len(proof.rounds) > 1
    assert proof.rounds[0].positive_pairs > 0
    final = proof.rounds[-1]
    assert final.positive_pairs == 0 and final.max_reduced_cost is not None
    assert final.max_reduced_cost <= 0
    assert proof.dual_objective == proof.primal_objective
    most_pairs = min(120, int(source.capacities.sum()))
    assert proof.big_m == big_m_weight(int(source.block(0, 120).max()), most_pairs)
    assert "none with a positive reduced cost" in proof.statement


def test_default_candidates_need_no_extra_round() -> None:
    source = popular_mentors(300, 60, 7)
    result = solve(source, prune_above=-1, candidates_per_mentee=10, candidates_per_mentor=40)
    assert result.proof is not None and len(result.proof.rounds) == 1
    assert result.total_points == solve(source, prune_above=10**9).total_points


def test_cardinality_beats_total_when_forbidden_pairs_break_big_m_equals_max_plus_one() -> None:
    # Three mentees and three single-seat mentors. Pairing (a,x),(b,y),(c,z) = 3 pairs of
    # score 1; the best two-pair matching scores 100 + 100. With BIG = max + 1 = 101 the
    # two-pair matching would win (402 > 306); the true objective wants three pairs.
    scores = np.array([[1, 100, -1], [-1, 1, 100], [-1, -1, 1]])
    scores = np.where(scores >= 0, scores * 10_000, -1)
    source = DenseScores(scores, ["a", "b", "c"], ["x", "y", "z"], [1, 1, 1])
    for prune in (10**9, -1):
        result = solve(source, prune_above=prune, candidates_per_mentee=1, candidates_per_mentor=0)
        assert result.matched_count == 3
        assert result.total_points == 3 * 10_000


def test_same_input_gives_byte_identical_output() -> None:
    source = popular_mentors(80, 20, 3)
    runs = [
        solve(source, prune_above=-1, candidates_per_mentee=2, candidates_per_mentor=1)
        for _ in range(2)
    ]
    assert runs[0].fingerprint() == runs[1].fingerprint()
    assert runs[0].to_rows() == runs[1].to_rows()
    # Shuffled input order: the source sorts by id, so the result is the same.
    rng = np.random.default_rng(0)
    rows, cols = rng.permutation(80), rng.permutation(20)
    shuffled = DenseScores(
        source.block(0, 80)[rows][:, cols],
        [source.mentee_ids[r] for r in rows],
        [source.mentor_ids[c] for c in cols],
        source.capacities[cols],
    )
    again = solve(shuffled, prune_above=-1, candidates_per_mentee=2, candidates_per_mentor=1)
    assert again.fingerprint() == runs[0].fingerprint()


def test_sparse_and_dense_sources_agree() -> None:
    dense = popular_mentors(60, 12, 5)
    block = dense.block(0, 60)
    r, c = np.nonzero(block >= 0)
    sparse = SparseScores(dense.mentee_ids, dense.mentor_ids, dense.capacities, r, c, block[r, c])
    for objective in Objective:
        a, b = solve(dense, objective=objective), solve(sparse, objective=objective)
        assert a.fingerprint() == b.fingerprint()


def test_result_rows_and_progress() -> None:
    source = DenseScores(
        np.array([[500_000, -1], [-1, -1], [250_000, 750_000]]), ["b", "a", "c"], ["y", "x"], [1, 1]
    )
    seen: list[str] = []
    result = solve(source, progress=lambda stage, done, total: seen.append(stage))
    assert seen
    assert result.to_rows() == [
        {"mentee_id": "b", "mentor_id": "y", "score": 50.0, "points": 500_000, "locked": False},
        {"mentee_id": "c", "mentor_id": "x", "score": 75.0, "points": 750_000, "locked": False},
        {"mentee_id": "a", "mentor_id": "", "score": "", "points": "", "locked": False},
    ]
    assert result.unmatched_mentee_ids == ("a",)
    assert result.min_points == 500_000 and result.total_score == 125.0


def test_locked_pair_errors_name_every_problem() -> None:
    source = DenseScores(np.array([[10, -1], [20, 30]]), ["a", "b"], ["x", "y"], [1, 1])
    with pytest.raises(MatcherError) as error:
        solve(source, locked_pairs=[("a", "y"), ("zz", "x"), ("b", "x"), ("b", "y")])
    assert str(error.value) == (
        "Bad locked pairs:\n"
        "  locked pair (zz, x): unknown mentee id 'zz'\n"
        "  mentee 'b' is locked to more than one mentor\n"
        "  locked pair (a, y) is forbidden by a hard rule; remove the lock or the rule"
    )
    with pytest.raises(MatcherError) as error:
        solve(
            DenseScores(np.array([[10], [20]]), ["a", "b"], ["x"], [1]),
            locked_pairs=[("a", "x"), ("b", "x")],
        )
    assert str(error.value) == (
        "Bad locked pairs:\n"
        "  mentor 'x' has 2 locked mentees but capacity 1; raise the capacity or unlock a pair"
    )


@FAST
@given(instances(max_mentees=6, max_mentors=3), st.data())
def test_vectorised_blocking_pairs_equal_the_definition(
    inst: Instance, data: st.DataObject
) -> None:
    choice = data.draw(st.sampled_from(list(all_assignments(inst))))
    assignment = {f"e{i}": f"m{j}" for i, j in enumerate(choice) if j is not None}
    source = inst.dense()
    prefs = preferences_from_scores(source)
    assert count_blocking_pairs_by_scores(assignment, source) == count_blocking_pairs(
        assignment, prefs
    )


@pytest.mark.parametrize(("per_mentor", "step"), [(1, 3), (4, 7), (12, 5), (50, 64)])
def test_mentor_candidates_over_blocks_equal_a_full_sort(per_mentor: int, step: int) -> None:
    rng = np.random.default_rng(per_mentor)
    scores = rng.integers(0, 6, (64, 9)) * 10  # heavy ties: lower mentee index wins
    scores[rng.random(scores.shape) < 0.2] = -1
    best = MentorBest(64, 9, per_mentor)
    for start in range(0, 64, step):
        best.add(scores[start : start + step].astype(np.int64), start)
    rows, cols, points = best.pairs()
    got = sorted(zip(cols.tolist(), rows.tolist(), points.tolist(), strict=True))
    expected = sorted(
        (j, i, int(scores[i, j]))
        for j in range(9)
        for i in sorted(
            (i for i in range(64) if scores[i, j] >= 0), key=lambda i: (-scores[i, j], i)
        )[:per_mentor]
    )
    assert got == expected


def test_pruned_solve_over_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    source = popular_mentors(200, 25, 11)
    full = solve(source, prune_above=10**9)
    monkeypatch.setattr("tandem.matcher.optimize.BLOCK_CELLS", 25 * 9)
    pruned = solve(source, prune_above=-1, candidates_per_mentee=2, candidates_per_mentor=3)
    assert (pruned.matched_count, pruned.total_points) == (full.matched_count, full.total_points)
    assert pruned.proof is not None and pruned.proof.dual_objective == pruned.proof.primal_objective
