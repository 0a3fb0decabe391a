"""The curriculum: a program's weekly discussion topics, as validated data.

A curriculum is a folder holding a manifest, ``curriculum.toml``, and one TOML file per
week, ``week-01.toml`` … ``week-NN.toml`` (``NN`` up to the manifest's ``weeks``). A week
file has the fields every participant shares and an optional ``[variants.<track>]`` table
per career-stage track that overrides some of them. The folder may also hold a
``templates/`` folder whose message templates replace the shipped ones by name.

The vocabularies (phases, competencies, check-in kinds and audiences) and the template
variables that text may use are defined here, in code, and checked on load: a curriculum
either loads completely or raises :class:`CurriculumError` listing every problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from tandem.matcher.types import CareerStage, Role
from tandem.prompts.errors import CurriculumError, Problem

DEFAULT_CURRICULUM = Path(__file__).parent / "default"
"""The curriculum shipped with Tandem (16 weeks, three tracks)."""

SHIPPED_TEMPLATES = Path(__file__).parent / "templates"
"""The message templates shipped with Tandem; a curriculum's ``templates/`` overrides them."""

MANIFEST = "curriculum.toml"
WHOLE_FILE = "(file)"

_T = TypeVar("_T")


class Phase(StrEnum):
    """The phases of a mentoring relationship, in the order a program walks through them.

    Selection (finding a good partner) happens in matching, before the program starts.
    """

    ALIGNMENT = "alignment"
    CULTIVATION = "cultivation"
    CLOSURE = "closure"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def rank(self) -> int:
        return list(Phase).index(self)


class Competency(StrEnum):
    """The research-mentoring competencies a curriculum covers."""

    ALIGNING_EXPECTATIONS = "aligning_expectations"
    EFFECTIVE_COMMUNICATION = "effective_communication"
    ASSESSING_UNDERSTANDING = "assessing_understanding"
    FOSTERING_INDEPENDENCE = "fostering_independence"
    EQUITY_AND_INCLUSION = "equity_and_inclusion"
    ETHICAL_BEHAVIOR = "ethical_behavior"
    WORK_LIFE_INTEGRATION = "work_life_integration"
    RESEARCH_SELF_EFFICACY = "research_self_efficacy"
    PROFESSIONAL_DEVELOPMENT = "professional_development"
    MENTORING_PHILOSOPHY = "mentoring_philosophy"

    @property
    def label(self) -> str:
        return _COMPETENCY_LABELS[self]


_COMPETENCY_LABELS: dict[Competency, str] = {
    Competency.ALIGNING_EXPECTATIONS: "Aligning expectations",
    Competency.EFFECTIVE_COMMUNICATION: "Maintaining effective communication",
    Competency.ASSESSING_UNDERSTANDING: "Assessing understanding",
    Competency.FOSTERING_INDEPENDENCE: "Fostering independence",
    Competency.EQUITY_AND_INCLUSION: "Addressing equity and inclusion",
    Competency.ETHICAL_BEHAVIOR: "Cultivating ethical behavior",
    Competency.WORK_LIFE_INTEGRATION: "Enhancing work–life integration",
    Competency.RESEARCH_SELF_EFFICACY: "Promoting research self-efficacy",
    Competency.PROFESSIONAL_DEVELOPMENT: "Promoting professional development",
    Competency.MENTORING_PHILOSOPHY: "Articulating a mentoring philosophy and plan",
}


class CheckinKind(StrEnum):
    """How a check-in question is answered."""

    YES_NO = "yes_no"
    MINUTES = "minutes"
    """A whole number of minutes, 0 or more."""
    RATING = "rating"
    """1 (lowest) to 5 (highest)."""
    TEXT = "text"


class Audience(StrEnum):
    """Who is asked a check-in question."""

    BOTH = "both"
    MENTOR = "mentor"
    MENTEE = "mentee"

    def includes(self, role: Role) -> bool:
        return self is Audience.BOTH or self.value == role.value


