"""Write invented survey responses as a survey tool would export them (for the demo).

    python examples/simulate_surveys.py DB_URL COHORT SURVEY OUT.csv

SURVEY is baseline, closing or followup. Most people answer; mentors rate themselves a
little higher at the close than at the start (and lower "before the program" in hindsight),
mentees rate their mentors, and most mentors intend to change something. Deterministic:
the same survey gives the same file.
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.cohorts import PairState, get_cohort
from tandem.program.storage.db import open_database
from tandem.program.storage.tables import Pair, Participant
from tandem.prompts.curriculum import Competency
from tandem.prompts.surveys import load_instrument

INTENTIONS = [
    "Agree on expectations in writing at the first meeting",
    "Ask more open questions before giving advice",
    "Check understanding by asking my mentee to explain their plan back",
    "Hand over more decisions about the project",
    "Talk about workload and boundaries early",
    "Introduce mentees to more people in the field",
    "Give feedback sooner, in smaller pieces",
]
CHANGES = [
    "We now write a short agreement at the start",
    "I schedule a monthly check on the development plan",
    "I ask my mentees to lead our meetings",
    "I give written feedback within a week",
    "I introduced my mentee to two collaborators",
]


GAINS = [1.1, 0.5, 0.8, 0.2, 1.3, 0.4, 0.0, 0.9, 0.6, 1.0]
"""Typical gain in each competency, in the enum's order."""


def _rating(rng: random.Random, centre: float) -> int:
    return max(1, min(7, round(rng.gauss(centre, 0.9))))


def main() -> None:
    db_url, cohort_name, survey, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    instrument = load_instrument(survey)
    engine = open_database(db_url)
    rows = []
    with Session(engine) as session:
        cohort = get_cohort(session, cohort_name)
        people = {p.pk: p for p in session.exec(select(Participant)).all()}
        pairs = session.exec(
            select(Pair).where(Pair.cohort_pk == cohort.pk).order_by(col(Pair.pk))
        ).all()
        seen: set[int] = set()
        for pair in pairs:
            if pair.state == PairState.DECLINED.value:
                continue
            for role, pk in ((Role.MENTOR, pair.mentor_pk), (Role.MENTEE, pair.mentee_pk)):
                if pk in seen or (survey == "followup" and role is Role.MENTEE):
                    continue
                seen.add(pk)
                rng = random.Random(f"{cohort_name}/{survey}/{pk}")
                answer_rate = {"baseline": 0.9, "closing": 0.85, "followup": 0.7}[survey]
                if rng.random() > answer_rate:
                    continue
                person = random.Random(f"{cohort_name}/{pk}")  # the same person every survey
                row: dict[str, object] = {"email": people[pk].email, "survey": survey}
                row["role"] = role.value
                for competency, items in instrument.competency_items(role).items():
                    start = 3.4 + person.random() * 1.4 + (1.0 if role is Role.MENTEE else 0)
                    # some competencies move more than others, and not for everyone
                    typical = GAINS[list(Competency).index(competency) % len(GAINS)]
                    gain = person.gauss(typical, 0.7)
                    for item in items:
                        if survey == "baseline":
                            row[item.id] = _rating(rng, start)
                        else:
                            row[item.id] = _rating(rng, start + gain)
                            row[item.before_column] = _rating(rng, start - 0.4)
                if survey == "closing":
                    row["valuable_use"] = rng.choices([2, 3, 4, 5], weights=[1, 3, 10, 10])[0]
                    row["would_recommend"] = rng.choices([2, 3, 4, 5], weights=[1, 2, 8, 12])[0]
                    if role is Role.MENTOR:
                        intends = rng.random() < 0.75
                        row["intent_to_change"] = "yes" if intends else "no"
                        row["intent_what"] = rng.choice(INTENTIONS) if intends else ""
                if survey == "followup":
                    changed = rng.random() < 0.6
                    row["changed_mentoring"] = "yes" if changed else "no"
                    row["changed_how"] = rng.choice(CHANGES) if changed else ""
                rows.append(row)
    engine.dispose()
    columns = ["email", "survey", "role", *instrument.columns()]
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
