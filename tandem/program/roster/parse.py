"""Parsing and validating mentor and mentee application rows.

The data contract (columns, vocabularies, examples) is documented in README.md. Every row
goes through :class:`ParticipantInput` (pydantic), which raises ValueError with the message a
person reads; :mod:`tandem.program.roster.validate` locates each by file, row and column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from tandem.matcher.types import (
    CareerStage,
    MeetingMode,
    MentoringTopic,
    Profile,
    Role,
    normalize_tag,
    normalize_term,
)
from tandem.program import contact
from tandem.program.errors import ProgramError
from tandem.program.schedule import ScheduleError, checked_zone
from tandem.program.sharing import (
    DISPLAY_FIELDS,
    SHARE_ALIASES,
    SHARE_NOTHING,
    SharedField,
)

REQUIRED_COLUMNS: dict[Role, tuple[str, ...]] = {
    Role.MENTOR: ("id", "name", "email"),
    Role.MENTEE: ("id", "name", "email"),
}
"""Columns every file must have. ``capacity`` is optional for mentors (default 1)."""

COMMON_COLUMNS = (
    "id",
    "name",
    "email",
    "career_stage",
    "institution",
    "department",
    "research_areas",
    "research_interests",
    "timezone",
    "languages",
    "meeting_modes",
    "excluded",
    "identity_consent",
    "identity",
    "identity_preferences",
    "share",
)
ROLE_COLUMNS: dict[Role, tuple[str, ...]] = {
    Role.MENTOR: ("capacity", "expertise"),
    Role.MENTEE: ("goals",),
}
IDENTITY_COLUMNS = ("identity", "identity_preferences")

CAREER_STAGE_ALIASES: dict[str, CareerStage] = {
    "undergrad": CareerStage.UNDERGRADUATE,
    "undergraduate_student": CareerStage.UNDERGRADUATE,
    "graduate": CareerStage.GRADUATE_STUDENT,
    "grad_student": CareerStage.GRADUATE_STUDENT,
    "phd_student": CareerStage.GRADUATE_STUDENT,
    "doctoral_student": CareerStage.GRADUATE_STUDENT,
    "masters_student": CareerStage.GRADUATE_STUDENT,
    "postdoctoral_fellow": CareerStage.POSTDOC,
    "postdoctoral_researcher": CareerStage.POSTDOC,
    "assistant_professor": CareerStage.EARLY_CAREER_FACULTY,
    "associate_professor": CareerStage.MID_CAREER_FACULTY,
    "professor": CareerStage.SENIOR_FACULTY,
    "full_professor": CareerStage.SENIOR_FACULTY,
}

_TRUE = {"yes", "y", "true", "1", "consent", "consented"}
_FALSE = {"no", "n", "false", "0"}
_ID_PATTERN = re.compile(r"^[^\s;,]{1,128}$")


class RosterError(ProgramError):
    """A roster operation cannot be carried out (unknown participant, …)."""


# --- parsing of single cells (each raises ValueError with the message a person reads) ---


def _split(value: Any) -> list[str]:
    """A list cell's items: separated by ``;``, or by commas in a cell without ``;`` (as
    survey tools export several choices: "English, French")."""
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        text = str(value)
        items = text.split(";" if ";" in text else ",")
    return [item.strip() for item in items if item.strip()]


_CONTROL_IN_PARAGRAPH = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than line breaks and tabs, which free text may hold."""

# One line of text, an address, a name: the rules every name and address follows
# (tandem/program/contact.py): a list, a control character or a line break is refused.
_any_text = contact.one_value
_text = contact.one_line


def _paragraph(value: Any) -> str:
    """Free text: line breaks and tabs are kept, other control characters refused."""
    text = _any_text(value)
    found = _CONTROL_IN_PARAGRAPH.search(text)
    if found:
        raise ValueError(f"contains a control character (U+{ord(found.group()):04X})")
    return text


def _parse_id(value: Any) -> str:
    text = _text(value)
    if not _ID_PATTERN.match(text):
        raise ValueError(
            f"expected an id of 1–128 characters without spaces, commas or semicolons, got {text!r}"
        )
    return text


_parse_email = contact.email_address
MAX_NAME_LENGTH = contact.MAX_NAME_LENGTH
_parse_name = contact.person_name


MAX_CAPACITY = 1000
"""The most mentees one mentor may take: more is a typo, and would swamp the matcher."""
_WHOLE_NUMBER = re.compile(r"^\+?0*(\d{1,9})(?:\.0*)?$")


