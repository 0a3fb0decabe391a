"""The closed vocabularies that Tandem's tables hold, as string enums.

The columns stay plain strings (no schema change): a :class:`~enum.StrEnum` member is a
``str``, so it compares equal to the stored value and is stored as that value. Read a
column back into its enum (``PairState(pair.state)``) where the member's identity matters.
"""

from __future__ import annotations

from enum import StrEnum


class PairState(StrEnum):
    """``pairs.state`` (and ``pair_events.from_state``/``to_state``); see ``pairs.py``."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    DECLINED = "declined"
    ENDED = "ended"


class Confirmation(StrEnum):
    """``cohorts.confirmation``: how a proposed pair becomes active."""

    OPT_OUT = "opt_out"
    REQUIRE_BOTH = "require_both"


class MatchResponse(StrEnum):
    """``pairs.mentor_response`` and ``pairs.mentee_response`` (``NULL``: no answer yet)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class MessageKind(StrEnum):
    """``outbox.kind``: what a message is."""

    INTRO = "intro"
    WEEKLY = "weekly"
    REMINDER = "reminder"
    DIGEST = "digest"
    CERTIFICATE = "certificate"
    CLOSING = "closing"
    """The thank-you after the program (mentees: with their completion letter)."""
    SURVEY = "survey"
    """An invitation to an evaluation survey (the baseline, the follow-up), with the
    person's own link; the closing survey's is the final week's message."""
    SURVEY_REMINDER = "survey_reminder"
    """The one reminder of a survey to someone who has not answered it."""


class RecipientRole(StrEnum):
    """``outbox.recipient_role``: whom a message is for (the last part of its key)."""

    MENTOR = "mentor"
    MENTEE = "mentee"
    COORDINATOR = "coordinator"


class OutboxStatus(StrEnum):
    """``outbox.status``: a message's delivery state.

    ``pending`` until the channel accepted it (``sent``), it was refused for good or
    retried past the limit (``failed``), or a weekly message was later than the grace
    period and is listed in the pair's next message instead (``expired``).
    """

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"


class CheckinRole(StrEnum):
    """``checkins.role``: who answered a weekly check-in (and whose check-in a token records)."""

    MENTOR = "mentor"
    MENTEE = "mentee"


class AddressBy(StrEnum):
    """``cohort.address_by``: which name a cohort's messages call people by."""

    FIRST_NAME = "first_name"
    FULL_NAME = "full_name"


class ResponseSource(StrEnum):
    """``survey_response.source``: how a survey response was last recorded."""

    IMPORT = "import"
    """``tandem survey import``: a survey tool's export."""
    LINK = "link"
    """The survey page that a person's signed link opens."""
