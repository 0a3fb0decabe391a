"""Certification criteria: one model per named kind, in the :data:`CRITERIA` registry.

Rules files name a kind; the registry gives its model, which validates the entry's
settings and evaluates a :class:`~tandem.program.certify.histories.PairHistory`.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from fractions import Fraction
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem.matcher.types import Role
from tandem.program.certify.histories import CriterionResult, PairHistory
from tandem.program.certify.vocabulary import EvidenceRole, EvidenceSource, MeetingCountsWhen
from tandem.program.cohorts import PairState
from tandem.prompts.surveys import SurveyName

__all__ = [
    "CRITERIA",
    "ActiveThroughFinalWeek",
    "ClosingCheckin",
    "Criterion",
    "EvidenceCriterion",
    "MinMeetingWeeks",
    "NotEndedEarly",
    "register_criterion",
]


class Criterion(BaseModel):
    """One certification criterion of a registered kind (see :data:`CRITERIA`).

    Subclasses set ``KIND``, declare their settings as fields and implement
    :meth:`evaluate`. ``text`` overrides the kind's wording from the rules' ``[text]``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    """How people read the criterion: tables and pages show it, not the kind."""

    kind: str
    text: str | None = Field(default=None, min_length=1)

    @property
    def label(self) -> str:
        """How reports name this criterion."""
        return self.kind

    @property
    def title(self) -> str:
        """How people read this criterion (``regular meetings``, not ``min_meeting_weeks``)."""
        return self.TITLE or self.kind.replace("_", " ")

    def text_fields(self) -> dict[str, object]:
        """Values for the placeholders of this criterion's wording."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k != "text"}

    def evaluate(self, pair: PairHistory) -> CriterionResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _result(self, met: bool, detail: str) -> CriterionResult:
        return CriterionResult(criterion=self.label, met=met, detail=detail, title=self.title)


CRITERIA: dict[str, type[Criterion]] = {}
"""The registry of criterion kinds: rules name a kind, the registry gives its model."""


def register_criterion(cls: type[Criterion]) -> type[Criterion]:
    """Class decorator: make ``cls`` available to rules files under ``cls.KIND``."""
    if not cls.KIND or cls.KIND in CRITERIA:
        raise ValueError(f"criterion kind {cls.KIND!r} is empty or registered twice")
    CRITERIA[cls.KIND] = cls
    return cls


def _day(value: datetime) -> str:
    return value.date().isoformat()


@register_criterion
class ActiveThroughFinalWeek(Criterion):
    """The pair was active when the final week began and was not paused or ended since."""

    KIND: ClassVar[str] = "active_through_final_week"
    TITLE: ClassVar[str] = "active through the final week"

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        final = pair.weeks_total
        if not pair.final_week_begun:
            return self._result(
                False, f"the final week (week {final}) begins {_day(pair.final_week_start)}"
            )
        if pair.state_at_final_week is not PairState.ACTIVE:
            was = pair.state_at_final_week.value if pair.state_at_final_week else "not started"
            return self._result(False, f"was {was} when week {final} began")
        if pair.state not in (PairState.ACTIVE, PairState.COMPLETED):
            since = f" since {_day(pair.ended_at)}" if pair.ended_at else ""
            return self._result(False, f"{pair.state.value}{since}, after week {final} began")
        return self._result(True, f"active from week {pair.first_week} through week {final}")


@register_criterion
class MinMeetingWeeks(Criterion):
    """The pair met in enough of its weeks: a fraction of them, or a scaled week count."""

    KIND: ClassVar[str] = "min_meeting_weeks"
    TITLE: ClassVar[str] = "regular meetings"

    fraction: float | None = Field(default=None, gt=0, le=1)
    weeks: int | None = Field(default=None, ge=1)
    meeting_counts_when: MeetingCountsWhen = MeetingCountsWhen.EITHER

    @model_validator(mode="after")
    def _one_threshold(self) -> MinMeetingWeeks:
        if (self.fraction is None) == (self.weeks is None):
            raise ValueError("give exactly one of fraction (e.g. 0.75) or weeks (e.g. 12)")
        return self

    def text_fields(self) -> dict[str, object]:
        threshold = f"{self.fraction:.0%}" if self.fraction is not None else str(self.weeks)
        return {**super().text_fields(), "threshold": threshold}

    def required(self, pair: PairHistory) -> int:
        """Weeks with a meeting the pair needs, rounded up (exact rational arithmetic)."""
        if self.fraction is not None:
            share = Fraction(str(self.fraction)) * pair.weeks_in_program
        else:
            share = Fraction(self.weeks or 0, pair.weeks_total) * pair.weeks_in_program
        return max(1, math.ceil(share))

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        met = pair.meeting_weeks(self.meeting_counts_when)
        needed = self.required(pair)
        detail = f"met in {len(met)} of {pair.weeks_in_program} weeks"
        if len(met) >= needed:
            return self._result(True, f"{detail} (needs {needed})")
        return self._result(False, f"{detail}, needs {needed}")


@register_criterion
class ClosingCheckin(Criterion):
    """The mentor submitted the final week's check-in (optionally: answered the reflection)."""

    KIND: ClassVar[str] = "closing_checkin"
    TITLE: ClassVar[str] = "closing check-in"

    require_answers: bool = False

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        final = pair.weeks_total
        record = pair.checkin(final, Role.MENTOR)
        if record is None:
            return self._result(False, f"no week {final} check-in from the mentor")
        if self.require_answers:
            missing = [q for q in pair.closing_questions if not _answered(record.answers.get(q))]
            if missing:
                return self._result(False, f"closing reflection not answered: {', '.join(missing)}")
        return self._result(True, f"closing check-in recorded {_day(record.recorded_at)}")


