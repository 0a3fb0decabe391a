"""What a matching run returns: pairs, objective values, algorithm, proof and timings.

Everything is a frozen pydantic model with sorted contents, so that the same input gives a
byte-identical result. Timings are the one exception (wall-clock seconds): they live in
their own field, which :meth:`MatchResult.fingerprint` and :meth:`MatchResult.to_rows`
leave out.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.matcher.types import Objective


class Algorithm(StrEnum):
    """Which algorithm found the pairs."""

    MIN_COST_FLOW = "min_cost_flow"
    DEFERRED_ACCEPTANCE_MENTEES = "deferred_acceptance_mentees"
    """Mentees propose: the mentee-optimal stable matching."""
    DEFERRED_ACCEPTANCE_MENTORS = "deferred_acceptance_mentors"
    """Mentors propose: the mentor-optimal stable matching."""


class ProofKind(StrEnum):
    """Why the optimizer's answer is optimal."""

    COMPLETE_GRAPH = "complete_graph"
    """Every allowed pair was an arc of the solved network."""
    DUAL_CERTIFICATE = "dual_certificate"
    """Solved on candidate pairs; integer duals priced every other pair at ≤ 0."""


class UnmatchedCause(StrEnum):
    """Why a mentee has no mentor."""

    RULE = "rule"
    """No mentor passes the hard rules for this mentee."""
    FULL = "full"
    """Every mentor the rules allow is at capacity."""
    NOT_CHOSEN = "not_chosen"
    """An allowed mentor had room, but group caps or the objective left the mentee out."""
    OUTRANKED = "outranked"
    """Stable matching: every mentor who could take the mentee is full with mentees they
    rank higher (a mentor with room, or holding a mentee they rank lower, would form a
    blocking pair with the mentee)."""
    UNRANKED = "unranked"
    """Stable matching with given preferences: no mentor the rules allow is on the
    mentee's list with the mentee on theirs."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MatchedPair(_Frozen):
    """One mentee with one mentor, with the pair's compatibility."""

    mentee_id: str
    mentor_id: str
    score: float
    """The compatibility on the 0–100 scale (``points / scale``)."""
    points: int = Field(ge=0)
    """The exact integer compatibility the optimizer used."""
    locked: bool = False
    """True when the coordinator fixed this pair before the run."""


class ProofRound(_Frozen):
    """One solve on a candidate arc set, and what pricing the other pairs found."""

    arcs: int
    """Candidate arcs in this solve."""
    pairs_priced: int
    """Allowed pairs outside the candidate set whose reduced cost was computed."""
    positive_pairs: int
    """How many of those had a positive reduced cost (0 in the final round)."""
    max_reduced_cost: int | None
    """The largest reduced cost among priced pairs; None when nothing was priced."""
    arcs_added: int
    """Arcs added for the next round."""
    dual_rounds: int
    """Jacobi Bellman–Ford sweeps needed to recover the duals."""


class OptimalityProof(_Frozen):
    """The record of why the returned assignment is optimal.

    With ``kind = dual_certificate`` the arcs carry the lexicographic weight
    ``big_m + points``; ``big_m`` exceeds the largest total any smaller matching can
    have, so the weighted optimum is the cardinality-first, total-second optimum. The duals
    were checked in exact integers: feasible on every candidate arc, tight on every matched
    arc, zero on every unmatched mentee and non-full mentor, and ``dual_objective ==
    primal_objective``; the final round priced every pruned pair at ``≤ 0``, so by weak
    duality no pair outside the candidates can improve the result.
    """

    kind: ProofKind
    statement: str
    rounds: tuple[ProofRound, ...] = ()
    big_m: int | None = None
    primal_objective: int | None = None
    """Σ (big_m + points) over the pairs the optimizer chose (locked pairs excluded)."""
    dual_objective: int | None = None
    """Σ u (mentees) + Σ capacity × v (mentors); equal to the primal when proved."""


class PhaseTiming(_Frozen):
    """Wall-clock seconds one phase took (not part of the repeatable output)."""

    phase: str
    seconds: float


class MatchResult(_Frozen):
    """The outcome of one matching run, sorted by mentee id.

    ``total_points`` and ``min_points`` include locked pairs; ``blocking_pairs`` counts
    pairs that would both rather be together, judged by the preferences the run used (given
    ones, or ones derived from the scores), whichever algorithm produced the pairs.
    """

    pairs: tuple[MatchedPair, ...]
    unmatched_mentee_ids: tuple[str, ...]
    objective: Objective | None
    """None for a stable matching, which optimises no score."""
    algorithm: Algorithm
    matched_count: int
    total_points: int
    min_points: int | None
    scale: int
    """Integer points per 1.0 of score."""
    blocking_pairs: int
    proof: OptimalityProof | None = None
    timings: tuple[PhaseTiming, ...] = ()

    @property
    def total_score(self) -> float:
        """The total compatibility on the 0–100-per-pair scale."""
        return self.total_points / self.scale

    def fingerprint(self) -> str:
        """Canonical JSON of everything except timings: equal inputs give equal strings."""
        return json.dumps(self.model_dump(mode="json", exclude={"timings"}), sort_keys=True)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per mentee (matched first, in id order), ready for CSV or JSON output.

        Columns: ``mentee_id``, ``mentor_id`` (empty when unmatched), ``score``,
        ``points`` (empty when unmatched) and ``locked``.
        """
        rows: list[dict[str, Any]] = [
            {
                "mentee_id": pair.mentee_id,
                "mentor_id": pair.mentor_id,
                "score": pair.score,
                "points": pair.points,
                "locked": pair.locked,
            }
            for pair in self.pairs
        ]
        rows.extend(
            {"mentee_id": m, "mentor_id": "", "score": "", "points": "", "locked": False}
            for m in self.unmatched_mentee_ids
        )
        return rows
