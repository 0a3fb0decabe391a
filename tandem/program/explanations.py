"""Stored match runs read back: the latest run, why a mentee got their mentor (and why not
another), and matching a few mentees again under a run's configuration (rematch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.errors import quoted
from tandem.matcher import (
    Method,
    Role,
    UnmatchedCause,
    default_config,
    load_config,
    solve,
)
from tandem.program.storage.tables import MatchPair, MatchRun

if TYPE_CHECKING:
    # Scoring profiles and explaining pairs load SciPy: only runs from profiles need them.
    from tandem.matcher import MenteeExplanation, ProfileCompatibility, WhyNot

from tandem.program.runs import (
    MatchingError,
    cycle_roster,
    profiles_hash,
    unmatched_text,
)


def get_run(session: Session, cycle: str | None = None, run_id: int | None = None) -> MatchRun:
    query = select(MatchRun)
    if run_id is not None:
        query = query.where(MatchRun.pk == run_id)
    elif cycle is not None:
        query = query.where(MatchRun.cycle == cycle)
    run = session.exec(query.order_by(col(MatchRun.pk).desc())).first()
    if run is None:
        what = f"run {run_id}" if run_id else f'cycle "{cycle}"' if cycle else "any cycle"
        raise MatchingError(f"no match run for {what}; run `tandem match --cycle NAME` first")
    return run


def _compat_for_run(
    engine: Engine, run: MatchRun
) -> tuple[ProfileCompatibility, dict[str, str], bool]:
    mentees, mentors = cycle_roster(engine, run.cycle)
    config = (
        load_config(run.config_toml, f"match run {run.pk}") if run.config_toml else default_config()
    )
    changed = run.inputs.get("mentees") != profiles_hash(mentees) or run.inputs.get(
        "mentors"
    ) != profiles_hash(mentors)
    from tandem.matcher import ProfileCompatibility

    compat = ProfileCompatibility(mentees, mentors, config, run.created_at)
    with Session(engine) as session:
        assignment = {
            p.mentee_id: p.mentor_id
            for p in session.exec(select(MatchPair).where(MatchPair.run_pk == run.pk)).all()
        }
    return compat, assignment, changed


@dataclass(frozen=True)
class Explanation:
    run_id: int
    cycle: str
    roster_changed: bool
    mentee: MenteeExplanation
    why_not: WhyNot | None
    mentee_names: dict[str, str] = field(default_factory=dict)
    """Names of the mentees the explanation mentions, by id."""
    mentor_names: dict[str, str] = field(default_factory=dict)
    """Names of the mentors the explanation mentions, by id."""
    unmatched_reason: str | None = None
    """Why the mentee is unmatched, for people (None when they have a mentor)."""


def explain(
    engine: Engine, mentee_id: str, *, mentor_id: str | None = None, cycle: str | None = None
) -> Explanation:
    """Why this mentee got their mentor (or none), the top alternatives, and optionally
    why not ``mentor_id``. Uses the latest run (of ``cycle``, if given)."""
    from tandem.matcher import explain_mentee, why_not

    with Session(engine) as session:
        run = get_run(session, cycle)
    compat, assignment, changed = _compat_for_run(engine, run)
    if mentee_id not in compat.mentee_ids:
        raise MatchingError(f'no mentee with id "{mentee_id}" in the roster')
    if mentor_id is not None and mentor_id not in compat.mentor_ids:
        raise MatchingError(f"no mentor with id {quoted(mentor_id)} in the roster")
    assert run.pk is not None
    mentee = explain_mentee(compat, assignment, mentee_id)
    reason = None
    if mentee.unmatched is not None:
        mentee = _unmatched_as_run(run, compat, assignment, mentee)
        assert mentee.unmatched is not None
        reason = unmatched_text(mentee.unmatched)
    other = (
        why_not(compat, assignment, mentee_id, mentor_id)
        if mentor_id and mentor_id != assignment.get(mentee_id)
        else None
    )
    mentees: list[str | None] = [mentee_id]
    mentors: list[str | None] = [mentee.mentor_id, *(a.mentor_id for a in mentee.alternatives)]
    if other is not None:
        mentors += [other.mentor_id, other.swap.displaced_to if other.swap else None]
        mentees += [other.swap.displaced_mentee_id if other.swap else None]
    return Explanation(
        run_id=run.pk,
        cycle=run.cycle,
        roster_changed=changed,
        mentee=mentee,
        why_not=other,
        mentee_names={m: compat.mentee(m).name for m in mentees if m},
        mentor_names={m: compat.mentor(m).name for m in mentors if m},
        unmatched_reason=reason,
    )


def _unmatched_as_run(
    run: MatchRun,
    compat: ProfileCompatibility,
    assignment: dict[str, str],
    mentee: MenteeExplanation,
) -> MenteeExplanation:
    """``mentee`` (unmatched) with the reason of the run's method: a stable matching has
    no objective, so its mentees are unmatched because every mentor who could take them is
    full with mentees they rank higher (or, with a preferences file, none lists them)."""
    if run.method != Method.STABLE.value or mentee.unmatched is None:
        return mentee
    from tandem.matcher import stable_unmatched_reasons

    (why,) = stable_unmatched_reasons(compat, assignment, [mentee.mentee_id])
    if "preferences" in run.inputs and why.cause is UnmatchedCause.OUTRANKED:
        # The preferences file is not kept: the run's own finding says whether anyone
        # who could take the mentee listed them.
        stored: dict[str, Any] = next(
            (u for u in run.unmatched if u.get("mentee_id") == mentee.mentee_id), {}
        )
        if stored.get("cause") == UnmatchedCause.UNRANKED.value:
            why = why.model_copy(update={"cause": UnmatchedCause.UNRANKED})
    return mentee.model_copy(update={"unmatched": why})


@dataclass(frozen=True)
class SubsetResult:
    pairs: list[tuple[str, str, float]]
    unmatched: list[str]


def match_subset(
    session: Session,
    run: MatchRun,
    mentee_ids: Sequence[str],
    spare: dict[str, int],
    forbidden: set[tuple[str, str]],
) -> SubsetResult:
    """Match some mentees to mentors with spare places, under the run's configuration.

    ``forbidden`` pairs (e.g. declined ones) are never proposed again.
    """
    from tandem.program.roster.store import participant_profile
    from tandem.program.storage.tables import Participant

    rows = session.exec(select(Participant)).all()
    wanted = set(mentee_ids)
    mentees = sorted(
        (
            participant_profile(r)
            for r in rows
            if r.role == Role.MENTEE.value and r.external_id in wanted
        ),
        key=lambda p: p.id,
    )
    mentors = sorted(
        (
            participant_profile(r).model_copy(update={"capacity": spare[r.external_id]})
            for r in rows
            if r.role == Role.MENTOR.value and r.external_id in spare
        ),
        key=lambda p: p.id,
    )
    if not mentees or not mentors:
        return SubsetResult([], list(mentee_ids))
    config = (
        load_config(run.config_toml, f"match run {run.pk}") if run.config_toml else default_config()
    )
    present = {m.id for m in mentees}, {m.id for m in mentors}
    rules = config.rules.model_copy(
        update={
            "forbidden_pairs": tuple(
                sorted(
                    {
                        p
                        for p in config.rules.forbidden_pairs
                        if p[0] in present[0] and p[1] in present[1]
                    }
                    | {p for p in forbidden if p[0] in present[0] and p[1] in present[1]}
                )
            ),
            "locked_pairs": (),
        }
    )
    config = config.model_copy(update={"rules": rules})
    from tandem.matcher import ProfileCompatibility

    compat = ProfileCompatibility(mentees, mentors, config, run.created_at)
    result = solve(
        compat,
        objective=config.optimizer.objective,
        candidates_per_mentee=config.optimizer.candidates_per_mentee,
        candidates_per_mentor=config.optimizer.candidates_per_mentor,
    )
    return SubsetResult(
        [(p.mentee_id, p.mentor_id, p.score) for p in result.pairs],
        list(result.unmatched_mentee_ids),
    )
