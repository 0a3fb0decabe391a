"""Withdrawing a participant: kept for history, never matched or messaged again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program.outbox.channels import FileOutbox
from tandem.program.roster.store import load_profiles
from tandem.program.storage.tables import AuditEntry, Pair, Participant
from tests.conftest import Tandem
from tests.program.helpers import day, make_program, outbox, run_due


def test_a_withdrawn_mentor_ends_their_pairs_and_gets_no_more_messages(
    engine: Engine, tmp_path: Path
) -> None:
    from tandem.program.withdrawal import withdraw_participant

    program = make_program(engine, tmp_path, pairs=2, coordinator=None)
    channel = FileOutbox(tmp_path / "outbox")
    run_due(engine, day(program.instants, 2, hours=1), channel)
    result = withdraw_participant(
        engine,
        "M001",
        role=Role.MENTOR,
        reason="left the university",
        actor="coordinator",
        now=day(program.instants, 2, days=2),
    )
    assert result.pairs_ended == (("Fall 2026", "E001", "M001"),)
    assert result.lines()[0] == "Withdrew mentor M001: no longer matched or messaged."
    with Session(engine) as session:
        pair = session.exec(select(Pair).where(Pair.mentor_pk == 1)).one()
        assert (pair.state, pair.state_reason) == ("ended", "left the university")
        mentor = session.exec(select(Participant).where(Participant.external_id == "M001")).one()
        assert mentor.withdrawn_at == day(program.instants, 2, days=2)
        assert session.exec(select(AuditEntry.action)).all() == ["withdraw"]
    run_due(engine, day(program.instants, 3, hours=1), channel)
    assert {m.recipient_email for m in outbox(engine, kind="weekly", week=3)} == {
        "mentor2@uni.edu",
        "mentee2@uni.edu",
    }
    mentees, mentors = load_profiles(engine)
    assert [m.id for m in mentors] == ["M002"] and len(mentees) == 2
    again = withdraw_participant(
        engine, "M001", reason="again", actor="coordinator", now=day(program.instants, 3)
    )
    assert again.already and again.pairs_ended == ()


def test_withdrawing_needs_a_reason_and_a_known_id(engine: Engine, tmp_path: Path) -> None:
    from tandem.program.withdrawal import WithdrawalError, withdraw_participant

    program = make_program(engine, tmp_path, pairs=1)
    now = day(program.instants, 1)
    with pytest.raises(WithdrawalError, match="--reason"):
        withdraw_participant(engine, "E001", reason=" ", actor="c", now=now)
    with pytest.raises(WithdrawalError, match='no participant with id "E404"'):
        withdraw_participant(engine, "E404", reason="x", actor="c", now=now)


def test_the_withdraw_command(tandem: Tandem, db_url: str, tmp_path: Path) -> None:
    from tandem.program.storage.db import open_database

    engine = open_database(db_url)
    try:
        make_program(engine, tmp_path, pairs=1)
    finally:
        engine.dispose()
    result = tandem(
        "participants",
        "withdraw",
        "E001",
        "--reason",
        "moved to industry",
        "--now",
        "2026-09-20T12:00",
        db=db_url,
    )
    assert result.output == (
        "Withdrew mentee E001: no longer matched or messaged.\n  ended: Fall 2026, E001 with M001\n"
    )
