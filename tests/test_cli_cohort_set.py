"""`tandem cohort set` changes how a running cohort's messages are signed, addressed and
linked: the next tick's messages carry the new values, the ones written before keep theirs;
a value `cohort create` would refuse is refused the same way, and nothing changes."""

from __future__ import annotations

import json
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.store import unpack
from tandem.program.storage.tables import AuditEntry, Cohort, OutboxMessage
from tests.conftest import Tandem
from tests.program.helpers import Program, day, make_program, outbox, run_due

SET = ("cohort", "set", "Fall 2026")
QUEUED = "Messages already in the outbox keep the old values"
NEXT = "from the next tick, messages carry the new ones."


@pytest.fixture
def program(engine: Engine, tmp_path: Path) -> Program:
    """A cohort of one pair whose introductions and first topic have been written."""
    program = make_program(engine, tmp_path, 1)
    run_due(engine, day(program.instants, 0, hours=1), FileOutbox(tmp_path / "out"))
    return program


def _mentee_weekly(engine: Engine, week: int) -> EmailMessage:
    [row] = outbox(engine, kind="weekly", week=week, recipient_role="mentee")
    parsed = message_from_bytes(unpack(row.content), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(message: EmailMessage) -> str:
    """The plain text, its lines joined (a sentence may be wrapped)."""
    body = message.get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())


def _stored(engine: Engine) -> tuple[dict[str, object], int, int]:
    """The cohort's row, the audit log's length and the outbox's length."""
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one().model_dump()
        audit = len(session.exec(select(AuditEntry)).all())
        messages = len(session.exec(select(OutboxMessage)).all())
    return cohort, audit, messages


Check = Callable[[EmailMessage], bool]


@pytest.mark.parametrize(
    ("option", "value", "line", "week", "carried"),
    [
        (
            "--sender",
            "Graduate School Mentoring <mentoring@grad.uni.edu>",
            "sender: Tandem <mentoring@uni.edu> → Graduate School Mentoring "
            "<mentoring@grad.uni.edu>",
            2,
            lambda m: m["From"] == "Graduate School Mentoring <mentoring@grad.uni.edu>",
        ),
        (
            "--coordinator",
            "Sam.Lee@Uni.edu",
            "coordinator: coordinator@uni.edu → Sam.Lee@uni.edu",
            2,
            lambda m: m["Reply-To"] == "Sam.Lee@uni.edu",
        ),
        (
            "--coordinator-name",
            "Sam Lee",
            "coordinator name: (none) → Sam Lee",
            2,
            lambda m: m["Reply-To"] == "Sam Lee <coordinator@uni.edu>" and "Sam Lee" in _text(m),
        ),
        (
            "--base-url",
            "https://mentoring.uni.edu/tandem/",
            "base URL: http://localhost:8000 → https://mentoring.uni.edu/tandem",
            2,
            lambda m: (
                "https://mentoring.uni.edu/tandem/" in _text(m) and "localhost" not in _text(m)
            ),
        ),
        (
            "--salutation",
            "Dear {name}",
            "salutation: Hello {name} → Dear {name}",
            2,
            lambda m: _text(m).startswith("Dear Mentee,"),
        ),
        (
            "--resource",
            "counselling=the Counselling Service (555-0100)",
            "resource counselling: (none) → the Counselling Service (555-0100)",
            12,
            lambda m: "the Counselling Service (555-0100) offers free" in _text(m),
        ),
    ],
)
def test_the_next_tick_carries_each_changed_setting(
    program: Program,
    engine: Engine,
    db_url: str,
    tandem: Tandem,
    tmp_path: Path,
    option: str,
    value: str,
    line: str,
    week: int,
    carried: Check,
) -> None:
    before = _mentee_weekly(engine, 1)
    result = tandem(*SET, option, value, "--now", "2026-09-08T12:00:00Z", db=db_url)
    assert result.stdout.splitlines()[:3] == [
        "Changed the settings of cohort 'Fall 2026':",
        f"  {line}",
        f"{QUEUED}; {NEXT}",
    ]
    run_due(engine, day(program.instants, week, hours=1), FileOutbox(tmp_path / "out"))
    assert carried(_mentee_weekly(engine, week))
    assert not carried(before)
    assert _mentee_weekly(engine, 1).as_bytes() == before.as_bytes()  # written before: kept


