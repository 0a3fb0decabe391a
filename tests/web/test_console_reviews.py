"""The console's match review and certification pages, through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.matcher.types import Role
from tandem.program.certify import certify, issuer_settings, load_rules
from tandem.program.certify.issuer_keys import KeyAlgorithm, init_keyring
from tandem.program.checkins import CheckinAnswers, add_checkin
from tandem.program.coordinators import add_coordinator
from tandem.program.outbox.channels import FileOutbox
from tandem.program.storage.tables import AuditEntry, Certificate, MatchPair
from tandem.web.app import create_app
from tests.conftest import Tandem
from tests.program.helpers import LINK_KEYS, day, roster_files, run_due
from tests.web.helpers import Clock, csrf_of, make_site


def test_a_coordinator_reviews_the_match_and_revokes_a_certificate(
    engine: Engine, tmp_path: Path
) -> None:
    site = make_site(engine, tmp_path, pairs=2)
    weeks = site.program.instants
    for instant in (weeks[0], day(weeks, 2, hours=1)):  # introduced, then active
        run_due(engine, instant, FileOutbox(tmp_path / "outbox"), link_keys=LINK_KEYS)
    for week in [*range(1, 13), 16]:
        add_checkin(
            engine,
            site.program.name,
            "E001",
            week,
            Role.MENTOR,
            CheckinAnswers(met=week != 16, minutes=45),
            now=day(weeks, week, days=2),
        )
    run_due(engine, day(weeks, 16, days=8), FileOutbox(tmp_path / "outbox"), link_keys=LINK_KEYS)
    site.clock.now = day(weeks, 16, days=9)
    keyring = init_keyring(
        tmp_path / "keys.json", KeyAlgorithm.EDDSA, now=datetime(2026, 8, 1, tzinfo=UTC)
    )
    issuer = issuer_settings(name="Example Mentoring", url="https://mentoring.example.edu")
    report = certify(
        engine,
        site.program.name,
        load_rules(),
        now=site.clock.now,
        actor="cli",
        issuer=issuer,
        keyring=keyring,
    )
    assert len(report.issued) == 1
    add_coordinator(engine, "ada@uni.edu", "correct horse battery", name="Ada", now=site.clock.now)
    form = site.client.get("/console/login")
    site.client.post(
        "/console/login",
        data={
            "email": "ada@uni.edu",
            "password": "correct horse battery",
            "csrf": csrf_of(form.text),
        },
    )

    review = site.client.get("/console/cohorts/Fall%202026/match").text
    assert "2 of 2 mentees" in review and "Mentee 1" in review and "Mentor 2" in review
    assert "None: every mentee was matched." in review

    page = site.client.get("/console/cohorts/Fall%202026/certification")
    assert page.status_code == 200
    rows = page.text.split("<tbody>")[1]
    assert "Mentor 1" in rows and "issued" in rows
    assert "Mentor 2" in rows and "E002:" in rows  # what keeps Mentor 2 from the rules
    credential = page.text.split('name="credential_id" value="')[1].split('"')[0]
    refused = site.client.post(
        "/console/cohorts/Fall%202026/certification",
        data={"credential_id": credential, "reason": "", "csrf": csrf_of(page.text)},
    )
    assert refused.status_code == 409
    done = site.client.post(
        "/console/cohorts/Fall%202026/certification",
        data={"credential_id": credential, "reason": "issued in error", "csrf": csrf_of(page.text)},
    )
    assert done.status_code == 303
    assert "is revoked" in site.client.get(done.headers["location"]).text
    with Session(engine) as session:
        stored = session.exec(select(Certificate)).one()
        assert (stored.status, stored.revoked_reason) == ("revoked", "issued in error")
        revoked = session.exec(select(AuditEntry).where(AuditEntry.action == "revoke")).one()
        assert revoked.actor == "Ada"


def test_a_coordinator_forbids_a_pair_and_matches_again_before_the_cohort(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    mentors, mentees = roster_files(tmp_path, 3)
    runner = Tandem()
    for args in (
        ["import", "mentors", str(mentors)],
        ["import", "mentees", str(mentees)],
        ["match", "--cycle", "2026", "--now", "2026-08-01T12:00"],
    ):
        ran = runner.invoke(["--db", db_url, *args])
        assert ran.exit_code == 0, ran.output
    clock = Clock(datetime(2026, 8, 2, tzinfo=UTC))
    client = TestClient(
        create_app(engine=engine, clock=clock, link_keys=LINK_KEYS), follow_redirects=False
    )
    add_coordinator(engine, "ada@uni.edu", "correct horse battery", name="Ada", now=clock.now)
    form = client.get("/console/login")
    client.post(
        "/console/login",
        data={
            "email": "ada@uni.edu",
            "password": "correct horse battery",
            "csrf": csrf_of(form.text),
        },
    )
    assert '<a href="/console/runs/2026">2026</a>' in client.get("/console/runs").text
    page = client.get("/console/runs/2026")
    assert "Match run 1 of cycle 2026" in page.text and "Forbidden pairs</dt><dd>none" in page.text
    with Session(engine) as session:
        first = {(p.mentee_id, p.mentor_id) for p in session.exec(select(MatchPair)).all()}
    mentee, mentor = sorted(first)[0]
    done = client.post(
        "/console/runs/2026",
        data={
            "kind": "forbid",
            "mentee_id": mentee,
            "mentor_id": mentor,
            "csrf": csrf_of(page.text),
        },
    )
    assert done.status_code == 303
    again = client.get("/console/runs/2026").text
    assert "Match run 2 of cycle 2026" in again
    assert f"Forbidden pairs</dt><dd>{mentee}–{mentor}" in again
    with Session(engine) as session:
        second = {
            (p.mentee_id, p.mentor_id)
            for p in session.exec(select(MatchPair).where(MatchPair.run_pk == 2)).all()
        }
        audit = session.exec(select(AuditEntry).where(AuditEntry.action == "match.rerun")).one()
    assert (mentee, mentor) not in second and len(second) == 3
    assert (audit.actor, audit.details["forbidden"]) == ("Ada", [[mentee, mentor]])

    created = runner.invoke(
        [
            "--db",
            db_url,
            "cohort",
            "create",
            "Fall 2026",
            "--cycle",
            "2026",
            "--start",
            "2026-09-07",
        ],
    )
    assert created.exit_code == 0, created.output
    refused = client.post(
        "/console/runs/2026",
        data={"kind": "lock", "mentee_id": mentee, "mentor_id": mentor, "csrf": csrf_of(again)},
    )
    assert refused.status_code == 409
    assert "was made from cycle" in refused.text and "Match run 2" in refused.text


def test_a_runs_time_is_in_utc_until_a_cohort_gives_it_a_zone(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    mentors, mentees = roster_files(tmp_path, 2)
    tandem = Tandem()
    tandem("import", "mentors", mentors, db=db_url)
    tandem("import", "mentees", mentees, db=db_url)
    tandem("match", "--cycle", "2026", "--now", "2026-08-01T12:00", db=db_url)
    clock = Clock(datetime(2026, 8, 2, tzinfo=UTC))
    client = TestClient(
        create_app(engine=engine, clock=clock, link_keys=LINK_KEYS), follow_redirects=False
    )
    add_coordinator(engine, "ada@uni.edu", "correct horse battery", name="Ada", now=clock.now)
    form = client.get("/console/login")
    client.post(
        "/console/login",
        data={
            "email": "ada@uni.edu",
            "password": "correct horse battery",
            "csrf": csrf_of(form.text),
        },
    )
    assert "<td>run 1, 2026-08-01 12:00 UTC</td>" in client.get("/console/runs").text
    assert "<dd>2026-08-01 12:00 UTC, optimal" in client.get("/console/runs/2026").text
    tandem(
        *("cohort", "create", "Fall 2026", "--cycle", "2026", "--start", "2026-09-07"),
        *("--timezone", "America/New_York"),
        db=db_url,
    )
    assert "<td>run 1, 2026-08-01 08:00 EDT</td>" in client.get("/console/runs").text
    assert "<dd>2026-08-01 08:00 EDT, optimal" in client.get("/console/runs/2026").text
    assert "2026-08-01 08:00 EDT" in client.get("/console/cohorts/Fall%202026/match").text