def _parse_capacity(value: Any) -> int:
    text = _text(value)
    # Digits only, never float(): "1e308", 20 nines or 5,000 digits are refused plainly.
    whole = _WHOLE_NUMBER.match(text)
    if whole is None or int(whole.group(1)) > MAX_CAPACITY:
        shown = text if len(text) <= 20 else f"{text[:20]}… ({len(text)} characters)"
        raise ValueError(
            f"expected a whole number from 0 to {MAX_CAPACITY} (how many mentees this mentor "
            f"can take), got {shown!r}"
        )
    return int(whole.group(1))


_MINOR_WORDS = frozenset(
    {"a", "an", "and", "for", "in", "of", "on", "or", "the", "to", "up", "with"}
)
"""Words that say nothing about which term is meant."""


def _close_term(text: str, choices: Sequence[str]) -> str | None:
    """A suggestion only when it is close: a misspelling ("grant writting"), or the one
    term that shares the most words with the text ("work life balance" →
    ``work_life_integration``). "mentoring up" is not a misspelt "networking", and
    "writing" names two terms equally, so neither gets a suggestion."""
    import difflib

    key = normalize_term(text)
    matches = difflib.get_close_matches(key, list(choices), n=1, cutoff=0.75)
    if matches:
        return matches[0]
    words = set(key.split("_")) - _MINOR_WORDS
    shared = {choice: len(words & set(choice.split("_"))) for choice in choices}
    most = max(shared.values(), default=0)
    best = [choice for choice, count in shared.items() if count == most]
    return best[0] if most and len(best) == 1 else None


def _vocabulary_error(kind: str, text: str, choices: Sequence[str]) -> ValueError:
    suggestion = _close_term(text, choices)
    hint = f'; did you mean "{suggestion}"?' if suggestion else ";"
    return ValueError(f'unknown {kind} "{text}"{hint} Valid: {", ".join(choices)}')


def _parse_stage(value: Any) -> CareerStage:
    text = _text(value)
    key = normalize_term(text)
    if key in CareerStage.__members__.values():
        return CareerStage(key)
    if key in CAREER_STAGE_ALIASES:
        return CAREER_STAGE_ALIASES[key]
    raise _vocabulary_error("career stage", text, [s.value for s in CareerStage])


def _parse_topics(value: Any) -> tuple[MentoringTopic, ...]:
    topics = []
    for item in _split(value):
        key = normalize_term(item)
        if key not in MentoringTopic.__members__.values():
            raise _vocabulary_error("mentoring topic", item, [t.value for t in MentoringTopic])
        topics.append(MentoringTopic(key))
    return tuple(dict.fromkeys(topics))


MEETING_MODE_ALIASES = {"zoom": "video", "online": "video", "email": "async"}
"""Everyday words for a meeting mode, folded as :func:`normalize_term` folds them."""


def meeting_mode_key(text: str) -> str:
    """The canonical spelling of a meeting mode (not checked against the vocabulary)."""
    key = normalize_term(text)
    return MEETING_MODE_ALIASES.get(key, key)


def _parse_modes(value: Any) -> tuple[MeetingMode, ...]:
    modes = []
    for item in _split(value):
        key = meeting_mode_key(item)
        if key not in MeetingMode.__members__.values():
            raise _vocabulary_error("meeting mode", item, [m.value for m in MeetingMode])
        modes.append(MeetingMode(key))
    return tuple(dict.fromkeys(modes))


def _parse_timezone(value: Any) -> str:
    try:
        return checked_zone(_text(value))
    except ScheduleError as error:
        raise ValueError(error.message) from None


def _parse_tags(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_tag(v) for v in _split(value)))


def _parse_share(value: Any) -> tuple[SharedField, ...]:
    """``career_stage; languages; email`` → those fields; ``none`` → no field."""
    items = [item for part in _split(value) for item in part.split(",") if item.strip()]
    if [normalize_term(i) for i in items] == [SHARE_NOTHING]:
        return ()
    chosen: list[SharedField] = []
    for item in items:
        key = normalize_term(item)
        if key == "all":
            chosen.extend(SharedField)
            continue
        field = SHARE_ALIASES.get(key) or (
            SharedField(key) if key in SharedField.__members__.values() else None
        )
        if field is None:
            raise _vocabulary_error(
                "field to share", item, [*(f.value for f in SharedField), "all", SHARE_NOTHING]
            )
        chosen.append(field)
    return tuple(f for f in SharedField if f in chosen)


def _written_forms(value: Any) -> tuple[str, ...]:
    """A free-form list as written (first spelling of each tag), for display."""
    try:
        items = _split(value)
    except ValueError:  # pragma: no cover - refused by the field's own parser
        return ()
    kept: dict[str, str] = {}
    for item in items:
        kept.setdefault(normalize_tag(item), re.sub(r"\s+", " ", item.strip()))
    return tuple(kept.values())


