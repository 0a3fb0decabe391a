"""Storage tables (SQLModel, ``table=True``).

Table models do not validate on construction: rows are built only from validated input
models (see ``roster.py``). Every timestamp is an aware UTC datetime (:class:`UTCDateTime`).
List-valued profile fields are JSON arrays so that both SQLite and PostgreSQL store them
the same way.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from tandem.program.storage.db import UTCDateTime


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _utc(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Participant(SQLModel, table=True):
    """One person in one role (mentor or mentee), keyed by the id from their application.

    The same human may have a mentor row and a mentee row (same e-mail). Identity
    attributes are stored only when ``identity_consent`` is true.
    """

    __tablename__ = "participant"
    __table_args__ = (
        UniqueConstraint("role", "external_id", name="uq_participant_role_id"),
        UniqueConstraint("role", "email_key", name="uq_participant_role_email"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    role: str = Field(index=True, max_length=16)
    external_id: str = Field(max_length=128)
    name: str
    email: str
    email_key: str = Field(description="lower-cased e-mail, for uniqueness within a role")
    capacity: int | None = None
    career_stage: str | None = None
    institution: str | None = None
    department: str | None = None
    research_areas: list[str] = _json_list()
    research_interests: str = ""
    topics: list[str] = _json_list()
    timezone: str | None = None
    languages: list[str] = _json_list()
    meeting_modes: list[str] = _json_list()
    excluded: list[str] = _json_list()
    identity_consent: bool = False
    identity: list[str] = _json_list()
    identity_preferences: list[str] = _json_list()
    share: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """The fields the partner sees (see ``program/sharing.py``); None: the default."""
    display: dict[str, list[str]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    """Free-form lists as written in the application, where that differs from the stored."""
    custom: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    withdrawn_at: datetime | None = _utc(nullable=True)


class Application(SQLModel, table=True):
    """A participant's application to one cycle: the cycle's roster.

    Recorded by ``tandem import … --cycle NAME``. A cycle with applications in a role
    matches only the participants of that role who applied to it (see
    :func:`tandem.program.roster.store.load_profiles`).
    """

    __tablename__ = "application"
    __table_args__ = (UniqueConstraint("participant_pk", "cycle", name="uq_application"),)

    pk: int | None = Field(default=None, primary_key=True)
    participant_pk: int = Field(foreign_key="participant.pk", index=True)
    cycle: str = Field(index=True, max_length=100)
    applied_at: datetime = _utc()


class MatchRun(SQLModel, table=True):
    """One matching cycle's run: its inputs (by hash), config, result and optimality proof."""

    __tablename__ = "match_run"

    pk: int | None = Field(default=None, primary_key=True)
    cycle: str = Field(index=True)
    created_at: datetime = _utc()
    tandem_version: str
    method: str
    objective: str
    config_toml: str = Field(description="the configuration in force, as TOML")
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False),
        description="sha256 of each input: mentors, mentees, config, scores, preferences",
    )
    mentees_total: int
    matched: int
    total_score: float
    min_score: float | None = None
    blocking_pairs: int | None = None
    proof: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    unmatched: list[Any] = _json_list()
    """Unmatched mentees, each {mentee_id, reason}."""


class MatchPair(SQLModel, table=True):
    """One pair proposed by a match run."""

    __tablename__ = "match_pair"
    __table_args__ = (UniqueConstraint("run_pk", "mentee_id", name="uq_match_pair_mentee"),)

    pk: int | None = Field(default=None, primary_key=True)
    run_pk: int = Field(foreign_key="match_run.pk", index=True)
    mentee_id: str
    mentor_id: str
    score: float
    reasons: list[str] = _json_list()


