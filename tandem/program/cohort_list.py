"""Every cohort at a glance: name, cycle, start, length and its pairs counted by state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from tandem.program.storage.tables import Cohort, Pair


@dataclass(frozen=True)
class CohortSummary:
    """One cohort: when it runs and how many of its pairs are in each state."""

    name: str
    cycle: str
    start: date
    weeks: int
    timezone: str
    pairs: dict[str, int] = field(default_factory=dict)
    """Pairs by state (proposed, active, paused, completed, ended, declined); only the
    states that occur, in that order."""

    @property
    def total_pairs(self) -> int:
        return sum(self.pairs.values())

    def as_row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cycle": self.cycle,
            "start": self.start.isoformat(),
            "weeks": self.weeks,
            "timezone": self.timezone,
            "pairs": self.total_pairs,
            "by_state": dict(self.pairs),
        }


STATE_ORDER = ("proposed", "active", "paused", "completed", "ended", "declined")
"""The order in which pair states are listed: the live ones first."""


def list_cohorts(engine: Engine) -> list[CohortSummary]:
    """Every cohort, by start date then name, with its pairs counted by state."""
    with Session(engine) as session:
        cohorts = session.exec(
            select(Cohort).order_by(col(Cohort.start_date), col(Cohort.name))
        ).all()
        counts: dict[int, Counter[str]] = {}
        for cohort_pk, state, n in session.exec(
            select(Pair.cohort_pk, Pair.state, func.count()).group_by(
                col(Pair.cohort_pk), col(Pair.state)
            )
        ).all():
            counts.setdefault(cohort_pk, Counter())[state] = n
        summaries = []
        for cohort in cohorts:
            by_state = counts.get(cohort.pk or 0, Counter())
            ordered = sorted(
                by_state.items(),
                key=lambda item: (
                    STATE_ORDER.index(item[0]) if item[0] in STATE_ORDER else len(STATE_ORDER),
                    item[0],
                ),
            )
            summaries.append(
                CohortSummary(
                    name=cohort.name,
                    cycle=cohort.cycle,
                    start=cohort.start_date,
                    weeks=cohort.weeks,
                    timezone=cohort.timezone,
                    pairs=dict(ordered),
                )
            )
    return summaries
