"""The matching configuration: weights, criteria settings, hard rules, group caps, optimizer.

A configuration is a TOML document validated into frozen pydantic models. The caller reads
the file and passes its text and its name (:func:`load_config`); every error names the file
and the key (``config key "weights.research_areas": expected a number ≥ 0, got "high"``),
and an unknown key names the closest valid one. :func:`default_config` loads the documented
``default_config.toml`` shipped with the package; :func:`config_to_toml` prints the
configuration in force so that it can be saved and loaded back unchanged.

Entries of arrays of tables (``[[group_caps]]``) are counted from 1 in error messages.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Self, Union, get_args, get_origin

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo

from tandem.errors import TOML_ERRORS, toml_error_message
from tandem.matcher.errors import MatcherError
from tandem.matcher.types import Objective, Role, closest_term


class ConfigError(MatcherError):
    """A configuration that cannot be used; the message names the source and the key."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        super().__init__(message)
        self.source = source
        self.key = key


class _KeyProblem(ValueError):
    """A problem a whole-configuration check finds at one key (the message names no key)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Expect:
    """Field metadata: what a valid value looks like, in words, for error messages."""

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase


_STRICT = Strict()
Weight = Annotated[float, _STRICT, Field(ge=0, allow_inf_nan=False), Expect("a number ≥ 0")]
Hours = Annotated[
    float, _STRICT, Field(ge=0, le=24, allow_inf_nan=False), Expect("a number of hours 0–24")
]
Flag = Annotated[bool, _STRICT, Expect("true or false")]
Name = Annotated[str, _STRICT, Field(min_length=1), Expect("a non-empty string")]
IdPair = Annotated[tuple[Name, Name], Expect('a pair of ids ["mentee_id", "mentor_id"]')]


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Weights(_Table):
    """How much each built-in scorer counts (0 switches it off). Names match the registry."""

    research_areas: Weight = 3.0
    research_interests: Weight = 2.0
    goals: Weight = 2.0
    career_stage: Weight = 1.0
    timezone: Weight = 1.0
    language: Weight = 1.0
    meeting_mode: Weight = 0.5
    identity: Weight = 1.0


class CareerStageSettings(_Table):
    """The career-stage scorer: 1 at ``ideal_gap`` stages ahead, 0 at ``tolerance`` away."""

    ideal_gap: Annotated[int, _STRICT, Field(ge=0, le=5), Expect("an integer 0–5")] = 2
    tolerance: Annotated[int, _STRICT, Field(ge=1, le=6), Expect("an integer 1–6")] = 3


class TimezoneSettings(_Table):
    """Local working hours and the instant at which UTC offsets are read."""

    working_hours_start: Hours = 9.0
    working_hours_end: Hours = 17.0
    reference_instant: Annotated[
        AwareDatetime | None,
        Expect("a date-time with a UTC offset, e.g. 2026-09-01T12:00:00Z"),
    ] = None

    @model_validator(mode="after")
    def _day_has_hours(self) -> Self:
        if self.working_hours_end <= self.working_hours_start:
            raise ValueError("working_hours_end must be later than working_hours_start")
        return self


class SameInstitution(StrEnum):
    """What the ``same_institution`` rule does with pairs from one institution."""

    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    REQUIRED = "required"


class EligibilityRule(_Table):
    """Only profiles of ``role`` whose ``column`` has one of ``equals`` may be paired."""

    role: Annotated[Role, Expect('"mentor" or "mentee"')]
    column: Name
    equals: Annotated[tuple[Name, ...], Field(min_length=1), Expect("a non-empty array of strings")]


class RulesConfig(_Table):
    """Hard rules a pair must pass (see docs/matching.md, "Hard rules")."""

    same_institution: Annotated[SameInstitution, Expect('"allowed", "forbidden" or "required"')] = (
        SameInstitution.ALLOWED
    )
    max_timezone_difference: Annotated[
        float | None,
        _STRICT,
        Field(ge=0, le=24, allow_inf_nan=False),
        Expect("a number of hours 0–24"),
    ] = None
    shared_language: Flag = True
    mentor_more_senior: Flag = True
    min_stage_gap: Annotated[int, _STRICT, Field(ge=0, le=5), Expect("an integer 0–5")] = 1
    eligibility: tuple[EligibilityRule, ...] = ()
    forbidden_pairs: tuple[IdPair, ...] = ()
    locked_pairs: tuple[IdPair, ...] = ()

    @model_validator(mode="after")
    def _pairs_consistent(self) -> Self:
        locked_mentees: dict[str, str] = {}
        for mentee_id, mentor_id in self.locked_pairs:
            if mentee_id in locked_mentees:
                raise ValueError(
                    f'mentee "{mentee_id}" is locked to both "{locked_mentees[mentee_id]}" '
                    f'and "{mentor_id}" in locked_pairs; keep one'
                )
            locked_mentees[mentee_id] = mentor_id
        both = sorted(set(self.locked_pairs) & set(self.forbidden_pairs))
        if both:
            mentee_id, mentor_id = both[0]
            raise ValueError(
                f'the pair ["{mentee_id}", "{mentor_id}"] is in both locked_pairs and '
                "forbidden_pairs; remove it from one"
            )
        return self


class GroupCap(_Table):
    """Each mentor takes at most ``max_per_mentor`` mentees sharing a value of ``column``."""

    column: Name
    max_per_mentor: Annotated[int, _STRICT, Field(ge=1), Expect("an integer ≥ 1")]


class CustomMatch(StrEnum):
    """How a custom criterion compares the mentee's and the mentor's values."""

    EQUAL = "equal"
    DIFFERENT = "different"


class CustomCriterion(_Table):
    """A scorer over one extra column: 1 when the values compare as ``match`` says."""

    column: Name
    match: Annotated[CustomMatch, Expect('"equal" or "different"')] = CustomMatch.EQUAL
    weight: Weight = 1.0

    @property
    def name(self) -> str:
        """The component's name in scores and explanations."""
        return f"custom:{self.column}"


