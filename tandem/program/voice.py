"""How a cohort's messages speak to people: the names they use, the greeting, who signs,
whom they come from and where their links point.

A message calls its reader and their partner by the name a person goes by: the roster's
``preferred_name`` column when it has one, otherwise the first name of their name without
an honorific ("Dr. Maria Santos" is "Maria"), or the full name when the cohort's
``address_by`` is ``full_name``. The greeting is the cohort's ``salutation`` ("Hello
{name}" by default) with that name in it.

:class:`MessagingSettings` holds the settings that sign and address a cohort's messages,
with their rules: ``tandem cohort create`` gives them (its settings extend these), and
``tandem cohort set`` changes them on a running cohort (:mod:`tandem.program.cohort_settings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tandem.program import contact
from tandem.program.storage.enums import AddressBy
from tandem.prompts.render import ProgramVoice
from tandem.prompts.resources import Resource

PREFERRED_NAME_COLUMN = "preferred_name"
"""An optional roster column: the name a person wants to be called (kept in ``custom``)."""

_HONORIFIC = re.compile(
    r"^(?:(?:dr|prof|professor|mr|mrs|ms|mx|miss|sir|dame|rev)\.?\s+)+", re.IGNORECASE
)


DEFAULT_SENDER = "Tandem mentoring <mentoring@tandem.invalid>"
DEFAULT_BASE_URL = "http://localhost:8000"


class MessagingSettings(BaseModel):
    """How a cohort's messages are signed, addressed and linked, validated.

    What messages carry follows the roster's rules for names and addresses (contact.py):
    nothing is stored that a message cannot carry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    coordinator_email: str | None = None
    """The weekly digest's recipient, and the Reply-To of messages."""
    coordinator_name: str | None = None
    """Who signs the messages and answers replies (they go to ``coordinator_email``)."""
    salutation: str = Field(default="Hello {name}", min_length=1, max_length=100)
    """The greeting of every message; ``{name}`` is the name the program calls people."""
    resources: dict[Resource, str] = Field(default_factory=dict)
    """Local help the curriculum's weeks name, each with how to reach it."""
    sender: str = DEFAULT_SENDER
    """The From of messages."""
    base_url: str = DEFAULT_BASE_URL
    """Where the check-in and response links point (without a trailing ``/``)."""

    # The validators' names are not reused by CohortSettings, which extends this class: a
    # validator of the same name there would replace the one here.
    @field_validator("salutation", mode="before")
    @classmethod
    def _salutation_line(cls, value: Any) -> str:
        return contact.one_line(value)

    @field_validator("salutation")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        unknown = [p for p in re.findall(r"\{[^{}]*\}", value) if p != "{name}"]
        if unknown:
            raise ValueError(
                f"unknown placeholder {unknown[0][:40]}: the only one is {{name}}, the "
                'recipient\'s name (e.g. "Dear {name}")'
            )
        return value

    @field_validator("coordinator_name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> str | None:
        return None if value is None else contact.person_name(value) or None

    @field_validator("coordinator_email", mode="before")
    @classmethod
    def _address(cls, value: Any) -> str | None:
        return None if value is None else contact.email_address(value)

    @field_validator("sender", mode="before")
    @classmethod
    def _sender(cls, value: Any) -> str:
        return contact.sender(value)

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> str:
        return contact.base_url(value)

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: dict[Resource, str]) -> dict[Resource, str]:
        return {resource: contact.one_line(text) for resource, text in value.items()}


def called_name(name: str, custom: Mapping[str, str] | None, address_by: str) -> str:
    """The name messages call a person by (see the module's docstring)."""
    preferred = (custom or {}).get(PREFERRED_NAME_COLUMN, "").strip()
    if preferred:
        return preferred
    if address_by == AddressBy.FULL_NAME:
        return name
    bare = _HONORIFIC.sub("", name.strip())
    return (bare.split() or [name])[0]


def program_voice(cohort: Any) -> ProgramVoice:
    """The cohort's greeting, coordinator and local resources, for the renderer."""
    resources = cohort.resources or {}
    return ProgramVoice(
        salutation=cohort.salutation or "Hello {name}",
        coordinator_name=cohort.coordinator_name or "",
        coordinator_email=cohort.coordinator_email or "",
        resources=tuple(
            (Resource(key), text) for key, text in sorted(resources.items()) if text.strip()
        ),
    )
