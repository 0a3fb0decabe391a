"""Storage tables (SQLModel, ``table=True``).

Table models do not validate on construction: rows are built only from validated input
models (see ``roster.py``). Every timestamp is an aware UTC datetime (:class:`UTCDateTime`).
List-valued profile fields are JSON arrays so that both SQLite and PostgreSQL store them
the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from tandem.program.db import UTCDateTime


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
    custom: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
