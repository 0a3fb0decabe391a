"""Issued certificates: listing, showing, revoking, and the signed revocation list."""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.certify.audit import record_audit
from tandem.program.certify.errors import CertificationError
from tandem.program.certify.issuer_keys import KeyRing
from tandem.program.certify.revocations import Revocation, RevocationList, sign_revocations
from tandem.program.certify.vocabulary import AuditAction, CertificateStatus
from tandem.program.cohorts import get_cohort
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Certificate, Cohort, Participant

__all__ = [
    "CertificateDetail",
    "CertificateInfo",
    "export_revocations",
    "list_certificates",
    "revoke_certificate",
    "show_certificate",
]


class CertificateInfo(BaseModel):
    """One stored certificate, for listing and showing."""

    model_config = ConfigDict(frozen=True)

    credential_id: str
    cohort: str
    mentor_id: str
    mentor: str
    issued_at: datetime
    kid: str
    status: CertificateStatus
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    def as_row(self) -> dict[str, object]:
        return {
            "credential_id": self.credential_id,
            "cohort": self.cohort,
            "mentor_id": self.mentor_id,
            "mentor": self.mentor,
            "issued": self.issued_at.date().isoformat(),
            "status": self.status.value,
            "revoked": self.revoked_at.date().isoformat() if self.revoked_at else None,
            "reason": self.revoked_reason,
            "kid": self.kid,
        }


def _info(session: Session, row: Certificate) -> CertificateInfo:
    cohort = session.get(Cohort, row.cohort_pk)
    mentor = session.get(Participant, row.mentor_pk)
    assert cohort is not None and mentor is not None
    return CertificateInfo(
        credential_id=row.credential_id,
        cohort=cohort.name,
        mentor_id=mentor.external_id,
        mentor=mentor.name,
        issued_at=row.issued_at,
        kid=row.kid,
        status=CertificateStatus(row.status),
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


def list_certificates(engine: Engine, cohort_name: str | None = None) -> list[CertificateInfo]:
    """Stored certificates (of one cohort, or all), by cohort then mentor id."""
    with Session(engine) as session:
        query = select(Certificate)
        if cohort_name is not None:
            query = query.where(Certificate.cohort_pk == get_cohort(session, cohort_name).pk)
        infos = [_info(session, row) for row in session.exec(query).all()]
    return sorted(infos, key=lambda i: (i.cohort, i.mentor_id, i.credential_id))


def _normalise_id(credential_id: str) -> str:
    text = credential_id.strip().removesuffix(".jwt").removeprefix("urn:uuid:")
    try:
        return f"urn:uuid:{uuid.UUID(text)}"
    except ValueError:
        raise CertificationError(
            f"{credential_id!r} is not a certificate id; use the urn:uuid:… id that "
            "`tandem certs list` shows"
        ) from None


def _find(session: Session, credential_id: str) -> Certificate:
    wanted = _normalise_id(credential_id)
    row = session.exec(select(Certificate).where(Certificate.credential_id == wanted)).first()
    if row is None:
        raise CertificationError(
            f"no certificate {wanted} in this database; see `tandem certs list`"
        )
    return row


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(data, dict)
    return data


class CertificateDetail(BaseModel):
    """A stored certificate with its credential (the signed JSON content)."""

    model_config = ConfigDict(frozen=True)

    info: CertificateInfo
    credential: dict[str, Any]
    evidence: dict[str, Any]


def show_certificate(engine: Engine, credential_id: str) -> CertificateDetail:
    """One stored certificate: status and credential. Raises CertificationError if unknown."""
    with Session(engine) as session:
        row = _find(session, credential_id)
        return CertificateDetail(
            info=_info(session, row), credential=_payload(row.token), evidence=dict(row.evidence)
        )


def revoke_certificate(
    engine: Engine, credential_id: str, *, reason: str, actor: str, now: datetime
) -> tuple[CertificateInfo, bool]:
    """Revoke a certificate with a reason; returns it and whether this call revoked it.

    Revoking a revoked certificate changes nothing. Verifiers learn of revocations from the
    list :func:`export_revocations` signs. Raises CertificationError without a reason.
    """
    reason = reason.strip()
    if not reason:
        raise CertificationError("give a reason to revoke a certificate (--reason)")
    with transaction(engine) as session:
        row = _find(session, credential_id)
        if row.status == CertificateStatus.REVOKED.value:
            return _info(session, row), False
        row.status = CertificateStatus.REVOKED.value
        row.revoked_at = now
        row.revoked_reason = reason
        session.add(row)
        info = _info(session, row)
        record_audit(
            session,
            now,
            actor,
            AuditAction.REVOKE,
            row.credential_id,
            {"cohort": info.cohort, "mentor_id": info.mentor_id, "reason": reason},
        )
        return info, True


def export_revocations(
    engine: Engine,
    keyring: KeyRing,
    *,
    now: datetime,
    actor: str,
    issuer_id: str | None = None,
) -> tuple[str, RevocationList]:
    """The signed revocation list of every revoked certificate of the issuer.

    The issuer is ``issuer_id``, or the one issuer of the stored certificates. Raises
    CertificationError when that is ambiguous or unknown.
    """
    with transaction(engine) as session:
        rows = session.exec(select(Certificate).order_by(col(Certificate.credential_id))).all()
        by_issuer: dict[str, list[Certificate]] = defaultdict(list)
        for row in rows:
            by_issuer[str(_payload(row.token)["iss"])].append(row)
        if issuer_id is None:
            if len(by_issuer) != 1:
                known = ", ".join(sorted(by_issuer)) or "none: no certificate was issued yet"
                raise CertificationError(
                    f"name the issuer of the revocation list with --issuer-id (issuers in "
                    f"this database: {known})"
                )
            issuer_id = next(iter(by_issuer))
        revocations = RevocationList(
            issuer_id=issuer_id,
            issued_at=now,
            entries=tuple(
                Revocation(
                    credential_id=row.credential_id,
                    reason=row.revoked_reason or "revoked",
                    revoked_at=row.revoked_at or now,
                )
                for row in by_issuer.get(issuer_id, [])
                if row.status == CertificateStatus.REVOKED.value
            ),
        )
        token = sign_revocations(revocations, keyring, now)
        record_audit(
            session,
            now,
            actor,
            AuditAction.EXPORT_REVOCATIONS,
            issuer_id,
            {"revoked": len(revocations.entries), "kid": keyring.active_kid},
        )
    return token, revocations
