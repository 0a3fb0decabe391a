"""The console's cohort report, its downloads and mentors' feedback, through HTTP."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine

from tandem.program.coordinators import add_coordinator
from tandem.program.evaluation.render import render_html
from tandem.program.evaluation.report import cohort_report
from tandem.program.evaluation.responses import import_responses
from tandem.web.app import create_app
from tests.conftest import Tandem
from tests.program.evaluation.helpers import (
    COHORT,
    MENTEES_OF,
    NOW,
    closing_rows,
    make_cohort,
    write_rows,
)
from tests.program.helpers import LINK_KEYS
from tests.web.helpers import Clock, csrf_of

PASSWORD = "correct horse battery"
REPORT = "/console/cohorts/Fall%202026/report"
FEEDBACK = "/console/cohorts/Fall%202026/mentors/{}/feedback"


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> TestClient:
    """The console on a cohort of six mentors and seven mentees (no survey answers yet)."""
    make_cohort(engine, tmp_path, MENTEES_OF)
    add_coordinator(engine, "ada@uni.edu", PASSWORD, name="Ada Lovelace", now=NOW)
    app = create_app(engine=engine, clock=Clock(NOW), link_keys=LINK_KEYS)
    return TestClient(app, follow_redirects=False)


def sign_in(client: TestClient) -> None:
    form = client.get("/console/login")
    signed = client.post(
        "/console/login",
        data={"email": "ada@uni.edu", "password": PASSWORD, "csrf": csrf_of(form.text)},
    )
    assert signed.status_code == 303


def answer_closing_survey(engine: Engine, tmp_path: Path) -> None:
    """Six mentors and three mentees answer (two of them M001's): every mentee group has
    fewer than five respondents."""
    closing = write_rows(tmp_path / "closing.csv", closing_rows())
    import_responses(engine, COHORT, closing, now=NOW)


def charts(html: str) -> list[tuple[str, str]]:
    """The (alt text, decoded SVG) of each chart image on a page."""
    found = re.findall(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)">', html)
    return [(alt, base64.b64decode(data).decode("utf-8")) for data, alt in found]


def test_the_report_and_the_feedback_need_a_session(client: TestClient) -> None:
    for path in (
        REPORT,
        f"{REPORT}.csv",
        FEEDBACK.format("M001"),
        FEEDBACK.format("M001") + ".html",
    ):
        answer = client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/login")


def test_a_report_before_any_answer_says_so(client: TestClient) -> None:
    sign_in(client)
    pairs = client.get("/console/cohorts/Fall%202026").text
    assert f'<a href="{REPORT}">Report</a>' in pairs
    page = client.get(REPORT)
    assert page.status_code == 200
    assert "<h1>Fall 2026: program report</h1>" in page.text
    assert "No survey responses yet: they arrive from the survey pages" in page.text
    assert "7</b><span>mentees applied" in page.text
    # the funnel and the match scores are drawn; no survey chart without answers
    assert [alt.split(" of ")[0] for alt, _ in charts(page.text)] == ["Bar chart", "Histogram"]
    for fmt in ("html", "json", "csv", "xlsx"):
        assert f'href="{REPORT}.{fmt}" download>' in page.text
    mentors = page.text.split('id="feedback"')[1]
    assert f'<a href="{FEEDBACK.format("M001")}">Mentor M001</a>' in mentors
    assert mentors.count("<li>") == 6


def test_the_page_keeps_the_content_security_policy(client: TestClient) -> None:
    sign_in(client)
    page = client.get(REPORT)
    policy = page.headers["content-security-policy"]
    assert "style-src 'self';" in policy and "img-src 'self' data:;" in policy
    assert "unsafe" not in policy and "script-src" not in policy
    # what the policy would block: inline styles, inline SVG, scripts
    assert not re.search(r"<style|style=|<svg|<script", page.text)


def test_with_answers_the_report_draws_charts_and_suppresses_small_groups(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    answer_closing_survey(engine, tmp_path)
    sign_in(client)
    page = client.get(REPORT).text
    drawn = charts(page)
    # as the CLI's page: funnel, mentors' retrospective gains, intent, satisfaction, scores
    assert len(drawn) == 5
    assert all(svg.startswith("<svg") and svg.rstrip().endswith("</svg>") for _, svg in drawn)
    assert "Mentors (self-assessment), retrospective" in drawn[1][0]
    assert "No survey responses yet" not in page
    assert "Groups with fewer than 5 respondents are suppressed" in page
    # three mentees answered: each of their rows says so and carries no figure, no chart
    mentees = page[page.index("Mentees (about their mentor) — retrospective") :]
    mentees = mentees[: mentees.index("</table>")]
    assert mentees.count("suppressed: fewer than 5 respondents") == mentees.count("<tr") - 1
    assert "<img" not in mentees and 'class="num">3<' not in mentees
    satisfaction = page[page.index("<h2>Satisfaction</h2>") :]
    assert '<td>mentees</td><td colspan="3">suppressed: fewer than 5 respondents' in satisfaction
    assert "Plan number" not in page  # four texts on intent: fewer than five, none shown


def test_downloads_are_the_files_the_command_writes(
    client: TestClient, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    answer_closing_survey(engine, tmp_path)
    sign_in(client)
    now = NOW.isoformat()
    for fmt, media_type in (
        ("json", "application/json"),
        ("csv", "text/csv; charset=utf-8"),
        ("html", "text/html; charset=utf-8"),
    ):
        answer = client.get(f"{REPORT}.{fmt}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == media_type
        assert answer.headers["content-disposition"] == (
            f'attachment; filename="Fall 2026 report.{fmt}"; '
            f"filename*=UTF-8''Fall%202026%20report.{fmt}"
        )
        written = Tandem()("report", COHORT, "--format", fmt, "--now", now, db=db_url)
        assert answer.text == written.stdout
    data = json.loads(client.get(f"{REPORT}.json").text)
    assert data == cohort_report(engine, COHORT, now=NOW)
    assert data["responses"]["closing"] == {"mentor": 6, "mentee": 3}
    assert client.get(f"{REPORT}.html").text == render_html(data)
    rows = client.get(f"{REPORT}.csv").text.splitlines()
    assert rows[0] == "section,group,metric,value"
    assert "competency_gains,aligning_expectations/mentee/retrospective,suppressed,yes" in rows

    workbook = client.get(f"{REPORT}.xlsx")
    assert workbook.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    book = load_workbook(io.BytesIO(workbook.content))
    assert book.sheetnames[:3] == ["Participation", "Retention", "Check-ins by week"]
    assert [c.value for c in book["Participation"][2]] == ["applied", "mentees", 7]

    assert client.get(f"{REPORT}.pdf").status_code == 404
    assert client.get("/console/cohorts/Nowhere/report").status_code == 404
    assert client.get("/console/cohorts/Nowhere/report.csv").status_code == 404


def test_a_mentors_feedback_or_why_it_is_not_shown(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    sign_in(client)
    before = client.get(FEEDBACK.format("M001"))
    assert before.status_code == 200
    assert (
        '<p class="note">This feedback cannot be shown: mentor M001 has 0 mentee '
        "response(s) to the closing survey; feedback needs at least 2 so that no single "
        "mentee&#39;s answers are exposed.</p>"
    ) in before.text
    assert "<table" not in before.text

    answer_closing_survey(engine, tmp_path)
    shown = client.get(FEEDBACK.format("M001")).text
    assert "Mentoring feedback for Mentor M001" in shown
    assert "from 2 of your mentees' closing surveys" in shown
    assert '<td>Aligning expectations</td><td class="num">5.00</td>' in shown
    assert "Where to look next" in shown
    page = client.get(FEEDBACK.format("M001") + ".html")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-disposition"].startswith(
        'attachment; filename="Fall 2026 feedback M001.html"'
    )
    assert page.text.startswith("<!doctype html>") and "Your mentoring feedback" in page.text

    # M002 has one mentee, who answered: showing it would show that mentee's answers
    refused = client.get(FEEDBACK.format("M002"))
    assert refused.status_code == 200
    assert "mentor M002 has 1 mentee response(s) to the closing survey" in refused.text
    assert "<table" not in refused.text
    assert client.get(FEEDBACK.format("M002") + ".html").status_code == 404
    for path in (FEEDBACK.format("M999"), "/console/cohorts/Nowhere/mentors/M001/feedback"):
        missing = client.get(path)
        assert missing.status_code == 404 and "Not found" in missing.text


def test_free_text_is_escaped_on_the_page(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    rows = closing_rows()
    for index, row in enumerate(rows[:6]):  # six mentors wrote one: enough to be shown
        row["intent_to_change"] = "yes"
        row["intent_what"] = f'<script>alert({index})</script><img src=x onerror="{index}">'
    import_responses(engine, COHORT, write_rows(tmp_path / "closing.csv", rows), now=NOW)
    sign_in(client)
    page = client.get(REPORT).text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;&lt;img src=x onerror=" in page
    assert "<script" not in page and 'onerror="' not in page
