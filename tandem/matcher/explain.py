"""Explanations of a match: why this mentor, why not another, alternatives, unmatched.

Pure functions over a :class:`~compatibility.ProfileCompatibility` and an assignment (a mapping
mentee id → mentor id, or None for an unmatched mentee). They return frozen value
objects; rendering them is the caller's job. Scores are on the 0–100 scale; ``points``
are the integers the optimizer maximised (``score × SCALE``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from tandem.matcher.compat import FORBIDDEN, SCALE, CompatibilitySource
from tandem.matcher.compatibility import ProfileCompatibility
from tandem.matcher.errors import MatcherError
from tandem.matcher.result import UnmatchedCause
from tandem.matcher.rules import RULES_BY_LABEL, active_pair_rules
from tandem.matcher.stable import Preferences

Assignment = Mapping[str, str | None]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class ComponentReason(_Value):
    """One criterion of a pair: its weight, its 0–1 value and a short human reason."""

    name: str
    weight: float
    value: float | None
    """None when the data is missing on either side: the weight is not counted."""
    counted: bool
    reason: str


class PairExplanation(_Value):
    """A pair's score, the criteria behind it, and the hard rules that forbid it (if any)."""

    mentee_id: str
    mentor_id: str
    score: float
    points: int
    forbidden_by: tuple[str, ...]
    components: tuple[ComponentReason, ...]

    @property
    def allowed(self) -> bool:
        return not self.forbidden_by


class Alternative(_Value):
    """An allowed mentor other than the assigned one."""

    mentor_id: str
    score: float
    points: int
    spare_capacity: bool


class SwapCost(_Value):
    """Best-case change in the cohort's total if the mentee took another mentor."""

    change: float
    change_points: int
    displaced_mentee_id: str | None
    """The other mentor's mentee who would have to move (None: the mentor has room)."""
    displaced_to: str | None
    """Where the displaced mentee would go (None: they would be unmatched)."""


class WhyNot(_Value):
    """Why a mentee was not paired with a given mentor."""

    mentee_id: str
    mentor_id: str
    assigned_mentor_id: str | None
    forbidden_by: tuple[str, ...]
    """Labels of the hard rules that forbid the pair; empty when it is allowed."""
    forbidden_because: tuple[str, ...] = ()
    """For each rule in ``forbidden_by``: ``label: why`` in the pair's terms."""
    score: float
    assigned_score: float | None
    score_difference: float | None
    """``score − assigned_score`` (None when the mentee is unmatched or the pair forbidden)."""
    mentor_has_spare_capacity: bool
    swap: SwapCost | None
    """None when a hard rule forbids the pair."""


class UnmatchedReason(_Value):
    """Why a mentee is unmatched; for ``rule``, the rule that eliminates the most mentors."""

    mentee_id: str
    cause: UnmatchedCause
    rule: str | None
    eliminated: int
    """How many mentors ``rule`` alone eliminates."""
    mentors: int
    allowed: int
    """How many mentors the hard rules allow for this mentee."""


class MenteeExplanation(_Value):
    """Everything about one mentee's result."""

    mentee_id: str
    mentor_id: str | None
    pair: PairExplanation | None
    alternatives: tuple[Alternative, ...]
    unmatched: UnmatchedReason | None


def explain_pair(compat: ProfileCompatibility, mentee_id: str, mentor_id: str) -> PairExplanation:
    """Score components, weights and reasons of one pair, and the rules that forbid it."""
    details = compat.component_details(mentee_id, mentor_id)
    reasons = compat.reasons(mentee_id, mentor_id)
    forbidden_by = tuple(compat.forbidding_rules(mentee_id, mentor_id))
    return PairExplanation(
        mentee_id=mentee_id,
        mentor_id=mentor_id,
        score=compat.score(mentee_id, mentor_id),
        points=compat.points(mentee_id, mentor_id),
        forbidden_by=forbidden_by,
        components=tuple(
            ComponentReason(
                name=name,
                weight=weight,
                value=value,
                counted=value is not None,
                reason=reasons[name],
            )
            for name, weight, value in details
        ),
    )


def top_reasons(
    compat: ProfileCompatibility, mentee_id: str, mentor_id: str, k: int = 3
) -> list[str]:
    """The reasons of the ``k`` components that add most to the pair's score."""
    return top_reasons_for_pairs(compat, [(mentee_id, mentor_id)], k)[0]


