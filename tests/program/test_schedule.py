from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.program.schedule import (
    ScheduleError,
    checked_zone,
    first_send_date,
    send_instants,
    week_for,
    week_window,
)

SUNDAY = 6
MONDAY = 0


def local(instant: datetime, tz: str) -> datetime:
    return instant.astimezone(ZoneInfo(tz))


# (zone, a start date a few weeks before a transition, a Sunday send time in its gap or
# overlap, the date of the transition, what the clock shows on that date)
TRANSITIONS = [
    # Spring forward: 02:00 -> 03:00 on 2025-03-30; 02:30 does not exist.
    ("Europe/Berlin", date(2025, 3, 1), time(2, 30), date(2025, 3, 30), time(3, 0)),
    # Fall back: 03:00 -> 02:00 on 2025-10-26; 02:30 happens twice, the first is CEST.
    ("Europe/Berlin", date(2025, 10, 1), time(2, 30), date(2025, 10, 26), time(2, 30)),
    # Spring forward: 02:00 -> 03:00 on 2025-03-09.
    ("America/New_York", date(2025, 2, 20), time(2, 0), date(2025, 3, 9), time(3, 0)),
    # Fall back: 02:00 -> 01:00 on 2025-11-02; 01:30 happens twice.
    ("America/New_York", date(2025, 10, 15), time(1, 30), date(2025, 11, 2), time(1, 30)),
    # Southern hemisphere, fall back: 03:00 -> 02:00 on 2025-04-06.
    ("Australia/Sydney", date(2025, 3, 15), time(2, 15), date(2025, 4, 6), time(2, 15)),
    # Southern hemisphere, spring forward: 02:00 -> 03:00 on 2025-10-05.
    ("Australia/Sydney", date(2025, 9, 10), time(2, 15), date(2025, 10, 5), time(3, 0)),
]


@pytest.mark.parametrize(("tz", "start", "send_time", "day", "shown"), TRANSITIONS)
def test_dst_transition_neither_shifts_nor_duplicates(tz, start, send_time, day, shown):
    instants = send_instants(start, 8, SUNDAY, send_time, tz)

    weekly = instants[1:]
    assert all(later > earlier for earlier, later in itertools.pairwise(weekly))
    assert len(set(weekly)) == 8
    dates = [local(i, tz).date() for i in weekly]
    assert dates == [first_send_date(start, SUNDAY) + timedelta(weeks=k) for k in range(8)]
    assert day in dates
    for instant in weekly:
        wall = local(instant, tz)
        expected = shown if wall.date() == day else send_time
        assert wall.time() == expected, wall
        assert instant.tzinfo is UTC


def test_spring_forward_gap_is_sent_at_the_transition():
    instants = send_instants(date(2025, 3, 30), 1, SUNDAY, time(2, 30), "Europe/Berlin")
    # 02:00 CET = 01:00 UTC is the instant the clocks jump to 03:00 CEST.
    assert instants[1] == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)


def test_fall_back_overlap_is_sent_at_the_first_occurrence():
    instants = send_instants(date(2025, 11, 2), 1, SUNDAY, time(1, 30), "America/New_York")
    # 01:30 EDT (UTC-4), not 01:30 EST (UTC-5).
    assert instants[1] == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)


def test_half_hour_transition():
    # Lord Howe Island moves 02:00 -> 02:30: 02:15 does not exist.
    instants = send_instants(date(2025, 10, 5), 1, SUNDAY, time(2, 15), "Australia/Lord_Howe")
    assert local(instants[1], "Australia/Lord_Howe").time() == time(2, 30)


def test_local_send_time_is_kept_across_a_whole_year():
    instants = send_instants(date(2025, 1, 6), 52, MONDAY, time(9, 0), "Europe/Berlin")
    assert {local(i, "Europe/Berlin").time() for i in instants} == {time(9, 0)}
    offsets = {local(i, "Europe/Berlin").utcoffset() for i in instants}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}


