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

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import jinja2
from jinja2 import meta
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
    "week_start",  # the week's first day, formatted ("Monday 7 September 2026")
    "week_end",  # the week's last day, formatted
    "checkin_url",  # where this person answers this week's check-in (and can pause or leave)
    "missed_topics",  # titles of earlier weeks the pair missed (a list, maybe empty)
}
"""Variables available to the text of a week (framing, questions, activity)."""

TEMPLATE_VARIABLES: Mapping[str, frozenset[str]] = {
    "weekly": WEEK_TEXT_VARIABLES | {"topic"},  # topic: the week, rendered for this person
    "intro": PAIR_VARIABLES
    | {
        "accept_url",
        "decline_url",
        "partner_full_name",  # the partner's name as written in their application
        "partner_profile",  # (label, value) lines the partner chose to share
        "respond_by",  # formatted date
        "confirmation",  # "opt_out" (the program starts unless declined) or "require_both"
    },
    "reminder": WEEK_TEXT_VARIABLES | {"week_title"},
    "closing": PAIR_VARIABLES
    | {
        "completion_letter",  # true when a completion letter is attached (mentees)
    },
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


def load_curriculum(path: Path | None = None) -> Curriculum:
    """Load and validate the curriculum in folder ``path`` (None: the shipped default).

    Raises CurriculumError carrying every problem found, each with its file and field.
    """
    root = DEFAULT_CURRICULUM if path is None else Path(path)
    reading = _Reader(root).read()
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
            Week(number=number, file=_week_file(number), **reading.weeks[number])
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
    root = DEFAULT_CURRICULUM if path is None else Path(path)
    return _Reader(root).read().problems


def _week_file(number: int) -> str:
    return f"week-{number:02d}.toml"


_WEEK_FILE = re.compile(r"^week-(\d+)\.toml$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")

_MANIFEST_KEYS = ("name", "description", "weeks", "default_track", "tracks", "checkin", "preview")
_TRACK_KEYS = ("label", "stages")
_PREVIEW_KEYS = tuple(Preview.model_fields)
_TEXT_KEYS = ("title", "framing", "mentor_questions", "mentee_questions", "activity", "checkin")
_WEEK_KEYS = ("title", "phase", "competencies", *_TEXT_KEYS[1:], "variants")
_SHARED_ONLY = ("phase", "competencies")
_ACTIVITY_KEYS = ("title", "summary", "steps")
_CHECKIN_KEYS = ("id", "text", "kind", "audience")

# Week text is plain text with {{ variables }}; the renderer escapes it for HTML itself.
_TEXT_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class _Reading:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.manifest: dict[str, Any] = {}
        self.weeks: dict[int, dict[str, Any]] = {}


class _Reader:
    """Reads a curriculum folder, recording every problem instead of stopping."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.reading = _Reading()

    def report(self, file: str, field: str, message: str) -> None:
        self.reading.problems.append(Problem(file=file, field=field, message=message))

    def read(self) -> _Reading:
        if not self.root.is_dir():
            self.report(".", WHOLE_FILE, f"{self.root} is not a folder; give a curriculum folder")
            return self.reading
        manifest = self._load_toml(MANIFEST)
        weeks_total = self._check_manifest(manifest) if manifest is not None else None
        track_ids = set(self.reading.manifest.get("tracks", {}))
        found = self._week_files(weeks_total)
        if weeks_total is not None:
            for number in range(1, weeks_total + 1):
                if number not in found:
                    self.report(
                        MANIFEST,
                        "weeks",
                        f"week {number} has no file: create {_week_file(number)} "
                        f"or lower weeks (now {weeks_total})",
                    )
        for number in sorted(found):
            data = self._load_toml(found[number])
            if data is not None and self._check_week(found[number], data, track_ids):
                self.reading.weeks[number] = data
        if weeks_total is not None and len(self.reading.weeks) == weeks_total:
            self._check_phase_order()
            self._check_closing_reflection(weeks_total)
        self._check_templates()
        self.reading.problems.sort(key=_file_order)
        return self.reading

    # ------------------------------------------------------------------ files

    def _load_toml(self, name: str) -> dict[str, Any] | None:
        path = self.root / name
        if not path.is_file():
            self.report(name, WHOLE_FILE, "is missing; every curriculum folder needs one")
            return None
        try:
            with path.open("rb") as handle:
                return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            self.report(name, WHOLE_FILE, f"is not valid TOML: {error}")
        except UnicodeDecodeError:
            self.report(name, WHOLE_FILE, "is not valid TOML: save it as UTF-8")
        return None

    def _week_files(self, weeks_total: int | None) -> dict[int, str]:
        found: dict[int, str] = {}
        for path in sorted(self.root.glob("*.toml")):
            if path.name == MANIFEST:
                continue
            match = _WEEK_FILE.match(path.name)
            if match is None:
                self.report(
                    path.name,
                    WHOLE_FILE,
                    "is not a week file: name week files week-01.toml, week-02.toml, …",
                )
                continue
            number = int(match.group(1))
            if path.name != _week_file(number) or number == 0:
                self.report(path.name, WHOLE_FILE, f"rename it to {_week_file(max(number, 1))}")
                continue
            if weeks_total is not None and number > weeks_total:
                self.report(
                    path.name,
                    WHOLE_FILE,
                    f"week {number} does not exist: the program has {weeks_total} weeks "
                    f"(weeks = {weeks_total} in {MANIFEST}); remove the file or raise weeks",
                )
                continue
            found[number] = path.name
        return found

    # ------------------------------------------------------------------ manifest

    def _check_manifest(self, data: dict[str, Any]) -> int | None:
        self._unknown_keys(MANIFEST, "", data, _MANIFEST_KEYS)
        self._string(MANIFEST, "name", data.get("name"))
        if "description" in data:
            self._string(MANIFEST, "description", data["description"], allow_empty=True)
        weeks = data.get("weeks")
        weeks_total: int | None = None
        if weeks is None:
            self.report(MANIFEST, "weeks", "is missing; set it to the program's length in weeks")
        elif not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= 99:
            self.report(MANIFEST, "weeks", f"must be a whole number from 1 to 99, not {weeks!r}")
        else:
            weeks_total = weeks
        tracks = self._check_tracks(data.get("tracks"))
        default = data.get("default_track")
        if default is None:
            self.report(
                MANIFEST,
                "default_track",
                "is missing; name the track for mentees without a career stage",
            )
        elif tracks and default not in tracks:
            self.report(
                MANIFEST,
                "default_track",
                f"unknown track {default!r}{_hint(default, tracks)}; declared tracks: "
                + ", ".join(sorted(tracks)),
            )
        if "checkin" in data:
            self._check_checkin(MANIFEST, "checkin", data["checkin"], allow_empty=True)
        if "preview" in data:
            self._check_preview(data["preview"])
        self.reading.manifest = data
        if tracks is None:
            data["tracks"] = {}
        return weeks_total

    def _check_tracks(self, tracks: Any) -> dict[str, Any] | None:
        if not isinstance(tracks, dict) or not tracks:
            self.report(MANIFEST, "tracks", "declare at least one track as [tracks.<id>]")
            return None
        seen: dict[CareerStage, str] = {}
        stage_ids = [stage.value for stage in CareerStage]
        for track_id in sorted(tracks):
            field = f"tracks.{track_id}"
            track = tracks[track_id]
            if not _ID.match(track_id):
                self.report(MANIFEST, field, "track ids use lowercase letters, digits and _")
            if not isinstance(track, dict):
                self.report(MANIFEST, field, "must be a table with label and stages")
                continue
            self._unknown_keys(MANIFEST, field, track, _TRACK_KEYS)
            self._string(MANIFEST, f"{field}.label", track.get("label"))
            stages = track.setdefault("stages", [])
            if not isinstance(stages, list):
                self.report(MANIFEST, f"{field}.stages", "must be a list of career stages")
                continue
            for position, stage in enumerate(stages, start=1):
                stage_field = f"{field}.stages[{position}]"
                if stage not in stage_ids:
                    self.report(
                        MANIFEST,
                        stage_field,
                        f"unknown career stage {stage!r}{_hint(stage, stage_ids)}; use one "
                        "of: " + ", ".join(stage_ids),
                    )
                    continue
                career_stage = CareerStage(stage)
                if career_stage in seen:
                    self.report(
                        MANIFEST,
                        stage_field,
                        f"{stage!r} is already in track {seen[career_stage]!r}; a career "
                        "stage belongs to one track",
                    )
                seen[career_stage] = track_id
        return tracks

    def _check_preview(self, preview: Any) -> None:
        if not isinstance(preview, dict):
            self.report(MANIFEST, "preview", "must be a table")
            return
        self._unknown_keys(MANIFEST, "preview", preview, _PREVIEW_KEYS)
        for key in ("mentor_name", "mentee_name", "cohort_name", "checkin_url"):
            if key in preview:
                self._string(MANIFEST, f"preview.{key}", preview[key])
        if "start" in preview and type(preview["start"]) is not date:
            self.report(MANIFEST, "preview.start", "must be a date such as 2026-09-07")

    # ------------------------------------------------------------------ weeks

    def _check_week(self, file: str, data: dict[str, Any], track_ids: set[str]) -> bool:
        before = len(self.reading.problems)
        self._unknown_keys(file, "", data, _WEEK_KEYS)
        phase = data.get("phase")
        phases = [p.value for p in Phase]
        if phase is None:
            self.report(file, "phase", "is missing; use one of: " + ", ".join(phases))
        elif phase not in phases:
            self.report(
                file,
                "phase",
                f"unknown phase {phase!r}{_hint(phase, phases)}; use one of: " + ", ".join(phases),
            )
        self._check_competencies(file, data.get("competencies"))
        self._check_text_fields(file, "", data, required=True)
        variants = data.get("variants", {})
        if not isinstance(variants, dict):
            self.report(file, "variants", "must be a table of [variants.<track>] tables")
        else:
            for track in sorted(variants):
                self._check_variant(file, track, variants[track], track_ids)
        return len(self.reading.problems) == before

    def _check_competencies(self, file: str, competencies: Any) -> None:
        ids = [c.value for c in Competency]
        if not isinstance(competencies, list) or not competencies:
            self.report(
                file,
                "competencies",
                "list at least one competency; use: " + ", ".join(ids),
            )
            return
        for position, competency in enumerate(competencies, start=1):
            if competency not in ids:
                self.report(
                    file,
                    f"competencies[{position}]",
                    f"unknown competency {competency!r}{_hint(competency, ids)}; use one of: "
                    + ", ".join(ids),
                )
        if len(set(map(str, competencies))) != len(competencies):
            self.report(file, "competencies", "lists a competency twice")

    def _check_variant(self, file: str, track: str, variant: Any, track_ids: set[str]) -> None:
        field = f"variants.{track}"
        if track_ids and track not in track_ids:
            self.report(
                file,
                field,
                f"unknown track {track!r}{_hint(track, track_ids)}; tracks declared in "
                f"{MANIFEST}: " + ", ".join(sorted(track_ids)),
            )
        if not isinstance(variant, dict):
            self.report(file, field, "must be a table of fields to override")
            return
        for key in _SHARED_ONLY:
            if key in variant:
                self.report(
                    file,
                    f"{field}.{key}",
                    f"{key} cannot differ by track; set it once, outside [variants]",
                )
        self._unknown_keys(file, field, variant, _TEXT_KEYS + _SHARED_ONLY)
        if not any(key in variant for key in _TEXT_KEYS):
            self.report(
                file,
                field,
                "overrides nothing; override at least one of: " + ", ".join(_TEXT_KEYS),
            )
        self._check_text_fields(file, f"{field}.", variant, required=False)

    def _check_text_fields(
        self, file: str, prefix: str, data: dict[str, Any], required: bool
    ) -> None:
        for key in ("title", "framing"):
            if (key in data or required) and self._string(file, prefix + key, data.get(key)):
                self._template_text(file, prefix + key, data[key])
        for key in ("mentor_questions", "mentee_questions"):
            if key in data or required:
                self._questions(file, prefix + key, data.get(key))
        if "activity" in data or required:
            self._check_activity(file, prefix + "activity", data.get("activity"))
        if "checkin" in data:
            self._check_checkin(file, prefix + "checkin", data["checkin"], allow_empty=False)

    def _questions(self, file: str, field: str, questions: Any) -> None:
        if questions is None:
            self.report(file, field, "is missing; give a list of questions")
        elif not isinstance(questions, list):
            self.report(file, field, "must be a list of questions")
        elif not questions:
            self.report(file, field, "is empty; give at least one question")
        else:
            for position, question in enumerate(questions, start=1):
                if self._string(file, f"{field}[{position}]", question):
                    self._template_text(file, f"{field}[{position}]", question)

    def _check_activity(self, file: str, field: str, activity: Any) -> None:
        if not isinstance(activity, dict):
            self.report(
                file, field, "is missing; give an [activity] table with title, summary and steps"
            )
            return
        self._unknown_keys(file, field, activity, _ACTIVITY_KEYS)
        for key in ("title", "summary"):
            if self._string(file, f"{field}.{key}", activity.get(key)):
                self._template_text(file, f"{field}.{key}", activity[key])
        steps = activity.get("steps")
        if not isinstance(steps, list) or not steps:
            self.report(file, f"{field}.steps", "give at least one step, as a list of strings")
            return
        for position, step in enumerate(steps, start=1):
            if self._string(file, f"{field}.steps[{position}]", step):
                self._template_text(file, f"{field}.steps[{position}]", step)

    def _check_checkin(self, file: str, field: str, questions: Any, allow_empty: bool) -> None:
        if not isinstance(questions, list) or not (questions or allow_empty):
            self.report(file, field, "give at least one [[checkin]] question")
            return
        kinds = [kind.value for kind in CheckinKind]
        audiences = [audience.value for audience in Audience]
        seen: set[str] = set()
        for position, question in enumerate(questions, start=1):
            where = f"{field}[{position}]"
            if not isinstance(question, dict):
                self.report(file, where, "must be a table with id, text and kind")
                continue
            self._unknown_keys(file, where, question, _CHECKIN_KEYS)
            qid = question.get("id")
            if not isinstance(qid, str) or not _ID.match(qid):
                self.report(file, f"{where}.id", "give an id of lowercase letters, digits and _")
            elif qid in seen:
                self.report(file, f"{where}.id", f"{qid!r} is used twice in this list")
            else:
                seen.add(qid)
            text = question.get("text")
            if (
                self._string(file, f"{where}.text", text)
                and isinstance(text, str)
                and ("{{" in text or "{%" in text)
            ):
                self.report(
                    file,
                    f"{where}.text",
                    "check-in text is shown as written; remove the template markup",
                )
            kind = question.get("kind")
            if kind not in kinds:
                self.report(
                    file,
                    f"{where}.kind",
                    f"unknown check-in kind {kind!r}{_hint(kind, kinds)}; use one of: "
                    + ", ".join(kinds),
                )
            audience = question.get("audience", Audience.BOTH.value)
            if audience not in audiences:
                self.report(
                    file,
                    f"{where}.audience",
                    f"unknown audience {audience!r}; use one of: " + ", ".join(audiences),
                )

    # ------------------------------------------------------------------ whole program

    def _check_phase_order(self) -> None:
        latest = Phase.ALIGNMENT
        for number in sorted(self.reading.weeks):
            phase = Phase(self.reading.weeks[number]["phase"])
            if phase.rank < latest.rank:
                self.report(
                    _week_file(number),
                    "phase",
                    f"{phase.value!r} comes after a {latest.value!r} week; phases run "
                    + " → ".join(p.value for p in Phase),
                )
            latest = max(latest, phase, key=lambda p: p.rank)

    def _check_closing_reflection(self, weeks_total: int) -> None:
        file = _week_file(weeks_total)
        final = self.reading.weeks[weeks_total]
        lists = [("checkin", final.get("checkin", []))]
        lists += [
            (f"variants.{track}.checkin", variant["checkin"])
            for track, variant in sorted(final.get("variants", {}).items())
            if "checkin" in variant
        ]
        for field, questions in lists:
            if not any(q.get("audience") == Audience.MENTOR.value for q in questions):
                self.report(
                    file,
                    field,
                    "the final week needs the mentor's closing reflection: add at least one "
                    'check-in question with audience = "mentor"',
                )

    def _check_templates(self) -> None:
        own = self.root / "templates"
        if not own.is_dir():
            return
        known = {
            template_name(kind, fmt): kind
            for kind in TEMPLATE_VARIABLES
            for fmt in TEMPLATE_FORMATS
        }
        for path in sorted(own.iterdir()):
            file = f"templates/{path.name}"
            if path.name not in known:
                self.report(
                    file,
                    WHOLE_FILE,
                    "is not a message template Tandem uses; expected one of: "
                    + ", ".join(sorted(known)),
                )
                continue
            allowed = TEMPLATE_VARIABLES[known[path.name]]
            self._template_text(
                file, "(template)", path.read_text(encoding="utf-8"), allowed, "this template"
            )

    # ------------------------------------------------------------------ values

    def _template_text(
        self,
        file: str,
        field: str,
        text: str,
        allowed: frozenset[str] = WEEK_TEXT_VARIABLES,
        user: str = "week text",
    ) -> None:
        try:
            parsed = _TEXT_ENV.parse(text)
        except jinja2.TemplateSyntaxError as error:
            self.report(file, field, f"template syntax error on line {error.lineno}: {error}")
            return
        for name in sorted(meta.find_undeclared_variables(parsed) - allowed):
            self.report(
                file,
                field,
                f"unknown template variable {name!r}{_hint(name, allowed)}; {user} may use: "
                + ", ".join(sorted(allowed)),
            )

    def _string(self, file: str, field: str, value: Any, allow_empty: bool = False) -> bool:
        if value is None:
            self.report(file, field, "is missing")
            return False
        if not isinstance(value, str):
            self.report(file, field, f"must be text, not {type(value).__name__}")
            return False
        if not value.strip() and not allow_empty:
            self.report(file, field, "is empty")
            return False
        return True

    def _unknown_keys(
        self, file: str, prefix: str, data: dict[str, Any], known: Iterable[str]
    ) -> None:
        known = list(known)
        for key in data:
            if key not in known:
                field = f"{prefix}.{key}" if prefix else key
                self.report(
                    file,
                    field,
                    f"unknown field{_hint(key, known)}; known fields here: " + ", ".join(known),
                )


def _file_order(problem: Problem) -> tuple[int, int, str]:
    """Manifest first, then week files by number, other files, templates; stable inside."""
    if problem.file in (".", MANIFEST):
        return (0, 0, "")
    match = _WEEK_FILE.match(problem.file)
    if match is not None:
        return (1, int(match.group(1)), problem.file)
    return (3 if problem.file.startswith("templates/") else 2, 0, problem.file)


def _hint(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a near miss, else nothing."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
