"""The weekly discussion program: curriculum data, validation and message rendering.

``load_curriculum()`` reads and validates a curriculum folder (the shipped default when
no folder is given); ``render_weekly``, ``render_intro`` and ``render_reminder`` turn it
into messages for one person. See ``curriculum.py`` for the data format and ``render.py``
for the template variables.
"""

from tandem.prompts.curriculum import (
    Audience,
    CheckinKind,
    CheckinQuestion,
    Competency,
    Curriculum,
    Phase,
    WeekContent,
    load_curriculum,
    validate_curriculum,
)
from tandem.prompts.errors import CurriculumError, Problem
from tandem.prompts.render import (
    IntroContext,
    MessageContext,
    RenderedMessage,
    render_intro,
    render_reminder,
    render_weekly,
)

__all__ = [
    "Audience",
    "CheckinKind",
    "CheckinQuestion",
    "Competency",
    "Curriculum",
    "CurriculumError",
    "IntroContext",
    "MessageContext",
    "Phase",
    "Problem",
    "RenderedMessage",
    "WeekContent",
    "load_curriculum",
    "render_intro",
    "render_reminder",
    "render_weekly",
    "validate_curriculum",
]
