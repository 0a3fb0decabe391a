"""Batched forms used on large rosters agree with the one-pair and one-row definitions."""

import numpy as np
from hypothesis import HealthCheck, given, settings

from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.explain import (
    UnmatchedCause,
    top_reasons,
    top_reasons_for_pairs,
    unmatched_reason,
    unmatched_reasons,
)
from tandem.matcher.optimize import solve_source
from tandem.matcher.sources import DenseScores

from .strategies import REFERENCE_INSTANT, configs, rosters

ROSTERS_AND_CONFIGS = rosters(max_mentees=8, max_mentors=6, popular=True).flatmap(
    lambda r: configs(r[0], r[1]).map(lambda c: (r, c))
)


def _compat(data):
    (mentees, mentors), config = data
    return ProfileCompatibility(mentees, mentors, config, REFERENCE_INSTANT)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS_AND_CONFIGS)
def test_pair_components_equal_the_scorers_rows(data):
    compat = _compat(data)
    n_e, n_m = len(compat.mentee_ids), len(compat.mentor_ids)
    rows = np.repeat(np.arange(n_e), n_m)
    cols = np.tile(np.arange(n_m), n_e)
    values, known = compat.pair_components(rows, cols)
    for k, scorer in enumerate(compat.scorers):
        block_values, block_known = scorer.block(0, n_e)
        assert np.array_equal(known[:, k], block_known.reshape(-1))
        assert np.allclose(values[:, k], block_values.reshape(-1), atol=1e-6)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS_AND_CONFIGS)
def test_rows_in_any_order_equal_the_block(data):
    compat = _compat(data)
    n = len(compat.mentee_ids)
    order = np.arange(n)[::-1].copy()
    assert np.array_equal(compat.rows(order), compat.block(0, n)[order])
    assert compat.rows(np.zeros(0, dtype=np.int64)).shape == (0, len(compat.mentor_ids))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS_AND_CONFIGS)
def test_batched_reasons_equal_one_pair_at_a_time(data):
    compat = _compat(data)
    pairs = [(a, b) for a in compat.mentee_ids for b in compat.mentor_ids]
    assert top_reasons_for_pairs(compat, pairs) == [top_reasons(compat, a, b) for a, b in pairs]
    assert top_reasons_for_pairs(compat, pairs, k=1) == [
        top_reasons(compat, a, b, k=1) for a, b in pairs
    ]
    assert top_reasons_for_pairs(compat, []) == []


def _reference_unmatched(compat, assignment, mentee_id):
    """The definition, one mentor at a time."""
    row = compat.row(mentee_id)
    allowed = [j for j, p in enumerate(row) if p >= 0]
    if not allowed:
        return UnmatchedCause.RULE, 0
    load = {m: 0 for m in compat.mentor_ids}
    for mentor_id in assignment.values():
        load[mentor_id] += 1
    room = any(
        load[compat.mentor_ids[j]] < compat.mentor(compat.mentor_ids[j]).capacity for j in allowed
    )
    return (UnmatchedCause.NOT_CHOSEN if room else UnmatchedCause.FULL), len(allowed)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ROSTERS_AND_CONFIGS)
def test_batched_unmatched_reasons_equal_the_definition(data):
    compat = _compat(data)
    result = solve_source(compat)
    assignment = {p.mentee_id: p.mentor_id for p in result.pairs}
    everyone = list(compat.mentee_ids)
    batched = unmatched_reasons(compat, assignment, everyone)
    assert batched == [unmatched_reason(compat, assignment, m) for m in everyone]
    for why in batched:
        assert (why.cause, why.allowed) == _reference_unmatched(compat, assignment, why.mentee_id)


def test_pruned_rounds_drop_slack_arcs_and_keep_the_optimum(monkeypatch):
    """Arcs far from tight leave the network between rounds; the proof still holds."""
    import tandem.matcher.optimize as optimize

    monkeypatch.setattr(optimize, "KEEP_SLACK_POINTS", 0)
    rng = np.random.default_rng(7)
    popularity = rng.integers(0, 60, 30)
    matrix = np.minimum(rng.integers(0, 40, (120, 30)) + popularity, 100) * 10_000
    matrix[rng.random(matrix.shape) < 0.05] = -1
    source = DenseScores(
        matrix,
        [f"e{i:03d}" for i in range(120)],
        [f"m{j:02d}" for j in range(30)],
        rng.integers(1, 4, 30),
    )
    full = solve_source(source, prune_above=10**9)
    pruned = solve_source(
        source, prune_above=-1, candidates_per_mentee=2, candidates_per_mentor=1, add_per_mentee=1
    )
    assert pruned.proof is not None and len(pruned.proof.rounds) > 1
    assert (pruned.matched_count, pruned.total_points) == (full.matched_count, full.total_points)
