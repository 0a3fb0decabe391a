"""Write one week of invented check-ins as a survey tool would export them (for the demo).

    python examples/simulate_checkins.py DB_URL COHORT WEEK OUT.csv

Most pairs meet most weeks; a few go quiet from week 4 so that the risk flags and the
coordinator digest have something to show. Deterministic: the same week gives the same file.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from sqlmodel import Session, col, select

from tandem.program.cohorts import LIVE_STATES, get_cohort
from tandem.program.storage.db import open_database
from tandem.program.storage.tables import Pair, Participant


def main() -> None:
    db_url, cohort_name, week, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    engine = open_database(db_url)
    rows = []
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        people = {p.pk: p for p in session.exec(select(Participant)).all()}
        pairs = session.exec(
            select(Pair).where(Pair.cohort_pk == cohort.pk).order_by(col(Pair.pk))
        ).all()
        for pair in pairs:
            if pair.state not in LIVE_STATES or pair.first_week > week:
                continue
            rng = random.Random(f"{cohort_name}/{pair.pk}/{week}")
            quiet = pair.pk is not None and pair.pk % 9 == 0 and week >= 4
            for role, person_pk, partner_pk in (
                ("mentor", pair.mentor_pk, pair.mentee_pk),
                ("mentee", pair.mentee_pk, pair.mentor_pk),
            ):
                if quiet or rng.random() < 0.15:
                    continue  # this person did not answer this week
                met = rng.random() < 0.85
                rows.append(
                    {
                        "timestamp": f"week {week}",
                        "email": people[person_pk].email,
                        "role": role,
                        "partner_email": people[partner_pk].email,
                        "week": week,
                        "met": "yes" if met else "no",
                        "minutes": rng.choice([30, 45, 60, 60, 90]) if met else "",
                        "mode": rng.choice(["video", "video", "in_person", "phone"]) if met else "",
                        "topic": "this week's topic" if met else "",
                        "rating": rng.choices([2, 3, 4, 5], weights=[1, 6, 12, 12])[0]
                        if met
                        else "",
                    }
                )
    engine.dispose()
    with out.open("w", encoding="utf-8", newline="") as handle:
        columns = [
            "timestamp",
            "email",
            "role",
            "partner_email",
            "week",
            "met",
            "minutes",
            "mode",
            "topic",
            "rating",
        ]
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
