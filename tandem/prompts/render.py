"""Rendering: a week, an introduction or a reminder, as the participant will read it.

Everything here is pure: the program engine passes the curriculum, the week, the track,
the recipient's role and a context holding everything else (names, dates, links). Nothing
reads the clock, the database or the environment.

Templates are Jinja2 with ``StrictUndefined``: a variable the context lacks is an error
(:class:`CurriculumError` naming it), never a blank. HTML templates are autoescaped; week
text is filled in as plain text first and escaped when it lands in HTML. Each plain-text
template sets the subject line with ``{% set subject %}…{% endset %}``.
"""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, Self

import jinja2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem.matcher.types import Role
from tandem.prompts.curriculum import (
    SHIPPED_TEMPLATES,
    TEMPLATE_VARIABLES,
    WEEK_TEXT_VARIABLES,
    CheckinKind,
    Curriculum,
    WeekContent,
    template_name,
)
from tandem.prompts.errors import CurriculumError, Problem
from tandem.prompts.resources import Resource


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProgramVoice(_Frozen):
    """How a cohort speaks to its people: the same for every message of the cohort."""

    salutation: str = Field(default="Hello {name}", min_length=1)
    """The greeting; ``{name}`` is replaced by the name the program calls the recipient."""
    coordinator_name: str = ""
    """Who coordinates the program, as messages sign it ("" when none is set)."""
    coordinator_email: str = ""
    """Where replies reach the coordinator ("" when none is set)."""
    resources: tuple[tuple[Resource, str], ...] = ()
    """Local help the cohort names (ombuds, …), each with how to reach it."""


class MessageContext(_Frozen):
    """What the engine knows about one pair in one week, for weekly messages and reminders.

    The week number, the program length and who is the recipient come from the arguments
    of the render functions, so they cannot disagree with the curriculum. The names are
    the ones the program calls people by (first names, unless the cohort says otherwise).
    """

    mentor_name: str = Field(min_length=1)
    mentee_name: str = Field(min_length=1)
    cohort_name: str = Field(min_length=1)
    voice: ProgramVoice = ProgramVoice()
    week_start: date
    week_end: date
    checkin_url: str = Field(min_length=1)
    missed_topics: tuple[str, ...] = ()
    """Titles of earlier weeks the pair missed, oldest first; listed as a catch-up."""
    survey_url: str = ""
    """The recipient's link to the closing survey, in the final week's message ("" in
    the other weeks)."""
    first_week: int = Field(default=1, ge=1)
    """The pair's first week of topics: 1, or later for a pair that joined late (a
    rematch), whose messages count their own weeks as well as the program's."""

    @model_validator(mode="after")
    def _week_in_order(self) -> Self:
        if self.week_end < self.week_start:
            raise ValueError("week_end is before week_start")
        return self


class IntroContext(_Frozen):
    """What the engine knows when it introduces a new pair (week 0), for one recipient."""

    mentor_name: str = Field(min_length=1)
    mentee_name: str = Field(min_length=1)
    cohort_name: str = Field(min_length=1)
    voice: ProgramVoice = ProgramVoice()
    accept_url: str = Field(min_length=1)
    decline_url: str = Field(min_length=1)
    partner_full_name: str = ""
    """The partner's name as in their application ("": the name they are called by)."""
    partner_profile: tuple[tuple[str, str], ...] = ()
    """(label, value) lines the partner chose to share, in the order to show them."""
    partner_shares_email: bool = True
    """Whether the partner chose to share their e-mail address with the recipient."""
    shares_email: bool = True
    """Whether the recipient chose to share their e-mail address with the partner."""
    respond_by: date
    weeks: int | None = Field(default=None, ge=1)
    """How many weeks of topics the pair will have (a pair that joins late has fewer);
    the curriculum's length when not given."""
    confirmation: Literal["opt_out", "require_both"] = "opt_out"
    """opt_out: the pair starts at once unless one declines; require_both: after both accept."""


class ClosingContext(_Frozen):
    """What the engine knows when it thanks a pair after the program, for one recipient."""

    mentor_name: str = Field(min_length=1)
    mentee_name: str = Field(min_length=1)
    cohort_name: str = Field(min_length=1)
    voice: ProgramVoice = ProgramVoice()
    completion_letter: bool = False
    """Whether a completion letter is attached (mentees who completed the program)."""


class SurveyContext(_Frozen):
    """What the engine knows when it invites one person to an evaluation survey, or
    reminds them of it."""

    recipient_name: str = Field(min_length=1)
    """The person, as the program calls them."""
    cohort_name: str = Field(min_length=1)
    voice: ProgramVoice = ProgramVoice()
    survey: Literal["baseline", "closing", "followup"]
    survey_title: str = Field(min_length=1)
    survey_url: str = Field(min_length=1)
    questions: int = Field(ge=1)
    """How many answers the survey asks of this person (a before-and-now item counts twice)."""
    mentor_name: str = ""
    """For a mentee, the mentor their answers are about ("" for a mentor)."""
    reminder: bool = False
    """A reminder to someone who has not answered yet, rather than the invitation."""


