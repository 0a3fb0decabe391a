"""The cohort report and mentor feedback: figures from the data, suppression in every
format, no names, a report before any response."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from scipy.stats import wilcoxon
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.evaluation.render import render_html, write_csv, write_xlsx
from tandem.program.evaluation.report import FeedbackRefusedError, cohort_report, mentor_feedback
from tandem.program.evaluation.responses import import_responses
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Pair, Participant
from tandem.prompts.curriculum import Competency
from tests.conftest import Tandem
from tests.program.evaluation.helpers import (
    COHORT,
    MENTEES_OF,
    MENTOR_AFTER,
    MENTOR_BEFORE,
    NOW,
    closing_rows,
    make_cohort,
    write_rows,
)
from tests.program.helpers import CREATED


@pytest.fixture
def cohort(engine: Engine, tmp_path: Path) -> Engine:
    make_cohort(engine, tmp_path, MENTEES_OF)
    return engine


def test_a_report_renders_before_any_response_and_says_so(cohort: Engine, tmp_path: Path) -> None:
    report = cohort_report(cohort, COHORT, now=NOW)
    assert report["notes"] == [
        "No survey responses yet: they arrive from the survey pages the messages link to, "
        "or with `tandem survey import`; then the report shows "
        "competency gains, satisfaction and intent to change."
    ]
    assert all(row["suppressed"] for row in report["competency_gains"])
    assert len(report["competency_gains"]) == len(Competency) * 2 * 2
    assert [(s["stage"], s["count"]) for s in report["funnel"]] == [
        ("applied", 7),
        ("matched", 7),
        ("confirmed", 0),
        ("completed", 0),
        ("certified", 0),
    ]
    html = render_html(report)
    assert "No survey responses yet" in html
    write_xlsx(report, tmp_path / "empty.xlsx")
    write_csv(report, io.StringIO())


def test_gains_are_the_signed_rank_test_on_per_person_means(cohort: Engine, tmp_path: Path) -> None:
    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    report = cohort_report(cohort, COHORT, now=NOW)
    row = next(
        r
        for r in report["competency_gains"]
        if (r["competency"], r["role"], r["comparison"])
        == ("aligning_expectations", "mentor", "retrospective")
    )
    before = [(b + b + 1) / 2 for b in MENTOR_BEFORE]
    after = [float(a) for a in MENTOR_AFTER]
    expected = wilcoxon(after, before)
    assert row["n"] == 6 and row["suppressed"] is False
    assert row["before_mean"] == round(sum(before) / 6, 4)
    assert row["after_mean"] == round(sum(after) / 6, 4)
    assert row["statistic"] == float(expected.statistic)
    assert row["p_value"] == round(float(expected.pvalue), 6)
    assert set(row) >= {"effect_size", "ci_low", "ci_high"}
    # nobody answered the baseline, and other competencies were left empty
    baseline = next(
        r
        for r in report["competency_gains"]
        if (r["competency"], r["role"], r["comparison"])
        == ("aligning_expectations", "mentor", "baseline")
    )
    assert baseline == {
        "competency": "aligning_expectations",
        "label": "Aligning expectations",
        "role": "mentor",
        "comparison": "baseline",
        "n": 0,
        "suppressed": True,
    }
    intent = report["intent_to_change"]
    assert intent["intend"] == {
        "survey": "closing",
        "n": 6,
        "yes": 4,
        "share": 0.6667,
        "suppressed": False,
    }
    assert intent["what_intended"] is None  # four texts: fewer than five, so none shown


FIGURES = ("before_mean", "after_mean", "statistic", "p_value", "effect_size", "ci_low", "ci_high")


def test_groups_under_five_are_suppressed_in_every_format(cohort: Engine, tmp_path: Path) -> None:
    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    report = cohort_report(cohort, COHORT, now=NOW)
    # JSON: three mentees answered, so every mentee group is suppressed with no figures
    mentee_rows = [r for r in report["competency_gains"] if r["role"] == "mentee"]
    assert mentee_rows and all(r["suppressed"] for r in mentee_rows)
    assert not any(key in r for r in mentee_rows for key in FIGURES)
    satisfaction = {(r["item"], r["role"]): r for r in report["satisfaction"]}
    assert satisfaction[("valuable_use", "mentee")]["suppressed"] is True
    assert "mean" not in satisfaction[("valuable_use", "mentee")]
    assert satisfaction[("valuable_use", "mentor")]["mean"] == 4.5
    # four mentors wrote what they intend: fewer than five, so no text at all
    assert report["intent_to_change"]["what_intended"] is None
    text = json.dumps(report)
    assert "Plan number" not in text

    # HTML: the suppressed rows say so, and no mentee chart is drawn
    html = render_html(report)
    assert html.count("suppressed: fewer than 5 respondents") >= len(mentee_rows)
    assert "Plan number" not in html
    mentee_section = html[html.index("Mentees (about their mentor) — retrospective") :]
    mentee_section = mentee_section[: mentee_section.index("</table>")]
    assert "<svg" not in mentee_section and 'class="num">3<' not in mentee_section

    # CSV: a suppressed group is one row, "suppressed", beside its n
    out = io.StringIO()
    write_csv(report, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    group = [r for r in rows if r["group"] == "aligning_expectations/mentee/retrospective"]
    assert [(r["metric"], r["value"]) for r in group] == [("n", "3"), ("suppressed", "yes")]
    assert not any("Plan number" in r["value"] for r in rows)

    # XLSX: suppressed rows have empty figure cells
    write_xlsx(report, tmp_path / "report.xlsx")
    sheet = load_workbook(tmp_path / "report.xlsx")["Competency gains"]
    header = [c.value for c in sheet[1]]
    for values in sheet.iter_rows(min_row=2, values_only=True):
        record = dict(zip(header, values, strict=True))
        if record["role"] == "mentee":
            assert record["suppressed"] == "yes"
            assert all(record[f] in ("", None) for f in FIGURES)
    texts = load_workbook(tmp_path / "report.xlsx")["Free text (no names)"]
    assert texts.max_row == 1


def test_no_name_or_address_appears_in_any_format(cohort: Engine, tmp_path: Path) -> None:
    rows = closing_rows()
    for index, row in enumerate(rows[:6]):
        row["intent_to_change"] = "yes"
        row["intent_what"] = f"Plan number {index}"
    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", rows), now=NOW)
    report = cohort_report(cohort, COHORT, now=NOW)
    assert report["intent_to_change"]["what_intended"] == [f"Plan number {i}" for i in range(6)]
    out = io.StringIO()
    write_csv(report, out)
    write_xlsx(report, tmp_path / "r.xlsx")
    book = load_workbook(tmp_path / "r.xlsx")
    cells = " ".join(
        str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )
    with Session(cohort) as session:
        people = session.exec(select(Participant)).all()
    for rendered in (json.dumps(report), render_html(report), out.getvalue(), cells):
        assert "Plan number 3" in rendered
        for person in people:
            assert person.name not in rendered and person.email not in rendered
            assert f'"{person.external_id}"' not in rendered


def test_weekly_meeting_rate_counts_pairs_that_met(cohort: Engine, tmp_path: Path) -> None:
    with transaction(cohort) as session:
        for pair in session.exec(select(Pair)).all():
            pair.state, pair.activated_at = "active", CREATED
            session.add(pair)
    for mentee in ("E001", "E002", "E003", "E004", "E007"):
        add_checkin(cohort, COHORT, mentee, 1, Role.MENTEE, CheckinAnswers(met=True), now=NOW)
    add_checkin(cohort, COHORT, "E005", 1, Role.MENTOR, CheckinAnswers(met=False), now=NOW)
    from tandem.program.cohorts import send_instants
    from tandem.program.storage.tables import Cohort

    with Session(cohort) as session:
        instants = send_instants(session.exec(select(Cohort)).one())
    report = cohort_report(cohort, COHORT, now=instants[2] + timedelta(hours=1))
    assert report["weekly_meeting_rate"] == [
        {"week": 1, "pairs_due": 7, "pairs_met": 5, "rate": round(5 / 7, 4), "suppressed": False},
        {"week": 2, "pairs_due": 7, "pairs_met": 0, "rate": 0.0, "suppressed": False},
    ]
    assert report["checkins_by_week"] == [
        {"week": 1, "mentor_checkins": 1, "mentee_checkins": 5, "reported_met": 5}
    ]


def test_mentor_feedback_needs_two_mentee_respondents(cohort: Engine, tmp_path: Path) -> None:
    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    with pytest.raises(FeedbackRefusedError) as refused:
        mentor_feedback(cohort, COHORT, "M002", now=NOW)
    assert str(refused.value) == (
        "mentor M002 has 1 mentee response(s) to the closing survey; feedback needs at least 2 "
        "so that no single mentee's answers are exposed"
    )
    feedback = mentor_feedback(cohort, COHORT, "M001", now=NOW)
    aligning = feedback["competencies"][0]
    assert aligning == {
        "competency": "aligning_expectations",
        "label": "Aligning expectations",
        "mentee_n": 2,
        "mentee_mean": 5.0,
        "cohort_median": None,  # three mentees in the cohort answered: too few for a median
        "self_closing": 4.0,
        "self_baseline": None,
    }
    assert feedback["lowest"][0]["competency"] == "aligning_expectations"
    assert [w["week"] for w in feedback["lowest"][0]["weeks"]] == [2, 3, 5, 8, 16]
    with pytest.raises(FeedbackRefusedError, match='no mentor with id "M999"'):
        mentor_feedback(cohort, COHORT, "M999", now=NOW)


def test_report_commands(db_url: str, tmp_path: Path) -> None:
    from tandem.program.storage.db import open_database
    from tests.conftest import Tandem

    engine = open_database(db_url)
    make_cohort(engine, tmp_path, MENTEES_OF)
    engine.dispose()
    tandem = Tandem()
    closing = write_rows(tmp_path / "closing.csv", closing_rows())
    tandem("survey", "import", COHORT, closing, db=db_url)
    result = tandem("report", COHORT, "--format", "json", "--now", "2027-03-01T12:00", db=db_url)
    data = json.loads(result.stdout)
    assert data["cohort"] == COHORT and data["responses"]["closing"] == {"mentor": 6, "mentee": 3}
    same = tandem(
        "report", "cohort", COHORT, "--format", "json", "--now", "2027-03-01T12:00", db=db_url
    )
    assert same.stdout == result.stdout
    page = tmp_path / "report.html"
    written = tandem("report", COHORT, "--out", page, db=db_url)
    assert written.stderr == f"Wrote {page}\n"
    assert page.read_text().startswith("<!doctype html>")
    tandem("report", COHORT, "--format", "xlsx", "--out", tmp_path / "r.xlsx", db=db_url)
    assert load_workbook(tmp_path / "r.xlsx").sheetnames[:3] == [
        "Participation",
        "Retention",
        "Check-ins by week",
    ]
    missing = tandem("report", COHORT, "--format", "xlsx", db=db_url, expect=2)
    assert "an XLSX workbook needs --out FILE.xlsx" in missing.stderr
    refused = tandem("report", "mentor", COHORT, "M003", db=db_url, expect=1)
    assert refused.stderr == (
        "Error: mentor M003 has 0 mentee response(s) to the closing survey; feedback needs at "
        "least 2 so that no single mentee's answers are exposed\n"
    )
    feedback = tmp_path / "m001.html"
    tandem("report", "mentor", COHORT, "M001", "--out", feedback, db=db_url)
    assert "Your mentoring feedback" in feedback.read_text()
    assert "Mentor M001" not in feedback.read_text()


def test_the_format_follows_the_out_file_name(
    cohort: Engine, tmp_path: Path, tandem: Tandem, db_url: str
) -> None:
    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    tandem("report", COHORT, "--out", tmp_path / "r.xlsx", db=db_url)
    assert load_workbook(tmp_path / "r.xlsx").sheetnames[0] == "Participation"
    tandem("report", COHORT, "--out", tmp_path / "r.JSON", db=db_url)
    assert json.loads((tmp_path / "r.JSON").read_text())["cohort"] == COHORT
    tandem("report", COHORT, "--out", tmp_path / "r.csv", db=db_url)
    assert (tmp_path / "r.csv").read_text().startswith("section,group,metric,value")
    tandem("report", COHORT, "--out", tmp_path / "r.htm", db=db_url)
    assert (tmp_path / "r.htm").read_text().startswith("<!doctype html>")
    tandem("report", COHORT, "--format", "csv", "--out", tmp_path / "same.csv", db=db_url)
    assert (tmp_path / "same.csv").read_text() == (tmp_path / "r.csv").read_text()
    tandem("report", "mentor", COHORT, "M001", "--out", tmp_path / "m.json", db=db_url)
    assert json.loads((tmp_path / "m.json").read_text())["cohort"] == COHORT
    refusals: list[tuple[list[str | Path], str]] = [
        (
            ["report", COHORT, "--out", tmp_path / "r.pdf"],
            "r.pdf: the format follows the file name; end it in .html, .json, .csv or .xlsx",
        ),
        (
            ["report", COHORT, "--out", tmp_path / "report"],
            "report: the format follows the file name; end it in .html, .json, .csv or .xlsx",
        ),
        (
            ["report", COHORT, "--format", "html", "--out", tmp_path / "y.xlsx"],
            "--format html does not match the file name y.xlsx; make them agree (or leave "
            "out --format)",
        ),
        (
            ["report", "mentor", COHORT, "M001", "--out", tmp_path / "m.xlsx"],
            "m.xlsx: the format follows the file name; end it in .html or .json",
        ),
        (
            ["report", "mentor", COHORT, "M001", "--format", "json", "--out", tmp_path / "m.html"],
            "--format json does not match the file name m.html; make them agree (or leave "
            "out --format)",
        ),
    ]
    for arguments, expected in refusals:
        result = tandem(*arguments, db=db_url, expect=2)
        assert result.stderr == f"Error: --out: {expected}\n"
    assert not any(Path(arguments[-1]).exists() for arguments, _ in refusals)


def test_the_page_is_self_contained_deterministic_and_renders(
    cohort: Engine, tmp_path: Path
) -> None:
    import re
    import shutil
    import subprocess

    import_responses(cohort, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    report = cohort_report(cohort, COHORT, now=NOW)
    html = render_html(report)
    assert html == render_html(report)
    assert "<script" not in html and "<link" not in html and " src=" not in html
    assert set(re.findall(r"https?://[^\"' )]+", html)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    # funnel, mentors' retrospective gains, intent, satisfaction, match scores
    assert html.count("<svg") == 5
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed: the page was not opened in a browser")
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_baseline_gains_pair_each_persons_baseline_with_their_closing(
    cohort: Engine, tmp_path: Path
) -> None:
    baseline = [
        {
            "email": f"m{i:03d}@uni.edu",
            "survey": "baseline",
            "efficacy_confidence": b,
            "efficacy_setbacks": b + 1,
        }
        for i, b in zip(range(1, 7), [2, 3, 4, 4, 5, 1], strict=True)
        if i != 6  # the sixth mentor skipped the baseline: left out of this comparison
    ]
    closing = [
        {
            "email": f"m{i:03d}@uni.edu",
            "survey": "closing",
            "efficacy_confidence": a,
            "efficacy_setbacks": a,
        }
        for i, a in zip(range(1, 7), [4, 3, 6, 5, 7, 2], strict=True)
    ]
    import_responses(cohort, COHORT, write_rows(tmp_path / "b.csv", baseline), now=NOW)
    import_responses(cohort, COHORT, write_rows(tmp_path / "c.csv", closing), now=NOW)
    report = cohort_report(cohort, COHORT, now=NOW)
    row = next(
        r
        for r in report["competency_gains"]
        if (r["competency"], r["role"], r["comparison"])
        == ("research_self_efficacy", "mentor", "baseline")
    )
    before = [2.5, 3.5, 4.5, 4.5, 5.5]
    after = [4.0, 3.0, 6.0, 5.0, 7.0]
    expected = wilcoxon(after, before)
    assert (row["n"], row["before_mean"], row["after_mean"]) == (5, 4.1, 5.0)
    assert row["statistic"] == float(expected.statistic)
    assert row["p_value"] == round(float(expected.pvalue), 6)
    assert (row["ci_low"], row["ci_high"]) == (None, None)  # five people: no 95 % interval
    retrospective = next(
        r
        for r in report["competency_gains"]
        if (r["competency"], r["role"], r["comparison"])
        == ("research_self_efficacy", "mentor", "retrospective")
    )
    assert retrospective["suppressed"] and retrospective["n"] == 0
