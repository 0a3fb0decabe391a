"""Hostile and careless input: each gives one clear error line, exits non-zero, shows no
traceback and stores nothing, for every command that reads or writes files."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine

from tandem.errors import os_error_message
from tandem.matcher.types import Role
from tandem.program.roster import store as roster
from tests.program.roster.hostile import assert_one_error_line, dump_database, run_cli

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW_TEXT = "2026-01-06T09:00"
MENTORS = "id,name,email,capacity\nM1,Ada Byron,ada@uni.edu,2\n"
MENTEES = "id,name,email\nE1,Cleo Park,cleo@uni.edu\n"
HEADER = "id,name,email,capacity\n"


def xlsx(*rows: list[object], at: dict[str, str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for cell, value in (at or {}).items():
        sheet[cell] = value
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def declared(data: bytes, ref: str) -> bytes:
    """The workbook with its first sheet's declared dimensions set to ``ref``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = re.sub(
                    rb'<dimension ref="[^"]*"', b'<dimension ref="' + ref.encode() + b'"', part
                )
            target.writestr(info.filename, part)
    return out.getvalue()


@pytest.fixture
def seeded(engine: Engine, db_url: str, tmp_path: Path) -> str:
    """The URL of a database holding one mentor and one mentee."""
    for name, content, role in (("m.csv", MENTORS, Role.MENTOR), ("e.csv", MENTEES, Role.MENTEE)):
        (tmp_path / name).write_text(content, encoding="utf-8")
        roster.import_roster(engine, tmp_path / name, role, now=NOW)
    return db_url


CAPACITY = "expected a whole number from 0 to 1000 (how many mentees this mentor can take)"
UNREADABLE = "not a readable .xlsx workbook; save it again from your spreadsheet program"

