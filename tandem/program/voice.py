"""How a cohort's messages speak to people: the names they use, the greeting, who signs.

A message calls its reader and their partner by the name a person goes by: the roster's
``preferred_name`` column when it has one, otherwise the first name of their name without
an honorific ("Dr. Maria Santos" is "Maria"), or the full name when the cohort's
``address_by`` is ``full_name``. The greeting is the cohort's ``salutation`` ("Hello
{name}" by default) with that name in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tandem.program.storage.enums import AddressBy
from tandem.prompts.render import ProgramVoice
from tandem.prompts.resources import Resource

PREFERRED_NAME_COLUMN = "preferred_name"
"""An optional roster column: the name a person wants to be called (kept in ``custom``)."""

_HONORIFIC = re.compile(
    r"^(?:(?:dr|prof|professor|mr|mrs|ms|mx|miss|sir|dame|rev)\.?\s+)+", re.IGNORECASE
)


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
