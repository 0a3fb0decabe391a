"""Database conditions a person can fix each give one clear line, never a traceback; driver
errors never carry row values; concurrent imports are serialised."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tandem.program.storage import db
from tests.program.roster.hostile import assert_one_error_line, run_cli

MENTORS = "id,name,email\nM1,Ada Byron,ada@uni.edu\nM2,Ben Okafor,ben@uni.edu\n"


def test_a_new_sqlite_file_is_private(tmp_path: Path) -> None:
    db.open_database(f"sqlite:///{tmp_path}/new.db").dispose()
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    path.chmod(0o640)
    db.open_database(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 100, encoding="utf-8")
    with pytest.raises(db.DatabaseError) as raised:
        db.open_database(f"sqlite:///{path}")
    assert str(raised.value) == (
        f"sqlite:///{path}: the file is not a Tandem database (not SQLite, or damaged); check --db"
    )
    assert_one_error_line(run_cli(f"sqlite:///{path}", "participants", "list"))


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _overwrite_page(path: Path, page: int) -> None:
    data = bytearray(path.read_bytes())
    data[page * 4096 : (page + 1) * 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))


def _break_schema(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA writable_schema=ON")
    connection.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE (' WHERE name = 'participant'")
    connection.commit()
    connection.close()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: _cut(path, 5000), "database disk image is malformed"),
        (lambda path: _cut(path, 100), "database disk image is malformed"),
        (lambda path: _overwrite_page(path, 1), "database disk image is malformed"),
        (_break_schema, "malformed database schema"),
    ],
    ids=["cut-at-5000", "cut-at-100", "page-overwritten", "schema"],
)
@pytest.mark.parametrize(
    "command", [("participants", "list"), ("init",), ("import", "mentors", "m.csv")]
)
def test_a_damaged_database_file_is_said_to_be_damaged(
    tmp_path: Path, damage: Callable[[Path], None], reason: str, command: tuple[str, ...]
) -> None:
    path = tmp_path / "t.db"
    (tmp_path / "m.csv").write_text(
        "id,name,email\n" + "".join(f"M{n},Name {n},m{n}@uni.edu\n" for n in range(300)),
        encoding="utf-8",
    )
    assert run_cli(f"sqlite:///{path}", "import", "mentors", tmp_path / "m.csv").exit_code == 0
    damage(path)
    args = [tmp_path / a if a.endswith(".csv") else a for a in command]
    assert_one_error_line(
        run_cli(f"sqlite:///{path}", *args),
        f"sqlite:///{path}: the database file is damaged (SQLite: {reason}); restore it from a "
        "backup",
    )


def _sql(path: Path, statement: str) -> None:
    connection = sqlite3.connect(path)
    connection.execute(statement)
    connection.commit()
    connection.close()


def _garble_name(path: Path) -> None:
    """A byte of a stored name overwritten: text that is no longer UTF-8."""
    data = bytearray(path.read_bytes())
    at = data.find(b"Priya Das")
    data[at + 3] = 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_garble_name, "the database file is damaged (stored text that is not UTF-8)"),
        (
            lambda path: _sql(
                path, "UPDATE participant SET research_areas = '[\"methods\"}' WHERE pk = 1"
            ),
            "the database file is damaged (a stored value is not valid JSON)",
        ),
        (
            lambda path: _sql(path, "DROP TABLE participant"),
            "the database is missing a table of Tandem's (damaged, or changed by hand)",
        ),
        (
            lambda path: _sql(path, "ALTER TABLE participant DROP COLUMN institution"),
            "the database is missing a column of Tandem's (damaged, or changed by hand)",
        ),
    ],
    ids=["not-utf-8", "bad-json", "table-dropped", "column-dropped"],
)
@pytest.mark.parametrize(
    "command",
    [
        ("participants", "list"),
        ("participants", "show", "M1"),
        ("participants", "export-person", "M1"),
        ("match", "--cycle", "2027"),
    ],
)
def test_damaged_rows_and_tables_are_one_line_that_quotes_nothing(
    tmp_path: Path, damage: Callable[[Path], None], message: str, command: tuple[str, ...]
) -> None:
    path = tmp_path / "t.db"
    (tmp_path / "m.csv").write_text(
        "id,name,email,research_areas\nM1,Priya Das,priya@uni.edu,methods\n", encoding="utf-8"
    )
    assert run_cli(f"sqlite:///{path}", "import", "mentors", tmp_path / "m.csv").exit_code == 0
    damage(path)
    result = run_cli(f"sqlite:///{path}", *command)
    assert_one_error_line(result, f"sqlite:///{path}: {message}; restore it from a backup")
    assert "Pri" not in result.output and "priya" not in result.output


def test_a_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/none/x.db"
    assert_one_error_line(
        run_cli(url, "participants", "list"),
        f"{url}: cannot open the database file; check that its folder exists and is "
        "writable, and that --db names a file",
    )


def test_a_read_only_database(tmp_path: Path) -> None:
    db.open_database(f"sqlite:///{tmp_path}/ro.db").dispose()
    (tmp_path / "m.csv").write_text(MENTORS, encoding="utf-8")
    # Read-only as SQLite sees it (file permissions do not bind root, who runs CI here).
    url = f"sqlite:///file:{tmp_path}/ro.db?mode=ro&uri=true"
    result = run_cli(url, "import", "mentors", tmp_path / "m.csv")
    assert_one_error_line(result)
    assert result.stderr.rstrip().endswith(
        "the database is read-only; make the file (and its folder) writable, or use another --db"
    )


def test_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db.open_database(f"sqlite:///{path}").dispose()
    (tmp_path / "m.csv").write_text(MENTORS, encoding="utf-8")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        url = f"sqlite:///{path}?timeout=0.2"
        assert_one_error_line(
            run_cli(url, "import", "mentors", tmp_path / "m.csv"),
            f"{url}: the database is busy: another Tandem command is writing to it; try again "
            "when it has finished",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_newer_schema_is_one_line(db_url: str) -> None:
    engine = db.open_database(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    assert_one_error_line(
        run_cli(db_url, "participants", "list"),
        f"database schema revision '9999' is newer than this Tandem ('{db.SCHEMA_HEAD}'): "
        "upgrade Tandem",
    )


def test_driver_errors_carry_no_row_values(db_url: str) -> None:
    engine = db.open_database(db_url)
    insert = text(
        "INSERT INTO participant (role, external_id, name, email, email_key, research_areas, "
        "research_interests, topics, languages, meeting_modes, excluded, identity_consent, "
        "identity, identity_preferences, custom, created_at, updated_at) VALUES (:role, :id, "
        ":name, :email, :email, '[]', '', '[]', '[]', '[]', '[]', false, '[]', '[]', '{}', "
        ":now, :now)"
    )
    values = {
        "role": "mentor",
        "id": "M1",
        "name": "Secret Person",
        "email": "secret@uni.edu",
        "now": "2026-01-01 00:00:00",
    }
    with engine.begin() as connection:
        connection.execute(insert, values)
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(insert, values)
    assert "secret" not in str(raised.value).lower()
    assert "Secret Person" not in str(raised.value)
    engine.dispose()


@pytest.mark.slow
def test_two_imports_of_one_file_at_once(db_url: str, tmp_path: Path) -> None:
    """Two processes: one adds everyone, the other then finds them all unchanged."""
    db.open_database(db_url).dispose()
    path = tmp_path / "mentors.csv"
    path.write_text(
        "id,name,email\n" + "".join(f"M{k},Person {k},p{k}@uni.edu\n" for k in range(300)),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "tandem.cli", "--db", db_url, "import", "mentors", str(path)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all(err == "" for _, err in outputs), outputs
    assert sorted(out for out, _ in outputs) == [
        "mentors.csv: 0 added, 0 updated, 300 unchanged mentors\n",
        "mentors.csv: 300 added, 0 updated, 0 unchanged mentors\n",
    ]