@register_criterion
class NotEndedEarly(Criterion):
    """The pair was not ended before the program closed."""

    KIND: ClassVar[str] = "not_ended_early"
    TITLE: ClassVar[str] = "not ended early"

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        if pair.state is PairState.ENDED:
            when = f" on {_day(pair.ended_at)}" if pair.ended_at else ""
            return self._result(False, f"ended early{when}")
        return self._result(True, "not ended early")


_ANSWER_KEY = r"^[a-z][a-z0-9_]*$"


def _answered(value: object) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return not (isinstance(value, list | dict) and not value)


_SURVEYS = tuple(survey.value for survey in SurveyName)


@register_criterion
class EvidenceCriterion(Criterion):
    """A recorded answer that another feature fills: an answer stored with a check-in
    (``source = "checkin_answer"``), or a survey answered (``source = "survey_response"``,
    ``key`` the survey: baseline, closing or followup)."""

    KIND: ClassVar[str] = "evidence"

    name: str = Field(pattern=_ANSWER_KEY)
    source: EvidenceSource = EvidenceSource.CHECKIN_ANSWER
    key: str = Field(pattern=_ANSWER_KEY)
    week: Annotated[int, Field(ge=1)] | Literal["final", "any"] = "final"
    role: EvidenceRole = EvidenceRole.MENTOR
    equals: str | int | bool | None = None

    @model_validator(mode="after")
    def _survey_settings(self) -> EvidenceCriterion:
        if self.source is not EvidenceSource.SURVEY_RESPONSE:
            return self
        if self.key not in _SURVEYS:
            raise ValueError(
                f'with source = "survey_response", key names the survey: one of '
                f"{', '.join(_SURVEYS)} (not {self.key!r})"
            )
        unused = sorted({"week", "equals"} & self.model_fields_set)
        if unused:
            raise ValueError(
                f'{" and ".join(unused)} cannot be used with source = "survey_response": '
                "the criterion asks only that the survey was answered"
            )
        return self

    @property
    def label(self) -> str:
        return f"evidence:{self.name}"

    @property
    def title(self) -> str:
        return self.name.replace("_", " ")

    def _survey_response(self, pair: PairHistory) -> CriterionResult:
        roles = [Role(self.role.value)] if self.role is not EvidenceRole.EITHER else list(Role)
        for record in sorted(pair.surveys, key=lambda r: (r.role.value, r.recorded_at)):
            if record.survey == self.key and record.role in roles:
                return self._result(
                    True,
                    f"the {record.role.value} answered the {self.key} survey "
                    f"({_day(record.recorded_at)})",
                )
        who = "either person" if self.role is EvidenceRole.EITHER else f"the {self.role.value}"
        return self._result(False, f"no {self.key} survey response from {who}")

    def _matches(self, value: object) -> bool:
        if self.equals is None:
            return _answered(value)
        return type(value) is type(self.equals) and value == self.equals

    def evaluate(self, pair: PairHistory) -> CriterionResult:
        if self.source is EvidenceSource.SURVEY_RESPONSE:
            return self._survey_response(pair)
        week = pair.weeks_total if self.week == "final" else self.week
        roles = [Role(self.role.value)] if self.role is not EvidenceRole.EITHER else list(Role)
        for record in sorted(pair.checkins, key=lambda r: (r.week, r.role.value)):
            if (
                (week == "any" or record.week == week)
                and record.role in roles
                and self._matches(record.answers.get(self.key))
            ):
                return self._result(
                    True,
                    f"{self.key} answered by the {record.role.value} in week {record.week} "
                    f"({_day(record.recorded_at)})",
                )
        where = "any week" if week == "any" else f"week {week}"
        wanted = "" if self.equals is None else f" = {json.dumps(self.equals)}"
        who = "either person" if self.role is EvidenceRole.EITHER else f"the {self.role.value}"
        return self._result(False, f"no answer {self.key}{wanted} from {who} in {where}")
