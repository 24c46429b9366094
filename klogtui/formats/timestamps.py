"""RFC 3339 timestamps to UTC nanoseconds, fast for the forms kubelet and Docker write.

The date, hour and minute are cached by their text, so lines of the same minute (nearly
all consecutive lines of a file, live or read back from hours of history) cost two dict
lookups; `LineDecoder` inlines that fast path for CRI lines.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "FRACTION_SCALE",
    "MINUTES_CACHE",
    "MINUTES_CACHE_MAX",
    "NS",
    "SECOND_DOT",
    "parse_timestamp",
    "parse_timestamp_full",
]

NS = 1_000_000_000


# UTC seconds at the start of a minute by the timestamp's text up to its minute:
# "YYYY-MM-DDTHH:MM:" (17 bytes) for Z-zoned timestamps, the same + the "+hh:mm" zone
# (23 bytes) for the others. A line's second is read by `SECOND_DOT`. Keyed by the
# second instead, a file read back from hours of history (a line or two a second)
# missed on nearly every line and parsed the date each time; by the minute it misses
# once a minute. Only a miss parses and validates the date and zone.
MINUTES_CACHE: dict[bytes, int] = {}
MINUTES_CACHE_MAX = 4096
# A timestamp's seconds followed by its fraction's dot ("07." -> 7): validates and
# converts in one lookup (int() would take "+7" or "0_7").
SECOND_DOT: dict[bytes, int] = {b"%02d." % s: s for s in range(60)}
_TIMESTAMP_RE = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):(\d\d))"
)
# Multiplier that turns n fraction digits into nanoseconds.
FRACTION_SCALE = (0, 10**8, 10**7, 10**6, 10**5, 10**4, 10**3, 10**2, 10, 1)
_UNIX_EPOCH_ORDINAL = 719163  # datetime(1970, 1, 1).toordinal()


def _invalid(s: object) -> ValueError:
    return ValueError(f"not an RFC 3339 timestamp: {s!r}")


_MAX_SECONDS = (2**63 - 1) // 1_000_000_000 - 1


def parse_timestamp_full(s: bytes | str) -> int:
    """parse_timestamp for every form; fills the cache the fast paths read."""
    if isinstance(s, bytes) and len(s) > 26 and s[19] == 0x2E:
        # Second fast path: "<cached minute>SS.<1-9 digits>+hh:mm", what conmon writes.
        # A 23-byte key is only ever cached for a valid date-time and offset.
        minute = MINUTES_CACHE.get(s[:17] + s[-6:])
        second = SECOND_DOT.get(s[17:20])
        if minute is not None and second is not None:
            digits = s[20:-6]
            count = len(digits)
            if count < 10 and digits.isdigit():
                return (minute + second) * NS + int(digits) * FRACTION_SCALE[count]
    if isinstance(s, str):
        try:
            b = s.encode("ascii")
        except UnicodeEncodeError:
            raise _invalid(s) from None
    elif isinstance(s, bytes):
        b = s
    else:
        raise _invalid(s)
    m = _TIMESTAMP_RE.fullmatch(b)
    if m is None:
        raise _invalid(s)
    fraction = m[7]
    if fraction is None:
        nanos = 0
    elif len(fraction) <= 9:
        nanos = int(fraction) * FRACTION_SCALE[len(fraction)]
    else:
        nanos = int(fraction[:9])  # Go keeps nanoseconds and drops the rest too
    utc = m[8] is not None
    second = int(m[6])
    if second > 59:
        raise _invalid(s)  # (datetime rejects a leap second too)
    # The fast paths look up the first 17 bytes of any string ending in "Z", and 23
    # bytes of one with a zone: a key can only be found by its own form.
    key = b[:17] if utc else b[:17] + b[-6:]
    minute = MINUTES_CACHE.get(key)
    if minute is None:
        year, month, day, hour, minute = (int(g) for g in m.groups()[:5])
        # datetime rejects month 13, February 30, hour 24, minute 60 and so on.
        date = datetime(year, month, day, hour, minute)
        minute = (date.toordinal() - _UNIX_EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60
        if not utc:
            zone_hours, zone_minutes = int(m[10]), int(m[11])
            if zone_hours > 23 or zone_minutes > 59:
                raise _invalid(s)
            offset = zone_hours * 3600 + zone_minutes * 60
            minute = minute - offset if m[9] == b"+" else minute + offset
        if not 0 <= minute + second < _MAX_SECONDS:
            # Before 1970 or after 2262 does not fit the store's 64-bit nanoseconds:
            # no real log says so, and the line is kept raw like any other bad stamp.
            raise _invalid(s)
        if 0 <= minute and minute + 59 < _MAX_SECONDS:  # every second of it fits
            if len(MINUTES_CACHE) >= MINUTES_CACHE_MAX:
                MINUTES_CACHE.clear()
            MINUTES_CACHE[key] = minute
    return (minute + second) * NS + nanos


def parse_timestamp(s: bytes | str) -> int:
    """Parse an RFC 3339 timestamp to UTC nanoseconds since the epoch.

    Accepts ``Z`` (or ``z``) and numeric ``+hh:mm`` / ``-hh:mm`` zones, ``T`` or
    ``t`` between date and time, and no fraction or any number of fraction digits
    (digits past the ninth are dropped: Go's time.Parse keeps nanoseconds too).

    Args:
        s: the timestamp, e.g. ``b"2026-11-24T10:00:00.123456789Z"`` or
            ``"2026-11-24T11:00:00+01:00"``.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ValueError: if `s` is not such a timestamp.
    """
    # Fast path: "<cached minute>SS.<1-9 digits>Z", what containerd writes.
    if isinstance(s, bytes) and s[-1:] == b"Z":
        minute = MINUTES_CACHE.get(s[:17])
        second = SECOND_DOT.get(s[17:20])
        if minute is not None and second is not None:
            digits = s[20:-1]
            count = len(digits)
            if count < 10 and digits.isdigit():  # bytes.isdigit: ASCII digits only
                return (minute + second) * NS + int(digits) * FRACTION_SCALE[count]
    return parse_timestamp_full(s)