# The variables week text and message templates may use. The renderer fills exactly these;
# the validator rejects any other name, so a typo is caught before a message goes out.
PAIR_VARIABLES: frozenset[str] = frozenset(
    {
        "recipient_name",  # the person receiving the message, as the program addresses them
        "recipient_role",  # "mentor" or "mentee"
        "partner_name",  # the other person in the pair
        "mentor_name",
        "mentee_name",
        # Speaking to the reader: each is "you" for the person reading and the name for
        # the other; capitalised at the start of a sentence. Called with a verb in the
        # third person they agree with it: {{ Mentee("sends") }} is "You send" for the
        # mentee and "Jordan sends" for the mentor. .your is "your" or "Jordan's", .their
        # "your" or "their", .they "you" or "they", .them "you" or "them"; .verb("points")
        # is the verb alone, agreeing; .reader is true for the person reading.
        "mentor",
        "mentee",
        "Mentor",
        "Mentee",
        "greeting",  # "Hello Jordan": the cohort's salutation with the recipient's name
        "coordinator",  # coordinator.name and coordinator.email ("" when not set)
        "resources",  # local help the cohort names: resources.ombuds and so on ("" if unset)
        "cohort_name",
        "weeks_total",  # the length of the program in weeks
    }
)
WEEK_TEXT_VARIABLES: frozenset[str] = PAIR_VARIABLES | {
    "week",  # the week number, 1-based
    # A pair that joined late (a rematch) counts its own weeks: pair_week of pair_weeks;
    # for every other pair they equal week and weeks_total.
    "pair_week",  # this week's number among the pair's own weeks, 1-based
    "pair_weeks",  # how many weeks of topics the pair has in all
    "week_start",  # the week's first day, formatted ("Monday 7 September 2026")
    "week_end",  # the week's last day, formatted
    "checkin_url",  # where this person answers this week's check-in (and can pause or leave)
    "missed_topics",  # titles of earlier weeks the pair missed (a list, maybe empty)
}
"""Variables available to the text of a week (framing, questions, activity)."""

TEMPLATE_VARIABLES: Mapping[str, frozenset[str]] = {
    "weekly": WEEK_TEXT_VARIABLES
    | {
        "topic",  # the week, rendered for this person
        "survey_url",  # the final week: this person's closing-survey link ("" before)
    },
    "intro": PAIR_VARIABLES
    | {
        "accept_url",
        "decline_url",
        "partner_full_name",  # the partner's name as written in their application
        "partner_profile",  # (label, value) lines the partner chose to share
        # who can write to whom, from the addresses each chose to share: "both",
        # "you_first" (only the partner's is shared), "they_first" (only the
        # recipient's) or "neither" (the coordinator puts them in touch)
        "contact",
        "respond_by",  # formatted date
        "confirmation",  # "opt_out" (the program starts unless declined) or "require_both"
    },
    "reminder": WEEK_TEXT_VARIABLES | {"week_title"},
    "closing": PAIR_VARIABLES
    | {
        "completion_letter",  # true when a completion letter is attached (mentees)
    },
    "survey": frozenset(
        {
            "recipient_name",
            "recipient_role",
            "greeting",
            "coordinator",
            "resources",
            "cohort_name",
            "weeks_total",
            "survey",  # "baseline" or "followup" (or "closing", in its reminder)
            "survey_title",  # the instrument's title
            "survey_url",  # this person's own link to the survey
            "survey_minutes",  # about how long it takes, in minutes
            "mentor_name",  # for a mentee, the mentor their answers are about ("" for a mentor)
            "reminder",  # true in the one reminder to someone who has not answered yet
        }
    ),
}
"""Variables available to each message template, by kind (``weekly.txt.j2`` is ``weekly``)."""

TEMPLATE_FORMATS: tuple[str, ...] = ("txt", "html")


def template_name(kind: str, fmt: str) -> str:
    """``weekly``, ``html`` → ``weekly.html.j2``."""
    return f"{kind}.{fmt}.j2"


