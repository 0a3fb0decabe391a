"""Changing how a running cohort's messages are signed, addressed and linked.

Only the messaging settings (:class:`~tandem.program.voice.MessagingSettings`: the sender,
the coordinator's address and name, the base URL of links, the greeting and the local
resources) change; the schedule, the time zone and the confirmation rule stay as the
cohort was created. Each value is checked by the same rules as at ``tandem cohort create``.

Messages already in the outbox were built with the old values and keep them: their From,
Reply-To, signature and links are part of the stored message. Every tick reads the cohort
afresh, so the messages it writes after the change carry the new values. A closed cohort
may change them too: it still sends its follow-up survey.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from tandem.program.certify.audit import record_audit
from tandem.program.certify.vocabulary import AuditAction
from tandem.program.cohorts import get_cohort
from tandem.program.storage.db import transaction
from tandem.program.voice import MessagingSettings

__all__ = [
    "MESSAGING_SETTINGS",
    "SettingChange",
    "SettingsChanged",
    "change_messaging",
]

MESSAGING_SETTINGS = (
    "sender",
    "coordinator_email",
    "coordinator_name",
    "base_url",
    "salutation",
    "resources",
)
"""The settings ``tandem cohort set`` changes, in the order changes are reported."""

_IMPERSONAL = frozenset({"base_url", "salutation"})
"""The settings whose old and new values the audit log keeps: they name no person (a
sender, a coordinator or a resource may name one, or give their address)."""


@dataclass(frozen=True)
class SettingChange:
    """One setting that changed, with its value before and after (None: not set)."""

    setting: str
    """The field (``sender``, ``base_url`` …), or ``resources.<name>`` for one resource."""
    old: str | None
    new: str | None


@dataclass(frozen=True)
class SettingsChanged:
    """What :func:`change_messaging` did."""

    cohort: str
    changes: tuple[SettingChange, ...]
    """Empty when every value given was the cohort's already (nothing was written)."""


def change_messaging(
    engine: Engine,
    cohort_name: str,
    changes: MessagingSettings,
    *,
    actor: str,
    now: datetime,
) -> SettingsChanged:
    """Give the cohort the messaging settings set in ``changes``, in one transaction.

    Only the fields given when ``changes`` was made (its ``model_fields_set``) change;
    a resource given replaces that resource's text and the other resources stay. One entry
    in the audit log records what changed. Safe to repeat: values the cohort has already
    change nothing and record nothing.

    Raises:
        CohortError: no cohort of that name.
    """
    given = changes.model_fields_set
    with transaction(engine) as session:
        cohort = get_cohort(session, cohort_name)
        found: list[SettingChange] = []
        for setting in MESSAGING_SETTINGS:
            if setting not in given:
                continue
            if setting == "resources":
                resources = dict(cohort.resources or {})
                for resource, text in sorted(changes.resources.items()):
                    old = resources.get(resource.value)
                    if old != text:
                        found.append(SettingChange(f"resources.{resource.value}", old, text))
                        resources[resource.value] = text
                if resources != cohort.resources:
                    cohort.resources = dict(sorted(resources.items()))  # a new value is saved
                continue
            old, new = getattr(cohort, setting), getattr(changes, setting)
            if old != new:
                found.append(SettingChange(setting, old, new))
                setattr(cohort, setting, new)
        if not found:
            return SettingsChanged(cohort.name, ())
        session.add(cohort)
        record_audit(
            session,
            now,
            actor,
            AuditAction.COHORT_SETTINGS,
            f"cohort {cohort.name}",
            _audit_details(cohort.name, found),
        )
        return SettingsChanged(cohort.name, tuple(found))


def _audit_details(cohort: str, found: list[SettingChange]) -> dict[str, Any]:
    """The settings that changed; old and new values only of those that name no person."""
    details: dict[str, Any] = {"cohort": cohort, "changed": [c.setting for c in found]}
    for change in found:
        if change.setting in _IMPERSONAL:
            details[change.setting] = {"old": change.old, "new": change.new}
    return details
