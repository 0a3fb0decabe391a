"""Calendar invitations (iCalendar, RFC 5545 / iTIP RFC 5546) for a pair's agreed meeting.

An invitation is one VEVENT in a ``METHOD:REQUEST`` calendar. Its UID is derived from a
caller-chosen key (stable per pair and week), so a changed slot re-sent with a higher
``sequence`` updates the event in the recipients' calendars instead of adding a second
one; ``method=CANCEL`` removes it. The DTSTAMP is passed in, so the same input always gives
the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from icalendar import Calendar, Event, vCalAddress, vText
from pydantic import BaseModel, ConfigDict

from tandem.program.errors import ProgramError
from tandem.program.schedule import ScheduleError, zone

__all__ = [
    "CalendarError",
    "InvitationMethod",
    "Participant",
    "meeting_invitation",
]

PRODID = "-//Tandem//Mentoring program//EN"


class CalendarError(ProgramError):
    """An invitation cannot be built from the values given."""


class InvitationMethod(StrEnum):
    """The iTIP method: ask to add or update the event, or withdraw it."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


class Participant(BaseModel):
    """A person on an invitation: display name and e-mail address."""

    model_config = ConfigDict(frozen=True)

    name: str
    email: str


def _address(person: Participant, *, attendee: bool) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    if attendee:
        address.params["ROLE"] = vText("REQ-PARTICIPANT")
        address.params["PARTSTAT"] = vText("NEEDS-ACTION")
        address.params["RSVP"] = vText("TRUE")
    return address


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(
            f"{name} {value.isoformat()} must be time-zone aware: pass an aware datetime"
        )


def meeting_invitation(
    *,
    uid_key: str,
    sequence: int,
    summary: str,
    description: str,
    start: datetime,
    duration: timedelta,
    tz: str,
    organizer: Participant,
    attendees: Sequence[Participant],
    dtstamp: datetime,
    method: InvitationMethod = InvitationMethod.REQUEST,
    uid_domain: str = "tandem.invalid",
) -> bytes:
    """Return the ``.ics`` bytes of a one-event invitation.

    Args:
        uid_key: stable per meeting (e.g. ``"pair-17/week-4/meeting"``); the UID is
            ``<first 32 hex digits of sha256(uid_key)>@<uid_domain>``.
        sequence: 0 for the first invitation; raise it each time the slot changes.
        summary, description: the event's title and text.
        start: aware; shown in ``tz`` (with its VTIMEZONE) in the recipients' calendars.
        duration: positive.
        tz: IANA zone of the pair's slot.
        organizer: the sender of the invitation.
        attendees: the invited people, emitted sorted by e-mail address.
        dtstamp: aware; when the invitation was created (passed in, never the clock).
        method: REQUEST (add or update) or CANCEL (withdraw).
        uid_domain: the right-hand side of the UID.

    Raises:
        CalendarError: a naive datetime, a negative sequence, a non-positive duration, no
            attendees, an empty key or an unknown time zone.
    """
    _aware("meeting start", start)
    _aware("DTSTAMP", dtstamp)
    if not uid_key:
        raise CalendarError("the invitation key is empty: use a stable key per meeting")
    if sequence < 0:
        raise CalendarError(f"SEQUENCE {sequence} is negative: start at 0")
    if duration <= timedelta(0):
        raise CalendarError(f"meeting duration {duration} must be positive")
    if not attendees:
        raise CalendarError("an invitation needs at least one attendee")
    try:
        zone_info = zone(tz)
    except ScheduleError as exc:
        raise CalendarError(exc.message) from exc
    local_start = start.astimezone(zone_info)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method.value)

    event = Event()
    event.add("uid", f"{hashlib.sha256(uid_key.encode('utf-8')).hexdigest()[:32]}@{uid_domain}")
    event.add("sequence", sequence)
    event.add("dtstamp", dtstamp.astimezone(UTC))
    event.add("dtstart", local_start)
    event.add("dtend", local_start + duration)
    event.add("summary", summary)
    event.add("description", description)
    event.add("status", "CANCELLED" if method is InvitationMethod.CANCEL else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event["organizer"] = _address(organizer, attendee=False)
    for person in sorted(attendees, key=lambda p: (p.email.lower(), p.name)):
        event.add("attendee", _address(person, attendee=True))
    calendar.add_component(event)
    without_zone = bytes(calendar.to_ical())
    # The VTIMEZONE goes before the event (RFC 5545 wants it before its first use).
    head, marker, rest = without_zone.partition(b"BEGIN:VEVENT\r\n")
    return head + _vtimezone(tz, local_start.year) + marker + rest


@functools.lru_cache(maxsize=128)
def _vtimezone(tz: str, year: int) -> bytes:
    """Return the VTIMEZONE of ``tz`` covering ``year - 1`` to ``year + 1``.

    Made by icalendar's ``add_missing_timezones`` once per zone and year and cached: it
    is most of the cost of an invitation. The range is whole years so that every meeting
    of a cohort shares it (the default, 1970-2038, has a hundred-odd transitions).
    """
    calendar = Calendar()
    probe = Event()
    probe.add("dtstart", datetime(year, 1, 1, tzinfo=zone(tz)))
    calendar.add_component(probe)
    calendar.add_missing_timezones(first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))
    return b"".join(bytes(component.to_ical()) for component in calendar.timezones)
