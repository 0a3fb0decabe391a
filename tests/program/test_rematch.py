"""`rematch`: who is freed, whom they may be proposed, and what the new pair receives."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program import rematch as rematching
from tandem.program.cohorts import (
    CohortError,
    CohortSettings,
    PairAction,
    change_pair,
    create_cohort,
)
from tandem.program.outbox.channels import FileOutbox
from tandem.program.rematch import rematch
from tandem.program.roster import store as roster
from tandem.program.storage.tables import Pair
from tandem.prompts.curriculum import load_curriculum
from tests.conftest import Tandem
from tests.program.helpers import CREATED, Program, day, make_program, outbox, run_due, store_match
from tests.program.tick.test_run_due import body

COHORT = "Fall 2026"


def add_mentors(engine: Engine, tmp_path: Path, rows: list[str]) -> None:
    path = tmp_path / "more-mentors.csv"
    path.write_text("id,name,email,capacity\n" + "\n".join(rows) + "\n", encoding="utf-8")
    roster.import_roster(engine, path, Role.MENTOR, now=CREATED)


def decline(program: Program, mentee: str, week: int) -> None:
    change_pair(
        program.engine,
        COHORT,
        mentee,
        PairAction.DECLINE,
        actor="mentee",
        role=Role.MENTEE,
        reason="not a fit",
        now=day(program.instants, week, days=1),
    )


def test_a_mentee_is_never_proposed_the_mentor_they_declined(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
    decline(program, "E001", 0)
    # M001 has room again (the declined pair holds no place) but E001 declined them.
    report = rematch(engine, COHORT, now=day(program.instants, 1))
    assert report.paired == (("E001", "M009"),)


def test_a_mentor_declined_in_another_cohort_is_not_proposed_again(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)  # Fall 2026: E001–M001, E002–M002
    decline(program, "E001", 0)  # M001 has room again, but E001 declined them
    store_match(engine, "2027", [("E001", "M002")])
    create_cohort(
        engine,
        CohortSettings(name="Spring 2027", cycle="2027", start=date(2027, 2, 1)),
        now=CREATED,
    )
    spring = day(program.instants, 0) + timedelta(weeks=21)
    change_pair(
        engine,
        "Spring 2027",
        "E001",
        PairAction.DECLINE,
        actor="mentee",
        role=Role.MENTEE,
        reason="not a fit either",
        now=spring,
    )
    report = rematch(engine, "Spring 2027", now=spring)
    assert (report.freed, report.paired, report.still_unmatched) == (1, (), ("E001",))


def test_exclusions_keep_a_mentor_from_a_mentee(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
    decline(program, "E001", 0)
    report = rematching.rematch(
        engine, COHORT, now=day(program.instants, 1), exclude=[("E001", "M009")]
    )
    assert (report.freed, report.paired, report.still_unmatched) == (1, (), ("E001",))


def test_a_mentee_whose_pair_ended_mid_program_is_served(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
    run_due(engine, day(program.instants, 1, hours=1), FileOutbox(tmp_path / "outbox"))
    change_pair(
        engine,
        COHORT,
        "E002",
        PairAction.END,
        actor="coordinator",
        reason="mentor moved abroad",
        now=day(program.instants, 5),
    )
    report = rematch(engine, COHORT, now=day(program.instants, 5, hours=1))
    assert report.paired == (("E002", "M009"),)
    assert rematch(engine, COHORT, now=day(program.instants, 5, hours=2)).freed == 0


def test_a_rematched_pair_gets_its_own_introduction_and_catches_up_on_alignment(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 0, hours=1), channel)
    decline(program, "E001", 0)
    rematch(engine, COHORT, now=day(program.instants, 6, hours=2))  # in week 6: 10 weeks left
    with Session(engine) as session:
        new = session.exec(select(Pair).where(Pair.first_week > 1)).one()
    assert new.first_week == 7
    run_due(engine, day(program.instants, 6, hours=3), channel)
    intro = [m for m in outbox(engine, kind="intro", pair_pk=new.pk)]
    assert len(intro) == 2
    assert "for the next 10 weeks" in " ".join(body(intro[0]).split())
    run_due(engine, day(program.instants, 7, hours=1), channel)
    first = outbox(engine, kind="weekly", pair_pk=new.pk, recipient_role="mentee")
    assert [m.week for m in first] == [7]
    text = " ".join(body(first[0]).split())
    curriculum = load_curriculum()
    alignment = [
        curriculum.week(w.number, new.track).title
        for w in curriculum.weeks
        if w.phase.value == "alignment"
    ]
    assert alignment and "Catching up" in text
    assert [title for title in alignment if title not in text] == []
    run_due(engine, day(program.instants, 8, hours=1), channel)
    second = outbox(engine, kind="weekly", pair_pk=new.pk, recipient_role="mentee", week=8)
    assert "Catching up" not in body(second[0])


def test_a_closed_cohort_has_nothing_to_rematch(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    run_due(engine, day(program.instants, 16, days=8), FileOutbox(tmp_path / "outbox"))
    with pytest.raises(CohortError, match="has closed"):
        rematch(engine, COHORT, now=day(program.instants, 16, days=9))


def test_exclusions_are_parsed_or_refused() -> None:
    assert rematching.parse_exclusion(" E005:M002 ") == ("E005", "M002")
    with pytest.raises(CohortError, match="expected MENTEE:MENTOR"):
        rematching.parse_exclusion("E005-M002")


def test_the_rematch_command_takes_exclusions(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    from tandem.program.storage.db import open_database

    engine = open_database(db_url)
    try:
        program = make_program(engine, tmp_path, pairs=2)
        add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
        decline(program, "E001", 0)
    finally:
        engine.dispose()
    now = day(program.instants, 1).isoformat(timespec="minutes").replace("+00:00", "")
    result = tandem("cohort", "rematch", COHORT, "--exclude", "E001:M009", "--now", now, db=db_url)
    assert result.output == "1 freed mentee; 0 newly paired\nstill without a mentor: E001\n"


def test_a_rematched_pair_counts_its_own_weeks_and_the_programs(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    add_mentors(engine, tmp_path, ["M009,Mentor 9,mentor9@uni.edu,1"])
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 0, hours=1), channel)
    decline(program, "E001", 0)
    rematch(engine, COHORT, now=day(program.instants, 6, hours=2))  # weeks 7 to 16: 10 weeks
    run_due(engine, day(program.instants, 6, hours=3), channel)
    for week in (7, 8):
        run_due(engine, day(program.instants, week, hours=1), channel)
    run_due(engine, day(program.instants, 8, days=3, hours=1), channel)  # reminders
    with Session(engine) as session:
        new = session.exec(select(Pair).where(Pair.first_week > 1)).one()
    curriculum = load_curriculum()

    def message(kind: str, week: int, pair_pk: int | None = new.pk) -> tuple[str, str]:
        (row,) = outbox(engine, kind=kind, week=week, pair_pk=pair_pk, recipient_role="mentee")
        return row.subject, " ".join(body(row).split())

    title = curriculum.week(8, new.track).title
    subject, text = message("weekly", 7)
    assert subject == (
        f"Fall 2026, your week 1 of 10: {curriculum.week(7, new.track).title} (with Mentor)"
    )
    assert "Here is your week 1 of 10 in Fall 2026 (week 7 of the program's 16), for " in text
    subject, text = message("weekly", 8)
    assert subject == f"Fall 2026, your week 2 of 10: {title} (with Mentor)"
    assert "Here is your week 2 of 10 in Fall 2026 (week 8 of the program's 16), for " in text
    subject, text = message("reminder", 8)
    assert subject == "Fall 2026: your week 2 check-in"
    assert (
        f'your check-in for week 2 of your 10 weeks (week 8 of the program\'s 16), "{title}"'
        in text
    )
    # A pair that started in week 1 reads the program's count, as before.
    (other,) = [p for p in outbox(engine, kind="weekly", week=8) if p.pair_pk != new.pk][:1]
    assert other.subject.startswith("Fall 2026, week 8 of 16: ")
    assert "Here is week 8 of 16 in Fall 2026, for " in " ".join(body(other).split())
