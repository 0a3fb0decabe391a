"""The evaluation surveys: baseline, closing and follow-up instruments, as validated data.

The instruments live beside the curriculum in ``surveys/``: ``competencies.toml`` holds the
mentoring-competency items (two per competency of :class:`Competency`, each with a mentor
self-assessment text and the mentee's text about their mentor), and ``baseline.toml``,
``closing.toml`` and ``followup.toml`` each describe one instrument. An instrument that
includes the competency items asks mentors the item under its id and mentees the matching
item under ``mentor_<id>``; a retrospective instrument (the closing survey) also asks each
competency item as it was before the program, answered in the column ``<id>_before``.

The files load completely or raise :class:`SurveyError` listing every problem, with the
file and field, like the curriculum.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tandem.errors import TOML_ERRORS, TandemError, toml_error_message
from tandem.matcher.types import Role
from tandem.prompts.curriculum import Competency
from tandem.prompts.errors import Problem

SURVEYS_DIR = Path(__file__).parent / "surveys"
"""The instruments shipped with Tandem."""

ITEM_BANK = "competencies.toml"
BEFORE_SUFFIX = "_before"
"""The column of a retrospective rating: ``<item id>_before``."""
MENTEE_PREFIX = "mentor_"
"""A mentee's rating of their mentor on a competency item: ``mentor_<item id>``."""


class SurveyError(TandemError):
    """The survey files cannot be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: Iterable[Problem] = (), message: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if message is not None:
            pass
        elif len(self.problems) == 1:
            message = f"{self.problems[0]} (surveys)"
        else:
            lines = [f"{len(self.problems)} problems in the surveys:"]
            lines.extend(f"  {problem}" for problem in self.problems)
            message = "\n".join(lines)
        super().__init__(message)


class SurveyName(StrEnum):
    """The three instruments, in the order a cohort meets them."""

    BASELINE = "baseline"
    CLOSING = "closing"
    FOLLOWUP = "followup"


class ItemRole(StrEnum):
    """Who is asked an item."""

    MENTOR = "mentor"
    MENTEE = "mentee"
    BOTH = "both"

    def includes(self, role: Role) -> bool:
        return self is ItemRole.BOTH or self.value == role.value


class ItemKind(StrEnum):
    """How an item is answered."""

    RATING = "rating"
    """A whole number from the item's ``min`` to its ``max``."""
    YES_NO = "yes_no"
    TEXT = "text"


TEXT_MAX = 4000
"""The longest free-text answer stored."""

_SCALE_NOTE = re.compile(r"\s*\(\s*(\d+\s*=[^()]*)\)\s*$")
"""A rating item's own scale, written at the end of its text: "(1 = never, 5 = always)"."""
_ANCHOR = re.compile(r"(\d+)\s*=\s*([^,;]+)")