HOSTILE: list[tuple[str, str, Callable[[], bytes | str], str]] = [
    (
        "one far cell in a tiny workbook",
        "far.xlsx",
        lambda: xlsx(["id", "name", "email"], at={"XFD1048576": "x"}),
        "far.xlsx, row 1048576: more than 250,000 data rows; split the file, or remove empty "
        "rows that still hold a value",
    ),
    (
        "a value beyond the column cap",
        "wide.xlsx",
        lambda: xlsx(["id", "name", "email"], ["M9", "Zed", "z@uni.edu"], at={"ZZ2": "x"}),
        "wide.xlsx, row 2: 702 cells in one row; at most 256 columns are allowed",
    ),
    ("an empty .xlsx", "empty.xlsx", lambda: b"", f"empty.xlsx: {UNREADABLE}"),
    ("a text file named .xlsx", "text.xlsx", lambda: "id,name\n", f"text.xlsx: {UNREADABLE}"),
    (
        "a truncated workbook",
        "cut.xlsx",
        lambda: xlsx(["id", "name", "email"], ["M9", "Zed", "z@uni.edu"])[:400],
        f"cut.xlsx: {UNREADABLE}",
    ),
    (
        "a formula without a saved value",
        "formula.xlsx",
        lambda: xlsx(["id", "name", "email", "capacity"], ["M9", "Zed", "z@uni.edu", "=1+1"]),
        'formula.xlsx, row 2, column "capacity": the cell is a formula with no saved value; '
        "open the workbook in a spreadsheet program and save it, or paste the values as text",
    ),
    (
        "deeply nested JSON",
        "deep.json",
        lambda: "[" * 100_000 + "]" * 100_000,
        "deep.json: JSON nested too deeply; expected an array of objects, one per person",
    ),
    (
        "a JSON number instead of an array",
        "number.json",
        lambda: "12345678901234567890",
        "number.json: expected a JSON array of objects, one per person; got a number",
    ),
    (
        "a 5,000-character name",
        "long.csv",
        lambda: HEADER + "M8,Ada Byron,ada8@uni.edu,1\nM9," + "A" * 5000 + ",z@uni.edu,1\n",
        'long.csv, row 3, column "name": the name has 5,000 characters; at most 200 are '
        "allowed (give the name as it should appear on a certificate)",
    ),
    (
        "a name given as a JSON list",
        "list.json",
        lambda: json.dumps([{"id": "M9", "name": ["A", "B"], "email": "z@uni.edu"}]),
        'list.json, row 1, column "name": expected one value, got a list of 2',
    ),
    (
        "Name and name in one JSON object",
        "keys.json",
        lambda: '[{"id": "M9", "Name": "A", "name": "B", "email": "z@uni.edu"}]',
        'keys.json, row 1, column "name": keys "Name" and "name" name the same column; keep one',
    ),
    (
        "capacity 1e308",
        "big.csv",
        lambda: HEADER + "M9,Zed,z@uni.edu,1e308\n",
        f"big.csv, row 2, column \"capacity\": {CAPACITY}, got '1e308'",
    ),
    (
        "capacity of twenty digits",
        "big.csv",
        lambda: HEADER + "M9,Zed,z@uni.edu,99999999999999999999\n",
        f"big.csv, row 2, column \"capacity\": {CAPACITY}, got '99999999999999999999'",
    ),
    (
        "capacity of 5,000 digits in JSON",
        "big.json",
        lambda: (
            '[{"id": "M9", "name": "Zed", "email": "z@uni.edu", "capacity": ' + "9" * 5000 + "}]"
        ),
        f'big.json, row 1, column "capacity": {CAPACITY}, got \'99999999999999999999… '
        "(5000 characters)'",
    ),
    (
        "a line break in a name",
        "break.csv",
        lambda: HEADER + 'M9,"Zed\nZed",z@uni.edu,1\n',
        'break.csv, row 2, column "name": contains a line break (U+000A); keep the value on '
        "one line, without control characters",
    ),
    (
        "a control character in an id",
        "nul.csv",
        lambda: HEADER + "M\x1b9,Zed,z@uni.edu,1\n",
        'nul.csv, row 2, column "id": contains a control character (U+001B); keep the value '
        "on one line, without control characters",
    ),
    (
        "a right-to-left override in a name",
        "bidi.csv",
        lambda: HEADER + "M9,Zed \u202egnp.exe,z@uni.edu,1\n",
        'bidi.csv, row 2, column "name": contains a bidirectional control character '
        "(U+202E); keep the value on one line, without control characters",
    ),
    (
        "a first-strong isolate in an id",
        "isolate.csv",
        lambda: HEADER + "M9\u2068,Zed,z@uni.edu,1\n",
        'isolate.csv, row 2, column "id": contains a bidirectional control character '
        "(U+2068); keep the value on one line, without control characters",
    ),
    (
        "a left-to-right embedding in a name",
        "embed.csv",
        lambda: HEADER + "M9,\u202aZed,z@uni.edu,1\n",
        'embed.csv, row 2, column "name": contains a bidirectional control character '
        "(U+202A); keep the value on one line, without control characters",
    ),
    (
        "an internationalised address",
        "idn.csv",
        lambda: HEADER + "M9,Zed,josé@exämple.org,1\n",
        "idn.csv, row 2, column \"email\": 'josé@exämple.org' has characters outside ASCII; "
        "internationalised addresses cannot be delivered yet: give an ASCII address "
        "(name@university.edu)",
    ),
    (
        "EST as a time zone",
        "zone.csv",
        lambda: "id,name,email,timezone\nM9,Zed,z@uni.edu,EST\n",
        'zone.csv, row 2, column "timezone": "EST" is an abbreviation, not a time zone (it '
        'ignores daylight saving time); use a place name such as "America/New_York"',
    ),
    (
        "a misspelt deprecated zone",
        "zone.csv",
        lambda: "id,name,email,timezone\nM9,Zed,z@uni.edu,US/Centrl\n",
        'zone.csv, row 2, column "timezone": unknown time zone "US/Centrl"; Use an IANA name '
        "such as Europe/Berlin or America/Chicago",
    ),
    (
        "a topic far from every term",
        "topic.csv",
        lambda: "id,name,email,expertise\nM9,Zed,z@uni.edu,mentoring up\n",
        'topic.csv, row 2, column "expertise": unknown mentoring topic "mentoring up"; Valid: '
        "career_planning, grant_writing, publishing, scientific_writing, research_methods, "
        "work_life_integration, networking, teaching, leadership, lab_management, job_search, "
        "promotion_and_tenure, research_ethics, science_communication, collaboration, "
        "equity_and_inclusion, careers_beyond_academia, time_management",
    ),
    (
        "a survey file without an e-mail column",
        "survey.csv",
        lambda: "Timestamp,Full Name,id\n2026-01-01,Zed,M9\n",
        'survey.csv, row 1, column "email": required column is missing; add a column headed '
        '"email" (or "Email Address", "E-mail" or "E-mail Address")',
    ),
]


