"""What the criteria read about a pair: its states, weeks, check-ins and survey responses.

:mod:`.evaluation` gathers these once from the program's records. Check-in notes never
reach these models, nor survey answers: certification does not read them (it reads only
that, and when, a survey was answered).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tandem.matcher.types import Role
from tandem.program.certify.vocabulary import MeetingCountsWhen
from tandem.program.cohorts import PairState

__all__ = [
    "CheckinRecord",
    "CriterionResult",
    "PairHistory",
    "SurveyRecord",
]


class CheckinRecord(BaseModel):
    """What certification may read of one check-in (never its note)."""

    model_config = ConfigDict(frozen=True)

    week: int
    role: Role
    met: bool
    recorded_at: datetime
    answers: dict[str, Any] = Field(default_factory=dict)


class SurveyRecord(BaseModel):
    """That one member of the pair answered one survey, and when (never the answers)."""

    model_config = ConfigDict(frozen=True)

    survey: str
    role: Role
    recorded_at: datetime


class PairHistory(BaseModel):
    """Everything the criteria read about one pair, gathered once from the database.

    ``state_at_final_week`` is the pair's state when the final week's message was due
    (``None`` if the final week has not begun at ``now`` or the pair did not exist yet).
    """

    model_config = ConfigDict(frozen=True)

    pair_pk: int
    mentee_id: str
    state: PairState
    first_week: int = Field(ge=1)
    weeks_total: int = Field(ge=1)
    final_week_start: datetime
    final_week_begun: bool
    state_at_final_week: PairState | None
    ended_at: datetime | None = None
    program_start: date
    program_end: date
    checkins: tuple[CheckinRecord, ...] = ()
    closing_questions: tuple[str, ...] = ()
    surveys: tuple[SurveyRecord, ...] = ()
    """The surveys the mentor answered in the cohort, and those the mentee answered
    about this pair's mentor (read only when the rules ask for them)."""

    @property
    def weeks_in_program(self) -> int:
        return self.weeks_total - self.first_week + 1

    def meeting_weeks(self, counts_when: MeetingCountsWhen) -> tuple[int, ...]:
        """The pair's weeks (from its first week on) with a meeting, per ``counts_when``."""
        said_met: dict[int, set[Role]] = defaultdict(set)
        for record in self.checkins:
            if record.met and self.first_week <= record.week <= self.weeks_total:
                said_met[record.week].add(record.role)
        needed = 1 if counts_when is MeetingCountsWhen.EITHER else len(Role)
        return tuple(sorted(w for w, roles in said_met.items() if len(roles) >= needed))

    def checkin(self, week: int, role: Role) -> CheckinRecord | None:
        for record in self.checkins:
            if record.week == week and record.role is role:
                return record
        return None


class CriterionResult(BaseModel):
    """One criterion on one pair: met or not, with the evidence or what is missing."""

    model_config = ConfigDict(frozen=True)

    criterion: str
    met: bool
    detail: str
    title: str = ""
    """How people read the criterion ("regular meetings" for ``min_meeting_weeks``);
    shown in place of ``criterion``, the rules' id, and not kept with a certificate."""