def test_week_zero_is_the_start_date_and_week_one_the_first_send_day():
    # 2025-03-05 is a Wednesday; the cohort sends on Mondays at 08:00 in New York.
    instants = send_instants(date(2025, 3, 5), 16, MONDAY, time(8, 0), "America/New_York")
    assert len(instants) == 17
    assert local(instants[0], "America/New_York") == datetime(
        2025, 3, 5, 8, 0, tzinfo=ZoneInfo("America/New_York")
    )
    assert local(instants[1], "America/New_York").date() == date(2025, 3, 10)
    assert local(instants[16], "America/New_York").date() == date(2025, 6, 23)


def test_start_on_the_send_day_shares_the_instant_of_weeks_zero_and_one():
    instants = send_instants(date(2025, 3, 3), 2, MONDAY, time(8, 0), "Europe/Berlin")
    assert instants[0] == instants[1] < instants[2]
    assert week_for(instants[0], instants) == 1


def test_week_for():
    instants = send_instants(date(2025, 3, 5), 4, MONDAY, time(8, 0), "Europe/Berlin")
    assert week_for(instants[0] - timedelta(seconds=1), instants) is None
    assert week_for(instants[0], instants) == 0
    assert week_for(instants[1] - timedelta(microseconds=1), instants) == 0
    assert week_for(instants[1], instants) == 1
    assert week_for(instants[3] + timedelta(days=2), instants) == 3
    assert week_for(instants[4] + timedelta(days=365), instants) == 4
    with pytest.raises(ScheduleError, match="aware"):
        week_for(datetime(2025, 3, 5), instants)


def test_week_window():
    start = date(2025, 3, 5)  # Wednesday; Monday sends
    assert week_window(start, MONDAY, 0) == (date(2025, 3, 5), date(2025, 3, 9))
    assert week_window(start, MONDAY, 1) == (date(2025, 3, 10), date(2025, 3, 16))
    assert week_window(start, MONDAY, 3) == (date(2025, 3, 24), date(2025, 3, 30))
    assert week_window(date(2025, 3, 3), MONDAY, 0) == (date(2025, 3, 3), date(2025, 3, 3))


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)),
    weekday=st.integers(0, 6),
    send_time=st.times(),
    tz=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]),
)
def test_weeks_are_one_local_week_apart(start, weekday, send_time, tz):
    instants = send_instants(start, 6, weekday, send_time, tz)
    assert instants == sorted(instants)
    weekly = [local(i, tz) for i in instants[1:]]
    assert weekly[0].weekday() == weekday
    for earlier, later in itertools.pairwise(weekly):
        assert later.date() - earlier.date() == timedelta(weeks=1)
    for k in range(7):
        first, last = week_window(start, weekday, k)
        assert local(instants[k], tz).date() == first
        assert first <= last


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"weekday": 7}, "out of range"),
        ({"weeks": -1}, "negative"),
        ({"send_time": time(8, 0, tzinfo=UTC)}, "without a time zone"),
    ],
)
def test_invalid_settings_say_how_to_fix_them(kwargs, message):
    settings = {
        "start": date(2025, 3, 5),
        "weeks": 4,
        "weekday": MONDAY,
        "send_time": time(8, 0),
        "tz": "Europe/Berlin",
    } | kwargs
    with pytest.raises(ScheduleError, match=message):
        send_instants(**settings)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("America/New_York", "America/New_York"),
        (" europe/berlin ", "Europe/Berlin"),  # case and spaces forgiven
        ("UTC", "UTC"),
    ],
)
def test_a_zone_is_given_as_the_database_spells_it(name: str, expected: str) -> None:
    assert checked_zone(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "EST",
            '"EST" is an abbreviation, not a time zone (it ignores daylight saving time); '
            'use a place name such as "America/New_York"',
        ),
        ("cest", '"cest" is an abbreviation, not a time zone'),
        (
            "Europe/Berln",
            'unknown time zone "Europe/Berln"; did you mean "Europe/Berlin"? Use an IANA name',
        ),
        ("US/Centrl", 'unknown time zone "US/Centrl"; Use an IANA name'),  # never US/Central
        ("Europe/" * 700, "not a time zone (4,900 characters); use an IANA name"),  # not echoed
        ("Europe/\nBerlin", "not a time zone (14 characters, with control characters); use"),
    ],
)
def test_abbreviations_and_unknown_zones_are_refused_with_a_suggestion(
    name: str, message: str
) -> None:
    with pytest.raises(ScheduleError) as caught:
        checked_zone(name)
    assert caught.value.message.startswith(message)
