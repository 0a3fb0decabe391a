"""The matcher's contract: closed vocabularies and participant profiles.

Everything here is a frozen, validated value object. ``program/`` builds these from stored
rows in exactly one place; the matcher never sees a database row, a file or the clock.
"""

from __future__ import annotations

import difflib
import re
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Role(StrEnum):
    """Which side of a pair a profile belongs to."""

    MENTOR = "mentor"
    MENTEE = "mentee"


class Method(StrEnum):
    """How a matching run chooses its pairs (``tandem match --method``)."""

    OPTIMAL = "optimal"
    """The optimal assignment (see :class:`Objective`), with a proof of optimality."""
    STABLE = "stable"
    """A stable matching: no mentee and mentor would both rather be together."""


class Objective(StrEnum):
    """What the optimal method maximises, always after the number of matched mentees."""

    TOTAL = "total"
    """The largest total compatibility."""
    MAXIMIN = "maximin"
    """The best worst pair first, then the largest total with that worst pair."""


class CareerStage(StrEnum):
    """Career stages, from earliest to most senior (the order is meaningful)."""

    UNDERGRADUATE = "undergraduate"
    GRADUATE_STUDENT = "graduate_student"
    POSTDOC = "postdoc"
    EARLY_CAREER_FACULTY = "early_career_faculty"
    MID_CAREER_FACULTY = "mid_career_faculty"
    SENIOR_FACULTY = "senior_faculty"

    @property
    def rank(self) -> int:
        """0 for undergraduate up to 5 for senior faculty."""
        return _STAGE_ORDER.index(self)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


_STAGE_ORDER: list[CareerStage] = list(CareerStage)


class MentoringTopic(StrEnum):
    """One vocabulary for mentees' ``goals`` and mentors' ``expertise``."""

    CAREER_PLANNING = "career_planning"
    GRANT_WRITING = "grant_writing"
    PUBLISHING = "publishing"
    SCIENTIFIC_WRITING = "scientific_writing"
    RESEARCH_METHODS = "research_methods"
    WORK_LIFE_INTEGRATION = "work_life_integration"
    NETWORKING = "networking"
    TEACHING = "teaching"
    LEADERSHIP = "leadership"
    LAB_MANAGEMENT = "lab_management"
    JOB_SEARCH = "job_search"
    PROMOTION_AND_TENURE = "promotion_and_tenure"
    RESEARCH_ETHICS = "research_ethics"
    SCIENCE_COMMUNICATION = "science_communication"
    COLLABORATION = "collaboration"
    EQUITY_AND_INCLUSION = "equity_and_inclusion"
    CAREERS_BEYOND_ACADEMIA = "careers_beyond_academia"
    TIME_MANAGEMENT = "time_management"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class MeetingMode(StrEnum):
    """How a pair can meet."""

    VIDEO = "video"
    PHONE = "phone"
    IN_PERSON = "in_person"
    ASYNC = "async"


def normalize_term(text: str) -> str:
    """Fold a human spelling of a vocabulary term to its canonical form.

    ``"Work–life integration"`` and ``"work-life integration"`` both become
    ``"work_life_integration"``.
    """
    folded = re.sub(r"[\s\-–—/]+", "_", text.strip().lower())
    return re.sub(r"_+", "_", folded).strip("_")


def closest_term(text: str, choices: list[str]) -> str | None:
    """The closest valid term to a misspelling, or None when nothing is close."""
    matches = difflib.get_close_matches(normalize_term(text), choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def normalize_tag(text: str) -> str:
    """Free-form tags (research areas, languages, identity) compare case- and space-blind."""
    return re.sub(r"\s+", " ", text.strip().lower())


class Profile(BaseModel):
    """One participant in one role, as the matcher sees them.

    Identity attributes are only present when the participant consented to their use;
    ``program/`` drops them otherwise, so the matcher can never use them by accident.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    role: Role
    name: str = Field(min_length=1)
    email: str = Field(min_length=3)
    capacity: int = Field(default=1, ge=0)
    career_stage: CareerStage | None = None
    institution: str | None = None
    department: str | None = None
    research_areas: tuple[str, ...] = ()
    research_interests: str = ""
    topics: tuple[MentoringTopic, ...] = ()
    """Mentees' goals or mentors' expertise, depending on ``role``."""
    timezone: str | None = None
    languages: tuple[str, ...] = ()
    meeting_modes: tuple[MeetingMode, ...] = ()
    excluded: tuple[str, ...] = ()
    identity_consent: bool = False
    identity: tuple[str, ...] = ()
    identity_preferences: tuple[str, ...] = ()
    custom: tuple[tuple[str, str], ...] = ()
    """Extra columns from the application file, as sorted (column, value) pairs."""

    @model_validator(mode="after")
    def _identity_needs_consent(self) -> Self:
        if not self.identity_consent and (self.identity or self.identity_preferences):
            raise ValueError("identity attributes given without identity_consent")
        return self

    @property
    def person_key(self) -> str:
        """What makes two rows the same human being across roles (the e-mail address)."""
        return self.email.strip().lower()

    def custom_value(self, column: str) -> str | None:
        for key, value in self.custom:
            if key == column:
                return value
        return None
