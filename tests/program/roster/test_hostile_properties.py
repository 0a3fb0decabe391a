"""Generated hostile files through the CLI: a valid file with exactly one defect injected,
or bytes that are no file of the kind at all. Every one must exit non-zero with exactly
one error line, no traceback, and leave the database exactly as it was.

Readers: roster files, a check-in workbook, the match configuration (deep nesting
included), score and preference files for `match`, survey responses for `survey import`.

Bounded (30 examples per reader) and marked ``hostile``: ``pytest -m "not hostile"``
leaves it out.
"""

from __future__ import annotations

import csv
import io
import json
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine

from tandem.matcher.config import default_config
from tandem.matcher.types import Role
from tandem.program.roster import store as roster
from tests.program.roster.hostile import assert_one_error_line, dump_database, run_cli
from tests.program.roster.test_hostile import NOW

pytestmark = pytest.mark.hostile

BOUNDED = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLUMNS = ["id", "name", "email", "capacity", "timezone", "career_stage"]
ZONES = {z.lower() for z in zoneinfo.available_timezones()}
Row = list[str]

words = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=12)
controls = st.characters(codec="utf-8", categories=["Cc"]).filter(lambda c: c not in "\t")


@st.composite
def good_rows(draw: st.DrawFn) -> list[Row]:
    """Valid mentor rows with distinct ids and e-mails (never stored ones)."""
    count = draw(st.integers(1, 6))
    return [
        [
            f"N{k}",
            draw(words).title() + " " + draw(words).title(),
            f"n{k}@uni.edu",
            str(draw(st.integers(0, 5))),
            draw(st.sampled_from(["Europe/Berlin", "America/Chicago", ""])),
            draw(st.sampled_from(["postdoc", "senior faculty", ""])),
        ]
        for k in range(count)
    ]


def _bad_capacity(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.integers(1001, 10**30).map(str),
            st.integers(max_value=-1).map(str),
            st.sampled_from(["1e308", "nan", "inf", "-0.5", "1.5", "two", "9" * 5000]),
            st.floats(allow_nan=False).filter(lambda f: not f.is_integer()).map(repr),
        )
    )


def _bad_zone(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.sampled_from(["EST", "pst", "CEST", "GMT+1", "US/Centrl"]),
            words.filter(lambda w: w.lower() not in ZONES),
        )
    )


CELL_DEFECTS: dict[str, tuple[int, Callable[[st.DrawFn], str]]] = {
    "capacity": (3, _bad_capacity),
    "zone": (4, _bad_zone),
    "e-mail": (2, lambda draw: draw(words) + draw(st.sampled_from(["", "@", "@x", "@é.org"]))),
    "name control": (1, lambda draw: draw(words) + draw(controls) + draw(words)),
    "id control": (0, lambda draw: "N" + draw(controls) + "x"),
    "stage": (5, lambda draw: draw(words.filter(lambda w: len(w) > 3)) + " wizard"),
}


def _csv(rows: list[Row], header: Row = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


@st.composite
def hostile_csv(draw: st.DrawFn) -> bytes:
    rows = draw(good_rows())
    at = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["cell", "ragged", "bytes", "header"]))
    if kind == "cell":
        column, bad = CELL_DEFECTS[draw(st.sampled_from(sorted(CELL_DEFECTS)))]
        rows[at][column] = bad(draw)
        return _csv(rows).encode("utf-8")
    if kind == "ragged":
        rows[at] = rows[at] + [draw(words)] * draw(st.integers(1, 3))
        return _csv(rows).encode("utf-8")
    if kind == "bytes":
        data = _csv(rows).encode("utf-8")
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80abc"])) + data[cut:]
    header = list(COLUMNS)
    header[draw(st.integers(1, len(header) - 1))] = draw(st.sampled_from(["ID", " Id ", ""]))
    return _csv(rows, header).encode("utf-8")


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    rows = draw(good_rows())
    records: list[dict[str, object]] = [
        {c: v for c, v in zip(COLUMNS, row, strict=True) if v} for row in rows
    ]
    at = draw(st.integers(0, len(records) - 1))
    kind = draw(
        st.sampled_from(["truncated", "nested", "list name", "twin keys", "object", "shape", "big"])
    )
    if kind == "truncated":
        text = json.dumps(records)
        return text[: draw(st.integers(1, len(text) - 1))].encode("utf-8")
    if kind == "nested":
        depth = draw(st.integers(2_000, 60_000))
        return ("[" * depth + "]" * depth).encode("utf-8")
    if kind == "list name":
        records[at]["name"] = draw(st.lists(words, min_size=2, max_size=4))
    elif kind == "object":
        records[at][draw(st.sampled_from(["name", "timezone", "extra"]))] = {"a": draw(words)}
    elif kind == "big":
        text = json.dumps(records).replace(
            '"capacity": "' + records[at]["capacity"] + '"',  # type: ignore[operator]
            '"capacity": ' + "9" * draw(st.integers(21, 6000)),
            1,
        )
        return text.encode("utf-8")
    elif kind == "shape":
        return json.dumps(draw(st.sampled_from([records[at], "people", 7, None, True]))).encode()
    else:
        text = json.dumps(records)
        twin = draw(st.sampled_from(['"Name"', '"NAME"', '"name"', '" name "']))
        return text.replace('"name"', twin + ': "X", "name"', 1).encode("utf-8")
    return json.dumps(records).encode("utf-8")


