"""Survey responses: validated like the roster, all or nothing, safe to repeat."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.evaluation.responses import import_responses
from tandem.program.roster.files import InputFileError
from tandem.program.storage.tables import SurveyResponse
from tests.program.helpers import CREATED, make_program


def stored(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as session:
        return [
            r.model_dump(exclude={"pk", "recorded_at"})
            for r in session.exec(select(SurveyResponse).order_by(col(SurveyResponse.pk))).all()
        ]


def test_import_is_validated_atomic_and_idempotent(engine: Engine, tmp_path: Path) -> None:
    make_program(engine, tmp_path, pairs=2)
    good = tmp_path / "closing.csv"
    good.write_text(
        "Timestamp,Email,Survey,Role,expectations_goals,expectations_goals_before,"
        "mentor_expectations_goals,valuable_use,intent_to_change,intent_what\n"
        "2026-12-20,Mentor1@uni.edu,closing,mentor,6,3,,5,yes,Write a compact first\n"
        "2026-12-20,mentee1@uni.edu,Closing,,,,7,4,,\n",
        encoding="utf-8",
    )
    report = import_responses(engine, "Fall 2026", good, now=CREATED)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    rows = stored(engine)
    assert [(r["role"], r["survey"], r["answers"]) for r in rows] == [
        (
            "mentor",
            "closing",
            {
                "expectations_goals": 6,
                "expectations_goals_before": 3,
                "intent_to_change": True,
                "intent_what": "Write a compact first",
                "valuable_use": 5,
            },
        ),
        ("mentee", "closing", {"mentor_expectations_goals": 7, "valuable_use": 4}),
    ]
    assert rows[0]["pair_pk"] is None and rows[1]["pair_pk"] is not None
    again = import_responses(engine, "Fall 2026", good, now=CREATED)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    good.write_text(good.read_text().replace(",7,4,,", ",6,4,,"), encoding="utf-8")
    changed = import_responses(engine, "Fall 2026", good, now=CREATED)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)
    assert stored(engine)[1]["answers"] == {"mentor_expectations_goals": 6, "valuable_use": 4}


def test_every_problem_is_reported_and_nothing_is_stored(engine: Engine, tmp_path: Path) -> None:
    make_program(engine, tmp_path, pairs=2)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "email,survey,role,expectations_goals,expectations_goals_before,"
        "mentor_expectations_goals,changed_mentoring\n"
        "mentor1@uni.edu,closing,,8,3,,\n"
        "mentor2@uni.edu,baseline,,5,4,,\n"
        "mentee1@uni.edu,closing,,,,6,\n"
        "mentee2@uni.edu,closing,,4,,,\n"
        "nobody@uni.edu,closing,,4,,,\n"
        "mentor2@uni.edu,exit,,4,,,\n"
        "mentor2@uni.edu,followup,,,,,maybe\n"
        "mentee1@uni.edu,closing,,,,5,\n"
        "mentor1@uni.edu,baseline,boss,5,,,\n"
        "mentee2@uni.edu,baseline,,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(InputFileError) as raised:
        import_responses(engine, "Fall 2026", bad, now=CREATED)
    assert str(raised.value) == "\n".join(
        [
            "bad.csv: 9 problems; nothing was imported",
            '  bad.csv, row 2, column "expectations_goals": expected a whole number from 1 '
            "to 7, got '8'",
            '  bad.csv, row 3, column "expectations_goals_before": not an item of the baseline '
            "survey; leave it empty",
            '  bad.csv, row 5, column "expectations_goals": asked of mentors; this row is a '
            "mentee's response: leave it empty or fix the role",
            '  bad.csv, row 6, column "email": no one in cohort "Fall 2026" has this e-mail',
            '  bad.csv, row 7, column "survey": expected one of baseline, closing, followup, '
            "got 'exit'",
            "  bad.csv, row 8, column \"changed_mentoring\": expected yes or no, got 'maybe'",
            "  bad.csv, row 9: a second closing response from the same person (first on row 4)",
            "  bad.csv, row 10, column \"role\": expected mentor or mentee, got 'boss'",
            "  bad.csv, row 11: the row has no answers",
        ]
    )
    assert stored(engine) == []


def test_unknown_and_missing_columns_are_reported_before_any_row(
    engine: Engine, tmp_path: Path
) -> None:
    make_program(engine, tmp_path, pairs=1)
    bad = tmp_path / "columns.csv"
    bad.write_text("email,expectation_goals\nmentor1@uni.edu,5\n", encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        import_responses(engine, "Fall 2026", bad, now=CREATED)
    assert [str(p) for p in raised.value.problems] == [
        'columns.csv, row 1, column "survey": required column is missing',
        'columns.csv, row 1, column "expectation_goals": unknown column (did you mean '
        "'expectations_goals'?); expected email, survey, role, mentee_id, timestamp and item "
        "ids (see `tandem survey show NAME`)",
    ]


def test_an_xlsx_export_imports_numbers_as_numbers(engine: Engine, tmp_path: Path) -> None:
    from openpyxl import Workbook

    make_program(engine, tmp_path, pairs=1)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["email", "survey", "changed_mentoring", "changed_how"])
    sheet.append(["mentor1@uni.edu", "followup", "Yes", "Shorter, more frequent meetings"])
    sheet.append(["mentor1@uni.edu", "baseline", None, None])
    sheet.delete_rows(3)
    sheet.append(["mentee1@uni.edu", "baseline", None, None])
    path = tmp_path / "export.xlsx"
    book.save(path)
    with pytest.raises(InputFileError) as raised:
        import_responses(engine, "Fall 2026", path, now=CREATED)
    assert [str(p) for p in raised.value.problems] == ["export.xlsx, row 3: the row has no answers"]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["email", "survey", "expectations_goals", "mentor_expectations_goals"])
    sheet.append(["mentor1@uni.edu", "baseline", 4, None])
    sheet.append(["mentee1@uni.edu", "baseline", None, 5.0])
    book.save(path)
    import_responses(engine, "Fall 2026", path, now=CREATED)
    assert [r["answers"] for r in stored(engine)] == [
        {"expectations_goals": 4},
        {"mentor_expectations_goals": 5},
    ]


def test_survey_import_command(db_url: str, tmp_path: Path) -> None:
    from tandem.program.storage.db import open_database
    from tests.conftest import Tandem

    engine = open_database(db_url)
    make_program(engine, tmp_path, pairs=1)
    engine.dispose()
    path = tmp_path / "baseline.csv"
    path.write_text("email,survey,expectations_goals\nmentor1@uni.edu,baseline,4\n")
    tandem = Tandem()
    first = tandem("survey", "import", "Fall 2026", path, db=db_url)
    assert first.output == "baseline.csv: 1 added, 0 updated, 0 unchanged survey responses\n"
    second = tandem("survey", "import", "Fall 2026", path, db=db_url)
    assert second.output == "baseline.csv: 0 added, 0 updated, 1 unchanged survey responses\n"
    path.write_text("email,survey,expectations_goals\nmentor1@uni.edu,baseline,9\n")
    bad = tandem("survey", "import", "Fall 2026", path, db=db_url, expect=1)
    assert bad.output == (
        'Error: baseline.csv, row 2, column "expectations_goals": expected a whole number from '
        "1 to 7, got '9'; nothing was imported\n"
    )
