"""The matching engine: optimal and stable matching of mentees to mentors.

``solve`` finds the assignment with the most matched mentees and, among those, the largest
total compatibility (or the best worst pair first, with ``objective=maximin``), with a
recorded proof of optimality. ``solve_stable`` runs deferred acceptance. Both take any
:class:`~tandem.matcher.compat.CompatibilitySource` and return a
:class:`~tandem.matcher.result.MatchResult`.

The names below are the matcher's public surface: callers outside the package import them
from here. Each is loaded on first use from the module that defines it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.matcher.api import (
        DenseScores,
        GroupCap,
        Preferences,
        Proposer,
        SparseScores,
        count_blocking_pairs,
        solve,
        solve_stable,
    )
    from tandem.matcher.compatibility import ProfileCompatibility
    from tandem.matcher.config import MatchConfig, config_to_toml, default_config, load_config
    from tandem.matcher.encoding import column_values
    from tandem.matcher.errors import MatcherError
    from tandem.matcher.explain import (
        MenteeExplanation,
        WhyNot,
        explain_mentee,
        stable_unmatched_reasons,
        top_reasons_for_pairs,
        unmatched_reasons,
        why_not,
    )
    from tandem.matcher.inputs import parse_preferences, parse_scores
    from tandem.matcher.result import (
        Algorithm,
        MatchedPair,
        MatchResult,
        OptimalityProof,
        UnmatchedCause,
    )
    from tandem.matcher.rules import validate_assignment
    from tandem.matcher.types import Method, Objective, Profile, Role

_MODULE_OF = {
    # Solving (OR-Tools and NumPy).
    "DenseScores": "api",
    "GroupCap": "api",
    "Preferences": "api",
    "Proposer": "api",
    "SparseScores": "api",
    "count_blocking_pairs": "api",
    "solve": "api",
    "solve_stable": "api",
    # Value objects, vocabularies and the configuration (light).
    "Method": "types",
    "Objective": "types",
    "Profile": "types",
    "Role": "types",
    "MatchConfig": "config",
    "config_to_toml": "config",
    "default_config": "config",
    "load_config": "config",
    "MatcherError": "errors",
    "Algorithm": "result",
    "MatchResult": "result",
    "MatchedPair": "result",
    "OptimalityProof": "result",
    "UnmatchedCause": "result",
    # Reading coordinators' files.
    "parse_preferences": "inputs",
    "parse_scores": "inputs",
    # Scoring profiles, the hard rules and explanations (SciPy).
    "ProfileCompatibility": "compatibility",
    "column_values": "encoding",
    "validate_assignment": "rules",
    "MenteeExplanation": "explain",
    "WhyNot": "explain",
    "explain_mentee": "explain",
    "stable_unmatched_reasons": "explain",
    "top_reasons_for_pairs": "explain",
    "unmatched_reasons": "explain",
    "why_not": "explain",
}
"""Where each public name is defined."""

__all__ = [
    "Algorithm",
    "DenseScores",
    "GroupCap",
    "MatchConfig",
    "MatchResult",
    "MatchedPair",
    "MatcherError",
    "MenteeExplanation",
    "Method",
    "Objective",
    "OptimalityProof",
    "Preferences",
    "Profile",
    "ProfileCompatibility",
    "Proposer",
    "Role",
    "SparseScores",
    "UnmatchedCause",
    "WhyNot",
    "column_values",
    "config_to_toml",
    "count_blocking_pairs",
    "default_config",
    "explain_mentee",
    "load_config",
    "parse_preferences",
    "parse_scores",
    "solve",
    "solve_stable",
    "stable_unmatched_reasons",
    "top_reasons_for_pairs",
    "unmatched_reasons",
    "validate_assignment",
    "why_not",
]


def __getattr__(name: str) -> Any:
    # The solvers pull in OR-Tools and NumPy, scoring and explaining SciPy: load them on
    # first use, so that importing a light module such as ``tandem.matcher.types`` (every
    # command does) stays fast.
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'tandem.matcher' has no attribute {name!r}")
    return getattr(import_module(f"tandem.matcher.{module}"), name)
