"""When a cohort's weekly messages go out: pure date and time-zone arithmetic.

A cohort sends on one weekday at one wall-clock time in its own time zone. The schedule is
expressed in wall-clock terms, so daylight-saving changes never move the local send time
and never produce two sends for one week.

Week numbering (the contract the engine relies on):

* **Week 0** is the introduction: it is sent on the cohort's ``start`` date at the send
  time, whatever weekday that is.
* **Week 1** is sent on the first send weekday *on or after* ``start``; week ``k`` is sent
  ``7 * (k - 1)`` days after week 1. When ``start`` falls on the send weekday, weeks 0 and
  1 share one instant (two different messages, sent together).

A wall-clock time that does not exist on a day (it falls in a spring-forward gap) is sent
at the first valid instant after the gap, i.e. the instant of the transition itself. A
wall-clock time that exists twice (fall-back overlap) is sent at its first occurrence.

Nothing here reads the clock: ``now`` is always passed in.
"""

from __future__ import annotations

import bisect
import difflib
import math
import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tandem.program.errors import ProgramError

__all__ = [
    "FIXED_OFFSET_ZONES",
    "ScheduleError",
    "checked_zone",
    "first_send_date",
    "local_instant",
    "send_date",
    "send_instants",
    "week_for",
    "week_window",
    "zone",
]

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ScheduleError(ProgramError):
    """A cohort's schedule settings cannot describe a valid schedule."""


def zone(tz: str) -> ZoneInfo:
    """Return the IANA time zone named ``tz``.

    Raises:
        ScheduleError: the name is not a known IANA zone.
    """
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown time zone {tz!r}: use an IANA name such as 'Europe/Berlin' or "
            "'America/New_York'"
        ) from exc


_DEPRECATED_ZONE_PREFIXES = ("US/", "Canada/", "Mexico/", "Brazil/", "Chile/", "Etc/")
"""Old link names kept by the time-zone database for compatibility: never suggested."""
FIXED_OFFSET_ZONES = {
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "HST": "Pacific/Honolulu",
    "GMT": "Europe/London",
    "BST": "Europe/London",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
    "MET": "Europe/Paris",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "AEST": "Australia/Sydney",
}
"""Abbreviations people write for a zone, and the place name to write instead: an
abbreviation (some are in the database, as fixed offsets) ignores daylight saving time."""


@cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


@cache
def _folded_zones() -> dict[str, str]:
    return {z.lower(): z for z in _zones()}


@cache
def _suggestable_zones() -> tuple[str, ...]:
    """Region/City names only: no deprecated links, abbreviations or fixed offsets."""
    return tuple(
        z
        for z in _zones()
        if "/" in z and not z.startswith(_DEPRECATED_ZONE_PREFIXES) and z not in FIXED_OFFSET_ZONES
    )


