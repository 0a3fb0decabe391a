"""The audit log: every issue, revocation, grant, withholding and revocation export."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from tandem.program.certify.vocabulary import AuditAction
from tandem.program.cohorts import get_cohort
from tandem.program.storage.tables import AuditEntry

__all__ = [
    "AuditRecord",
    "audit_log",
    "record_audit",
]


def record_audit(
    session: Session,
    now: datetime,
    actor: str,
    action: AuditAction,
    subject: str,
    details: dict[str, Any],
) -> None:
    """Add one entry to the audit log in ``session`` (committed with the change it records)."""
    session.add(
        AuditEntry(at=now, actor=actor, action=action.value, subject=subject, details=details)
    )


class AuditRecord(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]

    def as_row(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(timespec="seconds"),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": json.dumps(self.details, sort_keys=True),
        }


def audit_log(engine: Engine, cohort_name: str | None = None) -> list[AuditRecord]:
    """Audit entries in the order they were made (of one cohort's certificates, or all)."""
    with Session(engine) as session:
        if cohort_name is not None:
            get_cohort(session, cohort_name)
        rows = session.exec(select(AuditEntry).order_by(col(AuditEntry.at), col(AuditEntry.pk)))
        records = [
            AuditRecord(
                at=r.at, actor=r.actor, action=r.action, subject=r.subject, details=r.details
            )
            for r in rows.all()
        ]
    if cohort_name is None:
        return records
    return [r for r in records if r.details.get("cohort") == cohort_name]
