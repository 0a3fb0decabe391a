"""Certification rules as data: the validated model, and reading it from TOML.

The default rules ship as ``certification_rules.toml``; :func:`parse_rules` and
:func:`load_rules` raise :class:`~tandem.program.certify.errors.RulesError` naming every
wrong key.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tandem.errors import TOML_ERRORS, toml_error_message
from tandem.program.certify.criteria import CRITERIA, Criterion, MinMeetingWeeks
from tandem.program.certify.errors import RulesError
from tandem.program.certify.vocabulary import MentorRule

__all__ = [
    "DEFAULT_RULES",
    "CertificateText",
    "CertificationRules",
    "MessageText",
    "load_rules",
    "parse_rules",
]


DEFAULT_RULES = "certification_rules.toml"
"""The rules that ship with Tandem, in the ``tandem.program`` package."""


class CertificateText(BaseModel):
    """The achievement as the credential names and describes it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    achievement_path: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._~/-]*$")
    narrative: str = Field(min_length=1)


class MessageText(BaseModel):
    """The message that delivers a certificate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(min_length=1)
    text: str = Field(min_length=1)


_MESSAGE_FIELDS = (
    "mentor_name",
    "achievement_name",
    "cohort_name",
    "issuer_name",
    "credential_id",
    "credential_file",
    "pdf_file",
)


class CertificationRules(BaseModel):
    """Validated certification rules (see ``certification_rules.toml`` for each key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mentor_rule: MentorRule = MentorRule.ANY_PAIR
    certificate: CertificateText
    text: dict[str, str] = Field(default_factory=dict)
    criteria: tuple[Criterion, ...] = Field(min_length=1)
    message: MessageText
    source: str = "rules"

    def wording(self, criterion: Criterion) -> str:
        """The criterion's wording for the narrative, its placeholders filled."""
        template = criterion.text or self.text[criterion.kind]
        return template.format(**criterion.text_fields())

    def narrative(self) -> str:
        """The criteria narrative for the credential, generated from the rules in force."""
        return self.certificate.narrative.format(
            scope=self.text[self.mentor_rule.value],
            criteria="; ".join(self.wording(c) for c in self.criteria),
        )

    @property
    def meeting_rule(self) -> MinMeetingWeeks | None:
        for criterion in self.criteria:
            if isinstance(criterion, MinMeetingWeeks):
                return criterion
        return None


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _error_location(loc: Sequence[int | str], prefix: str = "") -> str:
    where = prefix
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where or "(top level)"


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    return [
        f"{_error_location(item['loc'], prefix)}: {str(item['msg']).removeprefix('Value error, ')}"
        for item in error.errors()
    ]


def _parse_criterion(
    where: str, entry: object, texts: dict[str, Any]
) -> tuple[Criterion | None, list[str]]:
    """One ``[[criteria]]`` entry: the criterion (None if it is unusable) and the problems
    with it, its wording included."""
    if not isinstance(entry, dict):
        return None, [f"{where}: expected a table ([[criteria]])"]
    kind = entry.get("kind")
    model = CRITERIA.get(str(kind)) if kind is not None else None
    if model is None:
        return None, [
            f"{where}.kind: unknown criterion kind {kind!r}; use one of: "
            + ", ".join(sorted(CRITERIA))
        ]
    try:
        criterion = model.model_validate(entry)
    except ValidationError as error:
        return None, _problems(error, where)
    template = criterion.text or texts.get(criterion.kind)
    key = f"{where}.text" if criterion.text else f"text.{criterion.kind}"
    if not isinstance(template, str):
        return criterion, [
            f'{where}: no wording for kind {criterion.kind!r}; add `text = "..."` to '
            f'the entry or `{criterion.kind} = "..."` under [text]'
        ]
    unknown = _placeholders(template) - set(criterion.text_fields())
    if unknown:
        return criterion, [
            f"{key}: unknown placeholder(s) {', '.join(sorted(unknown))}; this criterion "
            f"offers: {', '.join(sorted(criterion.text_fields())) or 'none'}"
        ]
    return criterion, []


def parse_rules(data: dict[str, Any], source: str) -> CertificationRules:
    """Validate rules given as TOML data; raises :class:`RulesError` naming every wrong key."""
    problems: list[str] = []
    criteria: list[Criterion] = []
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        problems.append("criteria: give at least one [[criteria]] entry")
        raw = []
    for index, entry in enumerate(raw):
        criterion, found = _parse_criterion(f"criteria[{index}]", entry, data.get("text", {}))
        problems += found
        if criterion is not None:
            criteria.append(criterion)
    seen: dict[str, int] = {}
    for index, criterion in enumerate(criteria):
        if criterion.label in seen:
            problems.append(
                f"criteria[{index}]: criterion {criterion.label!r} is listed twice; "
                "give each evidence entry its own name"
            )
        seen[criterion.label] = index
    if "source" in data:
        problems.append("source: unknown key; remove it")
    payload = {k: v for k, v in data.items() if k not in ("criteria", "source")}
    try:
        rules = CertificationRules.model_validate(
            {**payload, "criteria": tuple(criteria), "source": source}
        )
    except ValidationError as error:
        # An empty criteria list was reported above, entry by entry.
        problems += [p for p in _problems(error) if not p.startswith("criteria")]
        raise RulesError(source, problems) from None
    scope = rules.text.get(rules.mentor_rule.value)
    if scope is None:
        problems.append(
            f"text.{rules.mentor_rule.value}: missing; mentor_rule = "
            f'"{rules.mentor_rule.value}" needs its wording under [text]'
        )
    unknown = _placeholders(rules.certificate.narrative) - {"scope", "criteria"}
    if unknown:
        problems.append(
            f"certificate.narrative: unknown placeholder(s) {', '.join(sorted(unknown))}; "
            "use {scope} and {criteria}"
        )
    for field in ("subject", "text"):
        unknown = _placeholders(getattr(rules.message, field)) - set(_MESSAGE_FIELDS)
        if unknown:
            problems.append(
                f"message.{field}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"use: {', '.join(_MESSAGE_FIELDS)}"
            )
    if problems:
        raise RulesError(source, problems)
    return rules


def load_rules(path: Path | None = None) -> CertificationRules:
    """Read and validate a rules file (default: the rules that ship with Tandem).

    Raises :class:`RulesError` for a missing, unreadable or invalid file.
    """
    if path is None:
        resource = resources.files("tandem.program.certify").joinpath(DEFAULT_RULES)
        text, source = resource.read_text(encoding="utf-8"), DEFAULT_RULES
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RulesError(
                source, ["the file does not exist; copy the shipped rules and edit them"]
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise RulesError(source, [f"cannot read the file: {error}"]) from None
    try:
        data = tomllib.loads(text)
    except TOML_ERRORS as error:
        raise RulesError(source, [toml_error_message(error)]) from None
    return parse_rules(data, source)