def scale_anchors(text: str) -> tuple[tuple[int, str], ...]:
    """The labelled points of a scale written as "1 = not at all, 7 = extremely"."""
    return tuple((int(n), label.strip()) for n, label in _ANCHOR.findall(text))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SurveyItem(_Frozen):
    """One question of an instrument, answered in the column named by ``id``."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    competency: Competency | None = None
    role: ItemRole
    kind: ItemKind
    min: int | None = None
    max: int | None = None
    retrospective: bool = False
    """Also asked as it was before the program, in the column ``<id>_before``."""
    text: str = Field(min_length=1)

    @property
    def before_column(self) -> str:
        return f"{self.id}{BEFORE_SUFFIX}"

    @property
    def question(self) -> str:
        """The text without a scale written at its end (shown by the scale instead)."""
        return _SCALE_NOTE.sub("", self.text) if self.kind is ItemKind.RATING else self.text

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "competency": self.competency.value if self.competency else None,
            "role": self.role.value,
            "kind": self.kind.value,
            "min": self.min,
            "max": self.max,
            "retrospective": self.retrospective,
            "text": self.text,
        }


class Instrument(_Frozen):
    """One survey: its items in the order they are asked."""

    id: SurveyName
    title: str
    description: str
    items: tuple[SurveyItem, ...]
    stems: dict[str, str] = Field(default_factory=dict)
    """Lead-in sentences shown before the competency items, by role (and ``before``)."""

    def item(self, item_id: str) -> SurveyItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def anchors(self, item: SurveyItem) -> tuple[tuple[int, str], ...]:
        """The labelled points of a rating item's scale: the item bank's scale for the
        competency items, else the scale written at the end of the item's text."""
        if item.kind is not ItemKind.RATING:
            return ()
        if item.competency is not None and "scale" in self.stems:
            return scale_anchors(self.stems["scale"])
        note = _SCALE_NOTE.search(item.text)
        return scale_anchors(note.group(1)) if note else ()

    def items_for(self, role: Role) -> tuple[SurveyItem, ...]:
        return tuple(i for i in self.items if i.role.includes(role))

    def columns(self) -> dict[str, SurveyItem]:
        """Every answer column → its item (``<id>_before`` for retrospective ratings)."""
        found: dict[str, SurveyItem] = {}
        for item in self.items:
            found[item.id] = item
            if item.retrospective:
                found[item.before_column] = item
        return found

    def competency_items(self, role: Role) -> dict[Competency, tuple[SurveyItem, ...]]:
        """The competency items asked of ``role``, by competency, in the enum's order."""
        grouped: dict[Competency, list[SurveyItem]] = {}
        for item in self.items_for(role):
            if item.competency is not None:
                grouped.setdefault(item.competency, []).append(item)
        return {c: tuple(grouped[c]) for c in Competency if c in grouped}

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id.value, "items": [i.as_dict() for i in self.items]}


# --------------------------------------------------------------------------- files


