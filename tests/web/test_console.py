"""The coordinator console through HTTP: sign-in, sessions, views, audited actions."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.storage.tables import AuditEntry, Coordinator, Pair, WebSession
from tandem.web.security import Limits
from tests.conftest import Tandem
from tests.web.helpers import Site, csrf_of, make_site

PASSWORD = "correct horse battery"


@pytest.fixture
def site(engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    site = make_site(engine, tmp_path, pairs=3, limits=Limits(sign_in_failures=3))
    monkeypatch.setenv("TANDEM_COORDINATOR_PASSWORD", PASSWORD)
    result = Tandem().invoke(
        ["--db", db_url, "coordinator", "add", "Ada@Uni.edu", "--name", "Ada Lovelace"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Coordinator ada@uni.edu added\n"
    return site


def sign_in(site: Site, email: str = "ada@uni.edu", password: str = PASSWORD) -> int:
    form = site.client.get("/console/login")
    answer = site.client.post(
        "/console/login", data={"email": email, "password": password, "csrf": csrf_of(form.text)}
    )
    return answer.status_code


def test_only_an_argon2_hash_is_stored_and_short_passwords_are_refused(
    site: Site, engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        stored = session.exec(select(Coordinator)).one()
        assert (
            stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
        )
    monkeypatch.setenv("TANDEM_COORDINATOR_PASSWORD", "short")
    result = Tandem().invoke(["--db", db_url, "coordinator", "add", "bo@uni.edu"])
    assert result.exit_code == 1
    assert "the password has 5 characters; use at least 12" in result.stderr


def test_the_console_needs_a_session_and_sign_in_is_limited(site: Site) -> None:
    for path in (
        "/console",
        "/console/cohorts/Fall%202026",
        "/console/cohorts/Fall%202026/pairs/E001",
    ):
        answer = site.client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/console/login")
    assert sign_in(site, password="wrong password!") == 401
    assert sign_in(site, email="nobody@uni.edu") == 401
    assert sign_in(site, password="wrong again....") == 401
    assert sign_in(site, password="and again......") == 401
    assert sign_in(site) == 429  # three failures for this name: even the right one waits
    site.clock.now += timedelta(minutes=15)
    assert sign_in(site) == 303
    assert site.client.get("/console").status_code == 200


def test_a_login_form_needs_its_csrf_value(site: Site) -> None:
    site.client.get("/console/login")
    answer = site.client.post("/console/login", data={"email": "ada@uni.edu", "password": PASSWORD})
    assert answer.status_code == 403 and "session" not in answer.cookies


def test_a_coordinator_walks_from_cohorts_to_a_pair_and_pauses_it(
    site: Site, engine: Engine
) -> None:
    add_checkin(
        engine,
        "Fall 2026",
        "E002",
        1,
        Role.MENTEE,
        CheckinAnswers(met=True, minutes=30, note="struggling with the move"),
        now=site.clock.now,
    )
    assert sign_in(site) == 303
    cohorts = site.client.get("/console").text
    assert '<a href="/console/cohorts/Fall%202026">Fall 2026</a>' in cohorts
    assert "3 proposed" in cohorts and "Sign out Ada Lovelace" in cohorts
    pairs = site.client.get("/console/cohorts/Fall%202026?sort=met").text
    assert "3 of 3 pairs shown" in pairs
    assert re.findall(r"pairs/(E\d+)", pairs) == ["E001", "E003", "E002"]  # fewest meetings first
    assert "0 of 3 pairs shown" in site.client.get("/console/cohorts/Fall%202026?state=active").text
    case = site.client.get("/console/cohorts/Fall%202026/pairs/E002")
    assert "Mentee 2 with Mentor 2" in case.text
    assert "struggling with the move" in case.text  # the note, for coordinators only
    before = case.text
    done = site.client.post(
        "/console/cohorts/Fall%202026/pairs/E002",
        data={"action": "pause", "reason": "", "csrf": csrf_of(before)},
    )
    assert done.status_code == 303
    assert "The pair is now paused" in site.client.get(done.headers["location"]).text
    with Session(engine) as session:
        pair = session.exec(select(Pair).order_by(col(Pair.pk))).all()[1]
        assert pair.state == "paused"
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "pair.pause")).one()
        assert (audit.actor, audit.subject, audit.details["from"], audit.details["to"]) == (
            "Ada Lovelace",
            f"pair {pair.pk}",
            "proposed",
            "paused",
        )
    refused = site.client.post(
        "/console/cohorts/Fall%202026/pairs/E002",
        data={"action": "end", "csrf": csrf_of(before)},
    )
    assert refused.status_code == 409 and "give a reason to end a pair" in refused.text
    forged = site.client.post(
        "/console/cohorts/Fall%202026/pairs/E002", data={"action": "resume", "csrf": "0" * 40}
    )
    assert forged.status_code == 403
    assert site.client.get("/console/cohorts/Fall%202026/deliveries").status_code == 200
    assert site.client.get("/console/cohorts/Nope").status_code == 404


def test_sessions_expire_and_sign_out_ends_them(site: Site, engine: Engine) -> None:
    assert sign_in(site) == 303
    page = site.client.get("/console")
    site.client.post("/console/logout", data={"csrf": csrf_of(page.text)})
    assert site.client.get("/console").status_code == 303
    with Session(engine) as session:
        assert session.exec(select(WebSession)).all() == []
    assert sign_in(site) == 303
    site.clock.now += timedelta(hours=8)
    assert site.client.get("/console").headers["location"] == "/console/login"


def test_the_pairs_list_comes_in_pages_that_say_what_they_show(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tandem.web.console.PAGE_SIZE", 2)
    assert sign_in(site) == 303
    first = site.client.get("/console/cohorts/Fall%202026?sort=mentor").text
    assert "Showing 1–2 of 3 pairs (3 in the cohort)." in first
    assert re.findall(r"pairs/(E\d+)", first) == ["E001", "E002"]
    assert "Page 1 of 2" in first
    assert 'href="/console/cohorts/Fall%202026?state=&amp;sort=mentor&amp;page=2"' in first
    second = site.client.get("/console/cohorts/Fall%202026?sort=mentor&page=2").text
    assert "Showing 3–3 of 3 pairs (3 in the cohort)." in second
    assert re.findall(r"pairs/(E\d+)", second) == ["E003"]
    assert 'rel="prev"' in second and 'rel="next"' not in second
    beyond = site.client.get("/console/cohorts/Fall%202026?sort=mentor&page=99").text
    assert "Page 2 of 2" in beyond  # past the end: the last page
    unreadable = site.client.get("/console/cohorts/Fall%202026?page=x").text
    assert "Showing 1–2 of 3 pairs" in unreadable  # not a number: the first page


def test_console_times_are_in_the_cohorts_time_zone(site: Site) -> None:
    assert sign_in(site) == 303
    case = site.client.get("/console/cohorts/Fall%202026/pairs/E001")
    site.client.post(
        "/console/cohorts/Fall%202026/pairs/E001",
        data={"action": "pause", "reason": "travel", "csrf": csrf_of(case.text)},
    )
    page = site.client.get("/console/cohorts/Fall%202026/pairs/E001").text
    local = site.clock.now.astimezone(ZoneInfo("America/New_York"))
    assert local.strftime("%Y-%m-%d %H:%M %Z") in page  # the cohort's zone
    assert local.tzname() in ("EST", "EDT")
    assert site.clock.now.strftime("%Y-%m-%d %H:%M UTC") not in page


def test_participants_requests_are_seen_in_the_pairs_list_and_labelled_on_the_pair_page(
    site: Site, engine: Engine
) -> None:
    """A request to pause or leave showed only on the pair's page, as the raw audit action
    ("pair.leave_requested"), with coordinators' actions mixed in; the page offered every
    action whatever the pair's state."""
    from tandem.program.links import ChangeRequest, request_change
    from tandem.program.reports import cohort_status
    from tests.program.helpers import LINK_KEYS

    def ask(pair: int, role: str, request: ChangeRequest, reason: str) -> None:
        token = site.token(site.pairs[pair], 1, role)
        request_change(
            engine, token, request, reason=reason, now=site.clock.now, link_keys=LINK_KEYS
        )

    ask(1, "mentee", ChangeRequest.LEAVE, "moving to Lyon")
    ask(0, "mentor", ChangeRequest.PAUSE, "fieldwork")
    ask(0, "mentor", ChangeRequest.PAUSE, "fieldwork, still")  # asked again: counted once
    assert sign_in(site) == 303
    pairs = site.client.get("/console/cohorts/Fall%202026").text
    assert "2 open requests from participants" in pairs
    assert "mentee E002 asks to leave (2026-09-08)" in pairs
    assert "mentor M001 asks to pause (2026-09-08)" in pairs
    assert "moving to Lyon" not in pairs  # reasons are for the pair's page
    asking = site.client.get("/console/cohorts/Fall%202026?asks=1").text
    assert re.findall(r"pairs/(E\d+)", asking) == ["E001", "E002"]

    case = site.client.get("/console/cohorts/Fall%202026/pairs/E002").text
    assert "pair.leave_requested" not in case
    assert "asked to leave the program <strong>(open)</strong>" in case
    assert "mentee Mentee 2 (E002)" in case and "moving to Lyon" in case
    options = re.findall(r'<option value="(\w+)">', case)
    assert options == ["accept", "decline", "pause", "end"]  # a proposal: nothing to resume
    site.client.post(
        "/console/cohorts/Fall%202026/pairs/E002",
        data={"action": "end", "reason": "asked to leave", "csrf": csrf_of(case)},
    )
    case = site.client.get("/console/cohorts/Fall%202026/pairs/E002").text
    assert "asked to leave the program" in case and "(open)" not in case
    coordinators = case[case.index("Coordinators' actions") :]
    assert "Ada Lovelace" in coordinators and "ended the pair early" in coordinators
    assert "<select" not in case and "This pair is ended: there is nothing left to change" in case

    site.client.post(
        "/console/cohorts/Fall%202026/pairs/E003",
        data={"action": "accept", "csrf": csrf_of(case)},
    )
    active = site.client.get("/console/cohorts/Fall%202026/pairs/E003").text
    assert re.findall(r'<option value="(\w+)">', active) == ["pause", "end"]
    assert "accepted the introduction for both" in active
    # The mentor's request to pause stays open until someone acts on the pair.
    status = {s.mentee_id: s.requests for s in cohort_status(engine, "Fall 2026", site.clock.now)}
    assert [str(r) for r in status["E001"]] == ["mentor M001 asks to pause (2026-09-08)"]
    assert status["E002"] == status["E003"] == ()
