"""The survey pages through HTTP: ``/survey/TOKEN`` shows a person's survey and records it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.matcher.types import Role
from tandem.program.evaluation.responses import import_responses
from tandem.program.link_keys import link_secrets
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Cohort, Pair, Participant, SurveyResponse
from tandem.program.tokens import make_survey_token, make_token
from tandem.program.web_state import shared_secret
from tandem.program.withdrawal import withdraw_participant
from tandem.prompts.surveys import load_instrument
from tandem.web.security import Limits, csrf_value
from tests.program.helpers import LINK_KEYS, survey_export, survey_form
from tests.web.helpers import Site, csrf_of, make_site

NOT_VALID = "This link is not valid any more"


def responses(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.exec(select(SurveyResponse).order_by(col(SurveyResponse.pk))).all()
        return [row.model_dump() for row in rows]


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    return make_site(engine, tmp_path)


def test_a_get_records_nothing_a_post_records_and_a_second_post_replaces(
    site: Site, engine: Engine
) -> None:
    token = site.survey_token("mentor1@uni.edu", "baseline")
    page = site.client.get(f"/survey/{token}")
    assert page.status_code == 200
    assert "<h1>Before we start: mentoring skills</h1>" in page.text
    assert "Mentor 1 (mentor), Fall 2026." in page.text
    assert "<h2>How skilled are you at the following?</h2>" in page.text
    instrument = load_instrument("baseline")
    for item in instrument.items_for(Role.MENTOR):
        assert f'name="{item.id}" value="7"' in page.text
    assert 'name="mentor_expectations_goals"' not in page.text  # the mentees' items
    assert '<span class="visually-hidden"> (not at all skilled)</span>' in page.text
    assert 'aria-hidden="true"><span>1 = not at all skilled</span>' in page.text
    assert page.text.count("<fieldset") == 20 and page.text.count("<legend>") == 20
    assert responses(engine) == []

    form = survey_form("baseline", Role.MENTOR, rating=5)
    sent = site.client.post(f"/survey/{token}", data={**form, "csrf": csrf_of(page.text)})
    assert sent.status_code == 303 and sent.headers["location"] == f"/survey/{token}?saved=1"
    [row] = responses(engine)
    assert (row["survey"], row["role"], row["source"], row["pair_pk"]) == (
        "baseline",
        "mentor",
        "link",
        None,
    )
    assert row["answers"] == {item_id: 5 for item_id in form}
    assert row["recorded_at"] == site.clock.now

    shown = site.client.get(sent.headers["location"]).text
    assert "Thank you: your answers are recorded." in shown
    assert "Your recorded answers" in shown
    goals = "Agreeing with my mentee on clear goals for our work together."
    assert f'<tr><th scope="row">{goals}</th><td>5 of 7</td></tr>' in shown
    assert 'name="expectations_goals" value="5" checked' in shown  # the form, filled in
    assert "Update my answers" in shown

    site.clock.now += timedelta(hours=1)
    changed = {**form, "expectations_goals": "7"}
    again = site.client.post(f"/survey/{token}", data={**changed, "csrf": csrf_of(shown)})
    assert again.status_code == 303
    [row] = responses(engine)
    assert row["answers"]["expectations_goals"] == 7 and row["recorded_at"] == site.clock.now
    assert "7 of 7 (extremely skilled)" in site.client.get(f"/survey/{token}").text


def test_a_mentee_answers_about_their_mentor_now_and_before_the_program(
    site: Site, engine: Engine
) -> None:
    token = site.survey_token("mentee1@uni.edu", "closing")
    page = site.client.get(f"/survey/{token}").text
    assert "your answers are about your mentor, Mentor 1" in page
    assert "<h2>How skilled is your mentor at the following?</h2>" in page
    assert 'name="mentor_expectations_goals"' in page
    assert 'name="mentor_expectations_goals_before"' in page
    assert "<legend>Now</legend>" in page and "<legend>Before the program</legend>" in page
    assert 'name="intent_to_change"' not in page  # asked of mentors only
    # The scale written at the end of an item's text labels the points instead.
    assert "<legend>I would recommend this program to a colleague.</legend>" in page
    assert "<span>5 = strongly agree</span>" in page
    form = survey_form("closing", Role.MENTEE, rating=6)
    sent = site.client.post(f"/survey/{token}", data={**form, "csrf": csrf_of(page)})
    assert sent.status_code == 303
    [row] = responses(engine)
    assert row["pair_pk"] == site.pairs[0] and row["role"] == "mentee"
    assert row["answers"]["mentor_expectations_goals"] == 6
    assert row["answers"]["mentor_expectations_goals_before"] == 5
    assert row["answers"]["would_recommend"] == 5  # its scale ends at 5
    shown = site.client.get(f"/survey/{token}").text
    assert '<th scope="col">Before the program</th>' in shown


def test_wrong_or_missing_answers_are_named_and_nothing_is_stored(
    site: Site, engine: Engine
) -> None:
    token = site.survey_token("mentor1@uni.edu", "closing")
    csrf = csrf_of(site.client.get(f"/survey/{token}").text)
    form = survey_form("closing", Role.MENTOR)
    del form["expectations_goals_before"]
    form |= {"expectations_roles": "9", "intent_to_change": "maybe", "intent_what": "x" * 4001}
    page = site.client.post(f"/survey/{token}", data={**form, "csrf": csrf})
    assert page.status_code == 422
    assert "Please check 4 answers" in page.text and "nothing was recorded yet" in page.text
    errors = dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]+)</p>', page.text))
    assert errors == {
        "expectations_roles": "choose a rating from 1 to 7",
        "expectations_goals_before": "choose a rating from 1 to 7 for before the program",
        "intent_to_change": "choose yes or no",
        "intent_what": "keep this under 4,000 characters (it has 4,001)",
    }
    # Each is listed at the top with a link to its field, and marked on the field.
    assert 'href="#expectations_goals_before-1"' in page.text
    assert 'href="#intent_to_change-yes"' in page.text and 'href="#intent_what"' in page.text
    assert 'aria-describedby="intent_to_change-error" aria-invalid="true"' in page.text
    assert 'name="expectations_goals" value="5" checked' in page.text  # kept as sent
    assert responses(engine) == []
    # Written answers may be left empty; then they are not stored.
    form = survey_form("closing", Role.MENTOR) | {"intent_what": "  "}
    assert site.client.post(f"/survey/{token}", data={**form, "csrf": csrf}).status_code == 303
    [row] = responses(engine)
    assert "intent_what" not in row["answers"] and row["answers"]["intent_to_change"] is True


def test_the_page_and_the_import_record_the_same_response(
    site: Site, engine: Engine, tmp_path: Path
) -> None:
    row = {"email": "mentor2@uni.edu", "survey": "baseline"}
    export = survey_export(tmp_path / "b.csv", [row | survey_form("baseline", Role.MENTOR, 3)])
    import_responses(engine, "Fall 2026", export, now=site.clock.now)
    token = site.survey_token("mentor2@uni.edu", "baseline")
    page = site.client.get(f"/survey/{token}").text
    assert "You answered this survey on" in page and "3 of 7" in page
    form = survey_form("baseline", Role.MENTOR, 4)
    site.client.post(f"/survey/{token}", data={**form, "csrf": csrf_of(page)})
    [stored] = responses(engine)
    assert stored["source"] == "link" and set(stored["answers"].values()) == {4}
    report = import_responses(engine, "Fall 2026", export, now=site.clock.now)
    assert (report.added, report.updated) == (0, 1)
    assert set(responses(engine)[0]["answers"].values()) == {3}


def _bad_tokens(site: Site, engine: Engine) -> dict[str, str]:
    good = site.survey_token("mentor1@uni.edu", "closing")
    with Session(engine) as session:
        cohort = session.exec(select(Cohort)).one()
        mentor = session.exec(select(Participant).where(Participant.email == "mentor1@uni.edu"))
        mentor_pk = mentor.one().pk
    assert cohort.pk is not None and mentor_pk is not None
    other_cohort = link_secrets(LINK_KEYS, cohort.model_copy(update={"pk": cohort.pk + 1}))
    flipped = good[:20] + ("A" if good[20] != "A" else "B") + good[21:]
    with transaction(engine) as session:  # someone on the roster who is in no pair
        when = site.clock.now
        person = Participant(
            role="mentor",
            external_id="M9",
            name="Nobody",
            email="n@uni.edu",
            email_key="n@uni.edu",
            created_at=when,
            updated_at=when,
        )
        session.add(person)
    return {
        "forged": "x" * 68,
        "short": good[:60],
        "altered": flipped,
        "expired": site.survey_token("mentor1@uni.edu", "closing", days=-1),
        "another cohort's key": make_survey_token(
            other_cohort,
            cohort_pk=cohort.pk,
            participant_pk=mentor_pk,
            survey="closing",
            role="mentor",
            expires=site.clock.now + timedelta(days=7),
        ),
        "no such cohort": site.survey_token("mentor1@uni.edu", "closing", cohort_pk=99),
        "a check-in link": make_token(
            site.secret,
            pair_id=site.pairs[0],
            week=1,
            role="mentor",
            expires=site.clock.now + timedelta(days=7),
        ),
        "no such person": site.survey_token("mentor1@uni.edu", "closing", participant_pk=999),
        "another role": site.survey_token("mentor1@uni.edu", "closing", role="mentee"),
        "in no pair": site.survey_token("n@uni.edu", "closing"),
        "nothing asked of the role": site.survey_token("mentee1@uni.edu", "followup"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "short",
        "altered",
        "expired",
        "another cohort's key",
        "no such cohort",
        "a check-in link",
        "no such person",
        "another role",
        "in no pair",
        "nothing asked of the role",
    ],
)
def test_a_bad_survey_link_gets_one_plain_page_and_records_nothing(
    site: Site, engine: Engine, kind: str
) -> None:
    token = _bad_tokens(site, engine)[kind]
    csrf = csrf_value(shared_secret(engine, "csrf", now=site.clock.now), f"link|{token}")
    form = {**survey_form("closing", Role.MENTOR), "csrf": csrf}
    pages = [site.client.get(f"/survey/{token}"), site.client.post(f"/survey/{token}", data=form)]
    for page in pages:
        assert page.status_code == 404
        assert NOT_VALID in page.text and "Mentor 1" not in page.text
        for detail in ("expired on", "signed", "tamper", "cohort", "survey"):
            assert detail not in page.text
    assert pages[0].text == pages[1].text
    assert responses(engine) == []


def test_a_withdrawn_persons_link_opens_nothing_any_more(site: Site, engine: Engine) -> None:
    token = site.survey_token("mentee2@uni.edu", "baseline")
    assert site.client.get(f"/survey/{token}").status_code == 200
    withdraw_participant(
        engine, "E002", role=Role.MENTEE, reason="left", actor="coordinator", now=site.clock.now
    )
    assert NOT_VALID in site.client.get(f"/survey/{token}").text


def test_a_declined_mentees_link_opens_nothing_an_ended_pairs_still_does(
    site: Site, engine: Engine
) -> None:
    with transaction(engine) as session:
        first, second = session.exec(select(Pair).order_by(col(Pair.pk))).all()
        first.state, second.state = "declined", "ended"
    assert (
        site.client.get(f"/survey/{site.survey_token('mentee1@uni.edu', 'baseline')}").status_code
        == 404
    )
    assert (
        site.client.get(f"/survey/{site.survey_token('mentee2@uni.edu', 'baseline')}").status_code
        == 200
    )


def test_survey_forms_need_their_own_csrf_value(site: Site, engine: Engine) -> None:
    mine = site.survey_token("mentor1@uni.edu", "baseline")
    other = site.survey_token("mentor2@uni.edu", "baseline")
    other_csrf = csrf_of(site.client.get(f"/survey/{other}").text)
    form = survey_form("baseline", Role.MENTOR)
    assert site.client.post(f"/survey/{mine}", data=form).status_code == 403
    forged = site.client.post(f"/survey/{mine}", data={**form, "csrf": other_csrf})
    assert forged.status_code == 403
    assert responses(engine) == []


def test_survey_pages_carry_the_security_headers_and_are_rate_limited(
    engine: Engine, tmp_path: Path
) -> None:
    site = make_site(engine, tmp_path, limits=Limits(per_link=3, bad_links_per_client=2))
    token = site.survey_token("mentor1@uni.edu", "baseline")
    pages = [site.client.get(f"/survey/{token}") for _ in range(4)]
    assert [p.status_code for p in pages] == [200, 200, 200, 429]
    headers = pages[0].headers
    assert headers["referrer-policy"] == "no-referrer" and headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert [site.client.get(f"/survey/{'y' * 68}").status_code for _ in range(3)] == [404, 404, 429]
    other = site.survey_token("mentor2@uni.edu", "baseline")
    assert site.client.get(f"/survey/{other}").status_code == 429  # this client is held off


def test_the_follow_up_asks_a_mentor_yes_or_no_and_in_their_own_words(
    site: Site, engine: Engine
) -> None:
    token = site.survey_token("mentor2@uni.edu", "followup")
    page = site.client.get(f"/survey/{token}").text
    assert "<h1>Three months on</h1>" in page and "<h2>" not in page  # no competency items
    assert "<legend>Since the program ended, have you changed how you mentor?</legend>" in page
    assert '<label for="changed_how">If so, what have you changed' in page
    form = {"changed_mentoring": "no", "changed_how": "Not yet: no new mentees since."}
    site.client.post(f"/survey/{token}", data={**form, "csrf": csrf_of(page)})
    [row] = responses(engine)
    assert row["answers"] == {"changed_mentoring": False, "changed_how": form["changed_how"]}
    shown = site.client.get(f"/survey/{token}").text
    assert "<td>no</td>" in shown and "<td>Not yet: no new mentees since.</td>" in shown
