"""Check-ins from a survey export and from the signed link in each weekly message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.checkins import (
    CheckinAnswers,
    CheckinError,
    add_checkin,
    import_checkins,
    list_checkins,
    record_from_link,
)
from tandem.program.cohorts import CohortSettings, create_cohort, send_instants
from tandem.program.link_keys import link_secrets
from tandem.program.roster import store as roster
from tandem.program.roster.files import InputFileError
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import CheckIn, Cohort, Pair
from tandem.program.tokens import ExpiredTokenError, TamperedTokenError, make_token
from tests.program.helpers import (
    CREATED,
    LINK_KEYS,
    START,
    Program,
    day,
    make_program,
    roster_files,
    store_match,
)


def stored(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as session:
        return [
            c.model_dump(exclude={"pk", "recorded_at"})
            for c in session.exec(select(CheckIn).order_by(col(CheckIn.pk))).all()
        ]


def test_import_is_validated_atomic_and_idempotent(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    good = tmp_path / "week1.csv"
    good.write_text(
        "Timestamp,Email,Week,Met,Minutes,Mode,Rating,q_agenda_shared\n"
        "2026-09-08,mentor1@uni.edu,1,yes,45,Zoom,4,yes\n"
        "2026-09-08,mentee1@uni.edu,1,no,,,,\n",
        encoding="utf-8",
    )
    report = import_checkins(engine, "Fall 2026", good, now=day(program.instants, 1, days=1))
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    again = import_checkins(engine, "Fall 2026", good, now=day(program.instants, 1, days=2))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    rows = stored(engine)
    assert rows[0]["mode"] == "video" and rows[0]["answers"] == {"agenda_shared": "yes"}

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,week,met,rating\n"
        "mentor2@uni.edu,1,maybe,4\n"
        "nobody@uni.edu,1,yes,3\n"
        "mentee2@uni.edu,40,yes,9\n",
        encoding="utf-8",
    )
    before = stored(engine)
    with pytest.raises(InputFileError) as raised:
        import_checkins(engine, "Fall 2026", bad, now=day(program.instants, 1, days=3))
    assert [str(p) for p in raised.value.problems] == [
        "bad.csv, row 2, column \"met\": expected yes or no, got 'maybe'",
        'bad.csv, row 3, column "email": no one in cohort "Fall 2026" has e-mail \'nobody@uni.edu\'',
        'bad.csv, row 4, column "rating": Input should be less than or equal to 5',
    ]
    assert stored(engine) == before


def test_a_link_records_for_its_own_pair_week_and_person_only(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pair = session.exec(select(Pair).order_by(col(Pair.pk))).first()
        assert pair is not None and pair.pk is not None
        secret = link_secrets(LINK_KEYS, cohort)
    now = day(program.instants, 3, days=1)
    token = make_token(
        secret, pair_id=pair.pk, week=3, role="mentee", expires=now + timedelta(days=7)
    )
    assert record_from_link(
        engine, token, CheckinAnswers(met=True, rating=5), now=now, link_keys=LINK_KEYS
    )[1:] == (
        3,
        "mentee",
    )
    assert [(c["pair_pk"], c["week"], c["role"]) for c in stored(engine)] == [
        (pair.pk, 3, "mentee")
    ]
    with pytest.raises(TamperedTokenError):
        record_from_link(
            engine,
            token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
            CheckinAnswers(met=True),
            now=now,
            link_keys=LINK_KEYS,
        )
    with pytest.raises(ExpiredTokenError):
        record_from_link(
            engine,
            token,
            CheckinAnswers(met=True),
            now=now + timedelta(days=8),
            link_keys=LINK_KEYS,
        )
    foreign = make_token(
        b"x" * 32, pair_id=pair.pk, week=3, role="mentor", expires=now + timedelta(days=7)
    )
    with pytest.raises(TamperedTokenError):
        record_from_link(engine, foreign, CheckinAnswers(met=True), now=now, link_keys=LINK_KEYS)
    late = make_token(
        secret, pair_id=pair.pk, week=40, role="mentor", expires=now + timedelta(days=7)
    )
    with pytest.raises(CheckinError, match="week 40 is outside"):
        record_from_link(engine, late, CheckinAnswers(met=True), now=now, link_keys=LINK_KEYS)


def shared_mentor_program(engine: Engine, tmp_path: Path) -> Program:
    """M001 mentors E001 and E002; M002 mentors E003."""
    mentors, mentees = roster_files(tmp_path, 3)
    roster.import_roster(engine, mentors, Role.MENTOR, now=CREATED)
    roster.import_roster(engine, mentees, Role.MENTEE, now=CREATED)
    store_match(engine, "2026", [("E001", "M001"), ("E002", "M001"), ("E003", "M002")])
    create_cohort(
        engine,
        CohortSettings(
            name="Fall 2026",
            cycle="2026",
            start=START,
            timezone="America/New_York",
            sender="Tandem <mentoring@uni.edu>",
        ),
        now=CREATED,
    )
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        return Program(engine, cohort.name, send_instants(cohort))


def test_a_mentor_with_several_mentees_is_told_apart_by_the_partner(
    engine: Engine, tmp_path: Path
) -> None:
    program = shared_mentor_program(engine, tmp_path)
    export = tmp_path / "week2.csv"
    export.write_text(
        "email,partner_email,partner,week,met,rating\n"
        "mentor1@uni.edu,Mentee1@uni.edu,,2,yes,4\n"
        "mentor1@uni.edu,,mentee  2,2,no,\n"
        "mentor2@uni.edu,,,2,yes,5\n",
        encoding="utf-8",
    )
    report = import_checkins(engine, "Fall 2026", export, now=day(program.instants, 2, days=1))
    assert report.added == 3
    listed = list_checkins(engine, "Fall 2026", week=2)
    assert [(r.mentee_id, r.mentor_id, r.role, r.met, r.rating) for r in listed] == [
        ("E001", "M001", "mentor", True, 4),
        ("E002", "M001", "mentor", False, None),
        ("E003", "M002", "mentor", True, 5),
    ]

    ambiguous = tmp_path / "ambiguous.csv"
    ambiguous.write_text("email,week,met\nmentor1@uni.edu,2,yes\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        import_checkins(engine, "Fall 2026", ambiguous, now=day(program.instants, 2, days=2))
    assert [str(p) for p in raised.value.problems] == [
        'ambiguous.csv, row 2, column "email": this mentor has 2 pairs in week 2; add a '
        "partner_email column with the partner's e-mail (or partner with their name)",
    ]
    ambiguous.write_text(
        "email,partner_email,week,met\n"
        "mentor1@uni.edu,,2,yes\n"
        "mentor1@uni.edu,mentee3@uni.edu,2,yes\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as raised:
        import_checkins(engine, "Fall 2026", ambiguous, now=day(program.instants, 2, days=2))
    assert [str(p) for p in raised.value.problems] == [
        'ambiguous.csv, row 2, column "email": this mentor has 2 pairs in week 2; fill in '
        "this row's partner_email with the partner's e-mail",
        "ambiguous.csv, row 3, column \"partner_email\": 'mentor1@uni.edu' has no pair in "
        'cohort "Fall 2026" that matches this row\'s partner_email',
    ]


def test_a_mentor_whose_other_pair_ended_needs_no_partner_column(
    engine: Engine, tmp_path: Path
) -> None:
    program = shared_mentor_program(engine, tmp_path)
    with transaction(engine) as session:
        pair = session.exec(select(Pair).order_by(col(Pair.pk))).first()
        assert pair is not None
        pair.state = "declined"
        session.add(pair)
    export = tmp_path / "week1.csv"
    export.write_text("email,week,met\nmentor1@uni.edu,1,yes\n", encoding="utf-8")
    assert import_checkins(engine, "Fall 2026", export, now=day(program.instants, 1)).added == 1
    assert [r.mentee_id for r in list_checkins(engine, "Fall 2026")] == ["E002"]


def test_answers_to_rating_questions_are_stored_as_numbers(engine: Engine, tmp_path: Path) -> None:
    program = make_program(engine, tmp_path, pairs=1)
    export = tmp_path / "week1.csv"
    # Week 1 asks "comfort" (a rating) of everyone; "minutes" is asked every week.
    export.write_text(
        "email,week,met,q_comfort,q_minutes,q_other\nmentee1@uni.edu,1,yes, 4 ,30,5\n",
        encoding="utf-8",
    )
    import_checkins(engine, "Fall 2026", export, now=day(program.instants, 1, days=1))
    assert stored(engine)[0]["answers"] == {"comfort": 4, "minutes": 30, "other": "5"}

    bad = tmp_path / "bad.csv"
    bad.write_text("email,week,met,q_comfort\nmentor1@uni.edu,1,yes,7\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        import_checkins(engine, "Fall 2026", bad, now=day(program.instants, 1, days=1))
    assert [str(p) for p in raised.value.problems] == [
        "bad.csv, row 2, column \"q_comfort\": expected a rating from 1 to 5, got '7'"
    ]
    outcome = add_checkin(
        engine,
        "Fall 2026",
        "E001",
        1,
        Role.MENTOR,
        CheckinAnswers(met=True, answers={"comfort": "5"}),
        now=day(program.instants, 1, days=2),
    )
    assert outcome == "added"
    assert stored(engine)[1]["answers"] == {"comfort": 5}


def test_optional_answers_may_be_left_out_and_bad_ones_are_one_clear_error() -> None:
    assert CheckinAnswers.parse(met=True, minutes=45, mode=None, rating=4).mode is None
    assert CheckinAnswers.parse(met=False, minutes=None, rating=None, topic=None).rating is None
    with pytest.raises(CheckinError) as raised:
        CheckinAnswers.parse(met=True, rating=9, mode="carrier pigeon")
    assert raised.value.message == (
        "check-in not recorded: mode: expected one of video, phone, in_person, async, got "
        "'carrier pigeon'; rating: Input should be less than or equal to 5"
    )


def test_the_coordinators_list_shows_notes_in_the_cohorts_time_zone(
    engine: Engine, tmp_path: Path
) -> None:
    program = make_program(engine, tmp_path, pairs=2)
    at = datetime(2026, 9, 15, 14, 30, tzinfo=UTC)
    add_checkin(
        engine,
        "Fall 2026",
        "E002",
        2,
        Role.MENTEE,
        CheckinAnswers(met=True, note="needs a new slot"),
        now=at,
    )
    add_checkin(engine, "Fall 2026", "E001", 1, Role.MENTOR, CheckinAnswers(met=False), now=at)
    rows = [r.as_row() for r in list_checkins(engine, program.name)]
    assert [(r["week"], r["mentee_id"], r["note"], r["recorded_at"]) for r in rows] == [
        (1, "E001", None, "2026-09-15T10:30-04:00"),
        (2, "E002", "needs a new slot", "2026-09-15T10:30-04:00"),
    ]
    assert list_checkins(engine, program.name, week=3) == []
    with pytest.raises(CheckinError, match="week 17 is outside"):
        list_checkins(engine, program.name, week=17)


def test_the_cohort_status_dates_the_last_check_in_by_the_week_it_is_about(
    engine: Engine, tmp_path: Path
) -> None:
    from tandem.program.reports import cohort_status

    program = make_program(engine, tmp_path, pairs=1)
    late_evening = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)  # recorded in week 2
    add_checkin(
        engine, program.name, "E001", 1, Role.MENTEE, CheckinAnswers(met=True), now=late_evening
    )
    [row] = cohort_status(engine, program.name, late_evening)
    assert row.last_checkin == "2026-09-07"  # week 1's first day, in the cohort's calendar


def test_a_checkin_for_a_week_that_has_not_begun_is_refused_everywhere(
    engine: Engine, tmp_path: Path
) -> None:
    """A week-10 check-in at week 4 was accepted: cohort status then showed a last
    check-in in the future and the pair's risk cleared. Week 10 (a Monday, 2026-11-09)
    begins at local midnight in the cohort's zone, not at its send time."""
    from tandem.program.checkins import WeekNotBegunError
    from tandem.program.reports import cohort_status

    program = make_program(engine, tmp_path, pairs=2)  # America/New_York, weeks on Mondays
    week_4 = day(program.instants, 4, days=1)
    refusal = (
        "week 10 has not begun: it begins on Mon 2026-11-09 (America/New_York); "
        "record its check-in from then on"
    )
    met = CheckinAnswers(met=True, minutes=30)
    with pytest.raises(WeekNotBegunError) as caught:
        add_checkin(engine, "Fall 2026", "E001", 10, Role.MENTOR, met, now=week_4)
    assert caught.value.message == refusal
    # From the local start of the day: 23:59 the day before is too early, midnight is not.
    night_before = datetime(2026, 11, 9, 4, 59, tzinfo=UTC)  # 23:59 in New York (EST)
    with pytest.raises(WeekNotBegunError):
        add_checkin(engine, "Fall 2026", "E001", 10, Role.MENTOR, met, now=night_before)
    assert stored(engine) == []
    assert [s.last_checkin for s in cohort_status(engine, "Fall 2026", week_4)] == [None, None]

    export = tmp_path / "ahead.csv"
    export.write_text(
        "email,week,met\nmentor1@uni.edu,4,yes\nmentee2@uni.edu,10,yes\n", encoding="utf-8"
    )
    with pytest.raises(InputFileError) as raised:
        import_checkins(engine, "Fall 2026", export, now=week_4)
    assert [str(p) for p in raised.value.problems] == [
        f'ahead.csv, row 3, column "week": {refusal}'
    ]
    assert stored(engine) == []  # not even row 2: all or nothing

    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        pair_pk = session.exec(select(Pair.pk).order_by(col(Pair.pk))).first()
        assert pair_pk is not None
    token = make_token(
        link_secrets(LINK_KEYS, cohort),
        pair_id=pair_pk,
        week=10,
        role="mentee",
        expires=week_4 + timedelta(days=60),
    )  # as a tick simulated ahead of time would make it
    with pytest.raises(WeekNotBegunError, match="week 10 has not begun"):
        record_from_link(engine, token, met, now=week_4, link_keys=LINK_KEYS)
    assert stored(engine) == []

    midnight = datetime(2026, 11, 9, 5, 0, tzinfo=UTC)  # 00:00 in New York
    assert record_from_link(engine, token, met, now=midnight, link_keys=LINK_KEYS)[1] == 10
    assert add_checkin(engine, "Fall 2026", "E001", 10, Role.MENTOR, met, now=midnight) == "added"
    assert import_checkins(engine, "Fall 2026", export, now=midnight).added == 2