class OptimizerSettings(_Table):
    """Settings read by the optimizer (candidate pruning and the objective)."""

    objective: Annotated[Objective, Expect('"total" or "maximin"')] = Objective.TOTAL
    candidates_per_mentee: Annotated[int, _STRICT, Field(ge=1), Expect("an integer ≥ 1")] = 50
    candidates_per_mentor: Annotated[int, _STRICT, Field(ge=1), Expect("an integer ≥ 1")] = 400


class MatchConfig(_Table):
    """Everything that decides a match besides the profiles themselves."""

    weights: Weights = Weights()
    career_stage: CareerStageSettings = CareerStageSettings()
    timezone: TimezoneSettings = TimezoneSettings()
    rules: RulesConfig = RulesConfig()
    group_caps: tuple[GroupCap, ...] = ()
    custom_criteria: tuple[CustomCriterion, ...] = ()
    optimizer: OptimizerSettings = OptimizerSettings()

    @model_validator(mode="after")
    def _columns_unique(self) -> Self:
        for key, columns in (
            ("custom_criteria", [c.column for c in self.custom_criteria]),
            ("group_caps", [c.column for c in self.group_caps]),
        ):
            repeated = sorted({c for c in columns if columns.count(c) > 1})
            if repeated:
                raise ValueError(
                    f'{key} lists column "{repeated[0]}" more than once; merge the entries'
                )
        return self

    @model_validator(mode="after")
    def _some_weight(self) -> Self:
        weights = [getattr(self.weights, name) for name in type(self.weights).model_fields]
        if not any(weights) and not any(c.weight for c in self.custom_criteria):
            raise _KeyProblem(
                "weights",
                "every weight is 0 (custom criteria included), so every pair would score the "
                "same; give at least one weight above 0, e.g. research_areas = 3.0",
            )
        return self


