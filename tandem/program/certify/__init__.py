"""Mentor certification: rules as data, evaluation, issuance once, overrides, revocation.

A mentor is certified once per cohort. The rules (:class:`CertificationRules`, read from a
TOML file; the default ships as ``certification_rules.toml``) are a list of criteria of
named kinds, each registered in :data:`CRITERIA`; a pair meets the rules when it meets
every criterion, and a mentor when, by ``mentor_rule``, at least one (``any_pair``) or
every (``all_pairs``) pair of theirs that ran does. Declined pairs never ran and are not
evaluated. Each pair is evaluated from its own first week, so a rematched pair is
measured over the weeks it was in the program.

A coordinator can grant (overriding unmet criteria) or withhold (blocking issuance) by
hand, with a reason (:func:`decide`). :func:`certify` evaluates every mentor and issues
each eligible mentor's certificate exactly once (see :mod:`.issuing`). Every issue,
revocation, grant and withhold is recorded in the audit log.

What reaches a credential: the cohort, the program dates and the weeks met. Check-in notes
are never read here; identity attributes never leave the roster.

The modules, each importable on its own:

- ``errors``: :class:`CertificationError` and :class:`RulesError`;
- ``vocabulary``: the closed vocabularies (mentor rule, decision kind, status, …);
- ``histories``: what the criteria read about one pair;
- ``criteria``: the criterion kinds and their registry;
- ``rules``: the rules model, :func:`parse_rules` and :func:`load_rules`;
- ``evaluation``: pairs, mentors and cohorts against the rules;
- ``issuing``: issuer settings and :func:`certify`;
- ``decisions``: a coordinator's grant or withholding;
- ``registry``: listing, showing and revoking certificates, the revocation list;
- ``audit``: the audit log;
- ``credentials``, ``document``, ``issuer_keys``, ``key_names``, ``revocations``: the signed
  credential, its HTML and PDF pages, the issuer's keys and the revocation list.

The names below are the package's public surface, loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.program.certify.audit import (
        AuditRecord,
        audit_log,
    )
    from tandem.program.certify.criteria import (
        CRITERIA,
        ActiveThroughFinalWeek,
        ClosingCheckin,
        Criterion,
        EvidenceCriterion,
        MinMeetingWeeks,
        NotEndedEarly,
        register_criterion,
    )
    from tandem.program.certify.decisions import (
        DecisionResult,
        decide,
    )
    from tandem.program.certify.errors import (
        CertificationError,
        RulesError,
    )
    from tandem.program.certify.evaluation import (
        CertificateRef,
        CohortEvaluation,
        Decision,
        MentorEvaluation,
        PairEvaluation,
        evaluate_cohort,
        evaluate_mentor,
        evaluate_pair,
    )
    from tandem.program.certify.histories import (
        CheckinRecord,
        CriterionResult,
        PairHistory,
    )
    from tandem.program.certify.issuing import (
        CertifyReport,
        FailedCertificate,
        IssuedCertificate,
        IssuerSettings,
        certify,
        credential_id_for,
        issuer_settings,
    )
    from tandem.program.certify.registry import (
        CertificateDetail,
        CertificateInfo,
        export_revocations,
        list_certificates,
        revoke_certificate,
        show_certificate,
    )
    from tandem.program.certify.rules import (
        DEFAULT_RULES,
        CertificateText,
        CertificationRules,
        MessageText,
        load_rules,
        parse_rules,
    )
    from tandem.program.certify.vocabulary import (
        AuditAction,
        CertificateStatus,
        DecisionKind,
        EvidenceRole,
        EvidenceSource,
        MeetingCountsWhen,
        MentorRule,
    )

__all__ = [
    "CRITERIA",
    "DEFAULT_RULES",
    "ActiveThroughFinalWeek",
    "AuditAction",
    "AuditRecord",
    "CertificateDetail",
    "CertificateInfo",
    "CertificateRef",
    "CertificateStatus",
    "CertificateText",
    "CertificationError",
    "CertificationRules",
    "CertifyReport",
    "CheckinRecord",
    "ClosingCheckin",
    "CohortEvaluation",
    "Criterion",
    "CriterionResult",
    "Decision",
    "DecisionKind",
    "DecisionResult",
    "EvidenceCriterion",
    "EvidenceRole",
    "EvidenceSource",
    "FailedCertificate",
    "IssuedCertificate",
    "IssuerSettings",
    "MeetingCountsWhen",
    "MentorEvaluation",
    "MentorRule",
    "MessageText",
    "MinMeetingWeeks",
    "NotEndedEarly",
    "PairEvaluation",
    "PairHistory",
    "RulesError",
    "audit_log",
    "certify",
    "credential_id_for",
    "decide",
    "evaluate_cohort",
    "evaluate_mentor",
    "evaluate_pair",
    "export_revocations",
    "issuer_settings",
    "list_certificates",
    "load_rules",
    "parse_rules",
    "register_criterion",
    "revoke_certificate",
    "show_certificate",
]

_MODULE_OF = {
    "CRITERIA": "criteria",
    "DEFAULT_RULES": "rules",
    "ActiveThroughFinalWeek": "criteria",
    "AuditAction": "vocabulary",
    "AuditRecord": "audit",
    "CertificateDetail": "registry",
    "CertificateInfo": "registry",
    "CertificateRef": "evaluation",
    "CertificateStatus": "vocabulary",
    "CertificateText": "rules",
    "CertificationError": "errors",
    "CertificationRules": "rules",
    "CertifyReport": "issuing",
    "CheckinRecord": "histories",
    "ClosingCheckin": "criteria",
    "CohortEvaluation": "evaluation",
    "Criterion": "criteria",
    "CriterionResult": "histories",
    "Decision": "evaluation",
    "DecisionKind": "vocabulary",
    "DecisionResult": "decisions",
    "EvidenceCriterion": "criteria",
    "EvidenceRole": "vocabulary",
    "EvidenceSource": "vocabulary",
    "FailedCertificate": "issuing",
    "IssuedCertificate": "issuing",
    "IssuerSettings": "issuing",
    "MeetingCountsWhen": "vocabulary",
    "MentorEvaluation": "evaluation",
    "MentorRule": "vocabulary",
    "MessageText": "rules",
    "MinMeetingWeeks": "criteria",
    "NotEndedEarly": "criteria",
    "PairEvaluation": "evaluation",
    "PairHistory": "histories",
    "RulesError": "errors",
    "audit_log": "audit",
    "certify": "issuing",
    "credential_id_for": "issuing",
    "decide": "decisions",
    "evaluate_cohort": "evaluation",
    "evaluate_mentor": "evaluation",
    "evaluate_pair": "evaluation",
    "export_revocations": "registry",
    "issuer_settings": "issuing",
    "list_certificates": "registry",
    "load_rules": "rules",
    "parse_rules": "rules",
    "register_criterion": "criteria",
    "revoke_certificate": "registry",
    "show_certificate": "registry",
}
"""Where each public name is defined."""


def __getattr__(name: str) -> Any:
    # Evaluation and issuing pull in SQLModel, cryptography and the PDF renderer: load them
    # on first use, so that importing a light module such as ``key_names`` (every command
    # module does) stays fast.
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'tandem.program.certify' has no attribute {name!r}")
    return getattr(import_module(f"tandem.program.certify.{module}"), name)