# --------------------------------------------------------------------------- models


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CheckinQuestion(_Frozen):
    """One check-in question the engine presents after a week's meeting.

    ``id`` is stable within a week (answers are stored under it); ``audience`` says who
    is asked. The mentor-only questions of the final week are the mentor's closing
    reflection, which certification looks for.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str = Field(min_length=1)
    kind: CheckinKind
    audience: Audience = Audience.BOTH

    def asks(self, role: Role) -> bool:
        return self.audience.includes(role)


class Activity(_Frozen):
    """The one concrete thing a pair does together in a week."""

    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    steps: tuple[str, ...] = Field(min_length=1)


class WeekVariant(_Frozen):
    """What a career-stage track changes in a week; ``None`` keeps the shared field."""

    title: str | None = None
    framing: str | None = None
    mentor_questions: tuple[str, ...] | None = None
    mentee_questions: tuple[str, ...] | None = None
    activity: Activity | None = None
    checkin: tuple[CheckinQuestion, ...] | None = None


class Week(_Frozen):
    """One week as written: shared fields plus per-track variants."""

    number: int = Field(ge=1)
    file: str
    title: str = Field(min_length=1)
    phase: Phase
    competencies: tuple[Competency, ...] = Field(min_length=1)
    framing: str = Field(min_length=1)
    mentor_questions: tuple[str, ...] = Field(min_length=1)
    mentee_questions: tuple[str, ...] = Field(min_length=1)
    activity: Activity
    checkin: tuple[CheckinQuestion, ...] = ()
    variants: dict[str, WeekVariant] = Field(default_factory=dict)


class WeekContent(_Frozen):
    """One week as a pair on one track sees it: the variant merged over the shared fields.

    ``checkin`` holds the curriculum's every-week questions followed by this week's own.
    Text may still contain template variables; the renderer fills them.
    """

    number: int
    track: str
    title: str
    phase: Phase
    competencies: tuple[Competency, ...]
    framing: str
    mentor_questions: tuple[str, ...]
    mentee_questions: tuple[str, ...]
    activity: Activity
    checkin: tuple[CheckinQuestion, ...]

    def questions_for(self, role: Role) -> tuple[str, ...]:
        """The mentor's questions for the mentor, the mentee's for the mentee."""
        return self.mentor_questions if role is Role.MENTOR else self.mentee_questions

    def checkin_for(self, role: Role) -> tuple[CheckinQuestion, ...]:
        """The check-in questions this person is asked, in order."""
        return tuple(question for question in self.checkin if question.asks(role))


class Track(_Frozen):
    """A career-stage track: which mentees follow it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(min_length=1)
    stages: tuple[CareerStage, ...] = ()


class Preview(_Frozen):
    """The sample pair and start date that ``tandem prompts show`` renders with."""

    mentor_name: str = "Dr. Morgan Ellis"
    mentee_name: str = "Jordan Reyes"
    cohort_name: str = "Sample Cohort"
    start: date = date(2026, 9, 7)
    checkin_url: str = "https://tandem.example.org/checkin/sample"


