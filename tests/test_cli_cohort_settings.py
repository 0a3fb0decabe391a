"""`tandem cohort create` refuses, in one line naming the option, every setting that the
program's messages could not carry or that its rules do not allow; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.storage.tables import Cohort
from tests.conftest import Tandem
from tests.program.helpers import roster_files, store_match

CREATE = ("cohort", "create", "Fall 2026", "--cycle", "2026", "--start", "2026-09-07")


@pytest.fixture
def matched(db_url: str, engine: Engine, tmp_path: Path, tandem: Tandem) -> str:
    for role, path in zip(("mentors", "mentees"), roster_files(tmp_path, 1), strict=True):
        tandem("import", role, path, db=db_url)
    store_match(engine, "2026", [("E001", "M001")])
    return db_url


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--coordinator", "josé@exämple.org", "has characters outside ASCII"),
        ("--coordinator", "coordinator", "expected an e-mail address"),
        ("--coordinator", "c@uni.edu\nBcc: x@y.org", "contains a line break (U+000A)"),
        ("--coordinator-name", "Alex\nBcc: x@y.org", "contains a line break (U+000A)"),
        ("--coordinator-name", "Alex\x1b[2J", "contains a control character (U+001B)"),
        ("--coordinator-name", "Alex \u202eX", "contains a bidirectional control character"),
        ("--sender", "Tandem ‹tändem@x.org>", "expected one address"),
        ("--sender", "Tandem <tändem@x.org>", "the address has characters outside ASCII"),
        ("--sender", "Tandem\nBcc: x <t@x.org>", "contains a line break (U+000A)"),
        ("--sender", "not an address", "expected one address"),
        ("--sender", "Tandem <t@x.org>, other@y.org", "expected one address"),
        ("--base-url", "javascript:alert(1)", "expected an http or https URL with a host"),
        ("--base-url", "https://", "expected an http or https URL with a host"),
        ("--base-url", "ftp://files.uni.edu", "expected an http or https URL with a host"),
        ("--base-url", "https://uni.edu:99999", "expected an http or https URL with a host"),
        ("--base-url", "https://uni.edu/?next=x", "without '?' or '#'"),
        ("--base-url", "https://uni.edu/a b", "no spaces"),
        ("--salutation", "", "string should have at least 1 character"),
        ("--salutation", "Hello\r{name}", "contains a line break (U+000D)"),
        ("--salutation", "Hi {nme}", "unknown placeholder {nme}: the only one is {name}"),
        ("--resource", "ombuds=Ombuds\x07", "contains a control character (U+0007)"),
        ("--response-days", "100", "input should be less than or equal to 60"),
        ("--reminder-days", "0", "input should be greater than or equal to 1"),
        ("--grace-days", "9", "input should be less than or equal to 6"),
        ("--weeks", "0", "input should be greater than or equal to 1"),
    ],
)
def test_a_setting_no_message_can_carry_is_refused_in_one_line_naming_the_option(
    matched: str, engine: Engine, tandem: Tandem, option: str, value: str, message: str
) -> None:
    result = tandem(*CREATE, option, value, db=matched, expect=2)
    assert result.stderr.startswith(f"Error: {option}: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    with Session(engine) as session:
        assert session.exec(select(Cohort)).all() == []


def test_a_name_too_long_for_the_cohort_is_refused_naming_the_argument(
    matched: str, tandem: Tandem
) -> None:
    result = tandem("cohort", "create", "x" * 101, *CREATE[3:], db=matched, expect=2)
    assert result.stderr == "Error: NAME: string should have at most 100 characters\n"


def test_settings_every_message_can_carry_are_kept(
    matched: str, engine: Engine, tandem: Tandem
) -> None:
    tandem(
        *CREATE,
        "--coordinator", " Ada.Lovelace@Uni.edu ",
        "--coordinator-name", "Zoë Ní Bhriain-\u200cشهرزاد",
        "--sender", "Tändem Mentoring <mentoring@uni.edu>",
        "--base-url", "https://mentoring.uni.edu:8443/tandem/",
        db=matched,
    )  # fmt: skip
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
    assert cohort.coordinator_email == "Ada.Lovelace@uni.edu"
    assert cohort.coordinator_name == "Zoë Ní Bhriain-\u200cشهرزاد"
    assert cohort.sender == "Tändem Mentoring <mentoring@uni.edu>"
    assert cohort.base_url == "https://mentoring.uni.edu:8443/tandem"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("josé@exämple.org",), "Error: the coordinator's e-mail: 'josé@exämple.org' has"),
        (("ada@uni.edu\nBcc: x@y.org",), "Error: the coordinator's e-mail: contains a line"),
        (("ada@uni.edu", "--name", "Ada\nLovelace"), "Error: --name: contains a line break"),
        (("ada@uni.edu", "--name", "Ada\x1b[2J"), "Error: --name: contains a control character"),
        (("ada@uni.edu", "--name", "Ada\u2066"), "Error: --name: contains a bidirectional"),
    ],
)
def test_coordinator_add_refuses_an_address_or_name_as_the_roster_would(
    db_url: str, engine: Engine, tandem: Tandem, args: tuple[str, ...], message: str
) -> None:
    from tandem.program.storage.tables import Coordinator

    env = {"TANDEM_COORDINATOR_PASSWORD": "correct horse battery"}
    result = tandem("coordinator", "add", *args, db=db_url, env=env, expect=1)
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    with Session(engine) as session:
        assert session.exec(select(Coordinator)).all() == []


def test_a_cohort_left_with_the_trial_defaults_is_warned_about(
    matched: str, tandem: Tandem
) -> None:
    first = tandem(*CREATE, db=matched)
    assert first.stderr == (
        "warning: --base-url and --sender left as the defaults for trying Tandem out "
        "(http://localhost:8000, Tandem mentoring <mentoring@tandem.invalid>); for a real "
        "program set them with `tandem cohort set`\n"
    )
    assert tandem(*CREATE, db=matched).stderr == ""  # already there: said once


def test_a_cohort_with_its_own_address_and_sender_is_not_warned_about(
    matched: str, tandem: Tandem
) -> None:
    own = ("--base-url", "https://mentoring.uni.edu", "--sender", "Mentoring <m@uni.edu>")
    assert tandem(*CREATE, *own, db=matched).stderr == ""
