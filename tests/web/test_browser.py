"""End to end in a real headless Chromium: links out of real messages, and the console.

Screenshots are saved under pytest's temporary folder (``screenshots/``) as artefacts.
Every page is checked with axe-core for WCAG 2.1 A/AA violations.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.cohorts import PairAction, change_pair
from tandem.program.coordinators import add_coordinator
from tandem.program.evaluation.responses import import_responses
from tandem.program.link_keys import link_secrets
from tandem.program.storage.tables import CheckIn, Cohort, Pair, Participant, SurveyResponse
from tandem.program.tokens import make_survey_token
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
from tests.program.helpers import LINK_KEYS, link_key_file, make_program, survey_form
from tests.web.conftest import LiveServer
from tests.web.helpers import Clock

pytestmark = pytest.mark.browser

WCAG = json.dumps({"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}})


def accessible(driver: Any) -> None:
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"axe.run(document, {WCAG}).then(done).catch(e => done({{error: String(e)}}));"
    )
    assert "error" not in results, results
    assert results["violations"] == [], axe.report(results["violations"])


def shoot(driver: Any, folder: Path, name: str, width: int = 1280) -> Path:
    """A full-page screenshot at ``width`` CSS pixels, kept with the test's files (and
    copied to the folder named by TANDEM_SCREENSHOTS, if set, e.g. to refresh docs/)."""
    folder.mkdir(exist_ok=True)
    driver.set_window_size(width, 900)
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    inner = driver.execute_script("return window.innerHeight")
    driver.set_window_size(width, int(height) + 900 - int(inner))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    if os.environ.get("TANDEM_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["TANDEM_SCREENSHOTS"]) / path.name)
    return path


def leave_by(driver: Any, act: Any) -> None:
    """Do ``act`` (a click or submit that loads another page) and wait until the browser
    has left the current page: a click returns before the next page arrives, and reading
    the page at once can read the old one."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")

    def left(_: Any) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            # asked while the old page is being torn down, Chromium answers this instead
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    act()
    WebDriverWait(driver, 15).until(left)