class Curriculum(_Frozen):
    """A whole program's topics, loaded and validated.

    Weeks are numbered 1 to ``weeks_total`` without gaps; each track's stages are
    disjoint, and mentees without a stage (or with a stage no track lists) follow
    ``default_track``.
    """

    name: str
    description: str = ""
    weeks_total: int = Field(ge=1)
    default_track: str
    tracks: tuple[Track, ...]
    checkin: tuple[CheckinQuestion, ...] = ()
    """Questions asked every week, before each week's own."""
    weeks: tuple[Week, ...]
    preview: Preview = Preview()
    source: Path
    """The folder the curriculum was loaded from."""

    @property
    def track_ids(self) -> tuple[str, ...]:
        return tuple(track.id for track in self.tracks)

    def track(self, track_id: str) -> Track:
        """The track with this id; raises CurriculumError naming the known tracks."""
        for track in self.tracks:
            if track.id == track_id:
                return track
        raise CurriculumError(
            [
                Problem(
                    file=MANIFEST,
                    field="tracks",
                    message=f"no track {track_id!r}; this curriculum has: "
                    + ", ".join(self.track_ids),
                )
            ],
            str(self.source),
        )

    def track_for(self, stage: CareerStage | None) -> str:
        """The track a mentee at this career stage follows (the default for ``None``)."""
        if stage is not None:
            for track in self.tracks:
                if stage in track.stages:
                    return track.id
        return self.default_track

    def week(self, number: int, track: str | None = None) -> WeekContent:
        """Week ``number`` (1-based) as the given track sees it (default track if None).

        Raises CurriculumError for a week outside the program or an unknown track.
        """
        track_id = self.track(track or self.default_track).id
        if not 1 <= number <= self.weeks_total:
            raise CurriculumError(
                [
                    Problem(
                        file=MANIFEST,
                        field="weeks",
                        message=f"there is no week {number}; this curriculum has weeks "
                        f"1 to {self.weeks_total}",
                    )
                ],
                str(self.source),
            )
        shared = self.weeks[number - 1]
        variant = shared.variants.get(track_id, WeekVariant())
        return WeekContent(
            number=shared.number,
            track=track_id,
            title=_pick(variant.title, shared.title),
            phase=shared.phase,
            competencies=shared.competencies,
            framing=_pick(variant.framing, shared.framing),
            mentor_questions=_pick(variant.mentor_questions, shared.mentor_questions),
            mentee_questions=_pick(variant.mentee_questions, shared.mentee_questions),
            activity=_pick(variant.activity, shared.activity),
            checkin=self.checkin + _pick(variant.checkin, shared.checkin),
        )

    def closing_reflection(self, track: str | None = None) -> tuple[CheckinQuestion, ...]:
        """The mentor's closing reflection: the mentor-only check-in of the final week."""
        final = self.week(self.weeks_total, track)
        return tuple(q for q in final.checkin if q.audience is Audience.MENTOR)

    def phases_covered(self) -> dict[Phase, tuple[int, ...]]:
        """Each phase and the weeks in it (phases with no week are absent)."""
        covered: dict[Phase, list[int]] = {}
        for week in self.weeks:
            covered.setdefault(week.phase, []).append(week.number)
        return {phase: tuple(covered[phase]) for phase in Phase if phase in covered}

    def competencies_covered(self) -> dict[Competency, tuple[int, ...]]:
        """Each competency and the weeks tagged with it (untagged ones are absent)."""
        covered: dict[Competency, list[int]] = {}
        for week in self.weeks:
            for competency in week.competencies:
                covered.setdefault(competency, []).append(week.number)
        return {c: tuple(covered[c]) for c in Competency if c in covered}

    def template_dirs(self) -> tuple[Path, ...]:
        """Where message templates are looked up: the curriculum's own, then the shipped."""
        own = self.source / "templates"
        return (own, SHIPPED_TEMPLATES) if own.is_dir() else (SHIPPED_TEMPLATES,)


def _pick(override: _T | None, shared: _T) -> _T:
    return shared if override is None else override


# --------------------------------------------------------------------------- loading
# (the reader of a curriculum folder is in :mod:`tandem.prompts.reading`)


def load_curriculum(path: Path | None = None) -> Curriculum:
    """Load and validate the curriculum in folder ``path`` (None: the shipped default).

    Raises CurriculumError carrying every problem found, each with its file and field.
    """
    from tandem.prompts.reading import Reader, week_file

    root = DEFAULT_CURRICULUM if path is None else Path(path)
    reading = Reader(root).read()
    if reading.problems:
        raise CurriculumError(reading.problems, str(root))
    manifest = reading.manifest
    tracks = manifest["tracks"]
    return Curriculum(
        name=manifest["name"],
        description=manifest.get("description", ""),
        weeks_total=manifest["weeks"],
        default_track=manifest["default_track"],
        tracks=tuple(
            Track(id=track_id, label=tracks[track_id]["label"], stages=tracks[track_id]["stages"])
            for track_id in sorted(tracks)
        ),
        checkin=tuple(CheckinQuestion(**q) for q in manifest.get("checkin", [])),
        weeks=tuple(
            Week(number=number, file=week_file(number), **reading.weeks[number])
            for number in sorted(reading.weeks)
        ),
        preview=Preview(**manifest.get("preview", {})),
        source=root,
    )


def validate_curriculum(path: Path | None = None) -> list[Problem]:
    """Every problem in the curriculum folder ``path`` (None: the shipped default).

    An empty list means :func:`load_curriculum` will succeed. Problems come in a stable
    order: the manifest, then week files in order, then templates.
    """
    from tandem.prompts.reading import Reader

    root = DEFAULT_CURRICULUM if path is None else Path(path)
    return Reader(root).read().problems
