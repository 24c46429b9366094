"""The one grammar of durations and times, for the query language and the UI.

A duration is one or more `<digits><unit>` (w, d, h, m, s): 15m, 1h30m, 7d. An
absolute time is a date, optionally a time (`T` or a space between), optionally `Z`
or an offset: 2026-11-24T10:00Z, 2026-11-24 10:00:00.5+02:00. The query language
reads it strictly (a query's value has no blanks), also a clock time alone (10:30:
today), and times without a zone in the `Zone` it is given: UTC unless the UI shows
local times (the query stays headless: the zone is an argument, never UI state);
the UI's time jump reads it loosely (`1h 30m`, blanks before the zone) and names the
zone of times without one itself (see klogtui.ui.time_text).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from klogtui.errors import QueryError

__all__ = [
    "ABSOLUTE",
    "CLOCK",
    "DURATION",
    "LOOSE_ABSOLUTE",
    "LOOSE_DURATION",
    "duration_ns",
    "frac_ns",
    "ns_of",
    "offset_zone",
    "parse_duration_ns",
    "parse_time",
    "time_ns",
    "UNIT_NS",
    "Zone",
]

# Where a time written without a zone is: UTC, or the local time zone.
Zone = Literal["utc", "local"]

_NS = 10**9
UNIT_NS = {"w": 604_800 * _NS, "d": 86_400 * _NS, "h": 3_600 * _NS, "m": 60 * _NS, "s": _NS}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

DURATION = re.compile(r"(?:[0-9]{1,12}[wdhms])+")
LOOSE_DURATION = re.compile(r"(?:[0-9]{1,9}\s*[wdhms]\s*)+")
_DURATION_PART = re.compile(r"([0-9]+)\s*([wdhms])")


_DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
_TIME = r"([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
_ZONE = r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?"
# Groups: year, month, day, hour, minute, second, fraction, Z, sign, offset hh, mm.
# The query's form has a zone only after a time; the loose form also takes blanks
# and a zone right after the date.
ABSOLUTE = re.compile(rf"{_DATE}(?:[Tt ]{_TIME}{_ZONE})?")
LOOSE_ABSOLUTE = re.compile(rf"{_DATE}(?:[Tt ]+{_TIME})?\s*{_ZONE}")
# A clock time alone (the time jump's "today at"): hour, minute, second, fraction.
CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?")


def duration_ns(text: str) -> int:
    """The nanoseconds of a text that matched DURATION or LOOSE_DURATION."""
    return sum(int(n) * UNIT_NS[u] for n, u in _DURATION_PART.findall(text))


def ns_of(dt: datetime) -> int:
    """Exact UTC ns of an aware datetime (no float rounding)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000


def frac_ns(frac: str | None) -> int:
    """The ns of a fraction of a second as written after the dot (`5` is 500 ms)."""
    return int(frac.ljust(9, "0")) if frac else 0


def offset_zone(sign: str, hh: str, mm: str) -> timezone:
    """The zone of a `+hh:mm` / `-hhmm` offset.

    Raises:
        ValueError: the offset is not less than 24 hours, or its minutes not below 60.
    """
    off = timedelta(hours=int(hh), minutes=int(mm))
    if int(mm) >= 60 or off >= timedelta(hours=24):
        raise ValueError("offset out of range")
    return timezone(off if sign == "+" else -off)


def parse_time(text: str, zone: Zone = "utc", now_ns: int | None = None) -> tuple[bool, int]:
    """(relative, ns): a query's duration back from now, or absolute time in UTC ns.

    Args:
        text: the value of since:/until:.
        zone: where a time without `Z` or an offset is (a clock time alone is today
            there).
        now_ns: "now" in UTC ns, which day a clock time alone is (default: the clock).

    Raises:
        ValueError: with a user-facing message.
    """
    if DURATION.fullmatch(text):
        return True, duration_ns(text)
    m = ABSOLUTE.fullmatch(text)
    if m is not None:
        y, mo, d, hh, mm, ss, frac, _z, sign, oh, om = m.groups()
    elif (c := CLOCK.fullmatch(text)) is not None:
        hh, mm, ss, frac = c.groups()
        sign, oh, om = None, "", ""
        now = time.time_ns() if now_ns is None else now_ns
        today = datetime.fromtimestamp(now // _NS, UTC)
        if zone == "local":
            today = today.astimezone()
        y, mo, d = str(today.year), str(today.month), str(today.day)
    else:
        raise ValueError(
            f"bad time {text!r}: use a duration (15m, 2h, 1h30m, 7d) or a time "
            "(10:30, 2026-11-24, 2026-11-24T10:00, 2026-11-24T10:00:00Z, ...+02:00)"
        )
    try:
        fields = (int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        if sign is not None:
            dt = datetime(*fields, tzinfo=offset_zone(sign, oh, om))
        elif zone == "local" and not _z_of(m):
            dt = datetime(*fields).astimezone()  # naive: the local zone, its DST that day
        else:
            dt = datetime(*fields, tzinfo=UTC)
    except (ValueError, OverflowError) as e:
        raise ValueError(f"bad time {text!r}: {e}") from None
    return False, ns_of(dt) + frac_ns(frac)


def _z_of(m: re.Match[str] | None) -> bool:
    """Whether an absolute time says `Z` (UTC whatever the zone shown)."""
    return m is not None and m.group(8) is not None


def time_ns(text: str, now_ns: int, zone: Zone = "utc") -> int:
    """The instant a query's since:/until: value names, in UTC ns (see parse_time)."""
    relative, ns = parse_time(text, zone, now_ns)
    return now_ns - ns if relative else ns


def parse_duration_ns(text: str) -> int:
    """A duration in the query language's form (15m, 2h, 1h30m, 7d, 1w) in nanoseconds.

    For options such as `--since 1h` that should read like `since:1h`.

    Raises:
        QueryError: text is not such a duration (column 0 of text).
    """
    if not DURATION.fullmatch(text):
        raise QueryError(f"bad duration {text!r}: use e.g. 30s, 15m, 2h, 1h30m, 7d", 0, text)
    return duration_ns(text)