def checked_zone(text: str) -> str:
    """The time zone a person gave, as the time-zone database spells it.

    Every zone Tandem is given goes through here (roster files, ``cohort create``, a
    pair's meeting slot): an abbreviation such as "EST" is refused with the place to name
    instead (it would keep standard time all year), and an unknown name with the closest
    Region/City name, if one is close (never a deprecated link such as ``US/Eastern``).
    Case is forgiven: ``europe/berlin`` is ``Europe/Berlin``.

    Raises:
        ScheduleError: an abbreviation or an unknown name.
    """
    text = text.strip()
    if len(text) > 64 or not text.isprintable():
        raise ScheduleError(
            f"not a time zone ({len(text):,} characters"
            + ("" if text.isprintable() else ", with control characters")
            + "); use an IANA name such as Europe/Berlin or America/Chicago"
        )
    place = FIXED_OFFSET_ZONES.get(text.upper())
    if place is not None:
        raise ScheduleError(
            f'"{text}" is an abbreviation, not a time zone (it ignores daylight saving time); '
            f'use a place name such as "{place}"'
        )
    found = _folded_zones().get(text.lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(text, _suggestable_zones(), n=1, cutoff=0.6)
    hint = f'; did you mean "{close[0]}"?' if close else ";"
    raise ScheduleError(
        f'unknown time zone "{text}"{hint} Use an IANA name such as Europe/Berlin or '
        "America/Chicago"
    )


def _check_weekday(weekday: int) -> None:
    if not 0 <= weekday <= 6:
        raise ScheduleError(f"send weekday {weekday} is out of range: use 0 (Monday) to 6 (Sunday)")


def local_instant(day: date, wall_time: time, tz: ZoneInfo) -> datetime:
    """Return the aware UTC instant at which the clocks in ``tz`` show ``wall_time`` on ``day``.

    In a spring-forward gap (the wall time does not exist) the result is the first valid
    instant after the gap, i.e. the transition. In a fall-back overlap (the wall time
    exists twice) the result is the first occurrence.

    Raises:
        ScheduleError: ``wall_time`` carries its own time zone.
    """
    if wall_time.tzinfo is not None:
        raise ScheduleError(
            f"send time {wall_time.isoformat()} must be a wall-clock time without a time "
            "zone: the cohort's time zone is given separately"
        )
    local = datetime.combine(day, wall_time).replace(tzinfo=tz, fold=0)
    first = local.astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        # Exists (fold=0 is the first occurrence when it exists twice).
        return first
    # In a gap. fold=0 maps with the offset before the transition (a later UTC instant),
    # fold=1 with the offset after it (an earlier one); the transition lies between the
    # two. Transitions fall on whole seconds: bisect on POSIX seconds for the first one
    # whose offset is no longer the old one.
    low = math.floor(local.replace(fold=1).astimezone(UTC).timestamp())
    high = math.ceil(first.timestamp())
    old_offset = datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def first_send_date(start: date, weekday: int) -> date:
    """Return the date of week 1: the first ``weekday`` (0 = Monday) on or after ``start``.

    Raises:
        ScheduleError: ``weekday`` is not in 0..6.
    """
    _check_weekday(weekday)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def send_date(start: date, weekday: int, week: int) -> date:
    """Return the local calendar date on which ``week`` is sent (week 0 is ``start``).

    Raises:
        ScheduleError: ``weekday`` is not in 0..6 or ``week`` is negative.
    """
    if week < 0:
        raise ScheduleError(f"week {week} is negative: weeks are numbered from 0")
    if week == 0:
        _check_weekday(weekday)
        return start
    return first_send_date(start, weekday) + timedelta(weeks=week - 1)


def send_instants(
    start: date, weeks: int, weekday: int, send_time: time, tz: str
) -> list[datetime]:
    """Return the aware UTC send instant of weeks ``0..weeks``; index ``k`` is week ``k``.

    The list has ``weeks + 1`` entries and never decreases; weeks ``1..weeks`` are strictly
    increasing and exactly one calendar week apart in local time. Each instant shows
    ``send_time`` on the local clock of ``tz`` unless that time falls in a spring-forward
    gap (then: the first valid instant after the gap).

    Args:
        start: the cohort's start date (local); week 0, the introduction, is sent on it.
        weeks: the number of program weeks after the introduction (16 for a standard
            program); 0 gives the introduction alone.
        weekday: the send weekday, 0 = Monday ... 6 = Sunday.
        send_time: the wall-clock send time, without a time zone.
        tz: the cohort's IANA time zone.

    Raises:
        ScheduleError: a negative ``weeks``, a weekday outside 0..6, an aware
            ``send_time`` or an unknown zone.
    """
    if weeks < 0:
        raise ScheduleError(f"the program length {weeks} is negative: use 0 or more weeks")
    zone_info = zone(tz)
    return [
        local_instant(send_date(start, weekday, week), send_time, zone_info)
        for week in range(weeks + 1)
    ]


def week_for(now: datetime, instants: Sequence[datetime]) -> int | None:
    """Return the latest week whose send instant is at or before ``now``.

    ``instants`` is the list from :func:`send_instants`. Returns ``None`` before the
    introduction is due. When weeks 0 and 1 share an instant, week 1 is returned at and
    after it. After the last week, the last week is returned (ending the program is the
    caller's decision).

    Raises:
        ScheduleError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ScheduleError(
            f"'now' ({now.isoformat()}) must be time-zone aware: pass an aware UTC datetime"
        )
    index = bisect.bisect_right(instants, now) - 1
    return index if index >= 0 else None


def week_window(start: date, weekday: int, week: int) -> tuple[date, date]:
    """Return the first and last local date (inclusive) that ``week`` covers.

    Week ``k >= 1`` covers its send date and the six days after it. Week 0, the
    introduction, covers ``start`` up to the day before week 1 (only ``start`` itself when
    week 1 begins on ``start``). Used for the dates shown in messages.

    Raises:
        ScheduleError: ``weekday`` is not in 0..6 or ``week`` is negative.
    """
    if week < 0:
        raise ScheduleError(f"week {week} is negative: weeks are numbered from 0")
    first = first_send_date(start, weekday)
    if week == 0:
        return start, max(start, first - timedelta(days=1))
    begin = first + timedelta(weeks=week - 1)
    return begin, begin + timedelta(days=6)
