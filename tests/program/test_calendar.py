from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tandem.program.calendar import (
    CalendarError,
    InvitationMethod,
    Participant,
    meeting_invitation,
)

ORGANIZER = Participant(name="Tandem Mentoring", email="mentoring@example.org")
MENTOR = Participant(name="Ada Mentor", email="ada@example.org")
MENTEE = Participant(name="Zoë Mentee", email="zoe@example.org")


def invite(**overrides) -> bytes:
    values: dict[str, Any] = {
        "uid_key": "pair-17/week-3/meeting",
        "sequence": 0,
        "summary": "Tandem week 3: Writing your first paper",
        "description": "Discuss the week's topic; bring one draft, one question.",
        "start": datetime(2025, 3, 31, 14, 0, tzinfo=UTC),
        "duration": timedelta(minutes=45),
        "tz": "Europe/Berlin",
        "organizer": ORGANIZER,
        "attendees": [MENTEE, MENTOR],
        "dtstamp": datetime(2025, 3, 24, 7, 0, tzinfo=UTC),
    }
    return meeting_invitation(**(values | overrides))


def event_of(data: bytes):
    calendar = Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_request_with_event_fields():
    calendar, event = event_of(invite())
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    start = event.decoded("DTSTART")
    assert start == datetime(2025, 3, 31, 16, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert start.tzinfo.key == "Europe/Berlin"
    assert event.decoded("DTEND") - start == timedelta(minutes=45)
    assert event.decoded("DTSTAMP") == datetime(2025, 3, 24, 7, 0, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Tandem week 3: Writing your first paper"
    assert str(event["DESCRIPTION"]).startswith("Discuss the week's topic; bring")
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["ORGANIZER"]) == "mailto:mentoring@example.org"
    attendees = [str(a) for a in event["ATTENDEE"]]
    assert attendees == ["mailto:ada@example.org", "mailto:zoe@example.org"]
    assert event["ATTENDEE"][1].params["CN"] == "Zoë Mentee"
    assert event["ATTENDEE"][1].params["RSVP"] == "TRUE"


def test_vtimezone_is_included():
    calendar, _ = event_of(invite())
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert calendar.get_missing_tzids() == set()
    assert b"BEGIN:DAYLIGHT" in invite()


def test_uid_is_stable_per_key_and_sequence_is_kept():
    _, first = event_of(invite())
    _, moved = event_of(invite(sequence=1, start=datetime(2025, 4, 1, 15, 0, tzinfo=UTC)))
    _, other = event_of(invite(uid_key="pair-17/week-4/meeting"))
    assert first["UID"] == moved["UID"]
    assert str(first["UID"]).endswith("@tandem.invalid")
    assert moved["SEQUENCE"] == 1
    assert other["UID"] != first["UID"]


def test_deterministic_bytes():
    assert invite() == invite()
    assert invite(attendees=[MENTOR, MENTEE]) == invite(attendees=[MENTEE, MENTOR])
    assert invite(dtstamp=datetime(2025, 3, 25, tzinfo=UTC)) != invite()


def test_cancel():
    calendar, event = event_of(invite(method=InvitationMethod.CANCEL, sequence=2))
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": datetime(2025, 3, 31, 14, 0)}, "aware"),
        ({"dtstamp": datetime(2025, 3, 31, 14, 0)}, "aware"),
        ({"sequence": -1}, "negative"),
        ({"duration": timedelta(0)}, "positive"),
        ({"attendees": []}, "at least one attendee"),
        ({"tz": "Nowhere/Else"}, "unknown time zone"),
        ({"uid_key": ""}, "empty"),
    ],
)
def test_invalid_values(overrides, message):
    with pytest.raises(CalendarError, match=message):
        invite(**overrides)