def _workbook(rows: list[list[str]], far: tuple[str, str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    if far is not None:
        sheet[far[0]] = far[1]
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


XLSX_FILE_DEFECTS = ("bytes", "truncated", "far row", "far column")
"""Defects of the workbook itself, whatever its columns mean."""


@st.composite
def hostile_xlsx(
    draw: st.DrawFn, kinds: tuple[str, ...] = (*XLSX_FILE_DEFECTS, "formula", "cell")
) -> bytes:
    rows: list[list[str]] = [list(COLUMNS), *draw(good_rows())]
    kind = draw(st.sampled_from(kinds))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "truncated":
        # The cut as a share of the length: a workbook's bytes carry the time it was
        # saved, so its length may differ between runs of one example.
        data = _workbook(rows)
        return data[: draw(st.integers(0, 999)) * (len(data) - 200) // 1000]
    at = draw(st.integers(1, len(rows) - 1))
    if kind == "formula":
        rows[at][draw(st.sampled_from([0, 1, 2, 3]))] = "=" + draw(st.sampled_from(["1+1", "A1"]))
        return _workbook(rows)
    if kind == "far row":
        return _workbook(rows, (f"A{draw(st.integers(250_002, 1_048_576))}", "x"))
    if kind == "far column":
        from openpyxl.utils import get_column_letter

        letter = get_column_letter(draw(st.integers(257, 16_384)))
        return _workbook(rows, (f"{letter}{draw(st.integers(1, len(rows)))}", "x"))
    # openpyxl refuses to write control characters, so a workbook cannot hold them.
    writable = sorted(k for k in CELL_DEFECTS if "control" not in k)
    column, bad = CELL_DEFECTS[draw(st.sampled_from(writable))]
    rows[at][column] = bad(draw)
    return _workbook(rows)


def _config_text() -> str:
    from tandem.matcher.config import config_to_toml

    return config_to_toml(default_config())


@st.composite
def hostile_toml(draw: st.DrawFn) -> str:
    lines = _config_text().splitlines()
    kind = draw(st.sampled_from(["syntax", "unknown key", "type", "range", "deep"]))
    if kind == "deep":
        return deep_toml(draw)
    if kind == "syntax":
        at = draw(st.integers(0, len(lines)))
        garbage = draw(st.sampled_from(["= =", "[weights", "key = ", '"open', "a.b.c = [1,"]))
        return "\n".join([*lines[:at], garbage, *lines[at:]]) + "\n"
    if kind == "unknown key":
        line = draw(words).replace("a", "q") + "zz = 1.0"
    elif kind == "type":
        line = "goals = " + draw(st.sampled_from(['"high"', "[1, 2]", "true", "{a = 1}"]))
    else:
        line = "goals = " + draw(
            st.sampled_from(["-1.0", "-0.5", "1e400", "nan", "-inf", "9" * 5000, "-" + "1" * 4301])
        )
    kept = [x for x in lines if not (kind != "unknown key" and x.startswith("goals ="))]
    at = kept.index("[weights]") + 1
    return "\n".join([*kept[:at], line, *kept[at:]]) + "\n"


def deep_toml(draw: st.DrawFn) -> str:
    """TOML nested thousands of levels deep: arrays or inline tables, closed or not, at
    the top or as a key's value."""
    depth = draw(st.integers(2_000, 100_000))
    opening, closing = draw(st.sampled_from([("[", "]"), ("{b = ", "}"), ("[{c = ", "}]")]))
    value = opening * depth + (closing * depth if draw(st.booleans()) else "")
    key = draw(st.sampled_from(["a = ", "[weights]\ngoals = ", "[optimizer]\nobjective = "]))
    return key + value + "\n"


def _bad_cell(draw: st.DrawFn, good: str) -> str:
    """A cell no reader takes: a number out of range or not a number, an id no one has,
    control characters, or more than the 131,072 characters a CSV cell may hold."""
    return draw(
        st.one_of(
            st.sampled_from(["-1", "nan", "inf", "1e308", "two", "9" * 5000, "0x10"]),
            words.map(lambda w: "Q" + w),
            st.integers(131_073, 400_000).map(lambda n: "x" * n),
            controls.map(lambda c: good + c + good),
        )
    )


@st.composite
def hostile_match_csv(draw: st.DrawFn, header: Row, rows: list[Row]) -> bytes:
    """A valid score or preference file (``rows`` under ``header``) with one defect."""
    rows = [list(row) for row in rows]
    at = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["cell", "ragged", "bytes", "header", "quote", "empty"]))
    if kind == "cell":
        column = draw(st.integers(0, len(header) - 1))
        rows[at][column] = _bad_cell(draw, rows[at][column])
    elif kind == "ragged":
        rows[at] = rows[at][: draw(st.integers(1, len(header) - 1))]
    elif kind == "bytes":
        data = _csv(rows, header).encode("utf-8")
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80abc"])) + data[cut:]
    elif kind == "header":
        # The last column renamed (one defect: a required or answer column unknown).
        header = [*header[:-1], draw(st.sampled_from(["", "Q", "score rank"])) + draw(words)]
    elif kind == "quote":
        # A quote never closed: the rest of the file becomes one cell of over 128 KB.
        filler = "\n".join([",".join(rows[at])] * 20_000)
        return (_csv(rows, header) + '"' + filler + "\n").encode("utf-8")
    else:
        return draw(st.sampled_from([b"", b"\n\n", ",".join(header).encode() + b"\n"]))
    return _csv(rows, header).encode("utf-8")


SCORES = (["mentee_id", "mentor_id", "score"], [["E1", "M1", "5"]])
PREFERENCES = (["participant_id", "candidate_id", "rank"], [["E1", "M1", "1"], ["M1", "E1", "1"]])
SURVEY = (
    ["email", "survey", "expectations_goals"],
    [["mentor1@uni.edu", "baseline", "4"], ["mentor2@uni.edu", "baseline", "3"]],
)


@pytest.fixture
def seeded(engine: Engine, db_url: str, tmp_path: Path) -> str:
    (tmp_path / "m.csv").write_text(
        "id,name,email,capacity\nM1,Ada Byron,ada@uni.edu,2\n", encoding="utf-8"
    )
    (tmp_path / "e.csv").write_text("id,name,email\nE1,Cleo Park,cleo@uni.edu\n", "utf-8")
    roster.import_roster(engine, tmp_path / "m.csv", Role.MENTOR, now=NOW)
    roster.import_roster(engine, tmp_path / "e.csv", Role.MENTEE, now=NOW)
    return db_url


def _check(engine: Engine, url: str, path: Path, data: bytes | str, *command: str) -> None:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    before = dump_database(engine)
    assert_one_error_line(run_cli(url, *command, str(path)))
    assert dump_database(engine) == before


@BOUNDED
@given(data=hostile_csv())
def test_hostile_csv(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(engine, seeded, tmp_path / "mentors.csv", data, "import", "mentors")


@BOUNDED
@given(data=hostile_json())
def test_hostile_json(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(engine, seeded, tmp_path / "mentors.json", data, "import", "mentors")


@BOUNDED
@given(data=hostile_xlsx())
def test_hostile_xlsx(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(engine, seeded, tmp_path / "mentors.xlsx", data, "import", "mentors")


@BOUNDED
@given(data=hostile_xlsx(XLSX_FILE_DEFECTS))
def test_hostile_checkin_xlsx(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(engine, seeded, tmp_path / "week.xlsx", data, "checkin", "import", "Fall")


@BOUNDED
@given(data=hostile_toml())
def test_hostile_toml(seeded: str, engine: Engine, tmp_path: Path, data: str) -> None:
    _check(
        engine,
        seeded,
        tmp_path / "match.toml",
        data,
        "match",
        "--cycle",
        "c",
        "--now",
        "2026-01-06T09:00",
        "--config",
    )


MATCH = ("match", "--cycle", "c", "--now", "2026-01-06T09:00")


@BOUNDED
@given(data=hostile_match_csv(*SCORES))
def test_hostile_scores(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(engine, seeded, tmp_path / "scores.csv", data, *MATCH, "--scores")


@BOUNDED
@given(data=hostile_match_csv(*PREFERENCES))
def test_hostile_preferences(seeded: str, engine: Engine, tmp_path: Path, data: bytes) -> None:
    _check(
        engine, seeded, tmp_path / "prefs.csv", data, *MATCH, "--method", "stable", "--preferences"
    )


@pytest.fixture
def program(engine: Engine, db_url: str, tmp_path: Path) -> str:
    """The URL of a database holding a cohort "Fall 2026" of two pairs."""
    from tests.program.helpers import make_program

    make_program(engine, tmp_path, pairs=2)
    return db_url


@BOUNDED
@given(data=hostile_match_csv(*SURVEY))
def test_hostile_survey_responses(
    program: str, engine: Engine, tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "survey.csv"
    _check(engine, program, path, data, "survey", "import", "Fall 2026")
