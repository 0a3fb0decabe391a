"""Issuing certificates once: the stored credential, the message, the files, a dry run."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.certify import (
    CertificationError,
    certify,
    credential_id_for,
    issuer_settings,
    load_rules,
    show_certificate,
)
from tandem.program.certify.credentials import VerificationOutcome, verify_credential
from tandem.program.certify.issuer_keys import KeyRing, export_jwks
from tandem.program.outbox.channels import FileOutbox
from tandem.program.outbox.store import unpack
from tandem.program.storage.tables import AuditEntry, Certificate, OutboxMessage
from tests.program.certify.helpers import ISSUER, close, closing, complete, count, met, start
from tests.program.helpers import outbox, run_due


def test_certify_issues_once_queues_the_message_and_writes_files(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    complete(engine, program, "E002", range(1, 5))
    now = close(engine, program, tmp_path)
    out = tmp_path / "certificates"
    first = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=out,
    )
    assert [c.mentor_id for c in first.issued] == ["M001"]
    (issued,) = first.issued
    stem = issued.credential_id.removeprefix("urn:uuid:")
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.html", f"{stem}.jwt", f"{stem}.pdf"]
    assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    assert first.lines()[0] == (
        f"Issued 1 new certificate (files in {out}); 0 already issued, 1 not eligible."
    )

    again = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=out,
    )
    assert again.issued == ()
    assert again.lines() == ["No new certificates: 1 already issued, 1 not eligible."]
    assert count(engine, Certificate) == 1
    assert [(m.kind, m.status) for m in outbox(engine, kind="certificate")] == [
        ("certificate", "pending")
    ]

    # The next tick delivers it, with the PDF and the signed credential attached.
    report = run_due(engine, now, FileOutbox(tmp_path / "delivered"))
    assert report.delivered == 1
    (message,) = outbox(engine, kind="certificate")
    parsed = email.message_from_bytes(unpack(message.content), policy=email.policy.default)
    assert parsed["To"] == "Mentor 1 <mentor1@uni.edu>"
    assert parsed["Subject"] == "Your certificate: Certified Research Mentor (Fall 2026)"
    attachments = {
        part.get_filename(): part.get_content_type() for part in parsed.iter_attachments()
    }
    assert attachments == {f"{stem}.pdf": "application/pdf", f"{stem}.jwt": "application/vc+jwt"}

    with Session(engine) as session:
        audit = session.exec(select(AuditEntry)).all()
    assert [(a.actor, a.action, a.subject) for a in audit] == [
        ("ada", "issue", issued.credential_id)
    ]


def test_the_certificate_verifies_offline_and_holds_no_notes(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=1)
    met(engine, program, "E001", range(1, 13), note="confidential: mentee is job hunting")
    closing(engine, program, "E001")
    now = close(engine, program, tmp_path)
    report = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        issuer=ISSUER,
        keyring=keyring,
        out_dir=tmp_path / "out",
    )
    (issued,) = report.issued
    token = (tmp_path / "out" / f"{issued.credential_id.removeprefix('urn:uuid:')}.jwt").read_text()
    jwks = json.loads(export_jwks(keyring))
    result = verify_credential(token, jwks, None, now)
    assert result.outcome is VerificationOutcome.VALID
    assert (result.credential_id, result.mentor_name) == (issued.credential_id, "Mentor 1")
    assert issued.credential_id == credential_id_for(ISSUER.profile.id, "Fall 2026", "M001")
    detail = show_certificate(engine, issued.credential_id)
    subject = detail.credential["credentialSubject"]
    assert subject["achievement"]["criteria"]["narrative"] == load_rules().narrative()
    assert detail.credential["evidence"][0]["narrative"] == (
        "Met with their mentee in 12 of 16 program weeks between 2026-09-07 and 2026-12-27."
    )
    everything = json.dumps(detail.model_dump(mode="json"))
    assert "confidential" not in everything and "mentor1@uni.edu" not in everything


def test_a_dry_run_stores_nothing(engine: Engine, tmp_path: Path) -> None:
    program = start(engine, tmp_path, pairs=2)
    complete(engine, program, "E001", range(1, 13))
    now = close(engine, program, tmp_path)
    before = (count(engine, OutboxMessage), count(engine, AuditEntry))
    report = certify(
        engine,
        program.name,
        load_rules(),
        now=now,
        actor="ada",
        dry_run=True,
        out_dir=tmp_path / "out",
    )
    assert report.would_issue == ("M001",)
    assert report.lines() == [
        "Dry run: 1 certificate would be issued; 0 already issued, 1 not eligible. "
        "Nothing was stored."
    ]
    assert count(engine, Certificate) == 0
    assert (count(engine, OutboxMessage), count(engine, AuditEntry)) == before
    assert not (tmp_path / "out").exists()
    with pytest.raises(CertificationError, match="needs the issuer settings"):
        certify(engine, program.name, load_rules(), now=now, actor="ada")


def test_issuer_settings_say_which_option_is_missing() -> None:
    with pytest.raises(CertificationError, match="--issuer-name or TANDEM_ISSUER_NAME"):
        issuer_settings(name=None, url="https://x.example")
    with pytest.raises(CertificationError, match="--issuer-url or TANDEM_ISSUER_URL"):
        issuer_settings(name="X", url="")
    with pytest.raises(CertificationError, match="is not a web address: give --issuer-url"):
        issuer_settings(name="X", url="mentoring.example.edu")