class RenderedMessage(_Frozen):
    """One message, ready to send."""

    subject: str
    text: str
    html: str


class RenderedCheckin(_Frozen):
    id: str
    text: str
    kind: CheckinKind


class RenderedActivity(_Frozen):
    title: str
    summary: str
    steps: tuple[str, ...]


class RenderedTopic(_Frozen):
    """A week for one recipient, every variable filled in: what templates see as ``topic``."""

    number: int
    title: str
    phase: str
    competencies: tuple[str, ...]
    framing: str
    questions: tuple[str, ...]
    activity: RenderedActivity
    checkin: tuple[RenderedCheckin, ...]


def format_date(day: date) -> str:
    """``Monday 7 September 2026``: unambiguous in every English-speaking country."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def preview_context(curriculum: Curriculum, week: int) -> MessageContext:
    """The curriculum's sample pair in week ``week`` (weeks start on ``preview.start``)."""
    preview = curriculum.preview
    start = preview.start + timedelta(weeks=week - 1)
    return MessageContext(
        mentor_name=preview.mentor_name,
        mentee_name=preview.mentee_name,
        cohort_name=preview.cohort_name,
        week_start=start,
        week_end=start + timedelta(days=6),
        checkin_url=preview.checkin_url,
    )


def render_weekly(
    curriculum: Curriculum,
    week: int,
    track: str | None,
    role: Role,
    context: MessageContext,
) -> RenderedMessage:
    """The weekly topic message for one person (track None: the default track).

    The mentor sees the mentor's questions and the mentee the mentee's; both see the
    framing, the activity, their check-in questions and the check-in link.
    Raises CurriculumError for an unknown week or track, or a variable the templates or
    the week text use but the context does not provide.
    """
    content = curriculum.week(week, track)
    variables = _week_variables(curriculum, week, role, context)
    topic = _render_topic(curriculum, content, role, variables)
    return _render_message(curriculum, "weekly", {**variables, "topic": topic})


def render_reminder(
    curriculum: Curriculum,
    week: int,
    track: str | None,
    role: Role,
    context: MessageContext,
) -> RenderedMessage:
    """The check-in reminder for one person for week ``week``.

    Raises CurriculumError as :func:`render_weekly` does.
    """
    content = curriculum.week(week, track)
    variables = _week_variables(curriculum, week, role, context)
    title = _fill(content.title, variables, _week_file(content), "title")
    return _render_message(curriculum, "reminder", {**variables, "week_title": title})


def _contact(mine: bool, theirs: bool) -> str:
    """Who can write to whom, from what each chose to share: ``both`` (each sees the
    other's address), ``you_first`` (only the partner's address is shared: the recipient
    writes first), ``they_first`` (only the recipient's: the partner writes first) or
    ``neither`` (the coordinator puts them in touch)."""
    if mine and theirs:
        return "both"
    if theirs:
        return "you_first"
    return "they_first" if mine else "neither"


def render_intro(curriculum: Curriculum, role: Role, context: IntroContext) -> RenderedMessage:
    """The introduction (week 0) for one person, with accept and decline links and what
    their partner chose to share.

    Raises CurriculumError for a variable the templates use but the context lacks.
    """
    variables = _pair_variables(curriculum, role, context)
    variables.update(
        accept_url=context.accept_url,
        decline_url=context.decline_url,
        partner_full_name=context.partner_full_name or variables["partner_name"],
        partner_profile=context.partner_profile,
        contact=_contact(context.shares_email, context.partner_shares_email),
        respond_by=format_date(context.respond_by),
        confirmation=context.confirmation,
    )
    if context.weeks is not None:
        variables["weeks_total"] = context.weeks
    return _render_message(curriculum, "intro", variables)


def render_closing(curriculum: Curriculum, role: Role, context: ClosingContext) -> RenderedMessage:
    """The thank-you after the program for one person (mentees: with their letter).

    Raises CurriculumError for a variable the templates use but the context lacks.
    """
    variables = _pair_variables(curriculum, role, context)
    variables["completion_letter"] = context.completion_letter
    return _render_message(curriculum, "closing", variables)


