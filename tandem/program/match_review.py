"""Reviewing a match run before (and after) a cohort is made from it, and re-running it
with pairs locked or forbidden.

A review lists the run's figures, every pair with its score and reasons and every
unmatched mentee with the reason. :func:`rerun_with` re-runs the cycle's latest run with
the same stored configuration plus ``locked_pairs`` / ``forbidden_pairs`` (the matcher's
own hard rules), through :func:`~tandem.program.runs.run_match` as ``tandem match`` does,
and audits it; it refuses once a cohort was made from the cycle, and for runs that used a
scores or preferences file (those files are not stored: re-run them with ``tandem
match``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.config import config_to_toml, load_config
from tandem.matcher.types import Role
from tandem.program.cohorts import CohortError, get_cohort, latest_run
from tandem.program.runs import MatchRequest, MatchSummary, Method, run_match
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import AuditEntry, Cohort, MatchPair, MatchRun, Participant


@dataclass(frozen=True)
class MatchReview:
    """A match run: its figures, every pair with its score and reasons, every unmatched
    mentee with the reason, and the pairs its configuration locks or forbids."""

    run_pk: int
    cycle: str
    cohort_name: str | None
    """The cohort made from this cycle, if any (a re-run is refused then)."""
    created_at: datetime
    method: str
    objective: str
    mentees_total: int
    matched: int
    total_score: float
    min_score: float | None
    blocking_pairs: int | None
    locked: tuple[tuple[str, str], ...]
    forbidden: tuple[tuple[str, str], ...]
    pairs: tuple[dict[str, Any], ...]
    unmatched: tuple[dict[str, Any], ...]


def _review(session: Session, run: MatchRun) -> MatchReview:
    names = {(p.role, p.external_id): p.name for p in session.exec(select(Participant)).all()}
    cohort = session.exec(select(Cohort).where(Cohort.cycle == run.cycle)).first()
    config = load_config(run.config_toml, f"match run {run.pk}") if run.config_toml else None
    pairs = session.exec(
        select(MatchPair)
        .where(MatchPair.run_pk == run.pk)
        .order_by(col(MatchPair.score), col(MatchPair.mentee_id))
    ).all()
    return MatchReview(
        run_pk=run.pk or 0,
        cycle=run.cycle,
        cohort_name=cohort.name if cohort else None,
        created_at=run.created_at,
        method=run.method,
        objective=run.objective,
        mentees_total=run.mentees_total,
        matched=run.matched,
        total_score=run.total_score,
        min_score=run.min_score,
        blocking_pairs=run.blocking_pairs,
        locked=tuple(config.rules.locked_pairs) if config else (),
        forbidden=tuple(config.rules.forbidden_pairs) if config else (),
        pairs=tuple(
            {
                "mentee_id": p.mentee_id,
                "mentee": names.get((Role.MENTEE.value, p.mentee_id), ""),
                "mentor_id": p.mentor_id,
                "mentor": names.get((Role.MENTOR.value, p.mentor_id), ""),
                "score": p.score,
                "reasons": tuple(p.reasons),
            }
            for p in pairs
        ),
        unmatched=tuple(
            {
                "mentee_id": str(u.get("mentee_id", "")),
                "mentee": names.get((Role.MENTEE.value, str(u.get("mentee_id", ""))), ""),
                "reason": u.get("reason", ""),
            }
            for u in run.unmatched
            if isinstance(u, dict)
        ),
    )


def review_cohort_match(engine: Engine, cohort_name: str) -> MatchReview:
    """The review of the run a cohort was made from. Raises CohortError if no such cohort."""
    with Session(engine) as session:
        run = session.get(MatchRun, get_cohort(session, cohort_name).match_run_pk)
        assert run is not None
        return _review(session, run)


def review_cycle(engine: Engine, cycle: str) -> MatchReview:
    """The review of a cycle's latest run. Raises CohortError if the cycle has none."""
    with Session(engine) as session:
        return _review(session, latest_run(session, cycle))


def list_cycles(engine: Engine) -> list[MatchReview]:
    """Every cycle's latest run, newest first."""
    with Session(engine) as session:
        latest: dict[str, MatchRun] = {}
        for run in session.exec(select(MatchRun).order_by(col(MatchRun.pk))).all():
            latest[run.cycle] = run
        return [
            _review(session, run) for run in sorted(latest.values(), key=lambda r: -(r.pk or 0))
        ]


def rerun_with(
    engine: Engine,
    cycle: str,
    *,
    lock: tuple[tuple[str, str], ...] = (),
    forbid: tuple[tuple[str, str], ...] = (),
    actor: str,
    now: datetime,
) -> MatchSummary:
    """Re-run ``cycle``'s latest run with more pairs locked or forbidden; returns the new run.

    Raises CohortError when a cohort was made from the cycle or the run used a scores or
    preferences file; MatcherError subclasses when the pairs break the configuration (an
    unknown id, a mentee locked twice, a pair both locked and forbidden).
    """
    with Session(engine) as session:
        run = latest_run(session, cycle)
        cohort = session.exec(select(Cohort).where(Cohort.cycle == cycle)).first()
    if cohort is not None:
        raise CohortError(
            f'cohort "{cohort.name}" was made from cycle "{cycle}": change its pairs with '
            "`tandem pair`, not by matching again"
        )
    if run.method != Method.OPTIMAL.value or {"scores", "preferences"} & set(run.inputs):
        raise CohortError(
            f"match run {run.pk} used a scores or preferences file, which is not stored: re-run "
            f"it with `tandem match --cycle {cycle}` and the same files"
        )
    config = load_config(run.config_toml, f"match run {run.pk}")
    rules = config.rules
    changed = rules.model_copy(
        update={
            "locked_pairs": tuple(dict.fromkeys((*rules.locked_pairs, *lock))),
            "forbidden_pairs": tuple(dict.fromkeys((*rules.forbidden_pairs, *forbid))),
        }
    )
    text = config_to_toml(config.model_copy(update={"rules": changed}))
    load_config(text, "the re-run's configuration")  # validated as a whole, as a file would be
    summary = run_match(
        engine,
        MatchRequest(cycle=cycle, config_text=text, config_name="the console's re-run"),
        now=now,
    )
    with transaction(engine) as session:
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="match.rerun",
                subject=f"match run {summary.run_id}",
                details={
                    "cycle": cycle,
                    "previous_run": run.pk,
                    "locked": [list(p) for p in lock],
                    "forbidden": [list(p) for p in forbid],
                },
            )
        )
    return summary
