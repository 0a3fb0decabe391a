"""Rendering the same message for many people, fast, with output identical to :mod:`render`.

A weekly message differs between pairs only in the two names and the links (check-in, and
in the final week the closing survey); a survey invitation or reminder only in the
recipient's name, their mentor's and the link. The batch renderer renders each (week,
track, role, missed topics, name shapes) once with placeholder names — words of the same
lengths, separated by the same spaces, so that word-wrapping lays the text out exactly as
it would for the real names — and then puts the real names and links in. A result that
still holds a placeholder (a template that transforms a name, say) is rendered directly
instead, so the output never differs from :func:`render.render_weekly` (or
:func:`render.render_survey`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import markupsafe

from tandem.matcher.types import Role
from tandem.prompts.curriculum import Curriculum
from tandem.prompts.render import (
    MessageContext,
    RenderedMessage,
    SurveyContext,
    render_reminder,
    render_survey,
    render_weekly,
)

_MARK = "\ue000"
_FILL = "\ue001"
_LINK = "\ue002"
_SURVEY = "\ue005"
_SHORT = {"a": "\ue003", "b": "\ue004"}
"""One-letter words of the mentor's (a) and the mentee's (b) name."""
_PLACEHOLDER_CHARS = (_MARK, _LINK, _SURVEY, *_SHORT.values())


@dataclass(frozen=True)
class _Placeholder:
    """Placeholder words for one name, and a pattern that finds them however wrapped."""

    text: str
    pattern: re.Pattern[str]
    words: int


def _placeholder(kind: str, name: str) -> _Placeholder:
    lengths = [len(word) for word in name.split(" ")]
    words = [_MARK + kind + _FILL * (n - 2) if n >= 2 else _SHORT[kind] for n in lengths]
    # Each word carries its name's kind, so mentor and mentee placeholders never mix; the
    # pattern anchors on the whole sequence, whatever whitespace wrapping put between.
    pattern = re.compile(r"(\s+)".join(re.escape(w) for w in words))
    return _Placeholder(" ".join(words), pattern, len(words))


def _shape(name: str) -> tuple[int, ...]:
    return tuple(len(word) for word in name.split(" "))


Render = Callable[[Curriculum, int, str | None, Role, MessageContext], RenderedMessage]

_Slot = tuple[str, tuple[str, ...]]
"""A place for a name or a link: ("a" mentor / "b" mentee / "link" / "survey", the
whitespace between a name's words)."""
_LINKS = ("link", "survey")


def _segments(
    rendered: str, names: dict[str, _Placeholder], links: dict[str, str]
) -> list[str | _Slot]:
    """Split a placeholder rendering into literal text and slots, once per cache entry."""
    finder = re.compile(
        "|".join(
            [
                *(f"(?P<{kind}>{name.pattern.pattern})" for kind, name in names.items()),
                *(f"(?P<{kind}>{re.escape(text)})" for kind, text in links.items() if text),
            ]
        )
    )
    out: list[str | _Slot] = []
    position = 0
    for match in finder.finditer(rendered):
        out.append(rendered[position : match.start()])
        kind = match.lastgroup or ""
        spaces = tuple(re.findall(r"\s+", match.group(0))) if kind not in _LINKS else ()
        out.append((kind, spaces))
        position = match.end()
    out.append(rendered[position:])
    return out


def _fill(segments: list[str | _Slot], values: dict[str, list[str]], links: dict[str, str]) -> str:
    out: list[str] = []
    names: dict[_Slot, str] = {}  # a name with the same line breaks is filled in once
    for segment in segments:
        if isinstance(segment, str):
            out.append(segment)
            continue
        kind, spaces = segment
        if kind in _LINKS:
            out.append(links[kind])
            continue
        name = names.get(segment)
        if name is None:
            words = values[kind]
            if len(spaces) != len(words) - 1:  # pragma: no cover - guarded by the cache key
                raise ValueError("name shape changed")
            parts = [words[0]]
            for space, word in zip(spaces, words[1:], strict=True):
                parts += [space, word]
            name = names[segment] = "".join(parts)
        out.append(name)
    return "".join(out)


class BatchRenderer:
    """Weekly topics, reminders and survey messages for many people of one curriculum."""

    def __init__(self, curriculum: Curriculum) -> None:
        self.curriculum = curriculum
        self._cache: dict[tuple[object, ...], tuple[tuple[list[str | _Slot], ...], bool]] = {}
        self.direct = 0
        """How many messages needed a direct render (placeholders did not survive)."""

    def weekly(
        self, week: int, track: str | None, role: Role, context: MessageContext
    ) -> RenderedMessage:
        return self._week(render_weekly, week, track, role, context)

    def reminder(
        self, week: int, track: str | None, role: Role, context: MessageContext
    ) -> RenderedMessage:
        return self._week(render_reminder, week, track, role, context)

    def survey(self, role: Role, context: SurveyContext) -> RenderedMessage:
        """A survey's invitation or reminder (as :func:`render.render_survey`)."""
        key = (
            "survey",
            role,
            context.survey,
            context.reminder,
            context.cohort_name,
            context.voice,
            context.survey_title,
            context.questions,
            _shape(context.recipient_name),
            _shape(context.mentor_name) if context.mentor_name else None,
            len(context.survey_url),
        )

        def render(names: dict[str, str], links: dict[str, str]) -> RenderedMessage:
            changed = context.model_copy(
                update={
                    "recipient_name": names["a"],
                    "mentor_name": names["b"],
                    "survey_url": links["link"],
                }
            )
            return render_survey(self.curriculum, role, changed)

        names = {"a": context.recipient_name, "b": context.mentor_name}
        return self._cached(key, names, {"link": context.survey_url}, render)

    def _week(
        self, render: Render, week: int, track: str | None, role: Role, context: MessageContext
    ) -> RenderedMessage:
        key = (
            render.__name__,
            week,
            track,
            role,
            context.cohort_name,
            context.voice,
            context.week_start,
            context.week_end,
            context.missed_topics,
            context.first_week,
            _shape(context.mentor_name),
            _shape(context.mentee_name),
            len(context.checkin_url),
            len(context.survey_url),
        )

        def rendered(names: dict[str, str], links: dict[str, str]) -> RenderedMessage:
            changed = context.model_copy(
                update={
                    "mentor_name": names["a"],
                    "mentee_name": names["b"],
                    "checkin_url": links["link"],
                    "survey_url": links["survey"],
                }
            )
            return render(self.curriculum, week, track, role, changed)

        names = {"a": context.mentor_name, "b": context.mentee_name}
        links = {"link": context.checkin_url, "survey": context.survey_url}
        return self._cached(key, names, links, rendered)

    def _cached(
        self,
        key: tuple[object, ...],
        names: dict[str, str],
        links: dict[str, str],
        render: Callable[[dict[str, str], dict[str, str]], RenderedMessage],
    ) -> RenderedMessage:
        """``render(names, links)``, from one rendering with placeholders per ``key``.

        ``names`` are "a" and "b" (an empty one is left as it is), ``links`` "link" and
        "survey"; ``key`` must hold everything else the message depends on, and the shape
        of each name and the length of each link.
        """
        cached = self._cache.get(key)
        if cached is None:
            holders = {kind: _placeholder(kind, name) for kind, name in names.items() if name}
            marks = {"link": _LINK, "survey": _SURVEY}
            fake = {kind: marks[kind] * len(url) for kind, url in links.items()}
            template = render(
                {
                    kind: holders[kind].text if kind in holders else name
                    for kind, name in names.items()
                },
                fake,
            )
            pieces = tuple(
                _segments(t, holders, fake)
                for t in (template.subject, template.text, template.html)
            )
            left = any(
                c in str(piece)
                for part in pieces
                for piece in part
                if isinstance(piece, str)
                for c in _PLACEHOLDER_CHARS
            )
            cached = (pieces, left)
            self._cache[key] = cached
        pieces, left = cached
        if left:
            self.direct += 1
            return render(names, links)
        plain = {kind: name.split(" ") for kind, name in names.items() if name}
        escaped = {k: [str(markupsafe.escape(w)) for w in v] for k, v in plain.items()}
        escaped_links = {k: str(markupsafe.escape(v)) for k, v in links.items()}
        parts = [
            _fill(pieces[0], plain, links),
            _fill(pieces[1], plain, links),
            _fill(pieces[2], escaped, escaped_links),
        ]
        return RenderedMessage(subject=parts[0], text=parts[1], html=parts[2])