def load_config(text: str, source: str) -> MatchConfig:
    """Parse and validate a TOML configuration.

    ``source`` names where ``text`` came from (a file name) and starts every error message.
    Keys left out take their documented defaults. Raises :class:`ConfigError` listing every
    problem, one per line.
    """
    try:
        data = tomllib.loads(text)
    except TOML_ERRORS as exc:
        raise ConfigError(f"{source}: {toml_error_message(exc)}", source=source) from None
    try:
        return MatchConfig.model_validate(data)
    except ValidationError as exc:
        messages = [_describe(error, source) for error in exc.errors()]
        raise ConfigError(
            "\n".join(dict.fromkeys(messages)), source=source, key=_error_key(exc.errors()[0])
        ) from None


@lru_cache(maxsize=1)
def default_config() -> MatchConfig:
    """The configuration documented in the packaged ``default_config.toml``."""
    text = resources.files("tandem.matcher").joinpath("default_config.toml").read_text("utf-8")
    return load_config(text, "default_config.toml")


def config_to_toml(config: MatchConfig) -> str:
    """The configuration as TOML; ``load_config(config_to_toml(c), ...) == c``."""
    lines = ["# The matching configuration in force."]
    for name in MatchConfig.model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            lines += ["", f"[{name}]", *_plain_keys(value)]
            for sub_name, sub_value in _tables_arrays(value):
                for entry in sub_value:
                    lines += ["", f"[[{name}.{sub_name}]]", *_plain_keys(entry)]
        else:
            for entry in value:
                lines += ["", f"[[{name}]]", *_plain_keys(entry)]
    return "\n".join(lines) + "\n"


_TABLE_LINE = re.compile(r"^\[([a-z_]+)\]\s*$")
_ARRAY_LINE = re.compile(r"^#?\s*\[\[([a-z_.]+)\]\]\s*$")
_KEY_LINE = re.compile(r"^(#\s*)?([a-z_]+)\s*=")


def config_to_commented_toml(config: MatchConfig, source: str = "default_config.toml") -> str:
    """The configuration as TOML, every key with its comment from ``default_config.toml``.

    Values come from ``config``: a key the default leaves commented out appears set when
    ``config`` sets it, and table arrays (eligibility rules, group caps, custom criteria)
    follow their commented examples. ``load_config`` of the result equals ``config``.
    """
    text = resources.files("tandem.matcher").joinpath("default_config.toml").read_text("utf-8")
    lines = text.splitlines()
    out = [f"# The matching configuration in force: {source}.", *lines[1:2]]
    table: BaseModel | None = None
    in_example = False
    pending: list[str] = []
    written: set[str] = set()

    def arrays(names: Sequence[str]) -> list[str]:
        block: list[str] = []
        for name in names:
            if name in written:
                continue
            written.add(name)
            owner: Any = config
            for part in name.split("."):
                owner = getattr(owner, part)
            for entry in owner:
                block += ["", f"[[{name}]]", *_plain_keys(entry)]
        return [*block, ""] if block else []

    for line in lines[2:]:
        if match := _TABLE_LINE.match(line):
            while out and not out[-1]:
                out.pop()
            out += arrays(pending) or [""]
            pending = []
            table = getattr(config, match[1])
            out.append(line)
            continue
        if match := _ARRAY_LINE.match(line):
            pending.append(match[1])
            in_example = True
            out.append(line)
            continue
        if not line.startswith("#"):
            in_example = False
        out.append(line if in_example else _with_value(line, table))
    tail = arrays([*pending, *_table_array_names(config)])
    return "\n".join([*out, *tail]).rstrip("\n") + "\n"


def _with_value(line: str, table: BaseModel | None) -> str:
    """A default-file key line (set or commented out) with the value ``table`` gives it."""
    key_line = _KEY_LINE.match(line)
    if key_line is None or table is None:
        return line
    key = key_line[2]
    value = getattr(table, key, None) if key in type(table).model_fields else None
    if value is None or _is_table_array(value):
        return line
    return f"{key} = {_toml(value)}"


def _table_array_names(config: MatchConfig) -> list[str]:
    """Every table array of the configuration by dotted name (``rules.eligibility`` …)."""
    names: list[str] = []
    for name in MatchConfig.model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            names += [f"{name}.{sub}" for sub, _ in _tables_arrays(value)]
        elif _is_table_array(value):
            names.append(name)
    return names


