"""Rematch: pairing mentees whose pair was declined or ended with mentors who have spare
places, and the places each mentor holds across running cohorts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program import schedule
from tandem.program.cohorts import (
    CohortError,
    add_pair,
    get_cohort,
    participants_by_key,
    send_instants,
)
from tandem.program.curricula import load_curriculum
from tandem.program.pairs import LIVE_STATES, PairState
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, MatchRun, Pair, Participant


@dataclass(frozen=True)
class RematchReport:
    freed: int
    paired: tuple[tuple[str, str], ...]
    still_unmatched: tuple[str, ...]


def parse_exclusion(text: str) -> tuple[str, str]:
    """``MENTEE:MENTOR`` as (mentee id, mentor id). Raises CohortError otherwise."""
    mentee, sep, mentor = text.partition(":")
    if not sep or not mentee.strip() or not mentor.strip() or ":" in mentor:
        raise CohortError(
            f"--exclude {text!r}: expected MENTEE:MENTOR, two participant ids, e.g. E005:M002"
        )
    return mentee.strip(), mentor.strip()


def mentor_load(
    session: Session, *, cohort: Cohort | None = None, except_cycle: str | None = None
) -> dict[int, int]:
    """Mentees each mentor (by participant pk) holds a place for: live pairs in every
    cohort still running (but those of cycle ``except_cycle``), and the completed pairs of
    ``cohort`` (its places stay taken until it closes)."""
    running = {
        c.pk
        for c in session.exec(select(Cohort).where(col(Cohort.completed_at).is_(None))).all()
        if c.cycle != except_cycle
    }
    load: dict[int, int] = {}
    for mentor_pk, cohort_pk, state in session.exec(
        select(Pair.mentor_pk, Pair.cohort_pk, Pair.state)
    ).all():
        live = state in LIVE_STATES and cohort_pk in running
        held = cohort is not None and cohort_pk == cohort.pk and state == PairState.COMPLETED
        if live or held:
            load[mentor_pk] = load.get(mentor_pk, 0) + 1
    return load


def rematch(
    engine: Engine,
    cohort_name: str,
    *,
    now: datetime,
    exclude: Sequence[tuple[str, str]] = (),
) -> RematchReport:
    """Pair freed mentees with mentors who have spare places.

    Freed mentees are those whose pair was declined or ended before the program's end,
    who have no other pair standing in the cohort and have not withdrawn. A mentor's spare
    places are their capacity less the places they hold in every running cohort
    (:func:`mentor_load`); withdrawn mentors are never proposed. No mentee is proposed a
    mentor they were paired with before in any cohort (declined or ended, by either), nor
    one of the ``exclude`` pairs (mentee id, mentor id). Uses the match run's stored
    configuration; pairs that stand are not touched. The new pair gets an introduction of
    its own and its first topic the week after (with the alignment topics it missed as a
    catch-up). Safe to repeat.
    """
    from tandem.program.explanations import match_subset

    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        if cohort.completed_at is not None:
            raise CohortError(f'cohort "{cohort.name}" has closed: there is nothing to rematch')
        run = session.get(MatchRun, cohort.match_run_pk)
        assert run is not None
        pairs = session.exec(select(Pair).where(Pair.cohort_pk == cohort.pk)).all()
        by_pk = {p.pk or 0: p for p in session.exec(select(Participant)).all()}
        standing = {
            p.mentee_pk for p in pairs if p.state in LIVE_STATES or p.state == PairState.COMPLETED
        }
        let_go = {p.mentee_pk for p in pairs if p.state in (PairState.DECLINED, PairState.ENDED)}
        freed = sorted(
            (pk for pk in let_go - standing if by_pk[pk].withdrawn_at is None),
            key=lambda pk: by_pk[pk].external_id,
        )
        if not freed:
            return RematchReport(0, (), ())
        load = mentor_load(session, cohort=cohort)
        spare = {
            person.external_id: (person.capacity or 0) - load.get(pk, 0)
            for pk, person in by_pk.items()
            if person.role == Role.MENTOR.value
            and person.withdrawn_at is None
            and (person.capacity or 0) - load.get(pk, 0) > 0
        }
        before = session.exec(
            select(Pair.mentee_pk, Pair.mentor_pk).where(
                col(Pair.mentee_pk).in_(freed),
                col(Pair.state).in_([PairState.DECLINED.value, PairState.ENDED.value]),
            )
        ).all()  # in any cohort: a partner declined once is not proposed again
        forbidden = {
            (by_pk[mentee_pk].external_id, by_pk[mentor_pk].external_id)
            for mentee_pk, mentor_pk in before
        } | set(exclude)
        mentee_ids = [by_pk[pk].external_id for pk in freed]
        result = match_subset(session, run, mentee_ids, spare, forbidden)
        curriculum = load_curriculum(cohort)
        instants = send_instants(cohort)
        current = schedule.week_for(now, instants) or 0
        people = participants_by_key(session)
        for mentee_id, mentor_id, score in result.pairs:
            add_pair(
                session,
                cohort,
                curriculum,
                people,
                mentee_id,
                mentor_id,
                score,
                proposed_at=now,
                first_week=min(current + 1, cohort.weeks),
                now=now,
            )
        paired = tuple((m, t) for m, t, _ in result.pairs)
        return RematchReport(len(freed), paired, tuple(result.unmatched))