@pytest.mark.parametrize(
    ("case", "name", "content", "expected"), HOSTILE, ids=[c[0] for c in HOSTILE]
)
def test_hostile_roster_file_gives_one_line_and_stores_nothing(
    seeded: str,
    engine: Engine,
    tmp_path: Path,
    case: str,
    name: str,
    content: Callable[[], bytes | str],
    expected: str,
) -> None:
    data = content()
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    before = dump_database(engine)
    assert_one_error_line(
        run_cli(seeded, "import", "mentors", path), f"{expected}; nothing was imported"
    )
    assert dump_database(engine) == before


def test_names_keep_the_joiners_persian_and_indic_names_use(
    seeded: str, engine: Engine, tmp_path: Path
) -> None:
    """ZWNJ (U+200C) and ZWJ (U+200D) are letters' business, not controls: kept as given."""
    from sqlmodel import Session, col, select

    from tandem.program.storage.tables import Participant

    names = ["\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\u0915\u094d\u200d\u0937"]
    path = tmp_path / "joiners.csv"
    rows = "".join(f"J{n},{name},j{n}@uni.edu,1\n" for n, name in enumerate(names))
    path.write_text(HEADER + rows, encoding="utf-8")
    assert run_cli(seeded, "import", "mentors", path).exit_code == 0
    with Session(engine) as session:
        stored = session.exec(
            select(Participant.name).where(col(Participant.external_id).in_(["J0", "J1"]))
        )
        assert sorted(stored.all()) == sorted(names)


