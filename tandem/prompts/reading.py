"""Reading a curriculum folder: every problem recorded, with its file and field.

:class:`Reader` reads the manifest, each week file and any template overrides of a
curriculum folder (see :mod:`tandem.prompts.curriculum`) without stopping at the first
problem; :func:`~tandem.prompts.curriculum.load_curriculum` builds the models from what it
read, and :func:`~tandem.prompts.curriculum.validate_curriculum` returns its problems.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from tandem.errors import TOML_ERRORS, toml_error_message
from tandem.matcher.types import CareerStage
from tandem.prompts.curriculum import (
    MANIFEST,
    TEMPLATE_FORMATS,
    TEMPLATE_VARIABLES,
    WEEK_TEXT_VARIABLES,
    WHOLE_FILE,
    Audience,
    CheckinKind,
    Competency,
    Phase,
    Preview,
    template_name,
)
from tandem.prompts.errors import Problem


def week_file(number: int) -> str:
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


class Reader:
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
                        f"week {number} has no file: create {week_file(number)} "
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
        except TOML_ERRORS as error:
            self.report(name, WHOLE_FILE, f"is {toml_error_message(error)}")
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
            if path.name != week_file(number) or number == 0:
                self.report(path.name, WHOLE_FILE, f"rename it to {week_file(max(number, 1))}")
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
                    week_file(number),
                    "phase",
                    f"{phase.value!r} comes after a {latest.value!r} week; phases run "
                    + " → ".join(p.value for p in Phase),
                )
            latest = max(latest, phase, key=lambda p: p.rank)

    def _check_closing_reflection(self, weeks_total: int) -> None:
        file = week_file(weeks_total)
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