def _plain_keys(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if value is None or _is_table_array(value):
            continue
        yield f"{name} = {_toml(value)}"


def _tables_arrays(model: BaseModel) -> Iterator[tuple[str, Sequence[BaseModel]]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if _is_table_array(value):
            yield name, value


def _is_table_array(value: object) -> bool:
    return isinstance(value, tuple) and len(value) > 0 and isinstance(value[0], BaseModel)


def _toml(value: Any) -> str:
    """A TOML literal for a config value (strings escape as JSON, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return json.dumps(value.value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _error_key(error: Any) -> str:
    """The key an error is about: a whole-configuration check names its own."""
    problem = error.get("ctx", {}).get("error")
    return problem.key if isinstance(problem, _KeyProblem) else _key(error["loc"])


def _key(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part + 1}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


GOT_LENGTH = 60
"""Characters of a wrong value an error message quotes; the rest is cut (``…``)."""


def _got(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    try:
        shown = _toml(value)
    except TypeError:
        shown = repr(value)
    except RecursionError:
        return "arrays nested too deeply"
    return shown if len(shown) <= GOT_LENGTH else shown[: GOT_LENGTH - 1] + "…"


def _describe(error: Any, source: str) -> str:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    key = _error_key(error)
    kind = error["type"]
    if kind == "extra_forbidden":
        valid = _field_names(loc[:-1])
        hint = closest_term(str(loc[-1]), valid) if valid else None
        where = _key(loc[:-1])
        suggestion = (
            f'did you mean "{where + "." if where else ""}{hint}"?'
            if hint
            else "valid keys here: " + ", ".join(valid)
        )
        return f'{source}: unknown config key "{key}"; {suggestion}'
    if kind == "missing" and loc and isinstance(loc[-1], int):
        parent = _field_at(loc[:-1])
        expect = (_expectation(parent) if parent is not None else None) or "more items"
        return f'{source}: config key "{_key(loc[:-1])}": expected {expect}, got {_got(error["input"])}'
    if kind == "missing":
        return f'{source}: config key "{key}" is required; add it'
    if kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        return f'{source}: config key "{key}": {reason}' if key else f"{source}: {reason}"
    if kind in ("model_type", "dict_type"):
        return f'{source}: config key "{key}": expected a table, got {_got(error["input"])}'
    field = _field_at(loc)
    found = _expectation(field) if field is not None else None
    expect = found or _GENERIC.get(kind, error["msg"][0].lower() + error["msg"][1:])
    return f'{source}: config key "{key}": expected {expect}, got {_got(error["input"])}'


_GENERIC = {
    "string_type": "a string",
    "string_too_short": "a non-empty string",
    "tuple_type": "an array",
    "list_type": "an array",
    "too_short": "a non-empty array",
    "too_long": "a pair of ids",
}


def _expectation(field: FieldInfo) -> str | None:
    for item in field.metadata:
        if isinstance(item, Expect):
            return item.phrase
    return None


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin is Union or str(origin) == "<class 'types.UnionType'>":
            args = [a for a in get_args(tp) if a is not type(None)]
            tp = args[0]
        else:
            return tp


def _walk(loc: tuple[int | str, ...]) -> tuple[Any, FieldInfo | None]:
    """The type and field reached by ``loc`` from :class:`MatchConfig` (None if unknown)."""
    tp: Any = MatchConfig
    field: FieldInfo | None = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            args = get_args(tp)
            if get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
                element = args[0]
            elif get_origin(tp) is tuple and part < len(args):
                element = args[part]
            else:
                return None, None
            tp = element
            field = _element_field(element)
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            field = tp.model_fields[part]
            tp = field.annotation
        else:
            return None, None
    return tp, field


def _element_field(element: Any) -> FieldInfo | None:
    if get_origin(element) is Annotated:
        args = get_args(element)
        return FieldInfo.from_annotation(element) if len(args) > 1 else None
    return None


def _field_at(loc: tuple[int | str, ...]) -> FieldInfo | None:
    return _walk(loc)[1]


def _field_names(loc: tuple[int | str, ...]) -> list[str]:
    tp = _unwrap(_walk(loc)[0]) if loc else MatchConfig
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []
