"""Tables read at 100 columns: no line is wider, and no id or date is split across lines.

Off a terminal the output is 100 columns wide (``COLUMNS`` when set). Prose columns
(names, reasons, notes, topics) wrap; ids, dates and numbers never do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Participant
from tests.conftest import Tandem
from tests.program.helpers import link_key_file

COHORT = "Autumn Research Mentoring Programme 2026"
NOTE = (
    "Wants more structure in the meetings and asked whether the coordinator could suggest a "
    "reading list on grant writing; otherwise going well"
)
TOKENS = re.compile(r"\b[EM]\d{3}\b|\b\d{4}-\d{2}-\d{2}\b|[\w.-]+@[\w-]+\.\w+")
"""Ids, dates and e-mail addresses: what a table must never split."""


def roster(folder: Path) -> tuple[Path, Path]:
    mentors = ["id,name,email,capacity,career_stage,institution,research_areas,timezone"]
    mentees = ["id,name,email,career_stage,institution,research_areas,timezone"]
    for n in range(1, 5):
        mentors.append(
            f"M00{n},Maria-Fernanda Gonzalez de la Rosa {n},mentor{n}@uni.edu,1,senior_faculty,"
            "University of California San Francisco School of Medicine,"
            "epidemiology;global health;health equity,America/Los_Angeles"
        )
        mentees.append(
            f"E00{n},Oluwaseun Adebayo-Whitfield {n},mentee{n}@uni.edu,postdoc,"
            "Northlake University Department of Population Health Sciences,"
            "epidemiology;global health,America/Chicago"
        )
    (folder / "mentors.csv").write_text("\n".join(mentors) + "\n", encoding="utf-8")
    (folder / "mentees.csv").write_text("\n".join(mentees) + "\n", encoding="utf-8")
    return folder / "mentors.csv", folder / "mentees.csv"


@pytest.fixture
def program(db_url: str, engine: Engine, tmp_path: Path) -> list[str]:
    """A cohort with long names, notes, a failed message and an ended pair; the global
    options of every command."""
    run = Tandem()
    db = ["--db", db_url]
    mentors, mentees = roster(tmp_path)
    run(*db, "import", "mentors", mentors, "--now", "2026-08-01T09:00")
    run(*db, "import", "mentees", mentees, "--now", "2026-08-01T09:00")
    run(*db, "match", "--cycle", "2026", "--now", "2026-08-01T12:00")
    run(*db, "cohort", "create", COHORT, "--cycle", "2026", "--start", "2026-09-07",
        "--timezone", "America/New_York", "--coordinator", "coordinator@uni.edu",
        "--now", "2026-08-02T12:00")  # fmt: skip
    keys = ["--keys", str(link_key_file(tmp_path)), "--delivery", f"file:{tmp_path / 'outbox'}"]
    run(*db, "tick", *keys, "--now", "2026-09-07T14:00")
    with transaction(engine) as session:  # stored before the import refused such addresses
        session.execute(
            update(Participant)
            .where(Participant.external_id == "E004")  # type: ignore[arg-type]
            .values(email="mentée4@uni.edu")
        )
    run(*db, "tick", *keys, "--now", "2026-09-14T14:00")
    for mentee in ("E001", "E002"):
        run(*db, "checkin", "add", COHORT, "--mentee", mentee, "--week", "2", "--role",
            "mentee", "--met", "--minutes", "45", "--mode", "in_person", "--rating", "4",
            "--topic", "the mentoring compact and how often to meet", "--note", NOTE,
            "--now", "2026-09-16T10:00")  # fmt: skip
    run(*db, "pair", "end", COHORT, "E003", "--reason",
        "the mentor moved to another institution abroad and could no longer meet",
        "--now", "2026-09-18T10:00")  # fmt: skip
    run(*db, "tick", *keys, "--now", "2026-09-28T14:00")
    return db


WIDE_COMMANDS = [
    ("cohort", "status", COHORT, "--now", "2026-09-29T12:00"),
    ("checkin", "list", COHORT),
    ("match", "explain", "E001", "--mentor", "M002"),
    ("cohort", "deliveries", COHORT),
    ("cohort", "list"),
    ("participants", "list"),
    ("participants", "show", "E001"),
    ("survey", "show", "baseline"),
]


@pytest.mark.parametrize("command", WIDE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_tables_fit_100_columns_and_never_split_an_id_or_a_date(
    program: list[str], command: tuple[str, ...]
) -> None:
    table = Tandem()(*program, *command, env={"COLUMNS": None}).stdout
    lines = table.splitlines()
    assert len(lines) > 4
    assert max(len(line) for line in lines) <= 100, table
    data = json.loads(Tandem()(*program, *command, "--format", "json").stdout)
    shown = json.dumps(data, ensure_ascii=False)
    tokens = set(TOKENS.findall(shown))
    assert tokens or command[0] == "survey"
    assert sorted(t for t in tokens if t not in table) == [], table


def test_columns_sets_the_width_off_a_terminal(program: list[str]) -> None:
    status = ["cohort", "status", COHORT, "--now", "2026-09-29T12:00"]
    narrow = Tandem()(*program, *status, env={"COLUMNS": "80"}).stdout.splitlines()
    wide = Tandem()(*program, *status, env={"COLUMNS": "160"}).stdout.splitlines()
    assert max(map(len, narrow)) <= 80 < max(map(len, wide)) <= 160
    assert len(wide) < len(narrow)  # names and the risk wrap less


def records(table: str) -> list[list[str]]:
    """A table's rows, each cell's lines joined by spaces (a row starts where its first
    cell is not blank)."""
    rows: list[list[list[str]]] = []
    for line in table.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            rows.append([[] for _ in cells])
        for parts, cell in zip(rows[-1], cells, strict=True):
            if cell:
                parts.append(cell)
    return [[" ".join(parts) for parts in row] for row in rows]


def test_a_check_in_reads_as_the_pair_what_was_said_and_when(program: list[str]) -> None:
    table = Tandem()(*program, "checkin", "list", COHORT).stdout
    first, second = records(table)
    assert first == [
        "2",
        "E001 Oluwaseun Adebayo-Whitfield 1 M002 Maria-Fernanda Gonzalez de la Rosa 2",
        "mentee",
        "met, 45 min, in_person, rated 4 topic: the mentoring compact and how often to meet",
        NOTE,
        "2026-09-16 06:00 coordinator",
    ]
    assert second[1].startswith("E002 ")
    data = json.loads(Tandem()(*program, "checkin", "list", COHORT, "--format", "json").stdout)
    assert [(d["mentee_id"], d["minutes"], d["note"]) for d in data] == [
        ("E001", 45, NOTE),
        ("E002", 45, NOTE),
    ]


def test_help_prose_is_wrapped_to_the_terminal_not_to_the_docstring(tandem: Tandem) -> None:
    """A help paragraph written over several docstring lines reads as one paragraph at 80
    columns: within a paragraph, no line but its last is short (where the docstring broke
    it)."""
    for command in (["cohort", "set"], ["cohort", "rematch"], ["serve"], ["keys", "rotate-links"]):
        help_text = tandem(*command, "--help", env={"COLUMNS": "80"}).stdout
        prose = help_text.split("╭")[0].split("Usage:")[1].splitlines()[1:]
        paragraphs = "\n".join(line.strip() for line in prose).strip().split("\n\n")
        assert len(paragraphs) >= 2, (command, paragraphs)
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            assert all(len(line) > 60 for line in lines[:-1]), (command, paragraph)