def test_a_new_base_url_says_where_links_already_sent_point(
    program: Program, db_url: str, tandem: Tandem
) -> None:
    result = tandem(*SET, "--base-url", "https://mentoring.uni.edu", db=db_url)
    assert result.stdout.splitlines()[-2:] == [
        f"{QUEUED}; {NEXT}",
        "Links already sent still point at http://localhost:8000: keep that address serving "
        "`tandem serve` (or redirecting to the new one) until they expire.",
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--sender", "not an address", "expected one address"),
        ("--sender", "Tandem\nBcc: x <t@x.org>", "contains a line break (U+000A)"),
        ("--coordinator", "coordinator", "expected an e-mail address"),
        ("--coordinator", "josé@exämple.org", "has characters outside ASCII"),
        ("--coordinator-name", "Alex\x1b[2J", "contains a control character (U+001B)"),
        ("--base-url", "javascript:alert(1)", "expected an http or https URL with a host"),
        ("--base-url", "https://uni.edu/?next=x", "without '?' or '#'"),
        ("--salutation", "Hi {nme}", "unknown placeholder {nme}: the only one is {name}"),
        ("--salutation", "", "string should have at least 1 character"),
        ("--resource", "ombuds=Ombuds\x07", "contains a control character (U+0007)"),
        ("--resource", "chaplain=the chaplaincy", "expected NAME=TEXT with NAME one of"),
    ],
)
def test_a_value_create_would_refuse_is_refused_and_nothing_changes(
    program: Program,
    engine: Engine,
    db_url: str,
    tandem: Tandem,
    option: str,
    value: str,
    message: str,
) -> None:
    before = _stored(engine)
    # A good value given with it is not stored either.
    result = tandem(
        *SET, "--base-url", "https://mentoring.uni.edu", option, value, db=db_url, expect=2
    )
    assert result.stderr.startswith(f"Error: {option}: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert _stored(engine) == before


def test_setting_the_same_values_twice_changes_nothing_the_second_time(
    program: Program, engine: Engine, db_url: str, tandem: Tandem
) -> None:
    change = (*SET, "--sender", "Mentoring <m@uni.edu>", "--resource", "ombuds=the Ombuds")
    assert (
        "sender: Tandem <mentoring@uni.edu> → Mentoring <m@uni.edu>"
        in tandem(*change, db=db_url).stdout
    )
    after = _stored(engine)
    again = tandem(*change, db=db_url)
    assert again.stdout == "Nothing changed: cohort 'Fall 2026' already has these settings.\n"
    assert _stored(engine) == after


def test_the_audit_log_names_the_settings_changed_but_no_person(
    program: Program, db_url: str, tandem: Tandem
) -> None:
    tandem(
        *SET,
        "--sender", "Sam Lee <sam.lee@uni.edu>",
        "--coordinator", "sam.lee@uni.edu",
        "--coordinator-name", "Sam Lee",
        "--base-url", "https://mentoring.uni.edu",
        "--actor", "alex",
        db=db_url,
    )  # fmt: skip
    shown = tandem("certs", "audit", "--cohort", "Fall 2026", "--format", "json", db=db_url)
    [entry] = json.loads(shown.stdout)
    assert (entry["actor"], entry["action"], entry["subject"]) == (
        "alex",
        "cohort_settings",
        "cohort Fall 2026",
    )
    assert json.loads(entry["details"]) == {
        "cohort": "Fall 2026",
        "changed": ["sender", "coordinator_email", "coordinator_name", "base_url"],
        "base_url": {"old": "http://localhost:8000", "new": "https://mentoring.uni.edu"},
    }
    assert "Sam" not in shown.stdout and "@" not in shown.stdout


def test_a_closed_cohort_may_change_them_for_its_follow_up_survey(
    program: Program, engine: Engine, db_url: str, tandem: Tandem
) -> None:
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        cohort.completed_at = day(program.instants, 16)
        session.add(cohort)
        session.commit()
    result = tandem(*SET, "--base-url", "https://mentoring.uni.edu", db=db_url)
    assert "base URL: http://localhost:8000 → https://mentoring.uni.edu" in result.stdout


def test_without_a_setting_or_an_unknown_cohort_it_says_so(
    program: Program, db_url: str, tandem: Tandem
) -> None:
    bare = tandem(*SET, db=db_url, expect=2)
    assert bare.stderr.startswith("Error: give at least one setting to change: --sender")
    assert bare.stderr.count("\n") == 1
    unknown = tandem("cohort", "set", "Spring", "--salutation", "Hi {name}", db=db_url, expect=1)
    assert unknown.stderr.startswith('Error: no cohort named "Spring" (cohorts: Fall 2026)')
    for closed in ("--start", "--weeks", "--timezone", "--send-day", "--require-both"):
        assert "no such option" in tandem(*SET, closed, db=db_url, expect=2).stderr.lower()
