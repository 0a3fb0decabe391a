"""`list_cohorts`: every cohort with its pairs counted by state."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import col, select

from tandem.program.cohort_list import CohortSummary, list_cohorts
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Pair
from tests.program.helpers import make_program


def test_cohorts_are_listed_with_their_pairs_by_state(engine: Engine, tmp_path: Path) -> None:
    assert list_cohorts(engine) == []
    make_program(engine, tmp_path, pairs=3)
    with transaction(engine) as session:
        first = session.exec(select(Pair).order_by(col(Pair.pk))).first()
        assert first is not None
        first.state = "declined"
        session.add(first)
    assert list_cohorts(engine) == [
        CohortSummary(
            name="Fall 2026",
            cycle="2026",
            start=date(2026, 9, 7),
            weeks=16,
            timezone="America/New_York",
            pairs={"proposed": 2, "declined": 1},
        )
    ]
    assert list_cohorts(engine)[0].as_row()["pairs"] == 3