class _BankItem(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    competency: Competency
    mentor: str = Field(min_length=1)
    mentee: str = Field(min_length=1)


class _Bank(_Frozen):
    min: int
    max: int
    scale: str = Field(min_length=1)
    items: tuple[_BankItem, ...] = Field(min_length=1)


class _FileItem(_Frozen):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    role: ItemRole
    kind: ItemKind
    min: int | None = None
    max: int | None = None
    text: str = Field(min_length=1)


class _InstrumentFile(_Frozen):
    id: SurveyName
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    include_competency_items: bool
    retrospective: bool = False
    mentor_stem: str | None = None
    mentee_stem: str | None = None
    before_stem: str | None = None
    items: tuple[_FileItem, ...] = ()


ITEMS_PER_COMPETENCY = (2, 3)
"""Each competency has two or three items: enough for a mean, few enough to finish."""


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def report(self, file: str, field: str, message: str) -> None:
        self.problems.append(Problem(file=file, field=field, message=message))

    def load(self, name: str, model: type[BaseModel]) -> Any:
        path = self.root / name
        if not path.is_file():
            self.report(name, "(file)", f"file is missing; create {name} in {self.root.name}/")
            return None
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except TOML_ERRORS as error:
            self.report(name, "(file)", toml_error_message(error))
            return None
        try:
            return model.model_validate(data)
        except ValidationError as error:
            for item in error.errors():
                self.report(name, _field(item["loc"], data), _message(item))
            return None

    def check_bank(self, bank: _Bank) -> None:
        if bank.min >= bank.max:
            self.report(ITEM_BANK, "max", f"must be greater than min ({bank.min})")
        seen: set[str] = set()
        counts: dict[Competency, int] = {}
        for index, item in enumerate(bank.items, start=1):
            if item.id in seen:
                self.report(ITEM_BANK, f"items[{index}].id", f"{item.id!r} is used twice")
            seen.add(item.id)
            counts[item.competency] = counts.get(item.competency, 0) + 1
        low, high = ITEMS_PER_COMPETENCY
        for competency in Competency:
            count = counts.get(competency, 0)
            if not low <= count <= high:
                self.report(
                    ITEM_BANK,
                    "items",
                    f"competency {competency.value!r} has {count} items; give it {low} or {high}",
                )

    def build(self, file: str, data: _InstrumentFile, bank: _Bank | None) -> Instrument | None:
        if data.id.value != Path(file).stem:
            self.report(file, "id", f"is {data.id.value!r}; it must match the file name")
        items: list[SurveyItem] = []
        if data.include_competency_items and bank is not None:
            for entry in bank.items:
                for role, item_id, text in (
                    (ItemRole.MENTOR, entry.id, entry.mentor),
                    (ItemRole.MENTEE, f"{MENTEE_PREFIX}{entry.id}", entry.mentee),
                ):
                    items.append(
                        SurveyItem(
                            id=item_id,
                            competency=entry.competency,
                            role=role,
                            kind=ItemKind.RATING,
                            min=bank.min,
                            max=bank.max,
                            retrospective=data.retrospective,
                            text=text,
                        )
                    )
        for index, extra in enumerate(data.items, start=1):
            where = f"items[{index}]"
            if extra.kind is ItemKind.RATING:
                if extra.min is None or extra.max is None:
                    self.report(file, where, "a rating item needs min and max")
                    continue
                if extra.min >= extra.max:
                    self.report(file, f"{where}.max", f"must be greater than min ({extra.min})")
                    continue
            elif extra.min is not None or extra.max is not None:
                self.report(file, where, f"a {extra.kind.value} item has no min or max")
                continue
            items.append(SurveyItem(**extra.model_dump()))
        columns: set[str] = set()
        for item in items:
            names = [item.id, *([item.before_column] if item.retrospective else [])]
            for name in names:
                if name in columns:
                    self.report(file, "items", f"the column {name!r} is used by two items")
                columns.add(name)
        stems = {
            key: value
            for key, value in (
                ("mentor", data.mentor_stem),
                ("mentee", data.mentee_stem),
                ("before", data.before_stem),
            )
            if value
        }
        if bank is not None and data.include_competency_items:
            stems["scale"] = bank.scale
        return Instrument(
            id=data.id,
            title=data.title,
            description=data.description,
            items=tuple(items),
            stems=stems,
        )


def _field(loc: tuple[int | str, ...], data: Any) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part + 1}]" if parts else f"[{part + 1}]"
        else:
            parts.append(part)
    return ".".join(parts) or "(file)"


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        close = difflib.get_close_matches(str(error.get("input")), _enum_values(expected), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{error['input']!r} is not one of {expected}{hint}"
    return str(error["msg"])


def _enum_values(expected: str) -> list[str]:
    return [part.strip(" '") for part in expected.replace(" or ", ", ").split(",")]


def load_instruments(path: Path | None = None) -> dict[SurveyName, Instrument]:
    """Every instrument in ``path`` (default: the shipped ones), by name.

    Raises SurveyError listing every problem in the files.
    """
    if path is None:
        return _shipped()
    return _read(path)


@cache
def _shipped() -> dict[SurveyName, Instrument]:
    return _read(SURVEYS_DIR)


def _read(root: Path) -> dict[SurveyName, Instrument]:
    reader = _Reader(root)
    bank = reader.load(ITEM_BANK, _Bank)
    if bank is not None:
        reader.check_bank(bank)
    found: dict[SurveyName, Instrument] = {}
    for name in SurveyName:
        file = f"{name.value}.toml"
        data = reader.load(file, _InstrumentFile)
        if data is not None:
            instrument = reader.build(file, data, bank)
            if instrument is not None:
                found[name] = instrument
    if reader.problems:
        raise SurveyError(reader.problems)
    return found


def load_instrument(name: SurveyName | str, path: Path | None = None) -> Instrument:
    """One instrument by name; raises SurveyError for an unknown name or broken files."""
    try:
        key = SurveyName(name)
    except ValueError:
        known = ", ".join(s.value for s in SurveyName)
        raise SurveyError(message=f"there is no survey {name!r}; use one of {known}") from None
    return load_instruments(path)[key]