class Cohort(SQLModel, table=True):
    """A guided program: pairs from one match run, one schedule, one curriculum."""

    __tablename__ = "cohort"

    pk: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    cycle: str
    match_run_pk: int = Field(foreign_key="match_run.pk")
    start_date: date
    weeks: int
    timezone: str
    send_weekday: int = Field(description="0 = Monday … 6 = Sunday")
    send_time: str = Field(description="HH:MM wall-clock time in the cohort's time zone")
    curriculum_dir: str | None = None
    confirmation: str = Field(default="opt_out", description="opt_out or require_both")
    response_days: int = 7
    reminder_days: int = 3
    grace_days: int = 2
    coordinator_email: str | None = None
    coordinator_name: str | None = None
    salutation: str = Field(default="Hello {name}", description="greeting; {name}: the name")
    address_by: str = Field(default="first_name", description="first_name or full_name")
    resources: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    """Local help named in messages (ombuds, research_integrity, counselling): how to reach it."""
    sender: str = "Tandem <tandem@localhost>"
    base_url: str = "http://localhost:8000"
    secret: str = Field(
        default="",
        description="empty: links are signed with keys kept outside the database "
        "(link_keys.py); cohorts of earlier versions kept their hex link key here",
    )
    created_at: datetime = _utc()
    completed_at: datetime | None = _utc(nullable=True)


class Pair(SQLModel, table=True):
    """A mentor and a mentee in a cohort, with their lifecycle state.

    States: proposed → active → completed; or declined, ended (early, with a reason),
    paused (no messages until resumed).
    """

    __tablename__ = "pair"
    __table_args__ = (UniqueConstraint("cohort_pk", "mentee_pk", "mentor_pk", name="uq_pair"),)

    pk: int | None = Field(default=None, primary_key=True)
    cohort_pk: int = Field(foreign_key="cohort.pk", index=True)
    mentee_pk: int = Field(foreign_key="participant.pk")
    mentor_pk: int = Field(foreign_key="participant.pk")
    score: float | None = None
    track: str
    state: str = Field(index=True)
    state_reason: str | None = None
    proposed_at: datetime = _utc()
    respond_by: datetime = _utc()
    mentor_response: str | None = None
    mentee_response: str | None = None
    activated_at: datetime | None = _utc(nullable=True)
    ended_at: datetime | None = _utc(nullable=True)
    first_week: int = Field(default=1, description="first curriculum week this pair receives")
    meeting_slot: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    risk: list[str] = _json_list()
    risk_since: datetime | None = _utc(nullable=True)


class PairEvent(SQLModel, table=True):
    """Audit trail of a pair's lifecycle: who changed what, when and why."""

    __tablename__ = "pair_event"

    pk: int | None = Field(default=None, primary_key=True)
    pair_pk: int = Field(foreign_key="pair.pk", index=True)
    at: datetime = _utc()
    from_state: str | None = None
    to_state: str
    actor: str
    reason: str | None = None


class OutboxMessage(SQLModel, table=True):
    """A message to deliver: first a row, then delivered; marked sent only after acceptance.

    ``key`` is unique on (pair, week, kind, recipient), so a second enqueue of the same
    message is a no-op however many processes try it.
    """

    __tablename__ = "outbox"

    pk: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    message_id: str = Field(description="derived from key (unique), so unique too; not indexed")
    cohort_pk: int = Field(foreign_key="cohort.pk", index=True)
    pair_pk: int | None = Field(default=None, foreign_key="pair.pk", index=True)
    week: int
    kind: str
    recipient_role: str
    recipient_email: str
    subject: str
    content: bytes = Field(
        description="the complete MIME message, compressed (see outbox.store.pack)"
    )
    status: str = Field(default="pending", index=True)
    """pending → sent; or failed (permanent), expired (late past the grace period)."""
    due_at: datetime = _utc()
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    claim: str | None = None
    claimed_until: datetime | None = _utc(nullable=True)
    last_error: str | None = None
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)


