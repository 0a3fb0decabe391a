"""A coordinator's program from the command line: typed input never ends in a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from tests.conftest import Tandem
from tests.program.helpers import make_program


def invoke(db_url: str, *args: str) -> tuple[int, str, str]:
    result = Tandem().invoke(["--db", db_url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_checkin_add_leaves_optional_answers_out_and_refuses_bad_ones_in_one_line(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=2)
    common = ["checkin", "add", "Fall 2026", "--week", "1", "--now", "2026-09-08T12:00"]
    code, out, _ = invoke(
        db_url, *common, "--mentee", "E001", "--role", "mentor", "--met", "--minutes", "45",
        "--rating", "4",
    )  # fmt: skip
    assert (code, out) == (0, "Check-in added: week 1, mentor of mentee E001's pair\n")
    code, out, _ = invoke(db_url, *common, "--mentee", "E002", "--role", "mentee", "--not-met")
    assert (code, out) == (0, "Check-in added: week 1, mentee of mentee E002's pair\n")
    code, _, err = invoke(
        db_url, *common, "--mentee", "E002", "--role", "mentor", "--met", "--rating", "9",
        "--mode", "fax",
    )  # fmt: skip
    assert code == 1
    assert err == (
        "Error: check-in not recorded: mode: expected one of video, phone, in_person, async, "
        "got 'fax'; rating: Input should be less than or equal to 5\n"
    )


def test_checkin_list_shows_what_was_recorded_in_every_format(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=2)
    code, out, _ = invoke(db_url, "checkin", "list", "Fall 2026")
    assert (code, out) == (0, "No check-ins recorded in 'Fall 2026'\n")
    invoke(
        db_url, "checkin", "add", "Fall 2026", "--mentee", "E001", "--week", "1", "--role",
        "mentee", "--met", "--note", "wants more structure", "--now", "2026-09-08T16:00",
    )  # fmt: skip
    code, out, _ = invoke(db_url, "checkin", "list", "Fall 2026", "--week", "1", "--format", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "week": 1,
            "mentee_id": "E001",
            "mentee": "Mentee 1",
            "mentor_id": "M001",
            "mentor": "Mentor 1",
            "role": "mentee",
            "met": "yes",
            "minutes": None,
            "mode": None,
            "rating": None,
            "topic": None,
            "answers": {},
            "note": "wants more structure",
            "source": "coordinator",
            "recorded_at": "2026-09-08T12:00-04:00",
        }
    ]
    code, out, _ = invoke(db_url, "checkin", "list", "Fall 2026", "--format", "csv")
    assert out.splitlines() == [
        "week,mentee_id,mentee,mentor_id,mentor,role,met,minutes,mode,rating,topic,answers,note,"
        "source,recorded_at",
        "1,E001,Mentee 1,M001,Mentor 1,mentee,yes,,,,,,wants more structure,coordinator,"
        "2026-09-08T12:00-04:00",
    ]
    code, out, _ = invoke(db_url, "checkin", "list", "Fall 2026")
    assert code == 0 and "wants more structure" in out


def test_config_show_prints_the_configuration_in_force_with_its_comments(
    db_url: str, tmp_path: Path
) -> None:
    mine = tmp_path / "match.toml"
    mine.write_text("[weights]\nidentity = 0\n", encoding="utf-8")
    code, out, _ = invoke(db_url, "match", "config", "show", "--config", str(mine))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "# The matching configuration in force: match.toml."
    at = lines.index("identity = 0.0")
    assert lines[at - 2 : at] == [
        "# Fraction of the mentee's identity preferences present in the mentor's identity;",
        "# used only when both consented to identity matching, neutral otherwise.",
    ]
    code, _, err = invoke(db_url, "match", "config", "show", "--config", str(tmp_path / "no"))
    assert (code, err) == (1, f"Error: {tmp_path / 'no'}: file not found; check the path\n")


def test_every_command_that_reads_the_clock_takes_now(db_url: str, tmp_path: Path) -> None:
    from tests.program.helpers import roster_files

    mentors, _ = roster_files(tmp_path, 1)
    code, out, _ = invoke(db_url, "import", "mentors", str(mentors), "--now", "2026-08-01T09:00")
    assert (code, out) == (0, "mentors.csv: 1 added, 0 updated, 0 unchanged mentors\n")
    keys = str(tmp_path / "keys.json")
    result = Tandem().invoke(["keys", "init", "--keys", keys, "--now", "yesterday"])
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --now: 'yesterday' is not a date and time; give e.g. 2027-02-01T09:00 or "
        "2027-02-01\n",
    )
    help_text = Tandem().invoke(["keys", "init", "--help"]).stdout
    assert "--now" in help_text


def test_cohort_create_shows_its_dates_in_the_cohorts_time_zone(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from tests.program.helpers import roster_files, store_match

    for role, path in zip(("mentors", "mentees"), roster_files(tmp_path, 1), strict=True):
        invoke(db_url, "import", role, str(path))
    store_match(engine, "2026", [("E001", "M001")])
    code, out, _ = invoke(
        db_url, "cohort", "create", "Fall 2026", "--cycle", "2026", "--start", "2026-09-07",
        "--timezone", "America/Chicago", "--now", "2026-08-01T12:00",
    )  # fmt: skip
    assert (code, out) == (
        0,
        "Created cohort 'Fall 2026' from match run 1 (optimal): 1 pair, 16 weeks, "
        "introductions Mon 2026-09-07 09:00, last topic Mon 2026-12-21 09:00 "
        "(America/Chicago time)\n",
    )


def test_a_cycle_gets_one_cohort_and_cohort_create_says_which_run_it_used(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A second cohort of a cycle used to copy every pair of the run (a mentor of
    capacity 1 with the same mentee twice, everyone introduced twice)."""
    from tests.program.helpers import roster_files, store_match

    for role, path in zip(("mentors", "mentees"), roster_files(tmp_path, 2), strict=True):
        invoke(db_url, "import", role, str(path))
    store_match(engine, "2026", [("E001", "M001")])
    store_match(engine, "2026", [("E001", "M001"), ("E002", "M002")])
    create = ("cohort", "create", "--cycle", "2026", "--start", "2026-09-07")
    code, out, _ = invoke(db_url, *create, "Fall 2026")
    assert code == 0
    assert out.startswith("Created cohort 'Fall 2026' from match run 2 (optimal): 2 pairs, ")
    code, out, _ = invoke(db_url, *create, "Fall 2026")  # the same again: nothing changes
    assert code == 0
    assert out.startswith(
        "Already exists (nothing changed): cohort 'Fall 2026' from match run 2 (optimal): 2 pairs"
    )
    code, out, err = invoke(db_url, *create, "Fall 2026 again")
    assert (code, out) == (1, "")
    assert err == (
        'Error: cycle "2026" already has cohort "Fall 2026" (from match run 2): a second '
        "cohort would pair the same people again. To pair mentees freed since, use "
        '`tandem cohort rematch "Fall 2026"`; to match new applicants, import them to a cycle '
        "of their own (--cycle) and match that cycle\n"
    )
    code, out, _ = invoke(db_url, "cohort", "list", "--format", "csv")
    assert out.splitlines()[1:] == ["Fall 2026,2026,2026-09-07,16,UTC,2,2 proposed"]


