"""A coordinator's grant (overriding unmet criteria) or withholding (blocking issuance),
recorded with its reason.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import select

from tandem.errors import quoted
from tandem.matcher.types import Role
from tandem.program.certify.audit import record_audit
from tandem.program.certify.errors import CertificationError
from tandem.program.certify.evaluation import Decision, first_pair_pk
from tandem.program.certify.vocabulary import AuditAction, CertificateStatus, DecisionKind
from tandem.program.cohorts import get_cohort
from tandem.program.storage.db import transaction
from tandem.program.storage.tables import Certificate, CertificationDecision, Participant

__all__ = [
    "DecisionResult",
    "decide",
]


class DecisionResult(BaseModel):
    """What :func:`decide` recorded, and anything the coordinator must still do."""

    model_config = ConfigDict(frozen=True)

    decision: Decision
    mentor_id: str
    replaced: DecisionKind | None = None
    warning: str | None = None


def decide(
    engine: Engine,
    cohort_name: str,
    mentor_id: str,
    decision: DecisionKind,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> DecisionResult:
    """Record a coordinator's grant or withholding for one mentor (replacing any earlier one).

    A grant makes the mentor eligible whatever the criteria say; a withholding blocks
    issuance. Both are recorded in the audit log with the reason. Withholding does not
    revoke a certificate already issued (the result's ``warning`` says so).

    Raises :class:`CertificationError` without a reason or for a mentor with no pair in
    the cohort.
    """
    reason = reason.strip()
    if not reason:
        raise CertificationError(f"give a reason to {decision.value} a certificate (--reason)")
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        mentor = session.exec(
            select(Participant).where(
                Participant.role == Role.MENTOR.value, Participant.external_id == mentor_id
            )
        ).first()
        if mentor is None or first_pair_pk(session, cohort, mentor.pk or 0) is None:
            raise CertificationError(
                f'no mentor with id {quoted(mentor_id)} has a pair in cohort "{cohort.name}"; '
                "see the mentor ids with `tandem certify COHORT --dry-run`"
            )
        row = session.exec(
            select(CertificationDecision).where(
                CertificationDecision.cohort_pk == cohort.pk,
                CertificationDecision.mentor_pk == mentor.pk,
            )
        ).first()
        replaced = DecisionKind(row.decision) if row is not None else None
        if row is None:
            row = CertificationDecision(
                cohort_pk=cohort.pk or 0, mentor_pk=mentor.pk or 0, decision="", reason="", actor=""
            )
        row.decision, row.reason, row.actor, row.at = decision.value, reason, actor, now
        session.add(row)
        record_audit(
            session,
            now,
            actor,
            AuditAction(decision.value),
            f"{cohort.name}/{mentor_id}",
            {
                "cohort": cohort.name,
                "mentor_id": mentor_id,
                "reason": reason,
                "replaced": replaced.value if replaced else None,
            },
        )
        warning = None
        issued = session.exec(
            select(Certificate).where(
                Certificate.cohort_pk == cohort.pk, Certificate.mentor_pk == mentor.pk
            )
        ).first()
        if (
            decision is DecisionKind.WITHHOLD
            and issued is not None
            and issued.status == CertificateStatus.ISSUED.value
        ):
            warning = (
                f"certificate {issued.credential_id} was already issued; withholding does "
                "not revoke it: run `tandem certs revoke ID --reason ...`"
            )
        return DecisionResult(
            decision=Decision(decision=decision, reason=reason, actor=actor, at=now),
            mentor_id=mentor_id,
            replaced=replaced,
            warning=warning,
        )