def top_reasons_for_pairs(
    compat: ProfileCompatibility, pairs: Sequence[tuple[str, str]], k: int = 3
) -> list[list[str]]:
    """:func:`top_reasons` of many (mentee id, mentor id) pairs, in the order given.

    The components of all pairs are computed at once, per pair (no whole rows are
    scored); only the ``k`` reasons kept are phrased. Raises :class:`MatcherError` for
    an unknown id.
    """
    if not pairs:
        return []
    rows = np.array([compat.mentee_position(a) for a, _ in pairs], dtype=np.int64)
    cols = np.array([compat.mentor_position(b) for _, b in pairs], dtype=np.int64)
    values, known = compat.pair_components(rows, cols)
    scorers = compat.scorers
    weights = [s.weight for s in scorers]
    names = [s.component for s in scorers]
    counted = (known & (values > 0)).tolist()
    value_rows = values.tolist()
    mentees, mentors = compat.roster.mentees, compat.roster.mentors
    result: list[list[str]] = []
    for n, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        row = value_rows[n]
        ranked = sorted(
            (c for c, keep in enumerate(counted[n]) if keep),
            key=lambda c: (-weights[c] * row[c], names[c]),
        )
        result.append([scorers[c].reason(mentees[i], mentors[j], row[c]) for c in ranked[:k]])
    return result


def _loads(compat: ProfileCompatibility, assignment: Assignment) -> Counter[str]:
    return Counter(
        m for m in assignment.values() if m is not None and m in compat.roster.mentor_index
    )


def _spare(compat: ProfileCompatibility, loads: Counter[str], mentor_id: str) -> bool:
    return loads[mentor_id] < compat.mentor(mentor_id).capacity


def alternatives(
    compat: ProfileCompatibility, assignment: Assignment, mentee_id: str, k: int = 3
) -> tuple[Alternative, ...]:
    """The ``k`` highest-scoring allowed mentors other than the assigned one (ties by id)."""
    row = compat.row(mentee_id)
    assigned = assignment.get(mentee_id)
    loads = _loads(compat, assignment)
    order = np.lexsort((np.arange(len(row)), -row))
    result: list[Alternative] = []
    for j in order:
        if len(result) == k or row[j] == FORBIDDEN:
            break
        mentor_id = compat.mentor_ids[j]
        if mentor_id == assigned:
            continue
        result.append(
            Alternative(
                mentor_id=mentor_id,
                score=int(row[j]) / SCALE,
                points=int(row[j]),
                spare_capacity=_spare(compat, loads, mentor_id),
            )
        )
    return tuple(result)


def why_not(
    compat: ProfileCompatibility, assignment: Assignment, mentee_id: str, mentor_id: str
) -> WhyNot:
    """Why ``mentee_id`` is not with ``mentor_id``: the forbidding rules, or the score
    difference and the best-case cost to the cohort of the swap.

    The swap cost: the mentee moves to the mentor; if the mentor is full, one of their
    mentees moves to their best allowed mentor with spare capacity (the mentee's current
    mentor counts as having a freed place) or becomes unmatched. The best such change in
    the total score is reported. Group caps are not considered.
    """
    assigned = assignment.get(mentee_id)
    forbidden_by = tuple(compat.forbidding_rules(mentee_id, mentor_id))
    loads = _loads(compat, assignment)
    spare = _spare(compat, loads, mentor_id)
    score = compat.score(mentee_id, mentor_id)
    assigned_points = compat.points(mentee_id, assigned) if assigned else None
    assigned_score = assigned_points / SCALE if assigned_points is not None else None
    swap = None
    if not forbidden_by:
        new = compat.points(mentee_id, mentor_id)
        base = new - (assigned_points or 0)
        if spare or assigned == mentor_id:
            swap = SwapCost(
                change=base / SCALE,
                change_points=base,
                displaced_mentee_id=None,
                displaced_to=None,
            )
        else:
            swap = _best_displacement(compat, assignment, loads, mentor_id, assigned, base)
    return WhyNot(
        mentee_id=mentee_id,
        mentor_id=mentor_id,
        assigned_mentor_id=assigned,
        forbidden_by=forbidden_by,
        forbidden_because=tuple(compat.forbidding_reasons(mentee_id, mentor_id))
        if forbidden_by
        else (),
        score=score,
        assigned_score=assigned_score,
        score_difference=(
            score - assigned_score if assigned_score is not None and not forbidden_by else None
        ),
        mentor_has_spare_capacity=spare,
        swap=swap,
    )


