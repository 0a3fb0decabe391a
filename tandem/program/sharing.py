"""What a participant chose to show their partner, and how it reads.

Each participant chooses, field by field, what their partner sees in the introduction and
on the respond page: the roster's ``share`` column lists the field names (see
:class:`SharedField`). Without a ``share`` value a participant shares
:data:`DEFAULT_SHARE`, every profile field; ``none`` shares nothing but their name.
Identity attributes are never shared.

Values read as people wrote them: free-form lists (languages, research areas) keep the
spelling of the application ("English", not the matcher's "english"), and vocabulary
terms show their label ("work–life integration", not ``work_life_integration``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from tandem.matcher.types import CareerStage, MeetingMode, MentoringTopic, Role


class SharedField(StrEnum):
    """A profile field a participant may show their partner, in the order it is shown."""

    CAREER_STAGE = "career_stage"
    INSTITUTION = "institution"
    DEPARTMENT = "department"
    RESEARCH_AREAS = "research_areas"
    RESEARCH_INTERESTS = "research_interests"
    TOPICS = "topics"
    """Mentees' goals, mentors' expertise."""
    TIMEZONE = "timezone"
    LANGUAGES = "languages"
    MEETING_MODES = "meeting_modes"
    EMAIL = "email"


DEFAULT_SHARE: tuple[SharedField, ...] = tuple(SharedField)
"""What a participant without a ``share`` value shows: every field above."""

SHARE_NOTHING = "none"
"""The ``share`` value for sharing nothing beyond one's name."""

SHARE_ALIASES: Mapping[str, SharedField] = {
    "goals": SharedField.TOPICS,
    "expertise": SharedField.TOPICS,
    "stage": SharedField.CAREER_STAGE,
    "time_zone": SharedField.TIMEZONE,
    "e_mail": SharedField.EMAIL,
}
"""Roster spellings of a field that mean the same one (``goals`` for mentees, …)."""

DISPLAY_FIELDS: tuple[SharedField, ...] = (SharedField.RESEARCH_AREAS, SharedField.LANGUAGES)
"""Free-form lists whose spelling in the application is kept for display."""

_TOPIC_LABELS: Mapping[MentoringTopic, str] = {
    MentoringTopic.WORK_LIFE_INTEGRATION: "work–life integration",
}
_MODE_LABELS: Mapping[MeetingMode, str] = {
    MeetingMode.VIDEO: "video call",
    MeetingMode.PHONE: "phone",
    MeetingMode.IN_PERSON: "in person",
    MeetingMode.ASYNC: "in writing (e-mail or messages)",
}


def topic_label(topic: str) -> str:
    """``work_life_integration`` → ``work–life integration``."""
    try:
        member = MentoringTopic(topic)
    except ValueError:
        return topic.replace("_", " ")
    return _TOPIC_LABELS.get(member, member.label)


def _mode_label(mode: str) -> str:
    try:
        return _MODE_LABELS[MeetingMode(mode)]
    except ValueError:
        return mode.replace("_", " ")


_STAGE_LABELS: Mapping[CareerStage, str] = {
    CareerStage.UNDERGRADUATE: "undergraduate",
    CareerStage.GRADUATE_STUDENT: "graduate student",
    CareerStage.POSTDOC: "postdoctoral researcher",
    CareerStage.EARLY_CAREER_FACULTY: "early-career faculty",
    CareerStage.MID_CAREER_FACULTY: "mid-career faculty",
    CareerStage.SENIOR_FACULTY: "senior faculty",
}


def _stage_label(stage: str | None) -> str:
    if not stage:
        return ""
    try:
        return _STAGE_LABELS[CareerStage(stage)]
    except ValueError:
        return stage.replace("_", " ")


def shared_fields(share: Sequence[str] | None) -> tuple[SharedField, ...]:
    """The fields a stored ``share`` value shows (None: :data:`DEFAULT_SHARE`)."""
    if share is None:
        return DEFAULT_SHARE
    chosen = {SharedField(s) for s in share if s in SharedField.__members__.values()}
    return tuple(f for f in SharedField if f in chosen)


FIELD_NAMES: Mapping[SharedField, str] = {
    SharedField.CAREER_STAGE: "career stage",
    SharedField.INSTITUTION: "institution",
    SharedField.DEPARTMENT: "department",
    SharedField.RESEARCH_AREAS: "research areas",
    SharedField.RESEARCH_INTERESTS: "research interests",
    SharedField.TOPICS: "goals or expertise",
    SharedField.TIMEZONE: "time zone",
    SharedField.LANGUAGES: "languages",
    SharedField.MEETING_MODES: "meeting modes",
    SharedField.EMAIL: "e-mail",
}
"""How each shareable field is named to a coordinator."""


def describe_share(share: Sequence[str] | None) -> str:
    """What a stored ``share`` value shows the partner, in words for a coordinator:
    ``"career stage, languages, e-mail"``; the default and ``none`` said as such."""
    fields = ", ".join(FIELD_NAMES[f] for f in shared_fields(share))
    if share is None:
        return f"everything (the default): {fields}"
    return fields or "nothing but their name"


def display_values(
    kept: Mapping[str, Sequence[str]] | None, field: SharedField, stored: Iterable[str]
) -> list[str]:
    """The values of a free-form list as written in the application, else as stored."""
    written = (kept or {}).get(field.value)
    return list(written) if written else list(stored)


def shared_profile(person: Any) -> tuple[tuple[str, str], ...]:
    """(label, value) lines of what ``person`` (a participant row) chose to share.

    The one definition used by the introduction messages and the web's respond page.
    Fields the person left empty are left out.
    """
    role = Role(person.role)
    kept: Mapping[str, Sequence[str]] = getattr(person, "display", None) or {}
    values: dict[SharedField, tuple[str, str]] = {
        SharedField.CAREER_STAGE: ("Career stage", _stage_label(person.career_stage)),
        SharedField.INSTITUTION: ("Institution", person.institution or ""),
        SharedField.DEPARTMENT: ("Department", person.department or ""),
        SharedField.RESEARCH_AREAS: (
            "Research areas",
            ", ".join(display_values(kept, SharedField.RESEARCH_AREAS, person.research_areas)),
        ),
        SharedField.RESEARCH_INTERESTS: ("Research interests", person.research_interests or ""),
        SharedField.TOPICS: (
            "Wants help with" if role is Role.MENTEE else "Can help with",
            ", ".join(topic_label(t) for t in person.topics),
        ),
        SharedField.TIMEZONE: ("Time zone", person.timezone or ""),
        SharedField.LANGUAGES: (
            "Languages",
            ", ".join(display_values(kept, SharedField.LANGUAGES, person.languages)),
        ),
        SharedField.MEETING_MODES: (
            "Can meet by",
            ", ".join(_mode_label(m) for m in person.meeting_modes),
        ),
        SharedField.EMAIL: ("E-mail", person.email),
    }
    chosen = shared_fields(getattr(person, "share", None))
    return tuple(values[f] for f in chosen if values[f][1])
