"""The weekly discussion program: curriculum data, validation and message rendering.

``load_curriculum()`` reads and validates a curriculum folder (the shipped default when
no folder is given); ``render_weekly``, ``render_intro`` and ``render_reminder`` turn it
into messages for one person. See ``curriculum.py`` for the data format and ``render.py``
for the template variables.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "CurriculumError": "errors",
    "Problem": "errors",
    "IntroContext": "render",
    "MessageContext": "render",
    "RenderedMessage": "render",
    "render_intro": "render",
    "render_reminder": "render",
    "render_weekly": "render",
}

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


def __getattr__(name: str) -> Any:
    # Loading the curriculum models and the templates takes a while: only on first use, so
    # that a command that names ``tandem.prompts.errors`` (the CLI does) starts fast.
    if name in __all__:
        return getattr(import_module(f"tandem.prompts.{_HOME.get(name, 'curriculum')}"), name)
    raise AttributeError(f"module 'tandem.prompts' has no attribute {name!r}")