def _best_displacement(
    compat: ProfileCompatibility,
    assignment: Assignment,
    loads: Counter[str],
    mentor_id: str,
    freed: str | None,
    base: int,
) -> SwapCost:
    capacities = compat.roster.capacities
    load = np.array([loads[m] for m in compat.mentor_ids], dtype=np.int64)
    if freed is not None:
        load[compat.roster.mentor_index[freed]] -= 1
    room = load < capacities
    room[compat.roster.mentor_index[mentor_id]] = False
    best: tuple[int, str, str | None] | None = None
    for displaced in sorted(m for m, b in assignment.items() if b == mentor_id):
        row = compat.row(displaced)
        options = np.where(room & (row != FORBIDDEN), row, -1)
        j = int(np.argmax(options))
        gain = int(options[j]) if options[j] >= 0 else 0
        target = compat.mentor_ids[j] if options[j] >= 0 else None
        change = base - int(row[compat.roster.mentor_index[mentor_id]]) + gain
        if best is None or change > best[0]:
            best = (change, displaced, target)
    assert best is not None
    return SwapCost(
        change=best[0] / SCALE,
        change_points=best[0],
        displaced_mentee_id=best[1],
        displaced_to=best[2],
    )


def unmatched_reason(
    compat: ProfileCompatibility, assignment: Assignment, mentee_id: str
) -> UnmatchedReason:
    """Why a mentee has no mentor: the rule that eliminates the most mentors (all of them,
    when one rule alone does), or that every allowed mentor is full."""
    return unmatched_reasons(compat, assignment, [mentee_id])[0]


UNMATCHED_BLOCK_CELLS = 2_000_000
"""Scores read at once when explaining unmatched mentees (rows × mentors)."""


