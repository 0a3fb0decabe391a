"""Check-ins from a survey export and from the signed link in each weekly message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.checkins import CheckinAnswers, CheckinError, import_checkins, record_from_link
from tandem.program.roster.files import InputFileError
from tandem.program.storage.tables import CheckIn, Cohort, Pair
from tandem.program.tokens import ExpiredTokenError, TamperedTokenError, make_token
from tests.program.helpers import day, make_program


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
        secret = bytes.fromhex(cohort.secret)
    now = day(program.instants, 3, days=1)
    token = make_token(
        secret, pair_id=pair.pk, week=3, role="mentee", expires=now + timedelta(days=7)
    )
    assert record_from_link(engine, token, CheckinAnswers(met=True, rating=5), now=now)[1:] == (
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
        )
    with pytest.raises(ExpiredTokenError):
        record_from_link(engine, token, CheckinAnswers(met=True), now=now + timedelta(days=8))
    foreign = make_token(
        b"x" * 32, pair_id=pair.pk, week=3, role="mentor", expires=now + timedelta(days=7)
    )
    with pytest.raises(TamperedTokenError):
        record_from_link(engine, foreign, CheckinAnswers(met=True), now=now)
    late = make_token(
        secret, pair_id=pair.pk, week=40, role="mentor", expires=now + timedelta(days=7)
    )
    with pytest.raises(CheckinError, match="week 40 is outside"):
        record_from_link(engine, late, CheckinAnswers(met=True), now=now)
