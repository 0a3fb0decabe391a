"""Scores do not depend on which profiles share their (equal) tuples.

The scorers prepare each distinct list object once; profiles loaded from storage share
equal tuples, profiles built elsewhere do not. Both must score alike, to the bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.types import Profile
from tests.matcher.strategies import REFERENCE_INSTANT, configs, rosters

TUPLE_FIELDS = [
    name for name, field in Profile.model_fields.items() if "tuple" in str(field.annotation)
]


def shared(profiles: list[Profile], pool: dict[Any, Any]) -> list[Profile]:
    """The same profiles, every equal tuple one object (as loading from storage gives)."""
    return [
        p.model_copy(
            update={
                name: pool.setdefault(getattr(p, name), getattr(p, name)) for name in TUPLE_FIELDS
            }
        )
        for p in profiles
    ]


def unshared(profiles: list[Profile]) -> list[Profile]:
    """The same profiles, no tuple shared with another profile."""
    return [
        p.model_copy(update={name: tuple(list(getattr(p, name))) for name in TUPLE_FIELDS})
        for p in profiles
    ]


def scores(compat: ProfileCompatibility) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_e, n_m = len(compat.mentee_ids), len(compat.mentor_ids)
    rows, cols = np.divmod(np.arange(n_e * n_m), n_m)
    values, known = compat.pair_components(rows, cols)
    return compat.block(0, n_e), values, known


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sharing_tuples_changes_no_score(data: st.DataObject) -> None:
    mentees, mentors = data.draw(rosters(max_mentees=10, max_mentors=6))
    config = data.draw(configs(mentees, mentors))
    pool: dict[Any, Any] = {}
    # Mentees share with mentors too, e.g. the same languages.
    a = ProfileCompatibility(
        shared(mentees, pool), shared(mentors, pool), config, REFERENCE_INSTANT
    )
    b = ProfileCompatibility(unshared(mentees), unshared(mentors), config, REFERENCE_INSTANT)
    for x, y in zip(scores(a), scores(b), strict=True):
        assert x.dtype == y.dtype
        assert np.array_equal(x, y)