def test_cohort_list(db_url: str, engine: Engine, tmp_path: Path) -> None:
    assert invoke(db_url, "cohort", "list")[:2] == (
        0,
        "No cohorts yet; create one with `tandem cohort create`.\n",
    )
    make_program(engine, tmp_path, pairs=2)
    code, out, _ = invoke(db_url, "cohort", "list", "--format", "csv")
    assert (code, out.splitlines()) == (
        0,
        [
            "name,cycle,start,weeks,timezone,pairs,by_state",
            "Fall 2026,2026,2026-09-07,16,America/New_York,2,2 proposed",
        ],
    )
    code, out, _ = invoke(db_url, "cohort", "list", "--format", "json")
    assert json.loads(out)[0]["by_state"] == {"proposed": 2}


def test_an_empty_report_says_there_is_nothing_to_report(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=1)
    assert invoke(db_url, "cohort", "deliveries", "Fall 2026")[:2] == (
        0,
        "No delivery problems in 'Fall 2026': no message failed or is being retried.\n",
    )
    code, out, _ = invoke(db_url, "cohort", "deliveries", "Fall 2026", "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_match_explain_names_the_mentors_and_why_a_rule_forbids(
    db_url: str, tmp_path: Path
) -> None:
    mentors, mentees = tmp_path / "mentors.csv", tmp_path / "mentees.csv"
    mentors.write_text(
        "id,name,email,capacity,career_stage\n"
        "M001,Ada Lovelace,ada@uni.edu,1,senior_faculty\n"
        "M002,Bo Chen,bo@uni.edu,0,senior_faculty\n",
        encoding="utf-8",
    )
    mentees.write_text(
        "id,name,email,career_stage\nE001,Cy Diaz,cy@uni.edu,postdoc\n", encoding="utf-8"
    )
    invoke(db_url, "import", "mentors", str(mentors))
    invoke(db_url, "import", "mentees", str(mentees))
    assert invoke(db_url, "match", "--cycle", "2026", "--now", "2026-08-01T12:00")[0] == 0
    code, out, _ = invoke(db_url, "match", "explain", "E001", "--mentor", "M002")
    assert code == 0
    assert "Mentee E001 (Cy Diaz) is paired with M001 (Ada Lovelace)" in out
    assert out.endswith("Not M002 (Bo Chen): forbidden by capacity: mentor M002 has capacity 0.\n")
    code, out, _ = invoke(
        db_url, "match", "explain", "E001", "--mentor", "M002", "--format", "json"
    )
    document = json.loads(out)
    assert document["why_not"]["forbidden_by"] == ["capacity"]
    assert document["mentor_names"] == {"M001": "Ada Lovelace", "M002": "Bo Chen"}
    assert invoke(db_url, "match", "explain", "E001", "--mentor", "M002", "--json")[1] == out
    help_text = Tandem().invoke(["match", "explain", "--help"]).stdout
    assert "--format" in help_text and "--json" not in help_text


