"""Roster import: every bad input is reported exactly, and leaves the database untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tandem.matcher.types import Role
from tandem.program.roster import store as roster
from tandem.program.roster.files import InputFileError
from tandem.program.storage.tables import Participant
from tests.conftest import Tandem

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)

MENTORS = """id,name,email,capacity,career_stage,expertise,timezone,mentor_training
M1,Ada Byron,ada@uni.edu,2,senior faculty,grant writing;publishing,Europe/Berlin,yes
M2,Ben Okafor,ben@uni.edu,1,mid_career_faculty,career planning,America/Chicago,no
"""
MENTEES = """id,name,email,career_stage,goals,excluded,identity_consent,identity
E1,Cleo Park,cleo@uni.edu,graduate student,grant writing,M2,yes,first-generation
E2,Dev Rao,dev@uni.edu,postdoc,publishing,,no,parent
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def dump(engine: Engine) -> list[dict[str, Any]]:
    """Every stored row, every column: compared before and after a failed import."""
    return [r.model_dump() for r in roster.list_participants(engine)]


@pytest.fixture
def seeded(engine: Engine, tmp_path: Path) -> Engine:
    roster.import_roster(engine, write(tmp_path, "mentors.csv", MENTORS), Role.MENTOR, now=NOW)
    roster.import_roster(engine, write(tmp_path, "mentees.csv", MENTEES), Role.MENTEE, now=NOW)
    return engine


