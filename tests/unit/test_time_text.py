"""Time-jump parsing and time labels, with the local zone set explicitly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from klogtui.ui.time_text import age_text, local_text, parse_jump, short_time, zone_name

NS = 1_000_000_000


def utc_ns(y: int, mo: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mm, ss, tzinfo=UTC).timestamp()) * NS


# 2026-11-24T12:00:00Z: a Tuesday, winter time in Berlin (CET, UTC+01:00).
NOW = utc_ns(2026, 11, 24, 12, 0, 0)


@pytest.mark.parametrize(
    ("text", "back_s"),
    [
        ("15m", 900),
        ("-15m", 900),
        (" -15M ", 900),
        ("1h30m ago", 5_400),
        ("1h 30m ago", 5_400),
        ("2d", 172_800),
        ("1w", 604_800),
        ("45s", 45),
        ("now", 0),
    ],
)
def test_relative(text: str, back_s: int, berlin: None) -> None:
    assert parse_jump(text, NOW) == NOW - back_s * NS


def test_clock_time_is_today_in_local_zone(berlin: None) -> None:
    # 10:30 in Berlin on 2026-11-24 is 09:30Z.
    assert parse_jump("10:30", NOW) == utc_ns(2026, 11, 24, 9, 30)
    assert parse_jump("10:30:15", NOW) == utc_ns(2026, 11, 24, 9, 30, 15)
    assert parse_jump("10:30:15.000000007", NOW) == utc_ns(2026, 11, 24, 9, 30, 15) + 7


def test_clock_time_local_date_not_utc_date(berlin: None) -> None:
    # 23:30Z on the 24th is already the 25th in Berlin: "today" is the local day.
    late = utc_ns(2026, 11, 24, 23, 30)
    assert parse_jump("00:10", late) == utc_ns(2026, 11, 24, 23, 10)


def test_clock_time_in_utc_zone(utc: None) -> None:
    assert parse_jump("10:30", NOW) == utc_ns(2026, 11, 24, 10, 30)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T10:30", utc_ns(2026, 11, 24, 9, 30)),  # no zone: local (CET)
        ("2026-11-24 10:30", utc_ns(2026, 11, 24, 9, 30)),
        ("2026-11-24", utc_ns(2026, 11, 23, 23, 0)),  # local midnight
        ("2026-07-01T10:30", utc_ns(2026, 7, 1, 8, 30)),  # summer: CEST, UTC+2
        ("2026-11-24T10:30:00Z", utc_ns(2026, 11, 24, 10, 30)),
        ("2026-11-24t10:30:00z", utc_ns(2026, 11, 24, 10, 30)),
        ("2026-11-24 10:30:00+01:00", utc_ns(2026, 11, 24, 9, 30)),
        ("2026-11-24T10:30:00-0530", utc_ns(2026, 11, 24, 16, 0)),
        ("2026-11-24T10:30:00.123456789Z", utc_ns(2026, 11, 24, 10, 30) + 123_456_789),
    ],
)
def test_absolute(text: str, expected: int, berlin: None) -> None:
    assert parse_jump(text, NOW) == expected


def test_absolute_without_zone_in_utc(utc: None) -> None:
    assert parse_jump("2026-11-24T10:30", NOW) == utc_ns(2026, 11, 24, 10, 30)


def test_explicit_zone_overrides_local(berlin: None) -> None:
    assert parse_jump("10:30", NOW, UTC) == utc_ns(2026, 11, 24, 10, 30)
    assert parse_jump("2026-11-24T10:30", NOW, UTC) == utc_ns(2026, 11, 24, 10, 30)
    # "today" is the zone's day: 23:30Z on the 24th is the 25th in Tokyo.
    tokyo = timezone(timedelta(hours=9))
    late = utc_ns(2026, 11, 24, 23, 30)
    assert parse_jump("09:00", late, tokyo) == utc_ns(2026, 11, 25, 0, 0)
    # An explicit Z or offset wins over the zone.
    assert parse_jump("2026-11-24T10:30Z", NOW, tokyo) == utc_ns(2026, 11, 24, 10, 30)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "type a time"),
        ("yesterday", "cannot read 'yesterday'"),
        ("15x", "cannot read"),
        ("25:00", "bad time '25:00'"),
        ("2026-13-01", "bad time '2026-13-01'"),
        ("2026-11-24T10:30+24:00", "offset out of range"),
        ("10:30 ago", "cannot read"),
    ],
)
def test_errors_say_what_is_wrong(text: str, says: str, berlin: None) -> None:
    with pytest.raises(ValueError, match=says) as info:
        parse_jump(text, NOW)
    if "cannot read" in says or "type a time" in says:
        assert "15m" in str(info.value) and "2026-11-24T10:30" in str(info.value)


def test_labels(berlin: None) -> None:
    assert zone_name(NOW) == "CET (UTC+01:00)"
    assert local_text(NOW + 5) == "2026-11-24 13:00:00.000000005 CET"
    # Axis labels are UTC, like the log pane's time column, whatever TZ says.
    assert short_time(NOW, 3_600 * NS) == "12:00Z"
    assert short_time(NOW, 60 * NS) == "12:00:00Z"
    assert short_time(NOW, 2 * 86_400 * NS) == "11-24 12:00Z"


def test_age_text() -> None:
    assert age_text(NOW - 42 * NS, NOW) == "42s ago"
    assert age_text(NOW - 185 * NS, NOW) == "3m 5s ago"
    assert age_text(NOW - 180 * NS, NOW) == "3m ago"
    assert age_text(NOW - (2 * 86_400 + 4 * 3_600 + 7) * NS, NOW) == "2d 4h ago"
    assert age_text(NOW, NOW) == "0s ago"
    assert age_text(NOW + 10 * NS, NOW) == "10s from now"
