"""The contract between compatibility (scoring + hard rules) and the optimizer.

A compatibility source describes every (mentee, mentor) pair of a cycle in integer points:
``score × SCALE`` for an allowed pair, :data:`FORBIDDEN` for a pair a hard rule forbids.
Integers end to end keep the optimum exact and the run byte-for-byte repeatable.

Sources built from profiles are dense (every pair has a score) and are read in blocks of
mentee rows so that 20,000 × 5,000 never sits in memory at once. Sources that are sparse
by nature (a coordinator's ``--scores`` file lists only the allowed pairs) also expose
their arcs directly so that the optimizer need not prune or prove anything.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

SCALE = 10_000
"""Integer points per 1.0 of score: scores are exact to 0.0001 on the 0–100 scale."""

FORBIDDEN = -1
"""The value of a pair that a hard rule forbids."""

IntArray = npt.NDArray[np.int64]


@runtime_checkable
class CompatibilitySource(Protocol):
    """Every pair's integer score, mentees and mentors in a fixed order (sorted by id)."""

    @property
    def mentee_ids(self) -> tuple[str, ...]: ...

    @property
    def mentor_ids(self) -> tuple[str, ...]: ...

    @property
    def capacities(self) -> IntArray:
        """Per mentor, how many mentees they can take (same order as ``mentor_ids``)."""
        ...

    def block(self, start: int, stop: int) -> IntArray:
        """Scores of mentees ``start:stop`` against every mentor: shape (stop-start, n_mentors).

        Values are ``score × SCALE`` (0 … 100 × SCALE) or :data:`FORBIDDEN`. The optimizer
        may call this from two threads at once (for different rows): it must not mutate
        shared state.
        """
        ...


@runtime_checkable
class SparseSource(CompatibilitySource, Protocol):
    """A source whose allowed pairs are listed explicitly; every other pair is forbidden."""

    def arcs(self) -> tuple[IntArray, IntArray, IntArray]:
        """(mentee index, mentor index, score) of every allowed pair, sorted by both indices."""
        ...
