"""Cycles and cohorts side by side: a cycle matches its own applicants, mentors' places in
running cohorts count against their capacity, and two cohorts tick together."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortSettings, create_cohort, send_instants
from tandem.program.outbox.channels import FileOutbox
from tandem.program.roster.store import import_roster, load_profiles
from tandem.program.runs import MatchRequest, run_match
from tandem.program.storage.tables import Cohort, MatchPair, Pair, Participant
from tests.conftest import Tandem
from tests.program.helpers import outbox, run_due

NOW = datetime(2026, 8, 1, tzinfo=UTC)


def write(tmp_path: Path, name: str, rows: list[str], mentors: bool) -> Path:
    header = "id,name,email,capacity,career_stage" if mentors else "id,name,email,career_stage"
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def mentor(n: int, capacity: int) -> str:
    return f"M{n:03d},Mentor {n},mentor{n}@uni.edu,{capacity},senior_faculty"


def mentee(n: int) -> str:
    return f"E{n:03d},Mentee {n},mentee{n}@uni.edu,graduate_student"


def cohort(engine: Engine, name: str, cycle: str, start: date) -> list[datetime]:
    settings = CohortSettings(
        name=name,
        cycle=cycle,
        start=start,
        timezone="America/New_York",
        send_day="mon",
        sender="Tandem <mentoring@uni.edu>",
    )
    create_cohort(engine, settings, now=NOW)
    with Session(engine) as session:
        return send_instants(session.exec(select(Cohort).where(Cohort.name == name)).one())


def pairs_of(engine: Engine, cycle: str) -> set[tuple[str, str]]:
    with Session(engine) as session:
        from tandem.program.storage.tables import MatchRun

        run = session.exec(select(MatchRun).where(MatchRun.cycle == cycle)).one()
        return {
            (p.mentee_id, p.mentor_id)
            for p in session.exec(select(MatchPair).where(MatchPair.run_pk == run.pk)).all()
        }


def two_cycles(engine: Engine, tmp_path: Path) -> None:
    """Cycle 2026: M001 (room for 1) with E001; cycle 2027: M001 (now room for 2) and
    M003 (1), and three new mentees; M002 and E001 do not apply again."""
    import_roster(
        engine, write(tmp_path, "m26.csv", [mentor(1, 1)], True), Role.MENTOR, now=NOW, cycle="2026"
    )
    # M002 is on file but applied to no cycle: cycles with mentor applications leave them out.
    import_roster(engine, write(tmp_path, "m.csv", [mentor(2, 1)], True), Role.MENTOR, now=NOW)
    import_roster(
        engine, write(tmp_path, "e26.csv", [mentee(1)], False), Role.MENTEE, now=NOW, cycle="2026"
    )
    run_match(engine, MatchRequest(cycle="2026"), now=NOW)
    cohort(engine, "Fall 2026", "2026", date(2026, 9, 7))
    import_roster(
        engine,
        write(tmp_path, "m27.csv", [mentor(1, 2), mentor(3, 1)], True),
        Role.MENTOR,
        now=NOW,
        cycle="2027",
    )
    import_roster(
        engine,
        write(tmp_path, "e27.csv", [mentee(101), mentee(102), mentee(103)], False),
        Role.MENTEE,
        now=NOW,
        cycle="2027",
    )


def test_a_cycle_matches_its_applicants_within_the_places_mentors_have_left(
    engine: Engine, tmp_path: Path
) -> None:
    two_cycles(engine, tmp_path)
    mentees, mentors = load_profiles(engine, "2027")
    assert [m.id for m in mentees] == ["E101", "E102", "E103"]
    assert [(m.id, m.capacity) for m in mentors] == [("M001", 2), ("M003", 1)]
    summary = run_match(engine, MatchRequest(cycle="2027"), now=NOW)
    # M001 holds one place in Fall 2026, which is still running: one place left.
    assert (summary.mentees, summary.matched) == (3, 2)
    matched = pairs_of(engine, "2027")
    assert Counter(m for _, m in matched) == Counter({"M001": 1, "M003": 1})
    assert {e for e, _ in matched} <= {"E101", "E102", "E103"}
    assert pairs_of(engine, "2026") == {("E001", "M001")}


def test_a_cycle_without_applications_still_matches_everyone(
    engine: Engine, tmp_path: Path
) -> None:
    import_roster(engine, write(tmp_path, "m.csv", [mentor(1, 2)], True), Role.MENTOR, now=NOW)
    import_roster(
        engine, write(tmp_path, "e.csv", [mentee(1), mentee(2)], False), Role.MENTEE, now=NOW
    )
    assert run_match(engine, MatchRequest(cycle="2026"), now=NOW).matched == 2


def test_two_cohorts_of_two_cycles_tick_side_by_side_sharing_a_mentor(
    engine: Engine, tmp_path: Path
) -> None:
    two_cycles(engine, tmp_path)
    run_match(engine, MatchRequest(cycle="2027"), now=NOW)
    fall = send_instants_of(engine, "Fall 2026")
    spring = cohort(engine, "Winter 2027", "2027", date(2026, 10, 5))  # starts 4 weeks later
    channel = FileOutbox(tmp_path / "outbox")
    instant = fall[0]
    end = spring[-1] + timedelta(days=8)
    while instant <= end:  # a tick every 12 hours through both programs
        run_due(engine, instant + timedelta(hours=1), channel)
        instant += timedelta(hours=12)
    with Session(engine) as session:
        by_name = {c.name: c for c in session.exec(select(Cohort)).all()}
        assert all(c.completed_at is not None for c in by_name.values())
        people = {p.pk: p.external_id for p in session.exec(select(Participant)).all()}
        pairs = session.exec(select(Pair)).all()
        assert {p.state for p in pairs} == {"completed"}
        held = Counter(people[p.mentor_pk] for p in pairs)
        assert held["M001"] == 2  # one pair in each cohort: within a capacity of 2
    weekly = outbox(engine, kind="weekly")
    per_cohort_week = Counter((m.cohort_pk, m.recipient_email, m.week) for m in weekly)
    assert set(per_cohort_week.values()) == {1}  # one topic per person, cohort and week
    to_m001 = Counter(m.cohort_pk for m in weekly if m.recipient_email == "mentor1@uni.edu")
    assert sorted(to_m001.values()) == [16, 16]
    assert fall[0] < spring[0] < fall[-1]  # they overlapped


def send_instants_of(engine: Engine, name: str) -> list[datetime]:
    with Session(engine) as session:
        return send_instants(session.exec(select(Cohort).where(Cohort.name == name)).one())


def test_import_records_the_cycle_applied_to(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", [mentor(1, 2), mentor(2, 1)], True)
    result = tandem("import", "mentors", path, "--cycle", "2028", db=db_url)
    assert result.output == "m.csv: 2 added, 0 updated, 0 unchanged mentors\n" + (
        "  2 new applicants to cycle 2028\n"
    )
    again = tandem("import", "mentors", path, "--cycle", "2028", db=db_url)
    assert again.output.endswith("  0 new applicants to cycle 2028\n")


def test_a_second_cohort_of_a_cycle_is_refused_even_after_a_new_match_run(
    engine: Engine, tmp_path: Path
) -> None:
    """Every pair of the cycle is in its first cohort: a second cohort of the cycle,
    from its run or a later one, would propose them all again."""
    from tandem.program.cohorts import CohortError
    from tests.program.helpers import make_program, store_match

    make_program(engine, tmp_path, pairs=2)  # Fall 2026, cycle 2026
    store_match(engine, "2026", [("E001", "M002"), ("E002", "M001")])
    for name in ("Fall 2026 again", "Winter 2026"):
        with pytest.raises(CohortError, match='cycle "2026" already has cohort "Fall 2026"'):
            cohort(engine, name, "2026", date(2026, 11, 2))
    with Session(engine) as session:
        assert [c.name for c in session.exec(select(Cohort)).all()] == ["Fall 2026"]
        assert len(session.exec(select(Pair)).all()) == 2
