"""Revoking certificates and the signed revocation list verifiers read."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from tandem.program.certify import (
    CertificateStatus,
    audit_log,
    certify,
    export_revocations,
    load_rules,
    revoke_certificate,
    show_certificate,
)
from tandem.program.certify.credentials import VerificationOutcome, verify_credential
from tandem.program.certify.issuer_keys import KeyRing, export_jwks
from tandem.program.certify.revocations import read_revocations
from tandem.program.storage.tables import Certificate
from tests.program.certify.helpers import ISSUER, close, complete, count, start


def test_revoked_certificates_fail_verification_with_the_exported_list(
    engine: Engine, tmp_path: Path, keyring: KeyRing
) -> None:
    program = start(engine, tmp_path, pairs=1)
    complete(engine, program, "E001", range(1, 13))
    now = close(engine, program, tmp_path)
    report = certify(
        engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
    )
    (issued,) = report.issued
    info, changed = revoke_certificate(
        engine, issued.credential_id, reason="issued in error", actor="bob", now=now
    )
    assert changed and info.status is CertificateStatus.REVOKED
    _, again = revoke_certificate(
        engine, issued.credential_id, reason="twice", actor="bob", now=now
    )
    assert not again
    signed, revocations = export_revocations(engine, keyring, now=now, actor="bob")
    assert revocations.issuer_id == ISSUER.profile.id
    jwks = json.loads(export_jwks(keyring))
    listed = read_revocations(signed, jwks)
    token = show_certificate(engine, issued.credential_id)
    with Session(engine) as session:
        stored = session.exec(select(Certificate)).one()
    result = verify_credential(stored.token, jwks, listed, now)
    assert result.outcome is VerificationOutcome.REVOKED
    assert token.info.revoked_reason == "issued in error"
    assert [r.action for r in audit_log(engine)] == [
        "issue",
        "revoke",
        "export_revocations",
    ]
    # A revoked certificate is never issued again.
    rerun = certify(
        engine, program.name, load_rules(), now=now, actor="ada", issuer=ISSUER, keyring=keyring
    )
    assert rerun.issued == () and count(engine, Certificate) == 1
