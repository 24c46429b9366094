"""RFC 3339 timestamps to UTC nanoseconds, fast for the forms kubelet and Docker write.

The seconds part is cached by its text, so consecutive lines (which share their second)
cost one dict lookup; `LineDecoder` inlines that fast path for CRI lines.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = [
    "FRACTION_SCALE",
    "NS",
    "SECONDS_CACHE",
    "SECONDS_CACHE_MAX",
    "parse_timestamp",
    "parse_timestamp_full",
]

NS = 1_000_000_000


# UTC seconds by the timestamp's text up to its seconds: "YYYY-MM-DDTHH:MM:SS." for
# Z-zoned timestamps with a fraction (the common case), "YYYY-MM-DDTHH:MM:SS" + zone
# for the rest. Consecutive lines share their second, so nearly every call is one
# dict lookup; only a miss parses and validates the date and zone.
SECONDS_CACHE: dict[bytes, int] = {}
SECONDS_CACHE_MAX = 4096
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
        # Second fast path: "<cached seconds>.<1-9 digits>+hh:mm", what conmon writes.
        # A 25-byte key is only ever cached for a valid date-time and offset.
        secs = SECONDS_CACHE.get(s[:19] + s[-6:])
        if secs is not None:
            digits = s[20:-6]
            count = len(digits)
            if count < 10 and digits.isdigit():
                return secs * NS + int(digits) * FRACTION_SCALE[count]
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
    # The fast path looks up the first 20 bytes of any string ending in "Z"; keys of
    # the other forms are 25 bytes long so such a lookup can never find them.
    if utc:
        key = b[:20] if fraction is not None else b[:19] + b"+00:00"
    else:
        key = b[:19] + b[-6:]
    secs = SECONDS_CACHE.get(key)
    if secs is None:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        # datetime rejects month 13, February 30, hour 24, second 60 and so on.
        date = datetime(year, month, day, hour, minute, second)
        secs = (date.toordinal() - _UNIX_EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60
        secs += second
        if not utc:
            zone_hours, zone_minutes = int(m[10]), int(m[11])
            if zone_hours > 23 or zone_minutes > 59:
                raise _invalid(s)
            offset = zone_hours * 3600 + zone_minutes * 60
            secs = secs - offset if m[9] == b"+" else secs + offset
        if not 0 <= secs < _MAX_SECONDS:
            # Before 1970 or after 2262 does not fit the store's 64-bit nanoseconds:
            # no real log says so, and the line is kept raw like any other bad stamp.
            raise _invalid(s)
        if len(SECONDS_CACHE) >= SECONDS_CACHE_MAX:
            SECONDS_CACHE.clear()
        SECONDS_CACHE[key] = secs
    return secs * NS + nanos


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
    # Fast path: "<cached seconds>.<1-9 digits>Z", what containerd writes.
    if isinstance(s, bytes) and s[-1:] == b"Z":
        secs = SECONDS_CACHE.get(s[:20])
        if secs is not None:
            digits = s[20:-1]
            count = len(digits)
            if count < 10 and digits.isdigit():  # bytes.isdigit: ASCII digits only
                return secs * NS + int(digits) * FRACTION_SCALE[count]
    return parse_timestamp_full(s)