BAD_INPUTS: list[tuple[str, str, Role, str | bytes, list[str]]] = [
    (
        "missing required column",
        "mentors.csv",
        Role.MENTOR,
        "id,name\nM9,Zed\n",
        [
            'mentors.csv, row 1, column "email": required column is missing; add a column '
            'headed "email" (or "Email Address", "E-mail" or "E-mail Address")'
        ],
    ),
    (
        "empty file",
        "mentors.csv",
        Role.MENTOR,
        "",
        ["mentors.csv: file is empty; expected a header row (id, name, email, …) and data rows"],
    ),
    (
        "header only",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email\n",
        ["mentees.csv: file has a header row but no data rows"],
    ),
    (
        "duplicate id",
        "mentors.csv",
        Role.MENTOR,
        "id,name,email\nM9,Zed,z@uni.edu\nM9,Yan,y@uni.edu\n",
        ['mentors.csv, row 3, column "id": duplicate id "M9" (first on row 2)'],
    ),
    (
        "duplicate e-mail within a role",
        "mentors.csv",
        Role.MENTOR,
        "id,name,email\nM8,Zed,z@uni.edu\nM9,Yan,Z@uni.edu\n",
        [
            'mentors.csv, row 3, column "email": duplicate e-mail within the mentors (first on row 2)'
        ],
    ),
    (
        "malformed e-mail",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email\nE9,Zed,zed@\n",
        [
            'mentees.csv, row 2, column "email": expected an e-mail address like '
            "name@university.edu, got 'zed@'"
        ],
    ),
    (
        "negative and non-integer capacity",
        "mentors.csv",
        Role.MENTOR,
        "id,name,email,capacity\nM8,Zed,z@uni.edu,-1\nM9,Yan,y@uni.edu,two\nM7,Xu,x@uni.edu,1.5\n",
        [
            'mentors.csv, row 2, column "capacity": expected a whole number from 0 to 1000 (how many '
            "mentees this mentor can take), got '-1'",
            'mentors.csv, row 3, column "capacity": expected a whole number from 0 to 1000 (how many '
            "mentees this mentor can take), got 'two'",
            'mentors.csv, row 4, column "capacity": expected a whole number from 0 to 1000 (how many '
            "mentees this mentor can take), got '1.5'",
        ],
    ),
    (
        "unknown career stage and topic, with suggestions",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email,career_stage,goals\nE9,Zed,z@uni.edu,postdc,grant writng\n",
        [
            'mentees.csv, row 2, column "career_stage": unknown career stage "postdc"; did you '
            'mean "postdoc"? Valid: undergraduate, graduate_student, postdoc, '
            "early_career_faculty, mid_career_faculty, senior_faculty",
            'mentees.csv, row 2, column "goals": unknown mentoring topic "grant writng"; did you '
            'mean "grant_writing"? Valid: career_planning, grant_writing, publishing, '
            "scientific_writing, research_methods, work_life_integration, networking, teaching, "
            "leadership, lab_management, job_search, promotion_and_tenure, research_ethics, "
            "science_communication, collaboration, equity_and_inclusion, "
            "careers_beyond_academia, time_management",
        ],
    ),
    (
        "unknown time zone",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email,timezone\nE9,Zed,z@uni.edu,Europe/Berln\n",
        [
            'mentees.csv, row 2, column "timezone": unknown time zone "Europe/Berln"; did you '
            'mean "Europe/Berlin"? Use an IANA name such as Europe/Berlin or America/Chicago'
        ],
    ),
    (
        "not UTF-8",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email\nE9,Zoë,z@uni.edu\n".encode("latin-1"),
        [
            "mentees.csv: file is not UTF-8 (byte 0xeb on line 2); save it as 'CSV UTF-8' "
            "from your spreadsheet program"
        ],
    ),
    (
        "ragged rows, reported with the other problems",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email\nE9,Zed\nE8,Yan,y@\nE7,Xu,x@uni.edu,extra\n",
        [
            "mentees.csv, row 2: row has 2 cells but the header has 3; check for a missing or "
            "extra comma (quote cells that contain commas)",
            'mentees.csv, row 3, column "email": expected an e-mail address like '
            "name@university.edu, got 'y@'",
            "mentees.csv, row 4: row has 4 cells but the header has 3; check for a missing or "
            "extra comma (quote cells that contain commas)",
        ],
    ),
    (
        "JSON of the wrong shape",
        "mentees.json",
        Role.MENTEE,
        '{"id": "E9", "name": "Zed"}',
        ["mentees.json: expected a JSON array of objects, one per person; got an object"],
    ),
    (
        "JSON items of the wrong shape",
        "mentees.json",
        Role.MENTEE,
        '[{"id": "E9", "name": "Zed", "email": "z@uni.edu"}, ["E8"]]',
        ["mentees.json, row 2: expected a JSON array of objects, one per person; item is an array"],
    ),
    (
        "a column of the other role",
        "mentees.csv",
        Role.MENTEE,
        "id,name,email,capacity\nE9,Zed,z@uni.edu,2\n",
        [
            'mentees.csv, row 1, column "capacity": column is for mentors only; remove it from '
            "this file"
        ],
    ),
    (
        "e-mail taken from a stored person",
        "mentors.csv",
        Role.MENTOR,
        "id,name,email\nM9,Zed,ada@uni.edu\n",
        [
            'mentors.csv, row 2, column "email": e-mail already belongs to stored mentor "M1"; '
            "use that id, or give that person another e-mail first"
        ],
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "role", "content", "expected"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_reported_exactly_and_stores_nothing(
    seeded: Engine,
    tmp_path: Path,
    case: str,
    name: str,
    role: Role,
    content: str | bytes,
    expected: list[str],
) -> None:
    before = dump(seeded)
    path = write(tmp_path, name, content)
    with pytest.raises(InputFileError) as raised:
        roster.import_roster(seeded, path, role, now=LATER)
    assert [str(p) for p in raised.value.problems] == expected
    assert dump(seeded) == before


def test_cli_reports_every_problem_and_exits_non_zero(
    seeded: Engine, db_url: str, tmp_path: Path
) -> None:
    path = write(
        tmp_path, "mentors.csv", "id,name,email,capacity\nM8,Zed,z@,1\nM9,Yan,y@uni.edu,-2\n"
    )
    result = Tandem().invoke(["--db", db_url, "import", "mentors", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: mentors.csv: 2 problems; nothing was imported",
        '  mentors.csv, row 2, column "email": expected an e-mail address like '
        "name@university.edu, got 'z@'",
        '  mentors.csv, row 3, column "capacity": expected a whole number from 0 to 1000 (how many '
        "mentees this mentor can take), got '-2'",
    ]


def test_reimport_changes_nothing_and_update_says_what_changed(
    seeded: Engine, tmp_path: Path
) -> None:
    before = dump(seeded)
    again = roster.import_roster(
        seeded, write(tmp_path, "mentors.csv", MENTORS), Role.MENTOR, now=LATER
    )
    assert (again.added, again.updated, again.unchanged) == ((), (), ("M1", "M2"))
    assert dump(seeded) == before

    changed = MENTORS.replace("M2,Ben Okafor,ben@uni.edu,1,", "M2,Ben Okafor,ben@uni.edu,3,") + (
        "M3,Cy Diaz,cy@uni.edu,1,postdoc,,UTC,yes\n"
    )
    report = roster.import_roster(
        seeded, write(tmp_path, "mentors.csv", changed), Role.MENTOR, now=LATER
    )
    assert (report.added, report.updated, report.unchanged) == (("M3",), ("M2",), ("M1",))
    assert report.changes == {"M2": ("capacity",)}
    rows = {r.external_id: r for r in roster.list_participants(seeded, Role.MENTOR)}
    assert rows["M2"].capacity == 3
    assert rows["M2"].updated_at == LATER
    assert rows["M1"].updated_at == NOW


def test_dry_run_reports_and_stores_nothing(seeded: Engine, tmp_path: Path) -> None:
    before = dump(seeded)
    changed = MENTORS + "M3,Cy Diaz,cy@uni.edu,1,postdoc,,UTC,yes\n"
    report = roster.import_roster(
        seeded, write(tmp_path, "mentors.csv", changed), Role.MENTOR, now=LATER, dry_run=True
    )
    assert report.added == ("M3",)
    assert dump(seeded) == before


def test_same_email_allowed_across_roles_and_bom_accepted(engine: Engine, tmp_path: Path) -> None:
    mentors = write(tmp_path, "mentors.csv", "\ufeff" + MENTORS)
    roster.import_roster(engine, mentors, Role.MENTOR, now=NOW)
    both = write(tmp_path, "mentees.csv", "id,name,email\nE5,Ada Byron,ADA@uni.edu\n")
    report = roster.import_roster(engine, both, Role.MENTEE, now=NOW)
    assert report.added == ("E5",)
    assert roster.summarize(engine).people_in_both_roles == 1


def test_unknown_excluded_id_is_a_warning(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path, "mentees.csv", "id,name,email,excluded\nE1,Zed,z@uni.edu,M404\n")
    report = roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    assert report.added == ("E1",)
    assert [str(w) for w in report.warnings] == [
        'mentees.csv, row 2, column "excluded": excluded id "M404" matches no one imported yet '
        "(kept; it applies if that person is imported later)"
    ]


def test_identity_is_stored_only_with_consent_and_never_printed(
    seeded: Engine, db_url: str, tmp_path: Path
) -> None:
    rows = {r.external_id: r for r in roster.list_participants(seeded, Role.MENTEE)}
    assert rows["E1"].identity == ["first-generation"]
    assert rows["E2"].identity == []  # "parent" was given without consent: dropped
    result = Tandem().invoke(
        ["--db", db_url, "import", "mentees", str(write(tmp_path, "mentees.csv", MENTEES))]
    )
    assert result.exit_code == 0
    assert "parent" not in result.output and "first-generation" not in result.output
    assert "identity columns ignored for 1 row(s) without identity_consent" in result.stderr
    shown = Tandem().invoke(["--db", db_url, "participants", "show", "E2", "--format", "json"])
    assert "identity" not in json.loads(shown.stdout)[0]


def test_show_counts_identity_attributes_and_says_what_the_partner_sees(
    seeded: Engine, db_url: str, tandem: Tandem
) -> None:
    table = tandem("participants", "show", "E1", db=db_url).stdout
    assert "first-generation" not in table
    assert "1 stored, not shown (`tandem participants export-person` includes them)" in table
    assert "everything (the default): career stage, institution" in table
    for fmt in ("json", "csv"):
        shown = tandem("participants", "show", "E1", "--format", fmt, db=db_url).stdout
        assert "first-generation" not in shown
    (data,) = json.loads(tandem("participants", "show", "E1", "--format", "json", db=db_url).stdout)
    assert (data["identity_attributes"], data["share"]) == (1, None)
    people = tandem("participants", "list", "--format", "json", db=db_url).stdout
    assert "first-generation" not in people


def test_show_says_a_chosen_share(
    engine: Engine, db_url: str, tmp_path: Path, tandem: Tandem
) -> None:
    path = write(
        tmp_path, "mentees.csv", "id,name,email,share\nE1,Cleo,cleo@uni.edu,career_stage;email\n"
    )
    roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    table = tandem("participants", "show", "E1", db=db_url).stdout
    assert "career stage, e-mail (what their partner sees)" in table
    path.write_text("id,name,email,share\nE1,Cleo,cleo@uni.edu,none\n", encoding="utf-8")
    roster.import_roster(engine, path, Role.MENTEE, now=LATER)
    table = tandem("participants", "show", "E1", db=db_url).stdout
    assert "nothing but their name (what their partner sees)" in table


def test_xlsx_and_json_import_like_csv(engine: Engine, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["id", "name", "email", "capacity", "expertise"])
    sheet.append(["M1", "Ada Byron", "ada@uni.edu", 2, "grant writing; publishing"])
    workbook.save(tmp_path / "mentors.xlsx")
    roster.import_roster(engine, tmp_path / "mentors.xlsx", Role.MENTOR, now=NOW)
    people = [{"id": "E1", "name": "Cleo", "email": "cleo@uni.edu", "goals": ["publishing"]}]
    path = write(tmp_path, "mentees.json", json.dumps(people))
    roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    mentees, mentors = roster.load_profiles(engine)
    assert mentors[0].capacity == 2
    assert [t.value for t in mentors[0].topics] == ["grant_writing", "publishing"]
    assert [t.value for t in mentees[0].topics] == ["publishing"]


def test_export_neutralises_formulas_and_imports_back(engine: Engine, tmp_path: Path) -> None:
    hostile = 'id,name,email,department\nE1,"=HYPERLINK(""x"")",e1@uni.edu,+1 lab\nE2,@Bob,e2@uni.edu,-x\n'
    roster.import_roster(engine, write(tmp_path, "mentees.csv", hostile), Role.MENTEE, now=NOW)
    out = tmp_path / "export.csv"
    with out.open("wb") as handle:
        roster.export_roster(engine, Role.MENTEE, handle, "csv")
    text = out.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "'@Bob" in text and "'+1 lab" in text and "'-x" in text
    before = dump(engine)
    report = roster.import_roster(engine, out, Role.MENTEE, now=LATER)
    assert report.unchanged == ("E1", "E2")
    assert dump(engine) == before

    xlsx = tmp_path / "export.xlsx"
    with xlsx.open("wb") as handle:
        roster.export_roster(engine, Role.MENTEE, handle, "xlsx")
    from openpyxl import load_workbook

    cells = [c.value for row in load_workbook(xlsx).worksheets[0].iter_rows() for c in row]
    assert '\'=HYPERLINK("x")' in cells
    assert not any(isinstance(c, str) and c.startswith("=") for c in cells)


def test_stored_rows_keep_aware_utc_datetimes(seeded: Engine) -> None:
    row = roster.list_participants(seeded)[0]
    assert row.created_at == NOW and row.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    from sqlalchemy.exc import StatementError

    from tandem.program.storage.db import transaction

    person = Participant(
        role="mentor", external_id="X", name="X", email="x@u.edu", email_key="x@u.edu"
    )
    person.created_at = person.updated_at = datetime(2026, 1, 1)
    with pytest.raises(StatementError, match="naive datetime"), transaction(engine) as session:
        session.add(person)


def test_survey_style_comma_lists_are_split_and_semicolons_win(tmp_path: Path) -> None:
    from tandem.program.roster.parse import _split

    assert _split("English, French") == ["English", "French"]
    assert _split("Ecology, evolution; genomics") == ["Ecology, evolution", "genomics"]
    assert _split(["a, b", "c"]) == ["a, b", "c"]


def test_carriage_returns_bare_files_read_and_a_stray_one_is_one_problem(
    tmp_path: Path, db_url: str, tandem: Tandem
) -> None:
    old_mac = tmp_path / "mac.csv"
    old_mac.write_bytes(b"id,name,email,capacity\rM1,Ada,ada@u.edu,1\r")
    assert tandem("import", "mentors", old_mac, db=db_url).stdout.startswith("mac.csv: 1 added")
    stray = tmp_path / "stray.csv"
    stray.write_bytes(b"id,name,email,capacity\nM2,Bo\rb,bo@u.edu,1\n")
    result = tandem("import", "mentors", stray, db=db_url, expect=1)
    assert result.stderr == (
        "Error: stray.csv, row 2: a carriage return inside the row (a cell holds a line break); "
        "remove it, or save the file again with ordinary line endings; nothing was imported\n"
    )