def _parse_ids(value: Any) -> tuple[str, ...]:
    ids = _split(value)
    for item in ids:
        _parse_id(item)
    return tuple(dict.fromkeys(ids))


def _parse_bool(value: Any) -> bool:
    text = _text(value).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected yes or no, got {_text(value)!r}")


Id = Annotated[str, BeforeValidator(_parse_id)]
Email = Annotated[str, BeforeValidator(_parse_email)]
Text = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_parse_name)]
Paragraph = Annotated[str, BeforeValidator(_paragraph)]
Capacity = Annotated[int, BeforeValidator(_parse_capacity)]
Stage = Annotated[CareerStage, BeforeValidator(_parse_stage)]
Topics = Annotated[tuple[MentoringTopic, ...], BeforeValidator(_parse_topics)]
Modes = Annotated[tuple[MeetingMode, ...], BeforeValidator(_parse_modes)]
Zone = Annotated[str, BeforeValidator(_parse_timezone)]
Tags = Annotated[tuple[str, ...], BeforeValidator(_parse_tags)]
Ids = Annotated[tuple[str, ...], BeforeValidator(_parse_ids)]
Flag = Annotated[bool, BeforeValidator(_parse_bool)]
Share = Annotated[tuple[SharedField, ...], BeforeValidator(_parse_share)]


class ParticipantInput(BaseModel):
    """One validated application row. Column names are the field names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    id: Id
    name: Name = Field(min_length=1)
    email: Email
    capacity: Capacity | None = None
    career_stage: Stage | None = None
    institution: Text | None = None
    department: Text | None = None
    research_areas: Tags = ()
    research_interests: Paragraph = ""
    goals: Topics = ()
    expertise: Topics = ()
    timezone: Zone | None = None
    languages: Tags = ()
    meeting_modes: Modes = ()
    excluded: Ids = ()
    identity_consent: Flag = False
    identity: Tags = ()
    identity_preferences: Tags = ()
    share: Share | None = None
    """What the partner sees (None: the default, see ``tandem.program.sharing``)."""
    display: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Free-form lists as written, where that differs from the stored form (set on parse)."""
    custom: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _consent_and_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        consent = data.get("identity_consent")
        try:
            consented = consent is not None and _parse_bool(consent)
        except ValueError:
            consented = False
        if not consented:
            # Without consent the attributes are dropped: never validated, stored or used.
            for column in IDENTITY_COLUMNS:
                data.pop(column, None)
        if data.get("role") in (Role.MENTOR, Role.MENTOR.value) and data.get("capacity") is None:
            data["capacity"] = 1
        if "display" not in data:
            data["display"] = tuple(
                (field.value, written)
                for field in DISPLAY_FIELDS
                if data.get(field.value) is not None
                for written in [_written_forms(data[field.value])]
                if written and written != tuple(normalize_tag(w) for w in written)
            )
        if data.get("share") is not None and not str(data["share"]).strip():
            data["share"] = None
        return data

    @model_validator(mode="after")
    def _not_excluding_self(self) -> Self:
        if self.id in self.excluded:
            raise ValueError("excluded lists this person's own id")
        return self

    def to_profile(self) -> Profile:
        return Profile(
            id=self.id,
            role=self.role,
            name=self.name,
            email=self.email,
            capacity=self.capacity or 0,
            career_stage=self.career_stage,
            institution=self.institution,
            department=self.department,
            research_areas=self.research_areas,
            research_interests=self.research_interests,
            topics=self.goals if self.role is Role.MENTEE else self.expertise,
            timezone=self.timezone,
            languages=self.languages,
            meeting_modes=self.meeting_modes,
            excluded=self.excluded,
            identity_consent=self.identity_consent,
            identity=self.identity,
            identity_preferences=self.identity_preferences,
            custom=self.custom,
        )

    def stored_fields(self) -> dict[str, Any]:
        """The column values of this person's :class:`Participant` row."""
        return {
            "role": self.role.value,
            "external_id": self.id,
            "name": self.name,
            "email": self.email,
            "email_key": self.email.lower(),
            "capacity": self.capacity,
            "career_stage": self.career_stage.value if self.career_stage else None,
            "institution": self.institution,
            "department": self.department,
            "research_areas": list(self.research_areas),
            "research_interests": self.research_interests,
            "topics": [t.value for t in (self.goals or self.expertise)],
            "timezone": self.timezone,
            "languages": list(self.languages),
            "meeting_modes": [m.value for m in self.meeting_modes],
            "excluded": list(self.excluded),
            "identity_consent": self.identity_consent,
            "identity": list(self.identity),
            "identity_preferences": list(self.identity_preferences),
            "share": None if self.share is None else [f.value for f in self.share],
            "display": {field: list(values) for field, values in self.display},
            "custom": dict(self.custom),
        }