def unmatched_reasons(
    compat: ProfileCompatibility, assignment: Assignment, mentee_ids: Sequence[str]
) -> list[UnmatchedReason]:
    """:func:`unmatched_reason` of many mentees, in the order given.

    Mentor loads are counted once and only these mentees' rows are scored, a block of
    rows at a time. Raises :class:`MatcherError` for an unknown id.
    """
    positions = np.array([compat.mentee_position(m) for m in mentee_ids], dtype=np.int64)
    n_mentors = len(compat.mentor_ids)
    loads = _loads(compat, assignment)
    room = np.array([loads[p.id] < p.capacity for p in compat.mentors], dtype=bool).reshape(
        n_mentors
    )
    allowed_counts = np.zeros(positions.size, dtype=np.int64)
    with_room = np.zeros(positions.size, dtype=bool)
    step = max(1, UNMATCHED_BLOCK_CELLS // max(n_mentors, 1))
    for start in range(0, positions.size, step):
        chosen = positions[start : start + step]
        allowed = compat.rows(chosen) != FORBIDDEN
        allowed_counts[start : start + step] = allowed.sum(axis=1)
        with_room[start : start + step] = (allowed & room[None, :]).any(axis=1)
    result = []
    for mentee_id, i, allowed_count, spare in zip(
        mentee_ids, positions.tolist(), allowed_counts.tolist(), with_room.tolist(), strict=True
    ):
        if allowed_count:
            result.append(
                UnmatchedReason(
                    mentee_id=mentee_id,
                    cause=UnmatchedCause.NOT_CHOSEN if spare else UnmatchedCause.FULL,
                    rule=None,
                    eliminated=0,
                    mentors=n_mentors,
                    allowed=allowed_count,
                )
            )
            continue
        counts = [
            (int(rule.mask(compat.roster, i, i + 1).sum()), rule.label)
            for rule in active_pair_rules(compat.config)
        ]
        eliminated, label = (
            max(counts, key=lambda c: (c[0], -_order(c[1]))) if counts else (0, None)
        )
        result.append(
            UnmatchedReason(
                mentee_id=mentee_id,
                cause=UnmatchedCause.RULE,
                rule=label,
                eliminated=eliminated,
                mentors=n_mentors,
                allowed=0,
            )
        )
    return result


def stable_unmatched_reasons(
    source: CompatibilitySource,
    assignment: Assignment,
    mentee_ids: Sequence[str],
    preferences: Preferences | None = None,
) -> list[UnmatchedReason]:
    """Why mentees are unmatched in a stable matching of ``source`` (``assignment``, as
    :func:`~tandem.matcher.api.solve_stable` returns it, with the ``preferences`` it was
    given), in the order given.

    A stable matching optimises no score, so "the objective left them out" is never the
    reason. A mentee is unmatched because no mentor may take them: the hard rules allow
    none (``rule``; the rule is named when ``source`` scores profiles), or, with given
    preferences, none of those allowed is on the mentee's list with the mentee on theirs
    (``unranked``). Otherwise every mentor who could take them is full with mentees they
    rank higher (``outranked``): a mentor with room, or holding a mentee they rank lower,
    would form a blocking pair with the mentee, and a stable matching has none.

    Raises :class:`MatcherError` for an unknown id.
    """
    mentee_at = {m: i for i, m in enumerate(source.mentee_ids)}
    unknown = [m for m in mentee_ids if m not in mentee_at]
    if unknown:
        raise MatcherError(f"unknown mentee id {unknown[0]!r}")
    n_mentors = len(source.mentor_ids)
    ranked_by = (
        {mentor: set(ranking) for mentor, ranking in preferences.mentor_ranking.items()}
        if preferences is not None
        else {}
    )
    found: dict[str, tuple[UnmatchedCause, int]] = {}
    for mentee_id, row in zip(mentee_ids, _rows_of(source, mentee_ids, mentee_at), strict=True):
        allowed = [source.mentor_ids[j] for j in np.flatnonzero(row >= 0).tolist()]
        if not allowed:
            found[mentee_id] = (UnmatchedCause.RULE, 0)
            continue
        cause = UnmatchedCause.OUTRANKED
        if preferences is not None:
            listed = set(preferences.mentee_ranking.get(mentee_id, ()))
            if not any(m in listed and mentee_id in ranked_by.get(m, ()) for m in allowed):
                cause = UnmatchedCause.UNRANKED
        found[mentee_id] = (cause, len(allowed))
    no_one = [m for m in mentee_ids if found[m][0] is UnmatchedCause.RULE]
    by_rule: dict[str, UnmatchedReason] = {}
    if no_one and isinstance(source, ProfileCompatibility):
        by_rule = {r.mentee_id: r for r in unmatched_reasons(source, assignment, no_one)}
    return [
        by_rule.get(mentee_id)
        or UnmatchedReason(
            mentee_id=mentee_id,
            cause=cause,
            rule=None,
            eliminated=n_mentors if cause is UnmatchedCause.RULE else 0,
            mentors=n_mentors,
            allowed=allowed_count,
        )
        for mentee_id in mentee_ids
        for cause, allowed_count in [found[mentee_id]]
    ]


def _rows_of(
    source: CompatibilitySource, mentee_ids: Sequence[str], mentee_at: Mapping[str, int]
) -> Iterator[np.ndarray]:
    """Each mentee's row of points, a bounded block of rows read at a time."""
    positions = np.array([mentee_at[m] for m in mentee_ids], dtype=np.int64)
    step = max(1, UNMATCHED_BLOCK_CELLS // max(len(source.mentor_ids), 1))
    for start in range(0, positions.size, step):
        chosen = positions[start : start + step]
        if isinstance(source, ProfileCompatibility):
            yield from source.rows(chosen)
        else:
            for i in chosen.tolist():
                yield source.block(i, i + 1)[0]


def _order(label: str) -> int:
    return list(RULES_BY_LABEL).index(label)


def explain_mentee(
    compat: ProfileCompatibility, assignment: Assignment, mentee_id: str, k: int = 3
) -> MenteeExplanation:
    """The assigned pair explained, the top ``k`` alternatives, or why unmatched."""
    mentor_id = assignment.get(mentee_id)
    return MenteeExplanation(
        mentee_id=mentee_id,
        mentor_id=mentor_id,
        pair=explain_pair(compat, mentee_id, mentor_id) if mentor_id else None,
        alternatives=alternatives(compat, assignment, mentee_id, k),
        unmatched=None if mentor_id else unmatched_reason(compat, assignment, mentee_id),
    )
