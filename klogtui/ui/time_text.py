"""Times as people type and read them in the UI: jump targets, labels, ages.

Relative times count back from "now". Absolute times with `Z` or an offset mean
exactly that instant; times without a zone are read in the zone the caller names,
by default the local one (the `TZ` environment variable, else the system's), the
clock on the user's wall. (The query language reads such times as UTC instead, so
that saved queries mean the same everywhere.) The grammar of durations and times is
the query language's (klogtui.query.times), read loosely. Axis labels are UTC and say so with a
`Z`, like the log pane's time column.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from klogtui.query.times import (
    CLOCK,
    LOOSE_ABSOLUTE,
    LOOSE_DURATION,
    duration_ns,
    frac_ns,
    ns_of,
    offset_zone,
)

__all__ = ["age_text", "local_text", "parse_jump", "short_time", "zone_name"]

_NS = 1_000_000_000
_HELP = (
    "use a duration back from now (15m, -1h30m, 2h ago, 7d), a clock time today "
    "(10:30, 10:30:15) or a date and time (2026-11-24T10:30, 2026-11-24 10:30:00Z, "
    "2026-11-24T10:30+01:00)"
)


def _wall_ns(day: date, hh: int, mm: int, ss: int, zone: tzinfo | None) -> int:
    # A naive datetime's astimezone() reads the local zone (honouring TZ after tzset);
    # an ambiguous wall time in a DST fold resolves to the first occurrence.
    wall = datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=zone)
    return ns_of(wall.astimezone(UTC))


def parse_jump(text: str, now_ns: int, zone: tzinfo | None = None) -> int:
    """The instant a time-jump text names, in UTC nanoseconds.

    Accepted forms (case-insensitive, surrounding spaces ignored):
        - `now`;
        - a duration back from now: `15m`, `-15m`, `1h30m ago`, `2d`;
        - a clock time today in `zone`: `10:30`, `10:30:15`, `10:30:15.5`;
        - a date, optionally with a time (`T` or space), optionally with `Z` or an
          offset: `2026-11-24`, `2026-11-24T10:30`, `2026-11-24T10:30:00Z`,
          `2026-11-24 10:30:00+01:00`. Without `Z` or an offset it is in `zone`.

    Args:
        text: what the user typed.
        now_ns: the current time in UTC ns (durations and "today" are relative to it).
        zone: the zone of times written without one; None is the local zone.

    Raises:
        ValueError: the text is none of the forms above; the message says which are.
    """
    t = text.strip()
    low = t.lower()
    if not t:
        raise ValueError(f"type a time: {_HELP}")
    if low == "now":
        return now_ns
    body = low
    if body.endswith("ago"):
        body = body[:-3].rstrip()
    elif body.startswith("-"):
        body = body[1:].lstrip()
    if body and LOOSE_DURATION.fullmatch(body):
        return now_ns - duration_ns(body)
    m = CLOCK.fullmatch(t)
    if m is not None:
        hh, mm, ss, frac = m.groups()
        today = datetime.fromtimestamp(now_ns // _NS, zone).date()  # the zone's date
        try:
            return _wall_ns(today, int(hh), int(mm), int(ss or 0), zone) + frac_ns(frac)
        except ValueError as e:
            raise ValueError(f"bad time {t!r}: {e}") from None
    m = LOOSE_ABSOLUTE.fullmatch(t)
    if m is None:
        raise ValueError(f"cannot read {t!r}: {_HELP}")
    y, mo, d, hh, mm, ss, frac, zulu, sign, oh, om = m.groups()
    try:
        if zulu is None and sign is None:
            day = date(int(y), int(mo), int(d))
            return _wall_ns(day, int(hh or 0), int(mm or 0), int(ss or 0), zone) + frac_ns(frac)
        tz = UTC if sign is None else offset_zone(sign, oh, om)
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0), tzinfo=tz)
    except ValueError as e:
        raise ValueError(f"bad time {t!r}: {e}") from None
    return ns_of(dt) + frac_ns(frac)


def _local(ts_ns: int) -> datetime:
    return datetime.fromtimestamp(ts_ns // _NS, UTC).astimezone()


def zone_name(now_ns: int) -> str:
    """The local zone's name and offset at now_ns, e.g. `CET (UTC+01:00)`."""
    dt = _local(now_ns)
    off = dt.strftime("%z")
    return f"{dt.tzname()} (UTC{off[:3]}:{off[3:]})"


def local_text(ts_ns: int) -> str:
    """Local wall time with nanoseconds and zone: `2026-11-24 11:30:00.000000001 CET`."""
    dt = _local(ts_ns)
    return f"{dt:%Y-%m-%d %H:%M:%S}.{ts_ns % _NS:09d} {dt.tzname()}"


def short_time(ts_ns: int, span_ns: int) -> str:
    """A compact UTC label for an axis over span_ns: `10:30Z`, `10:30:15Z`, `11-24 10:30Z`."""
    dt = datetime.fromtimestamp(ts_ns // _NS, UTC)
    if span_ns >= 86_400 * _NS:
        return f"{dt:%m-%d %H:%MZ}"
    if span_ns < 10 * 60 * _NS:
        return f"{dt:%H:%M:%SZ}"
    return f"{dt:%H:%MZ}"


def age_text(ts_ns: int, now_ns: int) -> str:
    """How long before now_ns ts_ns was, coarsely: `42s ago`, `3m 5s ago`, `2d 4h ago`."""
    delta = (now_ns - ts_ns) // _NS
    suffix = " ago"
    if delta < 0:
        delta, suffix = -delta, " from now"
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    first = next((i for i, (_, size) in enumerate(units) if delta >= size), len(units) - 1)
    parts = [f"{delta // units[first][1]}{units[first][0]}"]
    if first + 1 < len(units):
        unit, size = units[first + 1]
        if n := delta % units[first][1] // size:
            parts.append(f"{n}{unit}")
    return " ".join(parts) + suffix