def test_declared_dimensions_are_not_allocated(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """A sheet that declares A1:XFD1048576 but holds two rows reads as two rows."""
    data = xlsx(["id", "name", "email"], ["M9", "Zed", "z@uni.edu"])
    path = tmp_path / "declared.xlsx"
    path.write_bytes(declared(data, "A1:XFD1048576"))
    result = run_cli(db_url, "import", "mentors", path)
    assert result.exit_code == 0, result.stderr
    assert [p.external_id for p in roster.list_participants(engine)] == ["M9"]


def test_survey_headers_are_read_and_the_timestamp_ignored(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "survey.csv"
    path.write_text(
        "Timestamp,Email Address,Full Name,id\n2026-01-01 10:00,zed@uni.edu,Zed Ash,E9\n",
        encoding="utf-8",
    )
    roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    (person,) = roster.list_participants(engine)
    assert (person.name, person.email, person.custom) == ("Zed Ash", "zed@uni.edu", {})


def test_survey_header_beside_ours_is_refused(seeded: str, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_text("id,name,email,Email Address\nE9,Zed,z@uni.edu,y@uni.edu\n", encoding="utf-8")
    assert_one_error_line(
        run_cli(seeded, "import", "mentees", path),
        'both.csv, row 1, column "email_address": column means the same as column "email"; '
        "keep one of them; nothing was imported",
    )


def test_a_close_misspelling_still_gets_its_suggestion(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "zone.csv"
    path.write_text("id,name,email,timezone\nM9,Zed,z@uni.edu,America/Chicgo\n", encoding="utf-8")
    result = run_cli(seeded, "import", "mentors", path)
    assert 'did you mean "America/Chicago"?' in result.stderr


def test_an_unclosed_quote_is_named_as_the_likely_cause(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('id,name,email\nM9,"Zed Smith,z@uni.edu\nM8,Ann,a@uni.edu\n', encoding="utf-8")
    assert_one_error_line(
        run_cli(seeded, "import", "mentors", path),
        f'{path.name}, row 2: row has 2 cells but the header has 3; check for a quote (") '
        "that is never closed: it joins the lines after it into one cell; nothing was imported",
    )


def test_zone_suggestions_never_offer_deprecated_names(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "zone.csv"
    path.write_text("id,name,email,timezone\nM9,Zed,z@uni.edu,US/Centrall\n", encoding="utf-8")
    result = run_cli(seeded, "import", "mentors", path)
    assert "US/Central" not in result.stderr.replace('"US/Centrall"', "")


def test_email_clash_is_reported_beside_a_duplicate_id(
    seeded: str, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "clash.csv"
    path.write_text(HEADER + "M9,Zed,z@uni.edu,1\nM9,Yan,ada@uni.edu,1\n", encoding="utf-8")
    before = dump_database(engine)
    result = run_cli(seeded, "import", "mentors", path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: clash.csv: 2 problems; nothing was imported",
        '  clash.csv, row 3, column "email": e-mail already belongs to stored mentor "M1"; '
        "use that id, or give that person another e-mail first",
        '  clash.csv, row 3, column "id": duplicate id "M9" (first on row 2)',
    ]
    assert dump_database(engine) == before


def _folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


FILE_COMMANDS: list[tuple[str, Callable[[Path], list[str | Path]], str]] = [
    (
        "import a folder",
        lambda t: ["import", "mentors", _folder(t, "in.csv")],
        "in.csv: is a folder; give the path of a file; nothing was imported",
    ),
    (
        "import a folder named .xlsx",
        lambda t: ["import", "mentees", _folder(t, "in.xlsx")],
        "in.xlsx: is a folder; give the path of a file; nothing was imported",
    ),
    (
        "import a missing file",
        lambda t: ["import", "mentors", t / "gone.json"],
        "gone.json: file not found; check the path; nothing was imported",
    ),
    (
        "check-ins from a folder",
        lambda t: ["checkin", "import", "Fall", _folder(t, "week.csv")],
        "week.csv: is a folder; give the path of a file; nothing was imported",
    ),
    (
        "export into a missing folder",
        lambda t: ["participants", "export", "mentor", t / "no" / "out.csv"],
        "{t}/no/out.csv: the folder {t}/no does not exist; create it first",
    ),
    (
        "export onto a folder",
        lambda t: ["participants", "export", "mentee", _folder(t, "out.xlsx")],
        "{t}/out.xlsx: is a folder; give the path of a file",
    ),
    (
        "scores from a folder",
        lambda t: ["match", "--cycle", "c", "--scores", _folder(t, "s.csv")],
        "{t}/s.csv: is a folder; give the path of a file",
    ),
    (
        "preferences from a missing file",
        lambda t: ["match", "--cycle", "c", "--preferences", t / "p.csv"],
        "{t}/p.csv: file not found; check the path",
    ),
    (
        "configuration from a folder",
        lambda t: ["match", "--cycle", "c", "--config", _folder(t, "c.toml")],
        "{t}/c.toml: is a folder; give the path of a file",
    ),
    (
        "configuration shown from a missing file",
        lambda t: ["match", "config", "show", "--config", t / "c.toml"],
        "{t}/c.toml: file not found; check the path",
    ),
    (
        "match output onto a folder",
        lambda t: ["match", "--cycle", "c", "--now", NOW_TEXT, "--out", _folder(t, "o.csv")],
        "{t}/o.csv: is a folder; give the path of a file",
    ),
    (
        "match output into a missing folder",
        lambda t: ["match", "--cycle", "c", "--now", NOW_TEXT, "--out", t / "no" / "o.json"],
        "{t}/no/o.json: the folder {t}/no does not exist; create it first",
    ),
]


@pytest.mark.parametrize(
    ("case", "arguments", "expected"), FILE_COMMANDS, ids=[c[0] for c in FILE_COMMANDS]
)
def test_every_file_command_reports_a_bad_path_in_one_line(
    seeded: str,
    engine: Engine,
    tmp_path: Path,
    case: str,
    arguments: Callable[[Path], list[str | Path]],
    expected: str,
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    before = dump_database(engine)
    result = run_cli(seeded, *arguments(files))
    assert_one_error_line(result, expected.format(t=files))
    assert dump_database(engine) == before


def test_permission_and_other_os_errors_are_phrased() -> None:
    assert os_error_message(PermissionError()) == (
        "not permitted to read this file; check its permissions"
    )
    assert os_error_message(PermissionError(), writing=True) == (
        "not permitted to write this file; check its permissions"
    )
    assert os_error_message(OSError(5, "Input/output error")) == (
        "cannot be read (Input/output error)"
    )


BIG_CELL = "x" * 140_000
TOO_LONG = 'a cell is longer than 131,072 characters; check for a quote (") that is never closed'
MATCH_FILES: list[tuple[str, str, str, str]] = [
    ("scores", "s.csv", f"mentee_id,mentor_id,score\nE1,M1,5\nE1,M1,{BIG_CELL}\n", "row 3"),
    ("scores", "s.csv", 'mentee_id,mentor_id,score\nE1,M1,"5\n' + "E1,M1,3\n" * 20_000, "row 2"),
    ("preferences", "p.csv", f"participant_id,candidate_id,rank\n{BIG_CELL},M1,1\n", "row 2"),
]


@pytest.mark.parametrize(
    ("option", "name", "content", "row"), MATCH_FILES, ids=["big score", "open quote", "big id"]
)
def test_a_match_file_the_csv_module_cannot_read_is_one_line(
    seeded: str, engine: Engine, tmp_path: Path, option: str, name: str, content: str, row: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    method = ["--method", "stable"] if option == "preferences" else []
    before = dump_database(engine)
    result = run_cli(
        seeded, "match", "--cycle", "c", "--now", NOW_TEXT, *method, f"--{option}", path
    )
    assert_one_error_line(result, f"{name}, {row}: {TOO_LONG}")
    assert dump_database(engine) == before


def test_a_roster_cell_the_csv_module_cannot_read_is_one_line(
    seeded: str, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "m.csv"
    path.write_text(HEADER + f"M2,{BIG_CELL},b@uni.edu,1\n", encoding="utf-8")
    before = dump_database(engine)
    assert_one_error_line(
        run_cli(seeded, "import", "mentors", path),
        f"m.csv, row 2: {TOO_LONG}; nothing was imported",
    )
    assert dump_database(engine) == before


DEEP_TOML = [
    ("unclosed", lambda depth: "a = " + "[" * depth),
    ("arrays", lambda depth: "a = " + "[" * depth + "]" * depth),
    ("tables", lambda depth: "a = " + "{b = " * depth + "}" * depth),
    ("weight", lambda depth: "[weights]\ngoals = " + "[" * depth + "]" * depth),
]


@pytest.mark.parametrize("depth", [2_000, 100_000])
@pytest.mark.parametrize(("kind", "text"), DEEP_TOML, ids=[k for k, _ in DEEP_TOML])
def test_deeply_nested_toml_is_one_line_naming_the_file(
    seeded: str,
    engine: Engine,
    tmp_path: Path,
    kind: str,
    text: Callable[[int], str],
    depth: int,
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text(depth), encoding="utf-8")
    nested = "deep.toml: not valid TOML: arrays or tables nested too deeply"
    before = dump_database(engine)
    result = run_cli(seeded, "match", "--cycle", "c", "--now", NOW_TEXT, "--config", path)
    assert_one_error_line(result, nested)
    assert_one_error_line(run_cli(seeded, "match", "config", "show", "--config", path), nested)
    assert dump_database(engine) == before


def test_a_long_wrong_value_in_the_match_configuration_is_cut_short(
    seeded: str, tmp_path: Path
) -> None:
    path = tmp_path / "long.toml"
    path.write_text("[weights]\ngoals = " + "[" * 100 + "]" * 100 + "\n", encoding="utf-8")
    result = run_cli(seeded, "match", "--cycle", "c", "--now", NOW_TEXT, "--config", path)
    assert_one_error_line(
        result,
        'long.toml: config key "weights.goals": expected a number ≥ 0, got ' + "[" * 59 + "…",
    )


def test_a_number_too_long_for_python_in_the_match_configuration_is_one_line(
    seeded: str, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "long.toml"
    path.write_text("[weights]\ngoals = " + "9" * 5000 + "\n", encoding="utf-8")
    before = dump_database(engine)
    result = run_cli(seeded, "match", "--cycle", "c", "--now", NOW_TEXT, "--config", path)
    assert_one_error_line(result, "long.toml: not valid TOML: a number has more than 4,300 digits")
    assert dump_database(engine) == before