def links_in(outbox: Path, to: str, kind: str) -> list[str]:
    """The links in the plain-text part of the messages ``to`` someone, of one kind."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if to not in str(message["To"]):
            continue
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        found += re.findall(
            rf"https?://\S+/{kind}/[A-Za-z0-9_-]+(?:\?answer=\w+)?", body.get_content()
        )
    return found


def sign_in(driver: Any, server: LiveServer, shots: Path | None = None) -> None:
    """Open the console and sign in as Ada (added by the test)."""
    from selenium.webdriver.common.by import By

    driver.get(f"{server.url}/console")
    assert driver.current_url == f"{server.url}/console/login"
    accessible(driver)
    if shots is not None:
        shoot(driver, shots, "console-login")
    driver.find_element(By.ID, "email").send_keys("ada@uni.edu")
    driver.find_element(By.ID, "password").send_keys("correct horse battery")
    leave_by(driver, driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Cohorts"


@pytest.fixture
def program(engine: Engine, tmp_path: Path) -> Any:
    return make_program(engine, tmp_path, pairs=2)


def test_a_participant_accepts_and_checks_in_from_the_links_in_real_messages(
    engine: Engine, db_url: str, tmp_path: Path, program: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    shots = tmp_path / "screenshots"
    tick_at = program.instants[1]
    clock = Clock(tick_at)
    with LiveServer(create_app(db_url, clock=clock, link_keys=LINK_KEYS)) as server:
        with Session(engine) as session:  # the cohort's links point at this server
            cohort = session.exec(select(Cohort)).one()
            cohort.base_url = server.url
            session.add(cohort)
            session.commit()
        outbox = tmp_path / "outbox"
        ticked = Tandem().invoke(
            [
                *("--db", db_url, "tick", "--now", tick_at.isoformat()),
                *("--delivery", f"file:{outbox}", "--keys", str(link_key_file(tmp_path))),
            ],
        )
        assert ticked.exit_code == 0, ticked.output
        accept = [u for u in links_in(outbox, "mentee1@uni.edu", "respond") if u.endswith("accept")]
        checkin = links_in(outbox, "mentor1@uni.edu", "checkin")
        assert len(accept) == 1 and len(checkin) == 1 and accept[0].startswith(server.url)

        browser.get(accept[0])
        assert (
            browser.find_element(By.TAG_NAME, "h1").text == "Mentee 1, meet your mentor: Mentor 1"
        )
        assert browser.find_element(By.CSS_SELECTOR, "input[value=accept]").is_selected()
        accessible(browser)
        shoot(browser, shots, "respond")
        shoot(browser, shots, "respond-phone", width=390)
        leave_by(browser, browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click)
        assert (
            "your answer (accepted) is recorded"
            in browser.find_element(By.CLASS_NAME, "notice").text
        )

        browser.get(checkin[0])
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Week 1 of 16:")
        accessible(browser)
        browser.find_element(By.CSS_SELECTOR, "input[name=met][value=yes]").click()
        browser.find_element(By.ID, "minutes").send_keys("50")
        Select(browser.find_element(By.ID, "mode")).select_by_value("video")
        browser.find_element(By.CSS_SELECTOR, "input[name=rating][value='4']").click()
        browser.find_element(By.CSS_SELECTOR, "input[name=q_comfort][value='5']").click()
        browser.find_element(By.ID, "note").send_keys("a good start")
        shoot(browser, shots, "checkin-phone", width=390)
        # as pressing Enter would: no script needed
        leave_by(browser, browser.find_element(By.ID, "note").submit)
        assert "is recorded" in browser.find_element(By.CLASS_NAME, "notice").text
        assert browser.find_element(By.ID, "minutes").get_attribute("value") == "50"
        accessible(browser)
        shoot(browser, shots, "checkin-recorded")
        browser.get(checkin[0])  # opened again later: when it was sent, in the cohort's zone
        sent = browser.find_element(By.CLASS_NAME, "notice").text
        assert sent.startswith("You already sent this check-in, on ")
        assert sent.endswith(" (America/New_York). Sending it again updates it.")
        accessible(browser)
        shoot(browser, shots, "checkin-again", width=390)

    with Session(engine) as session:
        pairs = session.exec(select(Pair).order_by(col(Pair.pk))).all()
        assert pairs[0].mentee_response == "accepted"
        row = session.exec(select(CheckIn)).one()
        assert (row.pair_pk, row.week, row.role, row.met, row.minutes, row.mode, row.rating) == (
            pairs[0].pk,
            1,
            "mentor",
            True,
            50,
            "video",
            4,
        )
        assert (row.answers, row.note, row.source) == ({"comfort": 5}, "a good start", "link")


def test_a_participant_answers_a_survey_from_the_link_in_a_real_message(
    engine: Engine, db_url: str, tmp_path: Path, program: Any, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    shots = tmp_path / "screenshots"
    tick_at = program.instants[1]
    clock = Clock(tick_at + timedelta(days=1))
    with LiveServer(create_app(db_url, clock=clock, link_keys=LINK_KEYS)) as server:
        with Session(engine) as session:  # the cohort's links point at this server
            cohort = session.exec(select(Cohort)).one()
            cohort.base_url = server.url
            session.add(cohort)
            session.commit()
        outbox = tmp_path / "outbox"
        tick(db_url, tick_at, outbox)
        [link] = links_in(outbox, "mentee1@uni.edu", "survey")
        assert link.startswith(f"{server.url}/survey/")

        browser.get(link)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Before we start: mentoring skills"
        assert "about your mentor, Mentor 1" in browser.find_element(By.TAG_NAME, "main").text
        accessible(browser)
        shoot(browser, shots, "survey-baseline")
        # Sent with one answer missing: the page names it, and keeps the others.
        form = survey_form("baseline", Role.MENTEE, rating=6)
        for name, value in form.items():
            if name != "mentor_expectations_roles":
                browser.find_element(By.ID, f"{name}-{value}").click()
        leave_by(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click)
        alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
        assert "Please check 1 answer" in alert and "choose a rating from 1 to 7" in alert
        assert browser.find_element(By.ID, "mentor_expectations_goals-6").is_selected()
        accessible(browser)
        shoot(browser, shots, "survey-problem-phone", width=390)
        # The message's link in the list takes the keyboard to the field.
        browser.find_element(By.CSS_SELECTOR, "[role=alert] a").click()
        focused = browser.switch_to.active_element
        assert focused.get_attribute("id") == "mentor_expectations_roles-1"
        browser.find_element(By.ID, "mentor_expectations_roles-6").click()
        leave_by(browser, browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click)
        notice = browser.find_element(By.CLASS_NAME, "notice").text
        assert notice.startswith("Thank you: your answers are recorded.")
        recorded = browser.find_element(By.CSS_SELECTOR, "section table").text
        assert "Agreeing with me on clear goals for our work together. 6 of 7" in recorded
        accessible(browser)
        shoot(browser, shots, "survey-recorded")

        # The closing survey, as a mentor sees it: now and before the program, and more.
        mentor = survey_link(engine, server.url, "mentor1@uni.edu", "closing", clock.now)
        browser.get(mentor)
        assert browser.find_element(By.TAG_NAME, "h1").text == (
            "At the close: mentoring skills, before and after"
        )
        accessible(browser)
        shoot(browser, shots, "survey")
        shoot(browser, shots, "survey-phone", width=390)

    with Session(engine) as session:
        row = session.exec(select(SurveyResponse)).one()
        assert (row.survey, row.role, row.source) == ("baseline", "mentee", "link")
        assert row.answers == {name: 6 for name in form}


def survey_link(engine: Engine, base_url: str, email: str, survey: str, now: datetime) -> str:
    """A survey link for the participant with ``email``, as a message would carry it."""
    with Session(engine) as session:
        person = session.exec(select(Participant).where(Participant.email == email)).one()
        cohort = session.exec(select(Cohort)).one()
    token = make_survey_token(
        link_secrets(LINK_KEYS, cohort),
        cohort_pk=cohort.pk or 0,
        participant_pk=person.pk or 0,
        survey=survey,
        role=person.role,
        expires=now + timedelta(days=42),
    )
    return f"{base_url}/survey/{token}"


def tick(db_url: str, now: datetime, outbox: Path) -> None:
    done = Tandem().invoke(
        [
            *("--db", db_url, "tick", "--now", now.isoformat()),
            *("--delivery", f"file:{outbox}", "--keys", str(link_key_file(outbox.parent))),
        ],
    )
    assert done.exit_code == 0, done.output


def test_a_coordinator_signs_in_and_walks_to_a_pair(
    engine: Engine, db_url: str, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    program = make_program(engine, tmp_path, pairs=5)
    weeks = program.instants
    tick(db_url, weeks[1], tmp_path / "outbox")
    change_pair(
        engine,
        program.name,
        "E005",
        PairAction.DECLINE,
        actor="mentee",
        role=Role.MENTEE,
        reason="schedule conflict",
        now=weeks[1] + timedelta(days=1),
    )
    met = {"E001": (1, 2), "E002": (1, 2), "E004": (2,)}
    for mentee, met_weeks in met.items():
        for week in met_weeks:
            for role in Role:
                answers = CheckinAnswers(
                    met=True,
                    minutes=45,
                    mode="video",
                    rating=2 if mentee == "E002" else 4,
                    note="hard to find a time" if mentee == "E002" else None,
                )
                add_checkin(
                    engine,
                    program.name,
                    mentee,
                    week,
                    role,
                    answers,
                    now=weeks[week] + timedelta(days=2),
                )
    tick(db_url, weeks[3], tmp_path / "outbox")
    clock = Clock(weeks[3] + timedelta(hours=2))
    add_coordinator(
        engine, "ada@uni.edu", "correct horse battery", name="Ada Lovelace", now=clock.now
    )
    shots = tmp_path / "screenshots"
    with LiveServer(create_app(db_url, clock=clock, link_keys=LINK_KEYS)) as server:
        sign_in(browser, server, shots)
        accessible(browser)
        shoot(browser, shots, "console-cohorts")
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Fall 2026").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Fall 2026"
        accessible(browser)
        shoot(browser, shots, "console-pairs")
        shoot(browser, shots, "console-pairs-phone", width=390)
        leave_by(browser, browser.find_element(By.LINK_TEXT, "At-risk pairs").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Fall 2026: pairs at risk"
        risky = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody td:first-child a")]
        assert risky == ["Mentee 2", "Mentee 3"]
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Mentee 2").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Mentee 2 with Mentor 2"
        assert "hard to find a time" in browser.find_element(By.TAG_NAME, "main").text
        accessible(browser)
        shoot(browser, shots, "console-pair")
        browser.find_element(By.CSS_SELECTOR, "header button[type=submit]").click()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/console/login"))
        browser.get(f"{server.url}/console")  # the session is gone
        assert browser.current_url == f"{server.url}/console/login"


def test_a_coordinator_reads_the_report_and_a_mentors_feedback(
    engine: Engine, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    make_cohort(engine, tmp_path, MENTEES_OF)
    import_responses(engine, COHORT, write_rows(tmp_path / "closing.csv", closing_rows()), now=NOW)
    add_coordinator(engine, "ada@uni.edu", "correct horse battery", name="Ada Lovelace", now=NOW)
    shots = tmp_path / "screenshots"
    with LiveServer(create_app(engine=engine, clock=Clock(NOW), link_keys=LINK_KEYS)) as server:
        sign_in(browser, server)
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Fall 2026").click)
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Report").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Fall 2026: program report"
        images = browser.find_elements(By.CSS_SELECTOR, ".report figure img")
        assert len(images) == 5
        for image in images:  # drawn: the policy lets data: images through
            assert (
                browser.execute_script(
                    "return arguments[0].complete && arguments[0].naturalWidth", image
                )
                > 100
            )
            assert image.size["width"] > 100 and image.get_attribute("alt")
        # every mentee group (three answered) stays suppressed, as in the files
        suppressed = browser.find_elements(By.CSS_SELECTOR, ".report tr.suppressed")
        assert len(suppressed) > 2 * 10  # at least both mentee tables, ten competencies each
        assert all("suppressed: fewer than 5 respondents" in row.text for row in suppressed)
        accessible(browser)
        shoot(browser, shots, "console-report")
        shoot(browser, shots, "console-report-phone", width=390)

        leave_by(browser, browser.find_element(By.LINK_TEXT, "Mentor M001").click)
        assert (
            browser.find_element(By.TAG_NAME, "h1").text
            == "Mentoring feedback for Mentor M001 M001"
        )
        assert "Where to look next" in browser.find_element(By.TAG_NAME, "main").text
        accessible(browser)
        shoot(browser, shots, "console-feedback")
        browser.back()
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Mentor M002").click)
        refusal = browser.find_element(By.CSS_SELECTOR, "main .note").text
        assert refusal.startswith("This feedback cannot be shown: mentor M002 has 1 mentee")
        accessible(browser)
        shoot(browser, shots, "console-feedback-refused")


MENTORS = """id,name,email,capacity,career_stage,research_areas,expertise,languages,excluded
M001,Grace Hopper,grace@uni.edu,1,senior_faculty,compilers;software,publishing;leadership,English,
M002,Alan Turing,alan@uni.edu,1,mid_career_faculty,computation;cryptography,grant writing,English,
M003,Mary Somerville,mary@uni.edu,1,senior_faculty,astronomy;mathematics,publishing,English;French,E004
"""
MENTEES = """id,name,email,career_stage,research_areas,goals,languages
E001,Katherine Johnson,katherine@uni.edu,postdoc,mathematics;astronomy,career planning,English
E002,Joan Clarke,joan@uni.edu,graduate_student,cryptography;mathematics,grant writing,English
E003,Margaret Hamilton,margaret@uni.edu,early_career_faculty,software;compilers,leadership,English
E004,Emmy Noether,emmy@uni.edu,postdoc,mathematics,publishing,French
"""


def pairs_shown(driver: Any) -> dict[str, tuple[str, str]]:
    """The review's pairs: mentee id → (mentor id, the reasons given)."""
    from selenium.webdriver.common.by import By

    shown = {}
    table = driver.find_element(By.XPATH, "//h2[starts-with(., 'Pairs')]/following::table[1]")
    for row in table.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        mentee = cells[0].find_element(By.CLASS_NAME, "muted").text
        mentor = cells[1].find_element(By.CLASS_NAME, "muted").text
        shown[mentee] = (mentor, cells[3].text)
    return shown


