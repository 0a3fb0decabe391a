"""A new coordinator's whole program, as the README tells it, on a hand-written messy roster.

The files in ``tests/data/journey/`` look like a survey tool's export: a timestamp column,
"Full Name" and "Email Address" headers, career stages in mixed case, lists separated by
commas or semicolons, a non-Latin name, a title before a name, and one person who applied
as a mentor and as a mentee. Every command must succeed without a traceback and say what a
coordinator needs, from import to a verified certificate and the cohort report.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import Tandem

DATA = Path(__file__).resolve().parent / "data" / "journey"
START = date(2027, 2, 1)  # a Monday


def messages_to(outbox: Path, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            found.append(message)
    return found


@pytest.mark.slow
def test_a_coordinators_program_from_a_messy_roster_to_a_verified_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("mentors.csv", "mentees.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'tandem.db'}"
    tandem = Tandem()

    def run(*args: str | Path) -> str:
        result = tandem(*args, db=db)
        assert "Traceback" not in result.output
        return result.stdout

    assert run("import", "mentors", "mentors.csv") == (
        "mentors.csv: 4 added, 0 updated, 0 unchanged mentors\n"
    )
    assert run("import", "mentees", "mentees.csv") == (
        "mentees.csv: 5 added, 0 updated, 0 unchanged mentees\n"
    )
    assert "1 person is both mentor and mentee" in run("participants", "summary")
    matched = run("match", "--cycle", "2027", "--out", "pairs.csv", "--now", "2027-01-20T12:00")
    assert "4 of 5 mentees matched" in matched
    pairs = (tmp_path / "pairs.csv").read_text(encoding="utf-8").splitlines()
    assert pairs[0] == "mentee_id,mentee,mentor_id,mentor,score,locked,reasons"
    # "English, French" is two languages: Kwame can mentor Lee.
    assert any(line.startswith("E04,Lee Min-jun,M02,Kwame Mensah,") for line in pairs)
    # Ana applied in both roles and speaks only Spanish: she is never her own mentor.
    explained = run("match", "explain", "E03", "--mentor", "M04")
    assert "forbidden by self_pair" in explained

    run("keys", "init", "--now", "2027-01-25T12:00")  # signs links and certificates
    run(
        "cohort", "create", "Spring 2027", "--cycle", "2027", "--start", START.isoformat(),
        "--timezone", "America/Chicago", "--coordinator", "coordinator@northlake.edu",
        "--coordinator-name", "Dana Whitfield", "--now", "2027-01-25T12:00",
    )  # fmt: skip
    outbox = tmp_path / "outbox"
    delivery = f"file:{outbox}"
    run("tick", "--now", "2027-02-01T16:00", "--delivery", delivery)
    [intro] = [
        m for m in messages_to(outbox, "jordan.reyes@") if "meet your mentor" in str(m["Subject"])
    ]
    body = intro.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.startswith("Hello Jordan,")
    assert "Languages: English" in body and "Reply to this" in body
    assert str(intro["Reply-To"]) == "Dana Whitfield <coordinator@northlake.edu>"

    # Weekly check-ins, as the mentors would send them, then the ticks of the 16 weeks.
    survey = tmp_path / "survey.csv"
    for week in range(1, 17):
        now = START + timedelta(weeks=week - 1, days=3)
        rows = ["Timestamp,Email Address,week,met,minutes,partner_email"]
        for mentor, mentee in [
            ("maria.santos", "jordan.reyes"),
            ("maria.santos", "priya.n"),
            ("xiaolong.li", "sam.okafor"),
            ("kwame", "minjun.lee"),
        ]:
            rows.append(f"{now},{mentor}@northlake.edu,{week},yes,45,{mentee}@northlake.edu")
        survey.write_text("\n".join(rows) + "\n", encoding="utf-8")
        assert "4 added" in run(
            "checkin", "import", "Spring 2027", "survey.csv", "--now", f"{now}T16:00"
        )
        run("tick", "--now", f"{now + timedelta(days=4)}T16:00", "--delivery", delivery)
    run("tick", "--now", f"{START + timedelta(weeks=17)}T16:00", "--delivery", delivery)
    status = json.loads(
        run("cohort", "status", "Spring 2027", "--format", "json", "--now", "2027-06-01T12:00")
    )
    assert {(row["mentee_id"], row["state"], row["risk"] or "") for row in status} == {
        ("E01", "completed", ""),
        ("E02", "completed", ""),
        ("E04", "completed", ""),
        ("E05", "completed", ""),
    }
    thanks = [
        m for m in messages_to(outbox, "jordan.reyes@") if "thank" in str(m["Subject"]).lower()
    ]
    assert thanks, [str(m["Subject"]) for m in messages_to(outbox, "jordan.reyes@")]

    certified = run(
        "certify", "Spring 2027", "--issuer-name", "Northlake Research Mentoring",
        "--issuer-url", "https://mentoring.northlake.edu", "--now", "2027-06-01T12:00",
    )  # fmt: skip
    assert "Issued 3 new certificates (files in certificates); 0 already issued, 0 not " in (
        certified
    )
    run("keys", "export-jwks", "--out", "jwks.json")
    issued = sorted((tmp_path / "certificates").rglob("*.jwt"))
    assert len(issued) == 3  # Maria, 李小龙 and Kwame
    for certificate in issued:
        verified = run("verify", certificate, "--jwks", "jwks.json", "--now", "2027-06-02T12:00")
        assert verified.startswith("VALID: Certified Research Mentor for ")
    report = json.loads(run("report", "Spring 2027", "--format", "json"))
    assert report["funnel"][0]["count"] >= 4
