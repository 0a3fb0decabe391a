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
        "Created cohort 'Fall 2026': 1 pair, 16 weeks, introductions Mon 2026-09-07 09:00, "
        "last topic Mon 2026-12-21 09:00 (America/Chicago time)\n",
    )


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
