"""A small cohort with closing-survey answers, for the report's tests and the console's."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortSettings, create_cohort
from tandem.program.roster import store as roster
from tests.program.helpers import CREATED, START, store_match

COHORT = "Fall 2026"
NOW = CREATED + timedelta(days=200)


def make_cohort(engine: Engine, tmp_path: Path, mentees_of: dict[str, list[str]]) -> None:
    """A cohort whose mentors have the given mentees (ids M00n and E00n)."""
    mentors = ["id,name,email,capacity,career_stage"]
    mentees = ["id,name,email,career_stage"]
    for mentor, theirs in mentees_of.items():
        mentors.append(f"{mentor},Mentor {mentor},{mentor.lower()}@uni.edu,{len(theirs)},postdoc")
        for mentee in theirs:
            mentees.append(f"{mentee},Mentee {mentee},{mentee.lower()}@uni.edu,graduate_student")
    (tmp_path / "mentors.csv").write_text("\n".join(mentors) + "\n", encoding="utf-8")
    (tmp_path / "mentees.csv").write_text("\n".join(mentees) + "\n", encoding="utf-8")
    roster.import_roster(engine, tmp_path / "mentors.csv", Role.MENTOR, now=CREATED)
    roster.import_roster(engine, tmp_path / "mentees.csv", Role.MENTEE, now=CREATED)
    store_match(engine, "2026", [(e, m) for m, theirs in mentees_of.items() for e in theirs])
    settings = CohortSettings(
        name=COHORT,
        cycle="2026",
        start=START,
        timezone="UTC",
        send_day="mon",
        sender="Tandem <mentoring@uni.edu>",
    )
    create_cohort(engine, settings, now=CREATED)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns = sorted(
        {k for row in rows for k in row}, key=lambda c: (c not in ("email", "survey"), c)
    )
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


# Six mentors (one with two mentees), seven mentees; only three mentees answer the closing.
MENTEES_OF = {f"M{m:03d}": [f"E{m:03d}"] for m in range(1, 7)} | {"M001": ["E001", "E007"]}
MENTOR_BEFORE = [2, 3, 3, 4, 2, 5]
MENTOR_AFTER = [4, 5, 3, 6, 3, 6]


def closing_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, (before, after) in enumerate(zip(MENTOR_BEFORE, MENTOR_AFTER, strict=True)):
        rows.append(
            {
                "email": f"m{index + 1:03d}@uni.edu",
                "survey": "closing",
                "expectations_goals": after,
                "expectations_goals_before": before,
                "expectations_roles": after,
                "expectations_roles_before": before + 1,
                "valuable_use": 4 + index % 2,
                "intent_to_change": "yes" if index % 3 else "no",
                "intent_what": f"Plan number {index}" if index % 3 else "",
            }
        )
    for mentee, rating in (("e001", 6), ("e007", 4), ("e002", 5)):
        rows.append(
            {
                "email": f"{mentee}@uni.edu",
                "survey": "closing",
                "mentor_expectations_goals": rating,
                "mentor_expectations_goals_before": rating - 2,
                "valuable_use": 5,
            }
        )
    return rows
