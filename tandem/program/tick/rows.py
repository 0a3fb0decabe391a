"""The plain values a tick's steps pass around: pairs as read, people, a chunk's plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_

from tandem.program.storage.tables import Pair

PAIRS: Any = Pair.__table__  # type: ignore[attr-defined]  # Core statements


@dataclass(frozen=True, slots=True)
class PairRow:
    """A pair as the per-chunk work reads it: the row's values, no ORM bookkeeping."""

    pk: int
    cohort_pk: int
    mentee_pk: int
    mentor_pk: int
    score: float | None
    track: str
    state: str
    state_reason: str | None
    proposed_at: datetime
    respond_by: datetime
    mentor_response: str | None
    mentee_response: str | None
    activated_at: datetime | None
    ended_at: datetime | None
    first_week: int
    meeting_slot: dict[str, Any] | None
    risk: list[str]
    risk_since: datetime | None


@dataclass(frozen=True)
class Person:
    """A pair's member as messages address them."""

    pk: int
    name: str
    email: str
    called: str = ""
    """The name messages call them by ("": their name; see ``program/voice.py``)."""
    external_id: str = ""
    """Their id in the roster (what the file outbox names their messages by)."""
    withdrawn: bool = False
    """Whether they have withdrawn from the program (they are sent no survey)."""

    @property
    def addressed(self) -> str:
        return self.called or self.name


@dataclass
class Plan:
    """What a chunk will write, gathered while reading and rendering."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    risk: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    expire: list[int] = field(default_factory=list)
    """Outbox rows (pks) found pending and late past the grace period."""
    reopened: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """Pairs introduced late, with their fresh response window (proposed_at, respond_by)."""


def span(column: Any, pks: Sequence[int]) -> Any:
    """``column`` between the least and the greatest of ``pks``: a chunk's pairs are
    consecutive in the cohort, so this selects them (and possibly pairs of other cohorts
    in between, which callers ignore or exclude) without one parameter per pair."""
    return and_(column >= min(pks), column <= max(pks))