def test_pair_slot_says_which_message_first_carries_the_invitation_as_of_now(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from tests.program.helpers import day, run_due

    program = make_program(engine, tmp_path, pairs=2)
    slot = ["pair", "slot", "Fall 2026", "E001", "--day", "thu", "--time", "15:00"]
    week2 = day(program.instants, 2, hours=1).isoformat(timespec="minutes")
    code, out, _ = invoke(db_url, *slot, "--now", week2)
    assert (code, out) == (
        0,
        "Meeting slot set: thu 15:00 for 45 minutes; the first invitation goes with the week 2 "
        "message on Monday 14 September 2026\n",
    )
    from tandem.program.outbox.channels import FileOutbox

    run_due(engine, day(program.instants, 2, hours=1), FileOutbox(tmp_path / "outbox"))
    code, out, _ = invoke(db_url, *slot, "--now", week2)
    assert out.endswith("the week 3 message on Monday 21 September 2026\n")
    late = day(program.instants, 16, days=3).isoformat(timespec="minutes")
    code, out, _ = invoke(db_url, *slot, "--now", late)
    assert out.endswith("; the pair has no weekly message left to carry an invitation\n")
    invoke(db_url, "pair", "end", "Fall 2026", "E002", "--reason", "moved", "--now", week2)
    code, _, err = invoke(db_url, "pair", "slot", "Fall 2026", "E002", "--day", "thu", "--time",
                          "15:00", "--now", week2)  # fmt: skip
    assert (code, err) == (
        1,
        'Error: the pair of mentee "E002" in "Fall 2026" is ended: it gets no more weekly '
        "messages to carry an invitation\n",
    )


def test_every_command_that_uses_the_clock_takes_now() -> None:
    """A command whose callback asks for the current instant (``now_from``) offers --now,
    so a coordinator can replay or test anything that depends on time."""
    import inspect

    import typer.main

    from tandem.cli import app

    def commands(group: object, path: str) -> list[tuple[str, object]]:
        found: list[tuple[str, object]] = []
        for name, command in getattr(group, "commands", {}).items():
            found += (
                commands(command, f"{path} {name}")
                if hasattr(command, "commands")
                else [(f"{path} {name}", command)]
            )
        return found

    missing = [
        name
        for name, command in commands(typer.main.get_command(app), "tandem")
        if "now_from(" in inspect.getsource(command.callback)  # type: ignore[attr-defined]
        and "--now" not in [o for p in command.params for o in p.opts]  # type: ignore[attr-defined]
    ]
    assert missing == []


def test_coordinator_add_takes_now(db_url: str, engine: Engine) -> None:
    from datetime import UTC, datetime

    from sqlmodel import Session, select

    from tandem.program.storage.tables import Coordinator

    result = Tandem().invoke(
        ["--db", db_url, "coordinator", "add", "ada@uni.edu", "--now", "2026-08-01T09:00"],
        env={"TANDEM_COORDINATOR_PASSWORD": "correct horse battery"},
    )
    assert (result.exit_code, result.stdout) == (0, "Coordinator ada@uni.edu added\n")
    with Session(engine) as session:
        added = session.exec(select(Coordinator)).one()
    assert added.created_at == datetime(2026, 8, 1, 9, 0, tzinfo=UTC)


def test_status_at_risk_says_so_when_no_pair_is(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=1)
    code, out, _ = invoke(
        db_url, "cohort", "status", "Fall 2026", "--at-risk", "--now", "2026-09-08T12:00"
    )
    assert (code, out) == (0, "No pair in 'Fall 2026' is flagged at risk.\n")
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", "--at-risk", "--format", "json")
    assert (code, json.loads(out)) == (0, [])


def test_pair_commands_say_what_they_did_and_what_happens_next(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=2)
    at = ("--now", "2026-09-07T15:00")

    def pair(*args: str) -> tuple[int, str, str]:
        return invoke(db_url, "pair", *args, *at)

    until = "until Mon 2026-09-14 09:00 (America/New_York)"
    assert pair("accept", "Fall 2026", "E001", "--role", "mentor") == (
        0,
        "Mentor M001 accepted; waiting for the mentee's answer (E001) "
        f"{until}; unless someone declines by then, the pair starts\n",
        "",
    )
    # Paused and resumed, a proposal is a proposal again: the mentee can still decline.
    assert pair("pause", "Fall 2026", "E001")[1] == (
        "Paused the pair of mentee E001 and mentor M001: no messages until "
        "`tandem pair resume 'Fall 2026' E001`; it is still a proposal: both can still "
        "answer it\n"
    )
    assert pair("resume", "Fall 2026", "E001")[1] == (
        "Resumed the pair of mentee E001 and mentor M001: it is proposed again, waiting for "
        f"the mentee's answer (E001) {until}; unless someone declines by then, the pair "
        "starts\n"
    )
    assert pair("resume", "Fall 2026", "E001")[1] == (
        "Nothing changed: the pair of mentee E001 and mentor M001 is proposed\n"
    )
    assert pair("decline", "Fall 2026", "E001", "--role", "mentee", "--reason", "moving") == (
        0,
        "Mentee E001 declined: the pair of mentee E001 and mentor M001 will not go ahead; "
        "mentee E001 can be paired again with `tandem cohort rematch 'Fall 2026'`\n",
        "",
    )
    assert pair("accept", "Fall 2026", "E002", "--role", "mentee")[0] == 0
    assert pair("accept", "Fall 2026", "E002", "--role", "mentor")[1] == (
        "Mentor M002 accepted; both have accepted: the pair is active\n"
    )
    assert pair("accept", "Fall 2026", "E002")[1] == (
        "Nothing to accept: the pair of mentee E002 is active\n"
    )
    assert pair("pause", "Fall 2026", "E002")[1] == (
        "Paused the pair of mentee E002 and mentor M002: no messages until "
        "`tandem pair resume 'Fall 2026' E002`\n"
    )
    assert pair("resume", "Fall 2026", "E002")[1] == (
        "Resumed the pair of mentee E002 and mentor M002: it is active again and receives "
        "its weekly messages\n"
    )
    assert pair("end", "Fall 2026", "E002", "--reason", "left the university")[1] == (
        "Ended the pair of mentee E002 and mentor M002 early; mentee E002 can be paired "
        "again with `tandem cohort rematch 'Fall 2026'`\n"
    )
    code, _, err = pair("resume", "Fall 2026", "E002")
    assert (code, err) == (
        1,
        "Error: cannot resume a pair that is ended (only a pair that is paused)\n",
    )


def test_a_cohort_or_a_slot_in_an_abbreviated_zone_is_refused_as_the_roster_refuses_it(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    """ "EST" was accepted: a zone that keeps standard time all year, an hour off in summer."""
    from tests.program.helpers import roster_files, store_match

    for role, path in zip(("mentors", "mentees"), roster_files(tmp_path, 1), strict=True):
        invoke(db_url, "import", role, str(path))
    store_match(engine, "2026", [("E001", "M001")])
    create = ("cohort", "create", "Fall 2026", "--cycle", "2026", "--start", "2026-09-07")
    assert invoke(db_url, *create, "--timezone", "EST") == (
        1,
        "",
        'Error: --timezone: "EST" is an abbreviation, not a time zone (it ignores daylight '
        'saving time); use a place name such as "America/New_York"\n',
    )
    code, _, err = invoke(db_url, *create, "--timezone", "US/Estern")
    assert (code, err.count("\n")) == (1, 1)
    assert err.startswith('Error: --timezone: unknown time zone "US/Estern"; ')
    assert invoke(db_url, "cohort", "list")[1].startswith("No cohorts yet")
    code, out, _ = invoke(db_url, *create, "--timezone", "america/new_york")
    assert code == 0 and out.endswith("(America/New_York time)\n")
    slot = ("pair", "slot", "Fall 2026", "E001", "--day", "thu", "--time", "15:00")
    assert invoke(db_url, *slot, "--timezone", "PST") == (
        1,
        "",
        'Error: --timezone: "PST" is an abbreviation, not a time zone (it ignores daylight '
        'saving time); use a place name such as "America/Los_Angeles"\n',
    )
    assert invoke(db_url, *slot, "--timezone", "america/los_angeles")[0] == 0
    from sqlmodel import Session, select

    from tandem.program.storage.tables import Cohort, Pair

    with Session(engine) as session:
        assert session.exec(select(Cohort.timezone)).one() == "America/New_York"
        stored = session.exec(select(Pair)).one().meeting_slot
        assert stored is not None and stored["timezone"] == "America/Los_Angeles"


def test_checkin_add_refuses_a_week_that_has_not_begun_in_one_line(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=1)
    week_4 = ("--now", "2026-09-29T12:00")
    add = ("checkin", "add", "Fall 2026", "--mentee", "E001", "--role", "mentor", "--met")
    assert invoke(db_url, *add, "--week", "10", *week_4) == (
        1,
        "",
        "Error: week 10 has not begun: it begins on Mon 2026-11-09 (America/New_York); "
        "record its check-in from then on\n",
    )
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", "--format", "json", *week_4)
    assert code == 0 and json.loads(out)[0]["last_checkin"] is None
    assert invoke(db_url, *add, "--week", "4", *week_4)[0] == 0


def test_cohort_status_shows_participants_open_requests_without_their_reasons(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlmodel import Session, col, select

    from tandem.program.link_keys import link_secrets
    from tandem.program.links import ChangeRequest, request_change
    from tandem.program.storage.tables import Cohort, Pair
    from tandem.program.tokens import make_token
    from tests.program.helpers import LINK_KEYS

    make_program(engine, tmp_path, pairs=3)
    asked = datetime(2026, 9, 21, 2, 0, tzinfo=UTC)  # Sunday 20 September in New York
    with Session(engine) as session:
        secret = link_secrets(LINK_KEYS, session.exec(select(Cohort)).one())
        pks = session.exec(select(Pair.pk).order_by(col(Pair.pk))).all()
    for pk, role, request in ((pks[1], "mentee", "leave"), (pks[2], "mentor", "pause")):
        token = make_token(
            secret, pair_id=pk or 0, week=2, role=role, expires=asked + timedelta(days=7)
        )
        request_change(
            engine,
            token,
            ChangeRequest(request),
            reason="a private reason",
            now=asked,
            link_keys=LINK_KEYS,
        )
    at = ("--now", "2026-09-22T12:00")
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", *at)
    assert code == 0 and "a private reason" not in out
    assert out.splitlines()[-3:] == [
        "Open requests (2; reasons on each pair's page in the console):",
        "  E002 asks to leave (2026-09-20)",
        "  M003, mentor of E003, asks to pause (2026-09-20)",
    ]
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", "--format", "json", *at)
    assert [row["requests"] for row in json.loads(out)] == [
        [],
        ["mentee E002 asks to leave (2026-09-20)"],
        ["mentor M003 asks to pause (2026-09-20)"],
    ]
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", "--format", "csv", *at)
    assert out.splitlines()[2].endswith(",mentee E002 asks to leave (2026-09-20),")
    invoke(db_url, "pair", "end", "Fall 2026", "E002", "--reason", "left", *at)
    code, out, _ = invoke(db_url, "cohort", "status", "Fall 2026", *at)
    assert "E002 asks to leave" not in out and "M003, mentor of E003, asks to pause" in out
