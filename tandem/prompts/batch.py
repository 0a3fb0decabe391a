"""Rendering the same week for many pairs, fast, with output identical to :mod:`render`.

A weekly message differs between pairs only in the two names and the check-in link. The
batch renderer renders each (week, track, role, missed topics, name shapes) once with
placeholder names — words of the same lengths, separated by the same spaces, so that
word-wrapping lays the text out exactly as it would for the real names — and then puts
the real names and link in. A result that still holds a placeholder (a template that
transforms a name, say) is rendered directly instead, so the output never differs from
:func:`render.render_weekly`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import markupsafe

from tandem.matcher.types import Role
from tandem.prompts.curriculum import Curriculum
from tandem.prompts.render import MessageContext, RenderedMessage, render_reminder, render_weekly

_MARK = "\ue000"
_FILL = "\ue001"
_LINK = "\ue002"
_SHORT = {"a": "\ue003", "b": "\ue004"}
"""One-letter words of the mentor's (a) and the mentee's (b) name."""
_PLACEHOLDER_CHARS = (_MARK, _LINK, *_SHORT.values())


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
"""A place for a name: ("a" mentor / "b" mentee / "link", the whitespace between its words)."""


def _segments(
    rendered: str, mentor: _Placeholder, mentee: _Placeholder, link: str
) -> list[str | _Slot]:
    """Split a placeholder rendering into literal text and slots, once per cache entry."""
    finder = re.compile(
        "|".join(
            [
                f"(?P<a>{mentor.pattern.pattern})",
                f"(?P<b>{mentee.pattern.pattern})",
                f"(?P<link>{re.escape(link)})",
            ]
        )
    )
    out: list[str | _Slot] = []
    position = 0
    for match in finder.finditer(rendered):
        out.append(rendered[position : match.start()])
        kind = match.lastgroup or ""
        spaces = tuple(re.findall(r"\s+", match.group(0))) if kind != "link" else ()
        out.append((kind, spaces))
        position = match.end()
    out.append(rendered[position:])
    return out


def _fill(segments: list[str | _Slot], values: dict[str, list[str]], link: str) -> str:
    out: list[str] = []
    names: dict[_Slot, str] = {}  # a name with the same line breaks is filled in once
    for segment in segments:
        if isinstance(segment, str):
            out.append(segment)
            continue
        kind, spaces = segment
        if kind == "link":
            out.append(link)
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
    """Weekly topics and reminders for many pairs of one curriculum."""

    def __init__(self, curriculum: Curriculum) -> None:
        self.curriculum = curriculum
        self._cache: dict[tuple[object, ...], tuple[tuple[list[str | _Slot], ...], bool]] = {}
        self.direct = 0
        """How many messages needed a direct render (placeholders did not survive)."""

    def weekly(
        self, week: int, track: str | None, role: Role, context: MessageContext
    ) -> RenderedMessage:
        return self._render(render_weekly, week, track, role, context)

    def reminder(
        self, week: int, track: str | None, role: Role, context: MessageContext
    ) -> RenderedMessage:
        return self._render(render_reminder, week, track, role, context)

    def _render(
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
        )
        cached = self._cache.get(key)
        if cached is None:
            mentor = _placeholder("a", context.mentor_name)
            mentee = _placeholder("b", context.mentee_name)
            link = _LINK * len(context.checkin_url)
            template = render(
                self.curriculum,
                week,
                track,
                role,
                context.model_copy(
                    update={
                        "mentor_name": mentor.text,
                        "mentee_name": mentee.text,
                        "checkin_url": link,
                    }
                ),
            )
            pieces = tuple(
                _segments(t, mentor, mentee, link)
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
            return render(self.curriculum, week, track, role, context)
        plain = {"a": context.mentor_name.split(" "), "b": context.mentee_name.split(" ")}
        escaped = {k: [str(markupsafe.escape(w)) for w in v] for k, v in plain.items()}
        url = context.checkin_url
        parts = [
            _fill(pieces[0], plain, url),
            _fill(pieces[1], plain, url),
            _fill(pieces[2], escaped, str(markupsafe.escape(url))),
        ]
        return RenderedMessage(subject=parts[0], text=parts[1], html=parts[2])