def match_again(driver: Any, kind: str, mentee: str, mentor: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    Select(driver.find_element(By.ID, "kind")).select_by_value(kind)
    driver.find_element(By.ID, "mentee_id").send_keys(mentee)
    driver.find_element(By.ID, "mentor_id").send_keys(mentor)
    leave_by(driver, driver.find_element(By.XPATH, "//button[.='Match again']").click)


def test_a_coordinator_reviews_a_match_run_and_makes_a_cohort_from_it(
    engine: Engine, db_url: str, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    (tmp_path / "mentors.csv").write_text(MENTORS, encoding="utf-8")
    (tmp_path / "mentees.csv").write_text(MENTEES, encoding="utf-8")
    tandem = Tandem()
    tandem("import", "mentors", tmp_path / "mentors.csv", db=db_url)
    tandem("import", "mentees", tmp_path / "mentees.csv", db=db_url)
    tandem("match", "--cycle", "2026", "--now", "2026-08-03T14:30", db=db_url)
    clock = Clock(datetime(2026, 8, 4, 9, 0, tzinfo=UTC))
    add_coordinator(
        engine, "ada@uni.edu", "correct horse battery", name="Ada Lovelace", now=clock.now
    )
    shots = tmp_path / "screenshots"
    with LiveServer(create_app(engine=engine, clock=clock, link_keys=LINK_KEYS)) as server:
        sign_in(browser, server)
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Match runs").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match runs"
        accessible(browser)
        shoot(browser, shots, "console-runs")
        leave_by(browser, browser.find_element(By.LINK_TEXT, "2026").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match run 1 of cycle 2026"
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "3 of 4 mentees" in main and "Locked pairs\nnone" in main
        first = pairs_shown(browser)
        assert set(first) == {"E001", "E002", "E003"}
        assert all(reasons for _, reasons in first.values())  # every pair says why
        assert first["E001"][0] == "M003"  # mathematics and astronomy, both ways
        unmatched = browser.find_element(
            By.XPATH, "//h2[.='Unmatched mentees']/following::table[1]"
        ).text
        assert "Emmy Noether E004" in unmatched and "shared_language" in unmatched
        accessible(browser)
        shoot(browser, shots, "console-match")

        # Katherine Johnson goes to Grace Hopper whatever the scores say
        match_again(browser, "lock", "E001", "M001")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match run 2 of cycle 2026"
        assert "Locked pairs\nE001–M001" in browser.find_element(By.TAG_NAME, "main").text
        second = pairs_shown(browser)
        assert second["E001"][0] == "M001"
        accessible(browser)

        # and Joan Clarke never to Alan Turing
        mentor_of_joan = second["E002"][0]
        match_again(browser, "forbid", "E002", mentor_of_joan)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match run 3 of cycle 2026"
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "Locked pairs\nE001–M001" in main
        assert f"Forbidden pairs\nE002–{mentor_of_joan}" in main
        third = pairs_shown(browser)
        assert third["E001"][0] == "M001"
        assert third.get("E002", ("",))[0] != mentor_of_joan
        accessible(browser)
        shoot(browser, shots, "console-match-rerun")

        # a mistake is refused with the reason, on the same page
        match_again(browser, "lock", "E001", "M999")
        problem = browser.find_element(By.CSS_SELECTOR, "main .problem").text
        assert "M999" in problem
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match run 3 of cycle 2026"
        accessible(browser)

        tandem(
            *("cohort", "create", "Fall 2026", "--cycle", "2026", "--start", "2026-09-07"),
            *("--timezone", "America/New_York"),
            db=db_url,
        )
        browser.refresh()
        main = browser.find_element(By.TAG_NAME, "main").text
        assert "Cohort\nFall 2026" in main
        assert not browser.find_elements(By.ID, "mentee_id")  # no re-run once a cohort is made
        assert "Run\n2026-08-04 05:00 EDT" in main  # in the cohort's time zone now
        accessible(browser)
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Fall 2026").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Fall 2026"
        cohort_pairs = {
            row.find_elements(By.CSS_SELECTOR, "td .muted")[0].text: row.find_elements(
                By.CSS_SELECTOR, "td .muted"
            )[1].text
            for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
        }
        assert cohort_pairs == {mentee: mentor for mentee, (mentor, _) in third.items()}
        leave_by(browser, browser.find_element(By.LINK_TEXT, "Match review").click)
        assert browser.find_element(By.TAG_NAME, "h1").text == "Match run 3 of cycle 2026"
        accessible(browser)
        shoot(browser, shots, "console-match-cohort")
