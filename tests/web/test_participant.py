"""Participants' link pages through HTTP: the signed link is the only key."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.cohorts import CohortSettings, create_cohort
from tandem.program.storage.tables import (
    AuditEntry,
    CheckIn,
    Cohort,
    Pair,
    PairEvent,
    Participant,
)
from tandem.program.tokens import make_token, new_secret
from tandem.program.web_state import shared_secret
from tandem.web.security import Limits, csrf_value
from tests.program.helpers import day, store_match
from tests.web.helpers import Site, csrf_of, make_site

NOT_VALID = "This link is not valid any more"


def snapshot(engine: Engine) -> tuple[list[object], ...]:
    """Everything a link could change: pairs, events, check-ins, audit entries."""
    with Session(engine) as session:
        return tuple(
            [row.model_dump() for row in session.exec(select(t).order_by(col(t.pk))).all()]
            for t in (Pair, PairEvent, CheckIn, AuditEntry)
        )


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    return make_site(engine, tmp_path)


def test_a_get_never_changes_anything_and_a_post_records_the_answer(
    site: Site, engine: Engine
) -> None:
    token = site.token(site.pairs[0], 0, "mentee")
    before = snapshot(engine)
    page = site.client.get(f"/respond/{token}?answer=decline")
    assert page.status_code == 200
    assert "Mentee 1, meet your mentor: Mentor 1" in page.text
    assert 'value="decline" checked' in page.text and 'value="accept" required >' in page.text
    assert "mentor1@uni.edu" in page.text  # what the mentor shares: their e-mail, stage
    assert snapshot(engine) == before

    sent = site.client.post(
        f"/respond/{token}", data={"answer": "accept", "csrf": csrf_of(page.text)}
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/respond/{token}?saved=1"
    with Session(engine) as session:
        pair = session.get(Pair, site.pairs[0])
        assert pair is not None
        assert (pair.mentee_response, pair.mentor_response, pair.state) == (
            "accepted",
            None,
            "proposed",
        )
    shown = site.client.get(sent.headers["location"])
    assert "your answer (accepted) is recorded" in shown.text


def test_a_decline_reason_reaches_the_coordinator_and_never_the_partner(
    site: Site, engine: Engine
) -> None:
    mentee = site.token(site.pairs[0], 0, "mentee")
    page = site.client.get(f"/respond/{mentee}")
    site.client.post(
        f"/respond/{mentee}",
        data={
            "answer": "decline",
            "reason": "our fields are too far apart",
            "csrf": csrf_of(page.text),
        },
    )
    with Session(engine) as session:
        pair = session.get(Pair, site.pairs[0])
        assert pair is not None and pair.state == "declined"
        audit = session.exec(select(AuditEntry)).all()
        assert [(a.actor, a.action, a.details["reason"]) for a in audit] == [
            ("mentee", "pair.declined", "our fields are too far apart")
        ]
    partner = site.client.get(f"/respond/{site.token(site.pairs[0], 0, 'mentor')}")
    assert partner.status_code == 200 and "declined" in partner.text
    assert "too far apart" not in partner.text


def test_a_paused_introduction_can_still_be_answered(site: Site, engine: Engine) -> None:
    """A proposal paused by the coordinator is still a proposal: its partners answer it."""
    from tandem.program.cohorts import PairAction, change_pair

    change_pair(
        engine, "Fall 2026", "E001", PairAction.PAUSE, actor="coordinator", now=site.clock.now
    )
    token = site.token(site.pairs[0], 0, "mentee")
    page = site.client.get(f"/respond/{token}")
    assert "Your coordinator has paused this pair for now; you can still answer." in page.text
    sent = site.client.post(
        f"/respond/{token}",
        data={"answer": "decline", "reason": "moving", "csrf": csrf_of(page.text)},
    )
    assert sent.status_code == 303
    with Session(engine) as session:
        pair = session.get(Pair, site.pairs[0])
        assert pair is not None and (pair.state, pair.mentee_response) == (
            "declined",
            "declined",
        )
    assert "This pair is <strong>declined</strong>" in site.client.get(f"/respond/{token}").text


def _tokens(site: Site) -> dict[str, str]:
    good = site.token(site.pairs[0], 1, "mentor")
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    return {
        "forged": "x" * 64,
        "short": good[:40],
        "altered": flipped,
        "expired": site.token(site.pairs[0], 1, "mentor", days=-1),
        "other secret": make_token(
            new_secret(),
            pair_id=site.pairs[0],
            week=1,
            role="mentor",
            expires=site.clock.now + timedelta(days=7),
        ),
        "no such pair": site.token(999, 1, "mentor"),
        "week outside the program": site.token(site.pairs[0], 40, "mentor"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "short",
        "altered",
        "expired",
        "other secret",
        "no such pair",
        "week outside the program",
    ],
)
def test_a_bad_link_gets_one_plain_page_and_records_nothing(
    site: Site, engine: Engine, kind: str
) -> None:
    token = _tokens(site)[kind]
    # A valid CSRF value for this very link, so that the link check is what refuses.
    csrf = csrf_value(shared_secret(engine, "csrf", now=site.clock.now), f"link|{token}")
    before = snapshot(engine)
    pages = [
        site.client.get(f"/checkin/{token}"),
        site.client.get(f"/respond/{token}?answer=accept"),
        site.client.post(f"/checkin/{token}", data={"met": "yes", "csrf": csrf}),
        site.client.post(f"/respond/{token}", data={"answer": "accept", "csrf": csrf}),
    ]
    for page in pages:
        assert page.status_code == 404
        assert "Mentor 1" not in page.text
        for detail in ("tamper", "signed", "belongs", "expired on", "week 40", "pair"):
            assert detail not in page.text
    assert NOT_VALID in pages[0].text
    assert all(p.text == pages[0].text for p in pages)  # one page, whatever the reason
    assert snapshot(engine) == before


def test_a_link_opens_only_its_own_kind_pair_week_and_person(site: Site, engine: Engine) -> None:
    site.clock.now = day(site.program.instants, 2, hours=1)  # week 2 has begun
    intro = site.token(site.pairs[0], 0, "mentor")
    weekly = site.token(site.pairs[1], 2, "mentee")
    assert NOT_VALID in site.client.get(f"/checkin/{intro}").text
    assert NOT_VALID in site.client.get(f"/respond/{weekly}").text
    page = site.client.get(f"/checkin/{weekly}")
    assert "Week 2 of 16" in page.text and "Mentee 2 (mentee) with Mentor 2" in page.text
    sent = site.client.post(
        f"/checkin/{weekly}", data={"met": "yes", "minutes": "30", "csrf": csrf_of(page.text)}
    )
    assert sent.status_code == 303
    with Session(engine) as session:
        rows = session.exec(select(CheckIn)).all()
        assert [(r.pair_pk, r.week, r.role, r.source) for r in rows] == [
            (site.pairs[1], 2, "mentee", "link")
        ]


def test_a_checkin_asks_that_weeks_questions_records_and_updates(
    site: Site, engine: Engine
) -> None:
    token = site.token(site.pairs[0], 1, "mentor")
    page = site.client.get(f"/checkin/{token}")
    assert page.status_code == 200
    assert "Week 1 of 16:" in page.text
    assert "Did you and your partner meet this week?" in page.text  # the curriculum's words
    assert 'name="q_met"' not in page.text and 'name="q_minutes"' not in page.text
    for field in ("met", "minutes", "mode", "rating", "note", "q_comfort"):
        assert f'name="{field}"' in page.text
    csrf = csrf_of(page.text)
    form = {"met": "yes", "minutes": "45", "mode": "video", "rating": "4", "q_comfort": "5"}
    assert site.client.post(f"/checkin/{token}", data={**form, "csrf": csrf}).status_code == 303
    shown = site.client.get(f"/checkin/{token}?saved=1").text
    assert "is recorded" in shown and 'value="45"' in shown and 'value="video" selected' in shown
    site.client.post(f"/checkin/{token}", data={**form, "minutes": "60", "csrf": csrf})
    with Session(engine) as session:
        rows = session.exec(select(CheckIn)).all()
        assert [(r.week, r.role, r.met, r.minutes, r.mode, r.rating, r.answers) for r in rows] == [
            (1, "mentor", True, 60, "video", 4, {"comfort": 5})
        ]


def test_a_wrong_answer_is_named_and_nothing_is_recorded(site: Site, engine: Engine) -> None:
    token = site.token(site.pairs[0], 1, "mentee")
    csrf = csrf_of(site.client.get(f"/checkin/{token}").text)
    page = site.client.post(
        f"/checkin/{token}", data={"met": "yes", "minutes": "lots", "csrf": csrf}
    )
    assert page.status_code == 422
    assert 'id="minutes-error"' in page.text and 'aria-invalid="true"' in page.text
    assert 'value="lots"' in page.text  # what they typed is kept
    missing = site.client.post(f"/checkin/{token}", data={"csrf": csrf})
    assert "say whether you met this week" in missing.text
    with Session(engine) as session:
        assert session.exec(select(CheckIn)).all() == []


def test_a_checkin_link_of_a_week_to_come_says_when_it_opens_and_records_nothing(
    site: Site, engine: Engine
) -> None:
    """A link made ahead of time (a simulated tick) opened a form whose answers then
    failed as an invalid link; they must not be recorded before the week begins."""
    token = site.token(site.pairs[0], 3, "mentee", days=30)  # the site is in week 1
    page = site.client.get(f"/checkin/{token}")
    assert page.status_code == 200 and "Week 3 of 16" in page.text
    assert "This week's check-in opens on Monday 21 September 2026" in page.text
    assert 'name="met"' not in page.text
    before = snapshot(engine)
    sent = site.client.post(f"/checkin/{token}", data={"met": "yes", "csrf": csrf_of(page.text)})
    assert sent.status_code == 409 and "opens on Monday 21 September 2026" in sent.text
    assert snapshot(engine) == before
    site.clock.now = day(site.program.instants, 3) - timedelta(hours=8)  # 01:00 that Monday
    opened = site.client.get(f"/checkin/{token}")
    assert 'name="met"' in opened.text and "opens on" not in opened.text


def test_the_final_week_asks_the_closing_reflection(site: Site, engine: Engine) -> None:
    site.clock.now = day(site.program.instants, 16, hours=1)  # the final week has begun
    token = site.token(site.pairs[0], 16, "mentor")
    mentor = site.client.get(f"/checkin/{token}").text
    assert "final week" in mentor
    assert 'name="q_closing_reflection_growth"' in mentor
    assert 'name="q_takeaway"' not in mentor  # the mentee's question
    mentee = site.client.get(f"/checkin/{site.token(site.pairs[0], 16, 'mentee')}").text
    assert 'name="q_takeaway"' in mentee and 'name="q_closing_reflection_growth"' not in mentee
    site.client.post(
        f"/checkin/{token}",
        data={
            "met": "yes",
            "q_closing_reflection_growth": "to listen first",
            "csrf": csrf_of(mentor),
        },
    )
    with Session(engine) as session:
        row = session.exec(select(CheckIn)).one()
        assert row.answers == {"closing_reflection_growth": "to listen first"}


def test_forms_need_their_own_csrf_value(site: Site, engine: Engine) -> None:
    mine = site.token(site.pairs[0], 1, "mentor")
    other = site.token(site.pairs[1], 1, "mentor")
    other_csrf = csrf_of(site.client.get(f"/checkin/{other}").text)
    before = snapshot(engine)
    assert site.client.post(f"/checkin/{mine}", data={"met": "yes"}).status_code == 403
    assert (
        site.client.post(f"/checkin/{mine}", data={"met": "yes", "csrf": other_csrf}).status_code
        == 403
    )
    intro = site.token(site.pairs[0], 0, "mentor")
    assert site.client.post(f"/respond/{intro}", data={"answer": "accept"}).status_code == 403
    assert site.client.post(f"/request/{mine}", data={"request": "leave"}).status_code == 403
    assert snapshot(engine) == before


def test_notes_and_identity_are_never_shown_to_the_other_person(site: Site, engine: Engine) -> None:
    with Session(engine) as session:
        mentor = session.exec(select(Participant).where(Participant.external_id == "M001")).one()
        mentor.identity_consent = True
        mentor.identity = ["first_generation"]
        session.add(mentor)
        session.commit()
    mentor_link = site.token(site.pairs[0], 1, "mentor")
    csrf = csrf_of(site.client.get(f"/checkin/{mentor_link}").text)
    site.client.post(
        f"/checkin/{mentor_link}", data={"met": "no", "note": "worried about E001", "csrf": csrf}
    )
    assert "worried about E001" in site.client.get(f"/checkin/{mentor_link}").text
    for path in (
        f"/checkin/{site.token(site.pairs[0], 1, 'mentee')}",
        f"/respond/{site.token(site.pairs[0], 0, 'mentee')}",
    ):
        text = site.client.get(path).text
        assert "worried" not in text and "first_generation" not in text
        assert "first generation" not in text


def test_a_pause_or_leave_request_tells_the_coordinator_and_changes_nothing(
    site: Site, engine: Engine
) -> None:
    token = site.token(site.pairs[0], 3, "mentee")
    csrf = csrf_of(site.client.get(f"/checkin/{token}").text)
    before = snapshot(engine)[:3]
    page = site.client.post(
        f"/request/{token}", data={"request": "pause", "reason": "fieldwork", "csrf": csrf}
    )
    assert page.status_code == 200 and "Your coordinator has been told" in page.text
    assert snapshot(engine)[:3] == before
    with Session(engine) as session:
        audit = session.exec(select(AuditEntry)).one()
        assert (audit.actor, audit.action, audit.subject, audit.details) == (
            "mentee",
            "pair.pause_requested",
            f"pair {site.pairs[0]}",
            {"cohort": "Fall 2026", "week": 3, "reason": "fieldwork"},
        )


def test_every_page_carries_the_security_headers(site: Site) -> None:
    for path in ("/", f"/checkin/{'x' * 64}", f"/checkin/{site.token(site.pairs[0], 1, 'mentor')}"):
        headers = site.client.get(path).headers
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_token_endpoints_are_rate_limited_in_the_database(engine: Engine, tmp_path: Path) -> None:
    site = make_site(engine, tmp_path, limits=Limits(per_link=3, bad_links_per_client=2))
    token = site.token(site.pairs[0], 1, "mentor")
    assert [site.client.get(f"/checkin/{token}").status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    other = site.token(site.pairs[1], 1, "mentor")
    assert site.client.get(f"/checkin/{other}").status_code == 200
    assert [site.client.get(f"/checkin/{'y' * 64}").status_code for _ in range(3)] == [
        404,
        404,
        429,
    ]
    assert site.client.get(f"/checkin/{other}").status_code == 429  # this client is held off
    site.clock.now += timedelta(minutes=10)  # the next window
    assert site.client.get(f"/checkin/{other}").status_code == 200


def test_a_token_signed_by_one_cohort_cannot_open_another_cohorts_pair(
    site: Site, engine: Engine
) -> None:
    store_match(engine, "2027", [("E001", "M002"), ("E002", "M001")])
    settings = CohortSettings(name="Spring 2027", cycle="2027", start=date(2027, 2, 1))
    create_cohort(engine, settings, now=site.clock.now)
    with Session(engine) as session:
        spring = session.exec(select(Cohort).where(Cohort.name == "Spring 2027")).one()
        theirs = session.exec(select(Pair.pk).where(Pair.cohort_pk == spring.pk)).first()
    assert theirs is not None
    before = snapshot(engine)
    token = site.token(theirs, 1, "mentor")  # genuine for Fall 2026, names Spring's pair
    csrf = csrf_value(shared_secret(engine, "csrf", now=site.clock.now), f"link|{token}")
    pages = [
        site.client.get(f"/checkin/{token}"),
        site.client.post(f"/checkin/{token}", data={"met": "yes", "csrf": csrf}),
    ]
    assert [p.status_code for p in pages] == [404, 404]
    assert all(NOT_VALID in p.text for p in pages)
    assert snapshot(engine) == before


def test_a_checkin_sent_on_the_page_shows_in_checkin_list_and_cohort_status(
    site: Site, engine: Engine, db_url: str
) -> None:
    from tests.conftest import Tandem

    token = site.token(site.pairs[0], 1, "mentee")
    csrf = csrf_of(site.client.get(f"/checkin/{token}").text)
    form = {"met": "yes", "minutes": "50", "mode": "video", "note": "a good start"}
    assert site.client.post(f"/checkin/{token}", data={**form, "csrf": csrf}).status_code == 303
    tandem = Tandem()
    listed = tandem("checkin", "list", "Fall 2026", "--format", "json", db=db_url)
    [row] = json.loads(listed.stdout)
    assert (row["week"], row["role"], row["met"], row["minutes"], row["note"]) == (
        1,
        "mentee",
        "yes",
        50,
        "a good start",
    )
    when = site.clock.now.isoformat()
    status = tandem("cohort", "status", "Fall 2026", "--format", "json", "--now", when, db=db_url)
    first = json.loads(status.stdout)[0]
    assert first["mentee_id"] == "E001" and first["weeks_met"] == 1, first


def test_times_on_a_link_page_are_in_the_cohorts_time_zone(site: Site, engine: Engine) -> None:
    site.clock.now = datetime(2026, 9, 9, 2, 30, tzinfo=UTC)  # Tuesday evening in New York
    token = site.token(site.pairs[0], 1, "mentee")
    page = site.client.get(f"/checkin/{token}")
    assert "You already sent" not in page.text
    sent = site.client.post(f"/checkin/{token}", data={"met": "yes", "csrf": csrf_of(page.text)})
    assert sent.status_code == 303
    site.clock.now += timedelta(days=1)
    again = site.client.get(f"/checkin/{token}").text
    assert (
        "You already sent this check-in, on Tuesday 8 September 2026, 22:30 (America/New_York)."
        in again
    )
    assert "UTC" not in again

    with Session(engine) as session:
        pair = session.get(Pair, site.pairs[0])
        assert pair is not None
        deadline = pair.respond_by.astimezone(ZoneInfo("America/New_York"))
    intro = site.client.get(f"/respond/{site.token(site.pairs[0], 0, 'mentee')}").text
    assert (
        f"Please answer by {deadline:%A} {deadline.day} {deadline:%B %Y}, {deadline:%H:%M} "
        "(America/New_York)." in intro
    )
