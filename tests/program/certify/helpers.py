"""Building program histories for the certification tests: pairs, check-ins, the close."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.certify import (
    CertificationRules,
    evaluate_cohort,
    issuer_settings,
    load_rules,
    parse_rules,
)
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.outbox.channels import FileOutbox
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import CheckIn, Pair, Participant
from tests.program.helpers import Program, day, make_program, run_due

ISSUER = issuer_settings(name="Example Mentoring", url="https://mentoring.example.edu")
"""The issuer every certificate of these tests names."""


def start(engine: Engine, tmp_path: Path, pairs: int) -> Program:
    """A cohort whose pairs were introduced at the start and are active (the response
    window closed at week 2)."""
    program = make_program(engine, tmp_path, pairs=pairs, coordinator=None)
    for instant in (program.instants[0], day(program.instants, 2, hours=1)):
        run_due(engine, instant, FileOutbox(tmp_path / "outbox"))
    return program


def met(
    engine: Engine,
    program: Program,
    mentee: str,
    weeks: Iterable[int],
    role: Role = Role.MENTOR,
    *,
    note: str | None = None,
) -> None:
    for week in weeks:
        add_checkin(
            engine,
            program.name,
            mentee,
            week,
            role,
            CheckinAnswers(met=True, minutes=45, note=note),
            now=day(program.instants, week, days=2),
        )


def closing(engine: Engine, program: Program, mentee: str, **answers: Any) -> None:
    """The mentor's final-week check-in (no meeting that week), with stored answers."""
    add_checkin(
        engine,
        program.name,
        mentee,
        16,
        Role.MENTOR,
        CheckinAnswers(met=False),
        now=day(program.instants, 16, days=2),
    )
    if answers:
        set_answers(engine, mentee, 16, Role.MENTOR, answers)


def set_answers(
    engine: Engine, mentee: str, week: int, role: Role, answers: dict[str, Any]
) -> None:
    """Answers as a check-in form that asks the curriculum's questions stores them."""
    with transaction(engine) as session:
        row = session.exec(
            select(CheckIn)
            .join(Pair, col(Pair.pk) == CheckIn.pair_pk)
            .join(Participant, col(Participant.pk) == Pair.mentee_pk)
            .where(Participant.external_id == mentee, CheckIn.week == week, CheckIn.role == role)
        ).one()
        row.answers = answers
        session.add(row)


def close(engine: Engine, program: Program, tmp_path: Path) -> datetime:
    """Run the tick that closes the program; returns an instant after it."""
    run_due(
        engine,
        day(program.instants, 16, days=8),
        FileOutbox(tmp_path / "outbox"),
    )
    return day(program.instants, 16, days=9)


def complete(engine: Engine, program: Program, mentee: str, weeks: Iterable[int]) -> None:
    met(engine, program, mentee, weeks)
    closing(engine, program, mentee)


def verdicts(
    engine: Engine, program: Program, now: datetime, rules: CertificationRules | None = None
) -> dict[str, tuple[str, ...] | None]:
    """Mentor id → None if eligible, else what is unmet."""
    evaluation = evaluate_cohort(engine, program.name, rules or load_rules(), now=now)
    return {m.mentor_id: None if m.eligible else m.unmet() for m in evaluation.mentors}


def rules_with(change: Any) -> CertificationRules:
    """The shipped rules with ``change(data)`` applied to their TOML data."""
    text = (
        resources.files("tandem.program.certify").joinpath("certification_rules.toml").read_text()
    )
    data = tomllib.loads(text)
    change(data)
    return parse_rules(data, "test-rules.toml")


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())
