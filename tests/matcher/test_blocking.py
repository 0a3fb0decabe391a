"""Counting blocking pairs from scores, chunk by chunk, equals the definition.

:func:`count_blocking_pairs_by_scores` only checks the cells whose points reach both
partners' current ones; these tests hold it to :func:`count_blocking_pairs` on the
preferences the scores imply, with heavy ties, forbidden pairs, full and empty mentors,
and chunks of a few rows (several chunks on two threads).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.matcher import stable
from tandem.matcher.compat import FORBIDDEN
from tandem.matcher.sources import DenseScores
from tandem.matcher.stable import (
    count_blocking_pairs,
    count_blocking_pairs_by_scores,
    preferences_from_scores,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scored_assignments(draw: st.DrawFn) -> tuple[DenseScores, dict[str, str]]:
    """Scores on a coarse scale (many ties), some forbidden, and any assignment of allowed
    pairs within capacity (greedy over a random order, so mentors fill up)."""
    n_e = draw(st.integers(1, 14))
    n_m = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    levels = draw(st.integers(1, 4))
    matrix = rng.integers(0, levels, (n_e, n_m)) * 25
    matrix[rng.random((n_e, n_m)) < draw(st.sampled_from([0.0, 0.2, 0.6]))] = FORBIDDEN
    capacities = rng.integers(0, 4, n_m)
    mentees = [f"e{i:02d}" for i in range(n_e)]
    mentors = [f"m{j}" for j in range(n_m)]
    room = capacities.copy()
    assignment: dict[str, str] = {}
    for i in rng.permutation(n_e):
        if rng.random() < 0.2:
            continue
        options = [j for j in rng.permutation(n_m) if matrix[i, j] != FORBIDDEN and room[j] > 0]
        if options:
            room[options[0]] -= 1
            assignment[mentees[i]] = mentors[options[0]]
    return DenseScores(matrix, mentees, mentors, capacities.tolist()), assignment


@FAST
@given(scored_assignments(), st.sampled_from([1, 7, 250_000]))
def test_blocking_pairs_by_scores_equal_the_definition(
    case: tuple[DenseScores, dict[str, str]], chunk_cells: int
) -> None:
    source, assignment = case
    expected = count_blocking_pairs(assignment, preferences_from_scores(source))
    points = {}
    for mentee, mentor in assignment.items():
        i, j = source.mentee_ids.index(mentee), source.mentor_ids.index(mentor)
        points[mentee] = int(source.block(i, i + 1)[0, j])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stable, "BLOCKING_CHUNK_CELLS", chunk_cells)
        assert count_blocking_pairs_by_scores(assignment, source) == expected
        assert count_blocking_pairs_by_scores(assignment, source, points) == expected


def test_a_matching_that_everyone_would_leave_counts_every_pair() -> None:
    # Both mentees prefer the other's mentor and both mentors the other's mentee.
    source = DenseScores(np.array([[10, 90], [90, 10]]), ["a", "b"], ["x", "y"], [1, 1])
    assert count_blocking_pairs_by_scores({"a": "x", "b": "y"}, source) == 2
    assert count_blocking_pairs_by_scores({"a": "y", "b": "x"}, source) == 0
    # An unmatched mentee blocks with every allowed mentor who has room or prefers them.
    assert count_blocking_pairs_by_scores({"a": "y"}, source) == 1
    assert count_blocking_pairs_by_scores({}, source) == 4
