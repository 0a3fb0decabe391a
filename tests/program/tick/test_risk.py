"""The risk flags, rule by rule (the rules: ``tandem/program/tick/reminders.py``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from tandem.matcher.types import Role
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.cohorts import PairAction, change_pair
from tandem.program.outbox.channels import FileOutbox
from tandem.program.reports import cohort_status
from tandem.program.storage.db import open_database
from tests.conftest import Tandem
from tests.program.helpers import Program, day, make_program, run_due

COHORT = "Fall 2026"


def checkin(program: Program, mentee: str, week: int, answers: CheckinAnswers) -> None:
    add_checkin(
        program.engine,
        COHORT,
        mentee,
        week,
        Role.MENTEE,
        answers,
        now=day(program.instants, week, days=1),
    )


def status(program: Program, week: int) -> dict[str, dict[str, object]]:
    return {
        r.mentee_id: r.as_row()
        for r in cohort_status(program.engine, COHORT, day(program.instants, week, hours=2))
    }


def test_quiet_pairs_say_since_when_and_whether_anyone_checked_in(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=3, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    met = CheckinAnswers(met=True, minutes=30)
    not_met = CheckinAnswers(met=False)
    for week in (1, 2):  # E001 met in weeks 1–2, then fell silent
        checkin(program, "E001", week, met)
    checkin(program, "E002", 2, met)  # E002 met in week 2, then checked in without meeting
    for week in range(3, 15):
        checkin(program, "E002", week, not_met)
    run_due(engine, day(program.instants, 15, hours=1), channel)
    risks = {k: v["risk"] for k, v in status(program, 15).items()}
    assert risks == {
        "E001": "no check-in since week 2",
        "E002": "checked in: did not meet since week 2",
        "E003": "no check-in yet",
    }


def test_a_meeting_in_the_week_still_open_clears_the_flag(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    for week in (1, 2):
        checkin(program, "E001", week, CheckinAnswers(met=False))
    run_due(engine, day(program.instants, 3, hours=1), channel)
    assert status(program, 3)["E001"]["risk"] == "checked in: have not met yet"
    checkin(program, "E001", 3, CheckinAnswers(met=True))  # weeks 1–2 stay the window
    run_due(engine, day(program.instants, 3, days=2), channel)
    assert status(program, 3)["E001"]["risk"] == ""


def test_a_paused_pair_is_not_flagged_and_its_paused_weeks_are_excused(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    met = CheckinAnswers(met=True, minutes=30)
    for week in (1, 2):
        checkin(program, "E001", week, met)
        checkin(program, "E002", week, met)
    run_due(engine, day(program.instants, 3, hours=1), channel)
    change_pair(
        engine, COHORT, "E001", PairAction.PAUSE, actor="coordinator", now=day(program.instants, 3)
    )
    run_due(engine, day(program.instants, 6, hours=1), channel)
    risks = {k: v["risk"] for k, v in status(program, 6).items()}
    assert risks == {"E001": "", "E002": "no check-in since week 2"}
    # Resumed in week 6: weeks 3–6 were paused (in part) and do not count.
    change_pair(
        engine,
        COHORT,
        "E001",
        PairAction.RESUME,
        actor="coordinator",
        now=day(program.instants, 6, days=1),
    )
    for week in (7, 8):  # weeks 2 and 7, then weeks 7 and 8 count
        run_due(engine, day(program.instants, week, hours=1), channel)
        assert status(program, week)["E001"]["risk"] == ""
    run_due(engine, day(program.instants, 9, hours=1), channel)
    assert status(program, 9)["E001"]["risk"] == "no check-in since week 2"


def test_answers_to_the_curriculums_rating_questions_count(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    # Week 1 asks "comfort", a rating question; nobody gives the generic rating.
    checkin(program, "E001", 1, CheckinAnswers(met=True, answers={"comfort": "1"}))
    checkin(program, "E002", 1, CheckinAnswers(met=True, answers={"comfort": "4"}))
    run_due(engine, day(program.instants, 1, days=2), channel)
    risks = {k: v["risk"] for k, v in status(program, 1).items()}
    assert risks == {"E001": 'rated "comfort" 1 of 5 in week 1', "E002": ""}


def test_the_generic_rating_still_counts(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    checkin(program, "E001", 2, CheckinAnswers(met=True, rating=2))
    run_due(engine, day(program.instants, 2, days=2), channel)
    assert status(program, 2)["E001"]["risk"] == "rated the mentoring 2 of 5 in week 2"


def test_a_completed_pair_loses_its_flags(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 16, days=1), channel)
    assert status(program, 16)["E001"]["risk"] == "no check-in yet"
    run_due(engine, day(program.instants, 16, days=8), channel)  # the program closes
    row = status(program, 16)["E001"]
    assert (row["state"], row["risk"]) == ("completed", "")


def test_last_checkin_is_the_date_of_the_week_checked_in_for(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=1, coordinator=None)
    # All check-ins imported at once, long after the weeks they are about.
    for week in (1, 2, 3):
        add_checkin(
            engine,
            COHORT,
            "E001",
            week,
            Role.MENTOR,
            CheckinAnswers(met=True),
            now=day(program.instants, 9),
        )
    assert status(program, 9)["E001"]["last_checkin"] == "2026-09-21"  # week 3's Monday


def test_the_status_command_can_show_only_the_pairs_at_risk(
    tandem: Tandem, db_url: str, tmp_path: Path
) -> None:
    engine = open_database(db_url)
    try:
        program = make_program(engine, tmp_path, pairs=2, coordinator=None)
        checkin(program, "E001", 2, CheckinAnswers(met=True, rating=1))
        run_due(engine, day(program.instants, 2, days=2), FileOutbox(tmp_path / "outbox"))
    finally:
        engine.dispose()
    now = day(program.instants, 2, days=2).isoformat(timespec="minutes").replace("+00:00", "")
    result = tandem(
        "cohort", "status", COHORT, "--at-risk", "--format", "csv", "--now", now, db=db_url
    )
    rows = result.output.splitlines()
    assert len(rows) == 2 and rows[1].startswith("E001,")
    assert rows[1].endswith(",rated the mentoring 1 of 5 in week 2")
