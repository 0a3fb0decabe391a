"""The matching engine's entry points (re-exported lazily by ``tandem.matcher``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from tandem.matcher.compat import CompatibilitySource
from tandem.matcher.errors import MatcherError
from tandem.matcher.optimize import (
    DEFAULT_ADD_PER_MENTEE,
    DEFAULT_CANDIDATES_PER_MENTEE,
    DEFAULT_CANDIDATES_PER_MENTOR,
    DEFAULT_PRUNE_ABOVE,
    GroupCap,
    Progress,
    build_result,
    prepare,
    solve_source,
)
from tandem.matcher.result import (
    Algorithm,
    MatchedPair,
    MatchResult,
    OptimalityProof,
    PhaseTiming,
)
from tandem.matcher.sources import DenseScores, SparseScores
from tandem.matcher.stable import (
    Preferences,
    Proposer,
    count_blocking_pairs,
    deferred_acceptance,
    preferences_from_scores,
)
from tandem.matcher.types import Objective

__all__ = [
    "Algorithm",
    "DenseScores",
    "GroupCap",
    "MatchResult",
    "MatchedPair",
    "Objective",
    "OptimalityProof",
    "Preferences",
    "Proposer",
    "SparseScores",
    "count_blocking_pairs",
    "solve",
    "solve_stable",
]


def solve(
    source: CompatibilitySource,
    *,
    objective: Objective = Objective.TOTAL,
    group_caps: GroupCap | None = None,
    locked_pairs: Sequence[tuple[str, str]] = (),
    candidates_per_mentee: int = DEFAULT_CANDIDATES_PER_MENTEE,
    candidates_per_mentor: int = DEFAULT_CANDIDATES_PER_MENTOR,
    prune_above: int = DEFAULT_PRUNE_ABOVE,
    add_per_mentee: int = DEFAULT_ADD_PER_MENTEE,
    preferences: Preferences | None = None,
    progress: Progress | None = None,
) -> MatchResult:
    """The optimal assignment of mentees to mentors, with its proof.

    Lexicographic objective: the most matched mentees first; then the largest total points
    (``Objective.TOTAL``) or the largest worst pair and then the largest total with it
    (``Objective.MAXIMIN``). ``locked_pairs`` ((mentee id, mentor id)) are always in the
    result and use up capacity. ``group_caps`` limits mentees sharing a column's value per
    mentor. Dense sources with more than ``prune_above`` pairs are solved on each mentee's
    best ``candidates_per_mentee`` ∪ each mentor's best ``candidates_per_mentor`` pairs
    and proved optimal by integer duals (objective ``total`` without group caps; otherwise
    the complete graph of allowed pairs is solved). ``preferences``, when given, are the
    ones blocking pairs are counted against (default: derived from the scores).

    Raises:
        MatcherError: a locked pair is unknown, forbidden, repeated or over capacity; a
            group cap names unknown mentees; or a parameter is out of range.
    """
    return solve_source(
        source,
        objective=Objective(objective),
        group_cap=group_caps,
        locked_pairs=locked_pairs,
        candidates_per_mentee=candidates_per_mentee,
        candidates_per_mentor=candidates_per_mentor,
        prune_above=prune_above,
        add_per_mentee=add_per_mentee,
        preferences=preferences,
        progress=progress,
    )


def solve_stable(
    source: CompatibilitySource,
    *,
    preferences: Preferences | None = None,
    proposer: Proposer = Proposer.MENTEES,
    progress: Progress | None = None,
) -> MatchResult:
    """The proposer-optimal stable matching (hospitals/residents deferred acceptance).

    ``preferences`` default to ones derived from ``source`` (higher score first, ties by
    id). Given preferences are restricted to pairs the source allows: hard rules win. The
    result's points come from ``source``; its ``blocking_pairs`` is 0 by construction and
    counted anyway.

    Raises:
        MatcherError: the preferences name ids or capacities that differ from the source.
    """
    started = time.perf_counter()
    problem = prepare(source)
    if preferences is None:
        prefs = preferences_from_scores(source)
    else:
        if set(preferences.mentee_ranking) != set(source.mentee_ids) or preferences.capacities != {
            m: int(c) for m, c in zip(source.mentor_ids, source.capacities, strict=True)
        }:
            raise MatcherError(
                "the preferences' mentees, mentors or capacities differ from the roster; "
                "parse the preferences file against the same roster."
            )
        prefs = preferences.restricted(_allowed_listed(source, preferences))
    if progress:
        progress("preferences", 1, 2)
    assignment = deferred_acceptance(prefs, proposer)
    if progress:
        progress("deferred acceptance", 2, 2)
    mentee_at = {m: i for i, m in enumerate(source.mentee_ids)}
    mentor_at = {m: j for j, m in enumerate(source.mentor_ids)}
    rows = np.array([mentee_at[m] for m in assignment], dtype=np.int64)
    cols = np.array([mentor_at[assignment[m]] for m in assignment], dtype=np.int64)
    pts = np.array(
        [int(source.block(i, i + 1)[0, j]) for i, j in zip(rows, cols, strict=True)],
        dtype=np.int64,
    )
    problem.timings.append(
        PhaseTiming(phase="deferred acceptance", seconds=round(time.perf_counter() - started, 6))
    )
    algorithm = (
        Algorithm.DEFERRED_ACCEPTANCE_MENTEES
        if proposer is Proposer.MENTEES
        else Algorithm.DEFERRED_ACCEPTANCE_MENTORS
    )
    return build_result(
        problem, rows, cols, pts, objective=None, algorithm=algorithm, proof=None, preferences=prefs
    )


def _allowed_listed(source: CompatibilitySource, prefs: Preferences) -> set[tuple[str, str]]:
    """The listed (mentee, mentor) pairs that the source does not forbid."""
    mentor_at = {m: j for j, m in enumerate(source.mentor_ids)}
    allowed: set[tuple[str, str]] = set()
    for i, mentee in enumerate(source.mentee_ids):
        listed = set(prefs.mentee_ranking.get(mentee, ()))
        if not listed:
            continue
        row = source.block(i, i + 1)[0]
        allowed.update((mentee, mentor) for mentor in listed if row[mentor_at[mentor]] >= 0)
    return allowed
