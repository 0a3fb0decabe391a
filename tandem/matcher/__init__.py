"""The matching engine's façade: optimal and stable matching of mentees to mentors.

``solve`` finds the assignment with the most matched mentees and, among those, the largest
total compatibility (or the best worst pair first, with ``objective=maximin``), with a
recorded proof of optimality. ``solve_stable`` runs deferred acceptance. Both take any
:class:`~tandem.matcher.compat.CompatibilitySource` and return a
:class:`~tandem.matcher.result.MatchResult`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.matcher.api import (
        DenseScores,
        GroupCap,
        MatchedPair,
        MatchResult,
        Objective,
        OptimalityProof,
        Preferences,
        Proposer,
        SparseScores,
        count_blocking_pairs,
        solve,
        solve_stable,
    )

__all__ = [
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


def __getattr__(name: str) -> Any:
    # The solvers pull in OR-Tools and NumPy: load them on first use, so that importing a
    # light module such as ``tandem.matcher.types`` (every command does) stays fast.
    if name in __all__:
        return getattr(import_module("tandem.matcher.api"), name)
    raise AttributeError(f"module 'tandem.matcher' has no attribute {name!r}")
