"""The import streams in batches: a problem in a late batch still stores nothing, an
e-mail handed from a stored person to a new one across batches is allowed, and reading a
workbook is bounded by its real content."""

from __future__ import annotations

import io
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine

from tandem.matcher.types import Role
from tandem.program.roster import store as roster
from tandem.program.roster.files import InputFileError, read_table
from tests.program.roster.hostile import dump_database

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
COUNT = roster.BATCH * 2 + 500


def mentees(rows: list[str]) -> str:
    return "id,name,email\n" + "".join(f"{row}\n" for row in rows)


def people(count: int) -> list[str]:
    return [f"E{k:05},Person {k},p{k}@uni.edu" for k in range(count)]


def test_a_problem_in_the_last_batch_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mentees.csv"
    path.write_text(mentees(people(3)), encoding="utf-8")
    roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    before = dump_database(engine)
    path.write_text(mentees([*people(COUNT), "E99999,Late Problem,not-an-address"]), "utf-8")
    with pytest.raises(InputFileError) as raised:
        roster.import_roster(engine, path, Role.MENTEE, now=LATER)
    assert [str(p) for p in raised.value.problems] == [
        f'mentees.csv, row {COUNT + 2}, column "email": expected an e-mail address like '
        "name@university.edu, got 'not-an-address'"
    ]
    assert dump_database(engine) == before


def test_batches_add_update_and_keep(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "mentees.csv"
    path.write_text(mentees(people(COUNT)), encoding="utf-8")
    first = roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    assert (len(first.added), len(first.updated), len(first.unchanged)) == (COUNT, 0, 0)
    rows = people(COUNT)
    rows[-1] = rows[-1].replace("Person", "Renamed")
    path.write_text(mentees(rows), encoding="utf-8")
    again = roster.import_roster(engine, path, Role.MENTEE, now=LATER)
    assert (len(again.added), len(again.updated), len(again.unchanged)) == (0, 1, COUNT - 1)
    assert again.changes == {f"E{COUNT - 1:05}": ("name",)}
    stored = roster.list_participants(engine)
    assert len(stored) == COUNT
    assert stored[-1].name == f"Renamed {COUNT - 1}" and stored[-1].updated_at == LATER


def test_an_email_handed_on_across_batches(engine: Engine, tmp_path: Path) -> None:
    """A new person in the first batch takes the e-mail that a stored person, later in the
    file, gives up."""
    path = tmp_path / "mentees.csv"
    path.write_text(mentees(["Z1,Old Owner,shared@uni.edu"]), encoding="utf-8")
    roster.import_roster(engine, path, Role.MENTEE, now=NOW)
    rows = ["A0,New Owner,shared@uni.edu", *people(COUNT), "Z1,Old Owner,moved@uni.edu"]
    path.write_text(mentees(rows), encoding="utf-8")
    report = roster.import_roster(engine, path, Role.MENTEE, now=LATER)
    assert report.changes == {"Z1": ("email",)}
    emails = {p.external_id: p.email for p in roster.list_participants(engine)}
    assert (emails["A0"], emails["Z1"]) == ("shared@uni.edu", "moved@uni.edu")


def test_reading_a_workbook_is_bounded_by_its_cells(tmp_path: Path) -> None:
    """One cell at XFD1048576 in a 5 KB workbook: refused without allocating its sheet."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "id"
    sheet["XFD1048576"] = "x"
    out = io.BytesIO()
    workbook.save(out)
    path = tmp_path / "far.xlsx"
    path.write_bytes(out.getvalue())
    assert path.stat().st_size < 10_000
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError):
            read_table(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
