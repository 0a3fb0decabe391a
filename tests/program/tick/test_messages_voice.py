"""What participants read: messages that speak to them, from a person they can reach.

Each test reads the messages of a small program as a mentor and as a mentee would.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program.cohorts import CohortSettings, Confirmation, create_cohort, send_instants
from tandem.program.link_keys import link_secrets
from tandem.program.links import open_introduction
from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.store import unpack
from tandem.program.roster import store as roster
from tandem.program.roster.files import InputFileError
from tandem.program.storage.enums import AddressBy
from tandem.program.storage.tables import Cohort, OutboxMessage, Participant
from tandem.program.tokens import make_token
from tandem.prompts.resources import Resource
from tests.program.helpers import CREATED, LINK_KEYS, START, day, outbox, run_due, store_match

MENTORS = """\
id,name,email,capacity,career_stage,languages,expertise,share
M001,Dr. Maria Santos,maria@uni.edu,1,senior_faculty,English; Portuguese,work-life integration; grant writing,
M002,Prof. Wei Chen,wei@uni.edu,1,senior_faculty,Mandarin,grant writing,career_stage; languages
"""
MENTEES = """\
id,name,email,career_stage,languages,goals,preferred_name,share
E001,Jordan Reyes,jordan@uni.edu,graduate_student,English,work–life integration,,
E002,Aiko Tanaka,aiko@uni.edu,postdoc,Japanese; English,grant writing,Ai,none
"""


def _program(
    engine: Engine,
    tmp_path: Path,
    *,
    confirmation: Confirmation = Confirmation.OPT_OUT,
    **voice: Any,
) -> list[datetime]:
    (tmp_path / "mentors.csv").write_text(MENTORS, encoding="utf-8")
    (tmp_path / "mentees.csv").write_text(MENTEES, encoding="utf-8")
    roster.import_roster(engine, tmp_path / "mentors.csv", Role.MENTOR, now=CREATED)
    roster.import_roster(engine, tmp_path / "mentees.csv", Role.MENTEE, now=CREATED)
    store_match(engine, "2026", [("E001", "M001"), ("E002", "M002")])
    settings = CohortSettings(
        name="Fall 2026",
        cycle="2026",
        start=START,
        timezone="America/New_York",
        confirmation=confirmation,
        coordinator_email="alex.kim@uni.edu",
        sender="Tandem <mentoring@uni.edu>",
        **voice,
    )
    create_cohort(engine, settings, now=CREATED)
    with Session(engine) as session:
        return send_instants(session.exec(select(Cohort)).one())


def _message(row: OutboxMessage) -> EmailMessage:
    parsed = message_from_bytes(unpack(row.content), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(row: OutboxMessage) -> str:
    part = _message(row).get_body(("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def _html(row: OutboxMessage) -> str:
    part = _message(row).get_body(("html",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def _one(engine: Engine, email: str, kind: str, week: int | None = None) -> OutboxMessage:
    rows = [
        m
        for m in outbox(engine, kind=kind, recipient_email=email)
        if week is None or m.week == week
    ]
    assert len(rows) == 1, rows
    return rows[0]


# --------------------------------------------------------------------------- 1. to the reader


def test_each_copy_of_a_week_speaks_to_its_reader(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path)
    run_due(engine, day(instants, 5, hours=1), FileOutbox(tmp_path / "out"))
    mentee = _text(_one(engine, "jordan@uni.edu", "weekly", 5))
    mentor = _text(_one(engine, "maria@uni.edu", "weekly", 5))
    assert mentee.startswith("Hello Jordan,")
    assert mentor.startswith("Hello Maria,")
    assert "Dr. Maria Santos" not in mentee + mentor
    # The agenda habit: the mentee's own copy says "you send", the mentor's names Jordan.
    assert "At least a day before you meet, you send a short message" in mentee
    assert "At least a day before you meet, Jordan sends a short message" in mentor
    assert "Jordan sends" not in mentee and "Jordan takes" not in mentee
    assert "Mentoring up means that you take an active part" in mentee
    assert "Maria gives feedback on the agenda itself" in mentee
    assert "In the meeting, you give feedback on the agenda itself" in mentor
    assert "you send a short agenda ahead of time" in mentee


def test_a_preferred_name_and_a_configured_salutation(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path, salutation="Dear {name}")
    run_due(engine, day(instants, 1, hours=1), FileOutbox(tmp_path / "out"))
    assert _text(_one(engine, "aiko@uni.edu", "weekly", 1)).startswith("Dear Ai,")
    assert _text(_one(engine, "wei@uni.edu", "weekly", 1)).startswith("Dear Wei,")


def test_a_cohort_may_address_people_by_their_full_name(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path, address_by=AddressBy.FULL_NAME)
    run_due(engine, day(instants, 1, hours=1), FileOutbox(tmp_path / "out"))
    assert _text(_one(engine, "maria@uni.edu", "weekly", 1)).startswith("Hello Dr. Maria Santos,")


# --------------------------------------------------------------------------- 2. a human sender


def test_every_message_has_the_coordinator_and_a_way_to_pause(
    engine: Engine, tmp_path: Path
) -> None:
    instants = _program(engine, tmp_path, coordinator_name="Alex Kim")
    channel = FileOutbox(tmp_path / "out")
    for week in (0, 1, 2):
        run_due(engine, day(instants, week, hours=1), channel)
    run_due(engine, day(instants, 2, days=3, hours=1), channel)  # reminders
    to_people = [m for m in outbox(engine) if m.kind != "digest"]
    assert {m.kind for m in to_people} == {
        "intro",
        "weekly",
        "reminder",
        "survey",
        "survey_reminder",
    }
    for row in to_people:
        message = _message(row)
        assert message["Reply-To"] == "Alex Kim <alex.kim@uni.edu>", row.kind
        text = _text(row)
        assert "Alex Kim" in text and "alex.kim@uni.edu" in text, row.kind
        # Survey messages are about a person's answers, not the pair: the topic they
        # come with says how to pause.
        assert "pause" in text or row.kind.startswith("survey"), row.kind
    weekly = _one(engine, "jordan@uni.edu", "weekly", 1)
    assert 'choose "pause or leave"' in _text(weekly)
    assert "pause or leave" in _html(weekly)


def test_local_resources_appear_in_their_weeks_only_when_set(
    engine: Engine, tmp_path: Path
) -> None:
    instants = _program(
        engine,
        tmp_path,
        resources={Resource.COUNSELLING: "the Staff and Student Counselling Service (555-0100)"},
    )
    channel = FileOutbox(tmp_path / "out")
    for week in (2, 11, 12):
        run_due(engine, day(instants, week, hours=1), channel)
    week_12 = _text(_one(engine, "jordan@uni.edu", "weekly", 12))
    assert (
        "If the pressure ever feels like too much, the Staff and Student Counselling Service "
        "(555-0100) offers free, confidential support." in week_12
    )
    week_2 = _text(_one(engine, "jordan@uni.edu", "weekly", 2))
    week_11 = _text(_one(engine, "jordan@uni.edu", "weekly", 11))
    assert "independent advice" not in week_2
    assert "can advise in confidence" not in week_11
    assert "saying clearly what you need. Questions for you" in week_2  # no gap left


# --------------------------------------------------------------------------- 3. confirmation


def test_an_opt_out_introduction_does_not_promise_to_wait(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path)
    run_due(engine, day(instants, 0, hours=1), FileOutbox(tmp_path / "out"))
    intro = _text(_one(engine, "jordan@uni.edu", "intro"))
    assert "once you have both accepted" not in intro.lower()
    assert "nothing you need to do to accept" in intro
    assert "your first weekly topic comes in a separate message" in intro
    assert len(outbox(engine, kind="weekly", recipient_email="jordan@uni.edu")) == 1


def test_a_require_both_introduction_asks_both_to_accept(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path, confirmation=Confirmation.REQUIRE_BOTH)
    run_due(engine, day(instants, 0, hours=1), FileOutbox(tmp_path / "out"))
    intro = _text(_one(engine, "jordan@uni.edu", "intro"))
    assert "Once you have both accepted, your first weekly topic will follow." in intro
    assert "nothing you need to do to accept" not in intro
    assert outbox(engine, kind="weekly") == []


# --------------------------------------------------------------------------- 4. sharing


def test_the_introduction_shows_only_what_each_person_chose_to_share(
    engine: Engine, tmp_path: Path
) -> None:
    instants = _program(engine, tmp_path)
    run_due(engine, day(instants, 0, hours=1), FileOutbox(tmp_path / "out"))
    to_jordan = _text(_one(engine, "jordan@uni.edu", "intro"))  # Maria: default share
    assert "Languages: English, Portuguese" in to_jordan
    assert "Can help with: work–life integration, grant writing" in to_jordan
    assert "E-mail: maria@uni.edu" in to_jordan
    to_maria = _text(_one(engine, "maria@uni.edu", "intro"))
    assert "Wants help with: work–life integration" in to_maria
    assert "Languages: English" in to_maria
    to_aiko = _text(_one(engine, "aiko@uni.edu", "intro"))  # Wei shares two fields
    assert "Career stage: senior faculty" in to_aiko and "Languages: Mandarin" in to_aiko
    assert "E-mail" not in to_aiko and "Can help with" not in to_aiko
    to_wei = _text(_one(engine, "wei@uni.edu", "intro"))  # Ai shares nothing
    assert "chose to share with you" not in to_wei and "aiko@uni.edu" not in to_wei
    # Neither shares an address: the coordinator puts them in touch, and both are told so.
    for text in (to_wei, to_aiko):
        assert "Neither of you chose to share an e-mail address with the other." in text
    assert "write to them first" not in to_jordan and "Neither of you" not in to_jordan


def test_the_respond_page_shows_what_the_introduction_shows(engine: Engine, tmp_path: Path) -> None:
    instants = _program(engine, tmp_path)
    now = day(instants, 0, hours=1)
    run_due(engine, now, FileOutbox(tmp_path / "out"))
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        wei = session.exec(select(Participant).where(Participant.email == "wei@uni.edu")).one()
    pair_pk = _one(engine, "aiko@uni.edu", "intro").pair_pk or 0
    token = make_token(
        link_secrets(LINK_KEYS, cohort),
        pair_id=pair_pk,
        week=0,
        role="mentee",
        expires=now + timedelta(days=3),
    )
    intro = open_introduction(engine, token, now=now, link_keys=LINK_KEYS)
    assert intro.partner_name == wei.name
    assert intro.partner_profile == (("Career stage", "senior faculty"), ("Languages", "Mandarin"))


def test_an_unknown_field_to_share_is_refused_with_the_choices(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "mentees.csv"
    path.write_text("id,name,email,share\nE001,Jo,jo@uni.edu,languages; hobbies\n")
    with pytest.raises(InputFileError) as error:
        roster.import_roster(engine, path, Role.MENTEE, now=CREATED)
    assert 'unknown field to share "hobbies"' in str(error.value)
    assert "career_stage" in str(error.value)


# --------------------------------------------------------------------------- 5. the end


def test_the_program_ends_with_thanks_and_a_letter_for_mentees(
    engine: Engine, tmp_path: Path
) -> None:
    instants = _program(engine, tmp_path, coordinator_name="Alex Kim")
    channel = FileOutbox(tmp_path / "out")
    for week in range(0, 17):
        run_due(engine, day(instants, week, hours=1), channel)
    final = _text(_one(engine, "jordan@uni.edu", "weekly", 16))
    assert "closing survey" in final and "letter confirming that you completed it" in final
    assert "certificate" in _text(_one(engine, "maria@uni.edu", "weekly", 16))
    run_due(engine, day(instants, 16, days=8), channel)
    run_due(engine, day(instants, 16, days=8, hours=1), channel)  # nothing twice

    closing = outbox(engine, kind="closing")
    assert sorted(m.recipient_email for m in closing) == sorted(
        ["maria@uni.edu", "jordan@uni.edu", "wei@uni.edu", "aiko@uni.edu"]
    )
    to_jordan = _one(engine, "jordan@uni.edu", "closing")
    assert "Thank you" in _text(to_jordan)
    files = {
        part.get_filename(): part.get_content() for part in _message(to_jordan).iter_attachments()
    }
    assert set(files) == {"completion-letter.pdf", "completion-letter.html"}
    assert files["completion-letter.pdf"][:5] == b"%PDF-"
    letter = files["completion-letter.html"]
    assert "Jordan Reyes" in letter and "Fall 2026" in letter and "Alex Kim" in letter
    assert "work–life integration" in letter
    to_maria = _one(engine, "maria@uni.edu", "closing")
    assert list(_message(to_maria).iter_attachments()) == []
    assert "Thank you" in _text(to_maria)