class CheckIn(SQLModel, table=True):
    """One person's check-in for one pair and week. ``note`` is for coordinators only."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("pair_pk", "week", "role", name="uq_checkin"),)

    pk: int | None = Field(default=None, primary_key=True)
    pair_pk: int = Field(foreign_key="pair.pk", index=True)
    week: int
    role: str
    met: bool
    minutes: int | None = None
    mode: str | None = None
    topic: str | None = None
    rating: int | None = None
    note: str | None = None
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str
    recorded_at: datetime = _utc()


class Certificate(SQLModel, table=True):
    """A mentor certificate issued for one cohort: the signed credential and its status."""

    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("cohort_pk", "mentor_pk", name="uq_certificate_mentor"),)

    pk: int | None = Field(default=None, primary_key=True)
    credential_id: str = Field(unique=True)
    cohort_pk: int = Field(foreign_key="cohort.pk", index=True)
    mentor_pk: int = Field(foreign_key="participant.pk")
    issued_at: datetime = _utc()
    kid: str
    token: str = Field(description="the VC-JWT")
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="issued")
    revoked_at: datetime | None = _utc(nullable=True)
    revoked_reason: str | None = None


class CertificationDecision(SQLModel, table=True):
    """A coordinator's manual grant or withholding of a mentor's certification."""

    __tablename__ = "certification_decision"
    __table_args__ = (UniqueConstraint("cohort_pk", "mentor_pk", name="uq_certification_decision"),)

    pk: int | None = Field(default=None, primary_key=True)
    cohort_pk: int = Field(foreign_key="cohort.pk")
    mentor_pk: int = Field(foreign_key="participant.pk")
    decision: str = Field(description="grant or withhold")
    reason: str
    actor: str
    at: datetime = _utc()


class AuditEntry(SQLModel, table=True):
    """Who did what to which certificate or pair, and when."""

    __tablename__ = "audit_log"

    pk: int | None = Field(default=None, primary_key=True)
    at: datetime = _utc()
    actor: str
    action: str
    subject: str
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Coordinator(SQLModel, table=True):
    """A person who may sign in to the web console. Only an Argon2 hash of the password."""

    __tablename__ = "coordinator"

    pk: int | None = Field(default=None, primary_key=True)
    email_key: str = Field(unique=True, description="lower-cased e-mail: the sign-in name")
    name: str
    password_hash: str
    created_at: datetime = _utc()
    disabled: bool = False


class WebSession(SQLModel, table=True):
    """A signed-in console session. The browser holds the token; only its hash is stored."""

    __tablename__ = "web_session"

    pk: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    coordinator_pk: int = Field(foreign_key="coordinator.pk", index=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class RateCounter(SQLModel, table=True):
    """Requests counted per key (a client, a link, a sign-in name) per fixed time window.

    Kept in the database so that every web process shares one count.
    """

    __tablename__ = "rate_counter"
    __table_args__ = (UniqueConstraint("key", "window_start", name="uq_rate_counter"),)

    pk: int | None = Field(default=None, primary_key=True)
    key: str
    window_start: datetime = _utc()
    count: int = 0


class WebSecret(SQLModel, table=True):
    """A named random key the web processes share (e.g. for CSRF tokens), made once."""

    __tablename__ = "web_secret"

    name: str = Field(primary_key=True)
    value: str = Field(description="hex")
    created_at: datetime = _utc()


class SurveyResponse(SQLModel, table=True):
    """One person's answers to one evaluation survey of a cohort (see ``prompts/surveys``).

    ``answers`` maps item ids (and ``<id>_before`` for retrospective ratings) to numbers,
    booleans or text. A mentee's response names the pair whose mentor they rated.
    """

    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("cohort_pk", "participant_pk", "survey", name="uq_survey_response"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    cohort_pk: int = Field(foreign_key="cohort.pk", index=True)
    participant_pk: int = Field(foreign_key="participant.pk")
    role: str
    survey: str
    pair_pk: int | None = Field(default=None, foreign_key="pair.pk")
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    source: str
    recorded_at: datetime = _utc()