def render_survey(curriculum: Curriculum, role: Role, context: SurveyContext) -> RenderedMessage:
    """An invitation to an evaluation survey for one person, or the reminder of it, with
    their own link. (The closing survey's invitation is the final week's message.)

    Raises CurriculumError for a variable the templates use but the context lacks.
    """
    variables = {
        **_voice_variables(context.voice, context.recipient_name),
        "recipient_name": context.recipient_name,
        "recipient_role": role.value,
        "cohort_name": context.cohort_name,
        "weeks_total": curriculum.weeks_total,
        "survey": context.survey,
        "survey_title": context.survey_title,
        "survey_url": context.survey_url,
        "survey_minutes": max(2, -(-context.questions * 10 // 60)),
        "mentor_name": context.mentor_name,
        "reminder": context.reminder,
    }
    return _render_message(curriculum, "survey", variables)


def render_overview(curriculum: Curriculum) -> str:
    """The curriculum as a Markdown page: the weeks with phase, competencies and tracks."""
    template = _environment((SHIPPED_TEMPLATES,)).get_template("overview.md.j2")
    track_titles = {
        track: tuple(
            (week.number, curriculum.week(week.number, track).title)
            for week in curriculum.weeks
            if track in week.variants and week.variants[track].title is not None
        )
        for track in curriculum.track_ids
    }
    track_weeks = {
        track: tuple(week.number for week in curriculum.weeks if track in week.variants)
        for track in curriculum.track_ids
    }
    return template.render(
        curriculum=curriculum,
        track_titles=track_titles,
        track_weeks=track_weeks,
        phases=curriculum.phases_covered(),
        competencies=curriculum.competencies_covered(),
    )


# --------------------------------------------------------------------------- internals


def _week_file(content: WeekContent) -> str:
    return f"week-{content.number:02d}.toml"


class Addressee:
    """One member of the pair as the reader sees them: "you", or their name.

    ``str()`` is "you" for the reader and the name for their partner; :attr:`capital`
    starts a sentence. Calling it with a verb in the third person gives subject and verb
    in agreement: ``mentee("sends")`` is "you send" or "Jordan sends".
    """

    def __init__(self, name: str, reader: bool, capital: bool = False) -> None:
        self.name = name
        self.reader = reader
        self.capital = capital

    def __str__(self) -> str:
        if not self.reader:
            return self.name
        return "You" if self.capital else "you"

    def __call__(self, verb: str) -> str:
        return f"{self} {second_person(verb) if self.reader else verb}"

    @property
    def your(self) -> str:
        """ "your" for the reader, "Jordan's" for the partner."""
        if not self.reader:
            return f"{self.name}'s"
        return "Your" if self.capital else "your"

    @property
    def their(self) -> str:
        if not self.reader:
            return "Their" if self.capital else "their"
        return "Your" if self.capital else "your"

    @property
    def them(self) -> str:
        """ "you" for the reader, "them" for the partner."""
        return "you" if self.reader else "them"

    def verb(self, verb: str) -> str:
        """The verb alone, agreeing: ``verb("points")`` is "point" for the reader."""
        return second_person(verb) if self.reader else verb

    @property
    def they(self) -> str:
        if not self.reader:
            return "They" if self.capital else "they"
        return "You" if self.capital else "you"


_IRREGULAR = {"is": "are", "has": "have", "does": "do", "was": "were"}


def second_person(verb: str) -> str:
    """``sends`` → ``send``, ``chooses`` → ``choose``, ``is`` → ``are``: a verb for "you".

    Only the first word changes ("writes down" → "write down").
    """
    first, space, rest = verb.partition(" ")
    if first in _IRREGULAR:
        base = _IRREGULAR[first]
    elif first.endswith("ies") and len(first) > 4:
        base = first[:-3] + "y"
    elif first.endswith(("sses", "shes", "ches", "xes", "zzes")):
        base = first[:-2]
    elif first.endswith("s") and not first.endswith("ss"):
        base = first[:-1]
    else:
        base = first
    return base + space + rest


def _voice_variables(voice: ProgramVoice, recipient: str) -> dict[str, Any]:
    """How the cohort speaks to ``recipient``: the greeting, the coordinator, local help."""
    resources = {r.value: "" for r in Resource} | {r.value: v for r, v in voice.resources}
    return {
        "greeting": voice.salutation.replace("{name}", recipient),
        "coordinator": {"name": voice.coordinator_name, "email": voice.coordinator_email},
        "resources": resources,
    }


def _pair_variables(
    curriculum: Curriculum,
    role: Role,
    context: MessageContext | IntroContext | ClosingContext,
) -> dict[str, Any]:
    mentor_name, mentee_name = context.mentor_name, context.mentee_name
    mentor = role is Role.MENTOR
    recipient = mentor_name if mentor else mentee_name
    return {
        **_voice_variables(context.voice, recipient),
        "recipient_name": recipient,
        "recipient_role": role.value,
        "partner_name": mentee_name if mentor else mentor_name,
        "mentor_name": mentor_name,
        "mentee_name": mentee_name,
        "mentor": Addressee(mentor_name, mentor),
        "mentee": Addressee(mentee_name, not mentor),
        "Mentor": Addressee(mentor_name, mentor, capital=True),
        "Mentee": Addressee(mentee_name, not mentor, capital=True),
        "cohort_name": context.cohort_name,
        "weeks_total": curriculum.weeks_total,
    }


def _week_variables(
    curriculum: Curriculum, week: int, role: Role, context: MessageContext
) -> dict[str, Any]:
    first = min(context.first_week, week)
    return {
        **_pair_variables(curriculum, role, context),
        "week": week,
        "pair_week": week - first + 1,
        "pair_weeks": curriculum.weeks_total - first + 1,
        "week_start": format_date(context.week_start),
        "week_end": format_date(context.week_end),
        "checkin_url": context.checkin_url,
        "missed_topics": context.missed_topics,
        "survey_url": context.survey_url,
    }


def _render_topic(
    curriculum: Curriculum, content: WeekContent, role: Role, variables: dict[str, Any]
) -> RenderedTopic:
    file = _week_file(content)
    questions_field = f"{role.value}_questions"
    activity = content.activity
    return RenderedTopic(
        number=content.number,
        title=_fill(content.title, variables, file, "title"),
        phase=content.phase.label,
        competencies=tuple(c.label for c in content.competencies),
        framing=_fill(content.framing, variables, file, "framing"),
        questions=tuple(
            _fill(q, variables, file, f"{questions_field}[{i}]")
            for i, q in enumerate(content.questions_for(role), start=1)
        ),
        activity=RenderedActivity(
            title=_fill(activity.title, variables, file, "activity.title"),
            summary=_fill(activity.summary, variables, file, "activity.summary"),
            steps=tuple(
                _fill(step, variables, file, f"activity.steps[{i}]")
                for i, step in enumerate(activity.steps, start=1)
            ),
        ),
        checkin=tuple(
            RenderedCheckin(id=q.id, text=q.text, kind=q.kind) for q in content.checkin_for(role)
        ),
    )


_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")

# Week text is plain text; it is escaped later, by the HTML template that shows it.
_TEXT_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=1024)
def _text_template(text: str) -> jinja2.Template:
    return _TEXT_ENV.from_string(text)


def _fill(text: str, variables: dict[str, Any], file: str, field: str) -> str:
    if "{" not in text:
        return text
    try:
        return _text_template(text).render(variables)
    except jinja2.UndefinedError as error:
        raise _undefined(error, file, field, WEEK_TEXT_VARIABLES, "week text") from error


@functools.lru_cache(maxsize=16)
def _environment(dirs: tuple[Path, ...]) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render_message(
    curriculum: Curriculum, kind: str, variables: dict[str, Any]
) -> RenderedMessage:
    environment = _environment(curriculum.template_dirs())
    text_name, html_name = (template_name(kind, fmt) for fmt in ("txt", "html"))
    text_module = _render(curriculum, environment, kind, text_name, variables, module=True)
    html = _render(curriculum, environment, kind, html_name, variables, module=False)
    assert isinstance(text_module, jinja2.environment.TemplateModule)
    subject = getattr(text_module, "subject", None)
    if subject is None:
        raise CurriculumError(
            [
                Problem(
                    file=f"templates/{text_name}",
                    field="subject",
                    message="is not set; add {% set subject %}…{% endset %} to the template",
                )
            ],
            str(curriculum.source),
        )
    return RenderedMessage(
        subject=" ".join(str(subject).split()), text=str(text_module), html=str(html)
    )


def _render(
    curriculum: Curriculum,
    environment: jinja2.Environment,
    kind: str,
    name: str,
    variables: dict[str, Any],
    module: bool,
) -> jinja2.environment.TemplateModule | str:
    try:
        template = environment.get_template(name)
        return template.make_module(variables) if module else template.render(variables)
    except jinja2.TemplateNotFound as error:
        raise CurriculumError(
            [
                Problem(
                    file=f"templates/{name}",
                    field="(file)",
                    message="is missing; restore it or remove the curriculum's templates/ copy",
                )
            ],
            str(curriculum.source),
        ) from error
    except jinja2.UndefinedError as error:
        raise _undefined(
            error, f"templates/{name}", "(template)", TEMPLATE_VARIABLES[kind], "this template"
        ) from error


def _undefined(
    error: jinja2.UndefinedError, file: str, field: str, allowed: frozenset[str], user: str
) -> CurriculumError:
    """Name the missing variable, and what could have been used instead."""
    match = _UNDEFINED.match(str(error.message))
    if match is None:
        message = f"{error.message}; {user} may use: " + ", ".join(sorted(allowed))
    else:
        message = f"variable {match.group(1)!r} is undefined; {user} may use: " + ", ".join(
            sorted(allowed)
        )
    return CurriculumError([Problem(file=file, field=field, message=message)])
