"""One mentor's unusual name never blocks the cohort; every script prints on the PDF."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tandem.program.certify import audit_log, certify, load_rules
from tandem.program.certify.issuer_keys import KeyRing
from tandem.program.certify.issuing import CertifyReport
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Participant
from tests.conftest import Tandem
from tests.program.certify.helpers import ISSUER, close, complete, start

LONG = "A" * 5000


def rename(engine: Engine, mentor_id: str, name: str) -> None:
    """A name as stored before roster import limited its length (import refuses it now)."""
    with transaction(engine) as session:
        row = session.exec(select(Participant).where(Participant.external_id == mentor_id)).one()
        row.name = name
        session.add(row)


def finished_cohort(engine: Engine, tmp_path: Path, pairs: int) -> str:
    program = start(engine, tmp_path, pairs=pairs)
    for n in range(1, pairs + 1):
        complete(engine, program, f"E{n:03d}", range(1, 13))
    return close(engine, program, tmp_path).isoformat()


def test_a_5000_character_name_blocks_no_one_and_is_reported(
    tandem: Tandem, engine: Engine, db_url: str, tmp_path: Path, keyring: KeyRing
) -> None:
    now = finished_cohort(engine, tmp_path, pairs=3)
    rename(engine, "M002", LONG)
    rename(engine, "M003", "李小龙")
    issue = [
        "--db",
        db_url,
        "certify",
        "Fall 2026",
        "--keys",
        str(tmp_path / "keys.json"),
        "--out",
        str(tmp_path / "certs"),
        "--issuer-name",
        "Example Mentoring",
        "--issuer-url",
        "https://mentoring.example.edu",
        "--now",
        now,
        "--format",
        "json",
        "--actor",
        "ada",
    ]
    first = tandem.invoke(issue)
    assert first.exit_code == 1, first.output
    rows = {r["mentor_id"]: r["certificate"] for r in json.loads(first.stdout)}
    assert rows["M002"] == "not issued: could not be produced"
    assert rows["M001"].startswith("issued now urn:uuid:")
    assert rows["M003"].startswith("issued now urn:uuid:")
    lines = first.stderr.splitlines()
    assert lines[0].startswith("Issued 2 new certificates")
    assert lines[2].startswith("Not issued: the certificate of M002 could not be produced: ")
    assert lines[2].endswith(
        ": the mentor's name has 5,000 characters, more than a certificate can show (300); "
        "shorten it in the roster and import it again"
    )
    assert lines[3] == (
        "1 certificate not issued (recorded in the audit log); fix each and run "
        "`tandem certify` again."
    )
    assert LONG not in first.stderr
    entries = [(r.action, r.details.get("mentor_id")) for r in audit_log(engine, "Fall 2026")]
    assert sorted(entries) == [("issue", "M001"), ("issue", "M003"), ("issue_failed", "M002")]
    assert all(LONG not in json.dumps(r.details) for r in audit_log(engine))

    rename(engine, "M002", "Grace Hopper")  # fixed in the roster: the next run issues it
    second = tandem.invoke(issue)
    assert second.exit_code == 0, second.output
    assert second.stderr.startswith("Issued 1 new certificate")
    assert len(list((tmp_path / "certs").glob("*.pdf"))) == 3


def certify_all(engine: Engine, now: str, keyring: KeyRing, tmp_path: Path) -> CertifyReport:
    return certify(
        engine,
        "Fall 2026",
        load_rules(),
        now=datetime.fromisoformat(now),
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=tmp_path / "certs",
    )


NAMES = {
    "M001": "李小龙",
    "M002": "山田太郎",
    "M003": "محمد عبد الله",
    "M004": "Анна Павлова",
    "M005": "Αλέξανδρος",
}


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is not installed")
def test_certified_pdfs_print_every_script(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    now = finished_cohort(engine, tmp_path, pairs=len(NAMES))
    for mentor_id, name in NAMES.items():
        rename(engine, mentor_id, name)
    report = certify_all(engine, now, keyring, tmp_path)
    assert report.failed == ()
    for issued in report.issued:
        pdf = next(f for f in issued.files if f.suffix == ".pdf")
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
        ).stdout.decode("utf-8")
        letters = " ".join(text.translate(dict.fromkeys(range(0x202A, 0x202F))).split())
        assert f"This certifies that {NAMES[issued.mentor_id]} has earned" in letters
        html = next(f for f in issued.files if f.suffix == ".html").read_text("utf-8")
        assert NAMES[issued.mentor_id] in html


def test_a_stored_name_with_control_characters_is_certified_without_them(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    """Names stored before import refused control characters: the certificate (and its
    signed credential) carry the name without them, never a right-to-left override."""
    now = finished_cohort(engine, tmp_path, pairs=1)
    rename(engine, "M001", "Zed\u202eX Mentor\nSubject: pwned")
    report = certify_all(engine, now, keyring, tmp_path)
    [issued] = report.issued
    jwt = next(f for f in issued.files if f.suffix == ".jwt").read_text("ascii")
    payload = base64.urlsafe_b64decode(jwt.split(".")[1] + "==").decode("utf-8")
    [name] = [
        i["identityHash"]
        for i in json.loads(payload)["credentialSubject"]["identifier"]
        if i["identityType"] == "name"
    ]
    assert name == "ZedX Mentor Subject: pwned"
    for text in (payload, *(f.read_text("utf-8") for f in issued.files if f.suffix == ".html")):
        assert "\u202e" not in text and "Mentor\nSubject" not in text
    html = next(f for f in issued.files if f.suffix == ".html").read_text("utf-8")
    assert "ZedX Mentor Subject: pwned" in html
