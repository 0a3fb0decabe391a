"""The closed vocabularies of certification rules, decisions, certificates and the audit log."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AuditAction",
    "CertificateStatus",
    "DecisionKind",
    "EvidenceRole",
    "EvidenceSource",
    "MeetingCountsWhen",
    "MentorRule",
]


class MentorRule(StrEnum):
    """Which of a mentor's pairs must meet every criterion."""

    ANY_PAIR = "any_pair"
    ALL_PAIRS = "all_pairs"

    @property
    def description(self) -> str:
        """The rule as people read it."""
        if self is MentorRule.ANY_PAIR:
            return "one of the mentor's pairs meets every criterion"
        return "every pair of the mentor meets every criterion"


class MeetingCountsWhen(StrEnum):
    """When a week counts as a meeting week: either person's check-in says so, or both."""

    EITHER = "either"
    BOTH = "both"


class EvidenceSource(StrEnum):
    """Where an ``evidence`` criterion looks."""

    CHECKIN_ANSWER = "checkin_answer"
    """An answer stored with a check-in (``key``: the answer's id)."""
    SURVEY_RESPONSE = "survey_response"
    """A recorded response to an evaluation survey (``key``: baseline, closing or followup),
    from the survey page or ``tandem survey import``."""


class EvidenceRole(StrEnum):
    """Whose check-in (or survey response) an ``evidence`` criterion reads."""

    MENTOR = "mentor"
    MENTEE = "mentee"
    EITHER = "either"


class DecisionKind(StrEnum):
    """A coordinator's manual decision."""

    GRANT = "grant"
    WITHHOLD = "withhold"


class CertificateStatus(StrEnum):
    """A stored certificate's state; revoking is final."""

    ISSUED = "issued"
    REVOKED = "revoked"


class AuditAction(StrEnum):
    """What an audit log entry records."""

    ISSUE = "issue"
    ISSUE_FAILED = "issue_failed"
    """A certificate could not be produced (the reason is recorded; nothing was issued)."""
    REVOKE = "revoke"
    GRANT = "grant"
    WITHHOLD = "withhold"
    EXPORT_REVOCATIONS = "export_revocations"
    EXPORT_PERSON = "export_person"
    ERASE_PERSON = "erase_person"
    WITHDRAW_CONSENT = "withdraw_consent"
    WITHDRAW = "withdraw"
    """A participant withdrawn from the program (see ``program/withdrawal.py``)."""
    COHORT_SETTINGS = "cohort_settings"
    """A running cohort's messaging settings changed (``tandem cohort set``; the details name
    the settings, with old and new values only where they name no person)."""
