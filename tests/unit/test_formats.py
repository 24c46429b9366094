"""CRI / Docker json-file decoding, timestamps and level detection."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klogtui.formats import LineDecoder, Parsed, codes, detect_level, parse_timestamp, timestamps
from klogtui.model import Flag, Level, Stream

NS = 1_000_000_000
T0 = int(datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC).timestamp()) * NS
ARRIVAL = 1_900_000_000 * NS

OUT, ERR = int(Stream.STDOUT), int(Stream.STDERR)
MALFORMED, TRUNCATED, UNTERMINATED = (
    int(Flag.MALFORMED),
    int(Flag.TRUNCATED),
    int(Flag.UNTERMINATED),
)


def cri(content: bytes, stream: str = "stdout", tag: str = "F", ts: str = "") -> bytes:
    stamp = ts or "2026-11-24T10:00:00.000000001Z"
    return f"{stamp} {stream} {tag} ".encode() + content


def docker(log: str, stream: str = "stdout", time: str = "2026-11-24T10:00:00.000000001Z") -> bytes:
    return json.dumps({"log": log, "stream": stream, "time": time}).encode()


def feed_all(dec: LineDecoder, lines: list[bytes]) -> list[Parsed]:
    out: list[Parsed] = []
    for i, line in enumerate(lines):
        out.extend(dec.feed(line, ARRIVAL + i))
    return out


def test_int_constants_equal_the_model_enums() -> None:
    assert (codes.STDOUT, codes.STDERR) == (Stream.STDOUT, Stream.STDERR)
    levels = (codes.TRACE, codes.DEBUG, codes.INFO, codes.WARN)
    assert levels == (Level.TRACE, Level.DEBUG, Level.INFO, Level.WARN)
    assert (codes.ERROR, codes.FATAL) == (Level.ERROR, Level.FATAL)
    assert codes.MALFORMED == Flag.MALFORMED
    assert codes.TRUNCATED == Flag.TRUNCATED
    assert codes.UNTERMINATED == Flag.UNTERMINATED
    assert (codes.CUT, codes.CONTINUED) == (Flag.CUT, Flag.CONTINUED)


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("2026-11-24T10:00:00Z", 0),
        ("2026-11-24T10:00:00.1Z", 100_000_000),
        ("2026-11-24T10:00:00.12Z", 120_000_000),
        ("2026-11-24T10:00:00.123Z", 123_000_000),
        ("2026-11-24T10:00:00.1234Z", 123_400_000),
        ("2026-11-24T10:00:00.12345Z", 123_450_000),
        ("2026-11-24T10:00:00.123456Z", 123_456_000),
        ("2026-11-24T10:00:00.1234567Z", 123_456_700),
        ("2026-11-24T10:00:00.12345678Z", 123_456_780),
        ("2026-11-24T10:00:00.123456789Z", 123_456_789),
        ("2026-11-24T10:00:00.000000001Z", 1),
        ("2026-11-24T10:00:00.000000000Z", 0),
        # Digits past the ninth are dropped, as Go does.
        ("2026-11-24T10:00:00.1234567891Z", 123_456_789),
    ],
)
def test_timestamp_fraction_digits(text: str, nanos: int) -> None:
    assert parse_timestamp(text.encode()) == T0 + nanos
    assert parse_timestamp(text) == T0 + nanos
    assert parse_timestamp(text.encode()) == T0 + nanos  # second call: cached path


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T11:00:00.5+01:00",
        "2026-11-24T04:30:00.5-05:30",
        "2026-11-24T10:00:00.5+00:00",
        "2026-11-24T10:00:00.5-00:00",
        "2026-11-24t10:00:00.5z",
        "2026-11-25T09:00:00.5+23:00",
        "2026-11-23T10:01:00.5-23:59",
    ],
)
def test_timestamp_zones_all_mean_the_same_instant(text: str) -> None:
    want = T0 + 500_000_000
    assert parse_timestamp(text) == want
    assert parse_timestamp(text.encode()) == want
    assert parse_timestamp(text.encode()) == want


def test_timestamp_offset_crosses_midnight_and_year() -> None:
    assert parse_timestamp("2027-01-01T00:30:00+01:00") == parse_timestamp("2026-12-31T23:30:00Z")
    assert parse_timestamp("2024-02-29T12:00:00Z") - parse_timestamp("2024-02-28T12:00:00Z") == (
        86400 * NS
    )


def test_timestamp_reused_by_conmon_for_several_lines() -> None:
    stamp = b"2026-11-24T11:00:00.123456789+01:00"
    assert {parse_timestamp(stamp) for _ in range(5)} == {T0 + 123_456_789}


def test_conmon_lines_sharing_one_local_timestamp() -> None:
    stamp = "2026-11-24T11:00:00.123456789+01:00"
    dec = LineDecoder()
    out = feed_all(
        dec,
        [
            cri(b"first", ts=stamp),
            cri(b"second part ", tag="P", ts=stamp),
            cri(b"err", "stderr", ts=stamp),
            cri(b"and rest\r", ts=stamp),
        ],
    )
    assert [(p.ts, p.stream, p.message) for p in out] == [
        (T0 + 123_456_789, OUT, "first"),
        (T0 + 123_456_789, ERR, "err"),
        (T0 + 123_456_789, OUT, "second part and rest"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Z",
        "2026-11-24",
        "2026-11-24T10:00:00",
        "2026-11-24T10:00:00.Z",
        "2026-11-24T10:00:00.123",
        "2026-11-24 10:00:00Z",
        "2026-11-24T10:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-24T24:00:00Z",
        "2026-11-24T10:60:00Z",
        "2026-11-24T10:00:60Z",
        "2026-11-24T10:00:60.5Z",
        "2026-11-24T10:00:60.5+01:00",
        "2026-11-24T10:00:00+0100",
        "2026-11-24T10:00:00+01",
        "2026-11-24T10:00:00+24:00",
        "2026-11-24T10:00:00+01:60",
        "2026-11-24T10:00:00 +01:00",
        " 2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00Z ",
        "2026-11-24T10:00:00.12a4Z",
        "2026-11-24T10:00:00.-1Z",
        "2026-11-24T10:00:00.+1Z",
        "2026-11-24T10:00:00.1_2Z",
        "2026-11-24T10:00:00. 12Z",
        "2026-11-24T10:00:00.1\u0662Z",
        "\uff12026-11-24T10:00:00Z",
        "2026-11-24T10:00:00Z5Z",
        "2026-11-24T10:00:00.5Z+01:00",
        "2026-11-24T10:00:00.5+01:00Z",
        "0000-01-01T00:00:00Z",
        "-2026-11-24T10:00:00Z",
    ],
)
def test_timestamp_rejects_invalid(text: str) -> None:
    # Cache the valid neighbours first, so a cached prefix cannot make a bad one pass.
    parse_timestamp(b"2026-11-24T10:00:00Z")
    parse_timestamp(b"2026-11-24T10:00:00.5Z")
    parse_timestamp(b"2026-11-24T10:00:00.5+01:00")
    with pytest.raises(ValueError):
        parse_timestamp(text)
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        return
    with pytest.raises(ValueError):
        parse_timestamp(raw)


def test_timestamp_last_valid_second_in_its_minute() -> None:
    # 2262-04-11T23:47:14Z is the last second the store's int64 nanoseconds (less one
    # second of margin) hold; the seconds after it in the same minute are rejected
    # whichever of them is read first.
    assert parse_timestamp(b"2262-04-11T23:47:00.5+00:00") == 9223372020 * NS + 500_000_000
    assert parse_timestamp(b"2262-04-11T23:47:14.5Z") == 9223372034 * NS + 500_000_000
    for bad in (b"2262-04-11T23:47:15.5Z", b"2262-04-11T23:47:59.5Z", b"2262-04-11T23:47:59Z"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
    assert parse_timestamp(b"2262-04-11T23:47:14.5Z") == 9223372034 * NS + 500_000_000


def test_timestamp_rejects_non_text() -> None:
    with pytest.raises(ValueError):
        parse_timestamp(12345)  # type: ignore[arg-type]


def test_timestamp_cache_overflow_keeps_results_right() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(0, timestamps.MINUTES_CACHE_MAX * 2 + 10, 7):
        t = base + timedelta(minutes=i, seconds=i % 60)
        text = t.strftime("%Y-%m-%dT%H:%M:%S") + ".25Z"
        assert parse_timestamp(text.encode()) == int(t.timestamp()) * NS + 250_000_000
    assert len(timestamps.MINUTES_CACHE) <= timestamps.MINUTES_CACHE_MAX


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    nanos=st.integers(0, NS - 1),
    digits=st.integers(0, 9),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    zulu=st.booleans(),
)
def test_timestamp_matches_datetime(
    when: datetime, nanos: int, digits: int, offset_minutes: int, zulu: bool
) -> None:
    kept = nanos - nanos % 10 ** (9 - digits) if digits else 0
    fraction = f".{kept:09d}"[: digits + 1] if digits else ""
    if zulu:
        offset_minutes = 0
        zone = "Z"
    else:
        sign = "+" if offset_minutes >= 0 else "-"
        zone = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
    local = when.replace(microsecond=0)
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
    aware = local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    want = int(aware.timestamp()) * NS + kept
    assert parse_timestamp(text) == want
    assert parse_timestamp(text.encode()) == want
    assert parse_timestamp(text.encode()) == want


# --------------------------------------------------------------------------- CRI lines


def test_full_cri_line() -> None:
    dec = LineDecoder()
    line = b"2026-11-24T10:00:00.123456789Z stderr F boom: connection refused"
    assert dec.feed(line, ARRIVAL) == [
        Parsed(T0 + 123_456_789, ERR, "boom: connection refused", 0, 0)
    ]
    assert dec.format == "cri"
    assert not dec.pending
    assert dec.malformed == 0


def test_content_keeps_its_spaces_and_may_be_empty() -> None:
    dec = LineDecoder()
    out = feed_all(dec, [cri(b"  two  spaces  "), cri(b""), cri(b" ")])
    assert [p.message for p in out] == ["  two  spaces  ", "", " "]
    assert [p.flags for p in out] == [0, 0, 0]


def test_partial_fragments_join_with_the_first_fragments_timestamp() -> None:
    dec = LineDecoder()
    out = feed_all(
        dec,
        [
            cri(b"hello ", tag="P", ts="2026-11-24T10:00:00.1Z"),
            cri(b"big ", tag="P", ts="2026-11-24T10:00:00.2Z"),
            cri(b"world", tag="F", ts="2026-11-24T10:00:00.3Z"),
        ],
    )
    assert out == [Parsed(T0 + 100_000_000, OUT, "hello big world", 0, 0)]


def test_partial_fragment_emits_nothing_until_its_last_fragment() -> None:
    dec = LineDecoder()
    assert dec.feed(cri(b"abc", tag="P"), ARRIVAL) == []
    assert dec.pending
    assert [p.message for p in dec.feed(cri(b"def"), ARRIVAL)] == ["abcdef"]
    assert not dec.pending


def test_stdout_and_stderr_reassemble_separately_when_interleaved() -> None:
    dec = LineDecoder()
    out = feed_all(
        dec,
        [
            cri(b"out-1 ", "stdout", "P", "2026-11-24T10:00:00.5Z"),
            cri(b"err-1 ", "stderr", "P", "2026-11-24T10:00:00.1Z"),
            cri(b"out-2", "stdout", "P", "2026-11-24T10:00:00.6Z"),
            cri(b"whole err", "stderr", "F", "2026-11-24T10:00:00.2Z"),
            cri(b"err-2", "stderr", "F", "2026-11-24T10:00:00.3Z"),
            cri(b" out-3", "stdout", "F", "2026-11-24T10:00:00.7Z"),
        ],
    )
    assert [(p.stream, p.message, p.ts) for p in out] == [
        (ERR, "err-1 whole err", T0 + 100_000_000),
        (ERR, "err-2", T0 + 300_000_000),
        (OUT, "out-1 out-2 out-3", T0 + 500_000_000),
    ]


@pytest.mark.parametrize(
    ("tag", "partial"),
    [("P", True), ("P:x", True), ("P:F", True), ("F", False), ("F:P", False), ("", False)],
)
def test_only_the_first_tag_decides_partial(tag: str, partial: bool) -> None:
    dec = LineDecoder()
    out = feed_all(dec, [cri(b"a", tag=tag), cri(b"b")])
    assert [p.message for p in out] == (["ab"] if partial else ["a", "b"])


def test_unknown_tag_is_a_full_line_like_kubelet_says() -> None:
    dec = LineDecoder()
    assert [p.message for p in feed_all(dec, [cri(b"x", tag="Q")])] == ["x"]
    assert dec.malformed == 0


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (cri(b"hello\r"), ["hello"]),
        (cri(b"hello\r\r"), ["hello\r"]),
        (cri(b"he\rllo"), ["he\rllo"]),
        (cri(b"\r"), [""]),
    ],
)
def test_one_trailing_carriage_return_is_stripped(raw: bytes, want: list[str]) -> None:
    assert [p.message for p in LineDecoder().feed(raw, ARRIVAL)] == want


def test_carriage_return_is_stripped_from_the_reassembled_message_only() -> None:
    dec = LineDecoder()
    out = feed_all(dec, [cri(b"a\r", tag="P"), cri(b"b", tag="P"), cri(b"\r")])
    assert [p.message for p in out] == ["a\rb"]


def test_invalid_utf8_stays_readable() -> None:
    out = LineDecoder().feed(cri(b"bad \xff\xfe byte"), ARRIVAL)
    assert out[0].message == "bad \\xff\\xfe byte"


def test_multibyte_character_split_across_fragments_survives() -> None:
    euro = "€".encode()  # three bytes
    dec = LineDecoder()
    out = feed_all(
        dec, [cri(b"price " + euro[:1], tag="P"), cri(euro[1:2], tag="P"), cri(euro[2:])]
    )
    assert [p.message for p in out] == ["price €"]


def test_nul_bytes_are_kept() -> None:
    assert LineDecoder().feed(cri(b"a\x00b\x00"), ARRIVAL)[0].message == "a\x00b\x00"


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "raw",
    [
        b"not a log line at all",
        b"2026-11-24T10:00:00Z stdin F x",
        b"2026-11-24T10:00:00Z stdout F",
        b"2026-11-24T10:00:00Z stdout",
        b"2026-11-24T10:00:00Z  stdout F x",
        b"2026-11-24T25:00:00Z stdout F x",
        b"yesterday stdout F x",
        b"",
        b"\xff\xfe\x00 garbage",
        docker("a docker record in a CRI file\n"),
    ],
)
def test_malformed_lines_are_kept_raw_with_their_arrival_time(raw: bytes) -> None:
    dec = LineDecoder()
    dec.feed(cri(b"first line decides: CRI"), ARRIVAL)
    out = dec.feed(raw, ARRIVAL + 7)
    want = raw.decode("utf-8", "backslashreplace")
    assert out == [Parsed(ARRIVAL + 7, 0, want, detect_level(want), MALFORMED)]
    assert dec.malformed == 1


def test_malformed_lines_do_not_disturb_pending_fragments() -> None:
    dec = LineDecoder()
    out = feed_all(dec, [cri(b"one ", tag="P"), b"garbage", cri(b"two")])
    assert [(p.message, p.flags) for p in out] == [("garbage", MALFORMED), ("one two", 0)]
    assert dec.malformed == 1


def test_format_comes_from_the_first_line_that_parses() -> None:
    dec = LineDecoder()
    out = feed_all(dec, [b"", b"garbage before", cri(b"real"), docker("now malformed\n")])
    assert [(p.message, p.flags) for p in out] == [
        ("", MALFORMED),
        ("garbage before", MALFORMED),
        ("real", 0),
        (docker("now malformed\n").decode(), MALFORMED),
    ]
    assert dec.format == "cri"
    assert dec.malformed == 3


# --------------------------------------------------------------------------- docker


def test_docker_records() -> None:
    dec = LineDecoder()
    out = feed_all(
        dec,
        [
            docker("hello\n", time="2026-11-24T10:00:00.25Z"),
            docker("ERROR oops\r\n", stream="stderr"),
            docker("\n"),
        ],
    )
    assert dec.format == "docker"
    assert out == [
        Parsed(T0 + 250_000_000, OUT, "hello", 0, 0),
        Parsed(T0 + 1, ERR, "ERROR oops", int(Level.ERROR), 0),
        Parsed(T0 + 1, OUT, "", 0, 0),
    ]


def test_docker_split_records_join_per_stream() -> None:
    part = "x" * 16384
    dec = LineDecoder()
    out = feed_all(
        dec,
        [
            docker(part, time="2026-11-24T10:00:00.1Z"),
            docker("err line\n", stream="stderr", time="2026-11-24T10:00:00.2Z"),
            docker(part, time="2026-11-24T10:00:00.3Z"),
            docker("end\n", time="2026-11-24T10:00:00.4Z"),
        ],
    )
    assert [(p.stream, p.message, p.ts) for p in out] == [
        (ERR, "err line", T0 + 200_000_000),
        (OUT, part + part + "end", T0 + 100_000_000),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"log":"x\\n","stream":"stdin","time":"2026-11-24T10:00:00Z"}',
        b'{"log":"x\\n","stream":"stdout"}',
        b'{"log":"x\\n","stream":"stdout","time":"yesterday"}',
        b'{"log":5,"stream":"stdout","time":"2026-11-24T10:00:00Z"}',
        b'["log"]',
        b'{"log":"x\\n","stream":"stdout","time":"2026-11-24T10:00:00Z"',
        cri(b"a CRI line in a docker file"),
    ],
)
def test_bad_docker_records_are_malformed(raw: bytes) -> None:
    dec = LineDecoder()
    dec.feed(docker("first\n"), ARRIVAL)
    out = dec.feed(raw, ARRIVAL + 3)
    assert [(p.ts, p.stream, p.message, p.flags) for p in out] == [
        (ARRIVAL + 3, 0, raw.decode(), MALFORMED)
    ]


def test_docker_lone_surrogate_escape_does_not_lose_the_line() -> None:
    dec = LineDecoder()
    out = dec.feed(b'{"log":"a\\ud800b\\n","stream":"stdout","time":"2026-11-24T10:00:00Z"}', 0)
    assert [(p.message, p.flags) for p in out] == [("a\\xed\\xa0\\x80b", 0)]


# --------------------------------------------------------------------------- size cap


def test_long_line_is_cut_and_marked() -> None:
    dec = LineDecoder(max_line_bytes=10)
    out = dec.feed(cri(b"0123456789abcdefghijklmno"), ARRIVAL)
    assert [(p.message, p.flags) for p in out] == [("0123456789 …[truncated 15 bytes]", TRUNCATED)]


def test_line_of_exactly_the_cap_is_whole() -> None:
    dec = LineDecoder(max_line_bytes=10)
    assert [(p.message, p.flags) for p in dec.feed(cri(b"0123456789"), 0)] == [("0123456789", 0)]
    # The cap counts the carriage return too, which then is cut, not stripped.
    out = dec.feed(cri(b"0123456789\r"), 0)
    assert [(p.message, p.flags) for p in out] == [("0123456789 …[truncated 1 bytes]", TRUNCATED)]


def test_cap_applies_to_the_reassembled_message() -> None:
    dec = LineDecoder(max_line_bytes=10)
    lines = [cri(b"aaaaaa", tag="P"), cri(b"bbbbbb", tag="P"), cri(b"cccccc", tag="P"), cri(b"dd")]
    out = feed_all(dec, lines)
    assert [(p.message, p.flags) for p in out] == [("aaaaaabbbb …[truncated 10 bytes]", TRUNCATED)]
    # The next line is whole again.
    assert dec.feed(cri(b"short"), 0)[0].message == "short"


def test_cut_never_splits_a_character() -> None:
    dec = LineDecoder(max_line_bytes=5)
    out = dec.feed(cri("abcd€x".encode()), 0)  # € is bytes 4..6; the cap falls inside it
    assert [(p.message, p.flags) for p in out] == [("abcd …[truncated 4 bytes]", TRUNCATED)]


def test_malformed_long_line_is_cut_too() -> None:
    dec = LineDecoder(max_line_bytes=4)
    out = dec.feed(b"garbage!", ARRIVAL)
    assert [(p.ts, p.message, p.flags) for p in out] == [
        (ARRIVAL, "garb …[truncated 4 bytes]", MALFORMED | TRUNCATED)
    ]


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LineDecoder(max_line_bytes=0)


# --------------------------------------------------------------------------- flush and state


def test_flush_emits_dangling_partials_unterminated() -> None:
    dec = LineDecoder()
    feed_all(
        dec,
        [
            cri(b"stderr part", "stderr", "P", "2026-11-24T10:00:00.2Z"),
            cri(b"out part", "stdout", "P", "2026-11-24T10:00:00.1Z"),
        ],
    )
    assert dec.flush(ARRIVAL) == [
        Parsed(T0 + 100_000_000, OUT, "out part", 0, UNTERMINATED),
        Parsed(T0 + 200_000_000, ERR, "stderr part", 0, UNTERMINATED),
    ]
    assert not dec.pending
    assert dec.flush(ARRIVAL) == []


def test_flush_of_a_truncated_partial_keeps_both_flags() -> None:
    dec = LineDecoder(max_line_bytes=3)
    dec.feed(cri(b"abcdef", tag="P"), 0)
    assert [(p.message, p.flags) for p in dec.flush(0)] == [
        ("abc …[truncated 3 bytes]", UNTERMINATED | TRUNCATED)
    ]


SEQUENCE = [
    b"junk before the first line",
    cri(b"one ", "stdout", "P", "2026-11-24T10:00:00.1Z"),
    cri(b"err ", "stderr", "P", "2026-11-24T10:00:00.2Z"),
    cri("€".encode()[:2], "stdout", "P", "2026-11-24T10:00:00.3Z"),
    cri(b"whole", "stdout", "F", "2026-11-24T10:00:00.4Z") + b"\xff",
    cri("€".encode()[2:] + b" two", "stdout", "F", "2026-11-24T10:00:00.5Z"),
    b"junk in the middle",
    cri(b"0123456789", "stdout", "P", "2026-11-24T11:00:00.6+01:00"),
    cri(b"0123456789", "stdout", "P", "2026-11-24T10:00:00.7Z"),
    cri(b"end\r", "stderr", "F", "2026-11-24T10:00:00.8Z"),
    cri(b"ERROR tail", "stdout", "F", "2026-11-24T10:00:00.9Z"),
    cri(b"dangling", "stderr", "P", "2026-11-24T10:00:01Z"),
]


def _run(lines: list[bytes], dec: LineDecoder, start: int = 0) -> list[Parsed]:
    out: list[Parsed] = []
    for i, line in enumerate(lines, start):
        out.extend(dec.feed(line, ARRIVAL + i, i))
    return out


@pytest.mark.parametrize("split", range(len(SEQUENCE) + 1))
def test_restore_then_feed_equals_an_uninterrupted_decoder(split: int) -> None:
    whole = LineDecoder(max_line_bytes=16)
    want = _run(SEQUENCE, whole) + whole.flush(ARRIVAL)

    first = LineDecoder(max_line_bytes=16)
    got = _run(SEQUENCE[:split], first)
    saved = json.loads(json.dumps(first.state()))
    resumed = LineDecoder(max_line_bytes=16)
    resumed.restore(saved)
    assert resumed.pending == first.pending
    got += _run(SEQUENCE[split:], resumed, split) + resumed.flush(ARRIVAL)
    # Restored fragments have no position (start -1); all else is the same.
    assert [dataclasses.replace(p, start=0) for p in got] == [
        dataclasses.replace(p, start=0) for p in want
    ]


@pytest.mark.parametrize("split", range(len(SEQUENCE) + 1))
def test_a_positioned_state_and_skip_read_again_give_the_rest_exactly(split: int) -> None:
    # A file checkpoint keeps no fragments: it points at the first line not handed
    # over yet, and names where each stream's handed-over lines end (skip).
    whole = LineDecoder(max_line_bytes=16)
    want = _run(SEQUENCE, whole) + whole.flush(ARRIVAL)
    first = LineDecoder(max_line_bytes=16)
    got = _run(SEQUENCE[:split], first)
    ends = {0: None, **{s: first.pending_start(s) for s in (1, 2)}}
    offset = min([split, *(e for e in ends.values() if e is not None)])
    resumed = LineDecoder(max_line_bytes=16)
    resumed.restore(json.loads(json.dumps(first.state(positioned=True))))
    for s, end in ends.items():
        resumed.skip[s] = split if end is None else end
    got += _run(SEQUENCE[offset:], resumed, offset) + resumed.flush(ARRIVAL)
    assert got == want


def test_restored_state_remembers_the_format() -> None:
    dec = LineDecoder()
    dec.feed(docker("x\n"), 0)
    resumed = LineDecoder()
    resumed.restore(json.loads(json.dumps(dec.state())))
    assert resumed.format == "docker"
    assert [p.flags for p in resumed.feed(cri(b"x"), 0)] == [MALFORMED]


def test_state_of_a_fresh_decoder() -> None:
    assert LineDecoder().state() == {"v": 1, "format": None, "pending": {}}


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"v": 2, "format": "cri", "pending": {}},
        {"v": 1, "format": "syslog", "pending": {}},
        {"v": 1, "format": "cri", "pending": {"3": {"ts": 0, "data": "", "dropped": 0}}},
        {"v": 1, "format": "cri", "pending": {"1": {"ts": 0, "data": "!!", "dropped": 0}}},
        {"v": 1, "format": "cri", "pending": {"1": {"ts": 0}}},
        {"v": 1, "format": "cri", "pending": []},
    ],
)
def test_restore_rejects_a_bad_state(state: dict[str, object]) -> None:
    dec = LineDecoder()
    dec.feed(cri(b"x", tag="P"), 0)
    with pytest.raises(ValueError):
        dec.restore(state)
    assert dec.pending  # unchanged


# --------------------------------------------------------------------------- properties


def _is_cri_partial(line: bytes) -> bool:
    parts = line.split(b" ", 3)
    if len(parts) != 4 or parts[1] not in (b"stdout", b"stderr"):
        return False
    try:
        parse_timestamp(parts[0])
    except ValueError:
        return False
    return parts[2].split(b":", 1)[0] == b"P"


_stamps = st.sampled_from(
    ["2026-11-24T10:00:00.1Z", "2026-11-24T10:00:00Z", "2026-11-24T11:00:00.123456+01:00"]
)
_cri_lines = st.builds(
    lambda ts, stream, tag, content: f"{ts} {stream} {tag} ".encode() + content,
    _stamps,
    st.sampled_from(["stdout", "stderr"]),
    st.sampled_from(["P", "F", "P:x", "F:x"]),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
)
_garbage = (
    st.binary(max_size=60)
    .map(lambda b: b.replace(b"\n", b""))
    .filter(lambda b: not b.startswith(b"{"))
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(_cri_lines, _garbage), max_size=30), cap=st.integers(1, 64))
def test_feed_never_raises_and_never_loses_a_line(lines: list[bytes], cap: int) -> None:
    dec = LineDecoder(max_line_bytes=cap)
    for line in lines:
        out = dec.feed(line, ARRIVAL)
        assert len(out) == (0 if _is_cri_partial(line) else 1)
        for p in out:
            assert isinstance(p.message, str) and 0 <= p.level <= 6
    flushed = dec.flush(ARRIVAL)
    assert all(p.flags & UNTERMINATED for p in flushed)
    assert not dec.pending


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.tuples(st.sampled_from([OUT, ERR]), st.booleans(), st.binary(max_size=30)), max_size=25
    )
)
def test_reassembly_matches_a_simple_model(lines: list[tuple[int, bool, bytes]]) -> None:
    dec = LineDecoder()
    got: list[tuple[int, str]] = []
    want: list[tuple[int, str]] = []
    held: dict[int, bytes] = {OUT: b"", ERR: b""}
    for stream, partial, content in lines:
        content = content.replace(b"\n", b"")
        name = "stdout" if stream == OUT else "stderr"
        got += [
            (p.stream, p.message) for p in dec.feed(cri(content, name, "P" if partial else "F"), 0)
        ]
        held[stream] += content
        if not partial:
            data = held[stream].removesuffix(b"\r")
            want.append((stream, data.decode("utf-8", "backslashreplace")))
            held[stream] = b""
    assert got == want


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_in_every_format_state(raw: bytes) -> None:
    for first in (None, cri(b"x"), docker("x\n")):
        dec = LineDecoder(max_line_bytes=50)
        if first is not None:
            dec.feed(first, 0)
        assert len(dec.feed(raw, 0)) <= 1
        dec.flush(0)


# --------------------------------------------------------------------------- levels

ERROR, WARN, INFO, DEBUG, TRACE, FATAL, NONE = (
    int(Level.ERROR),
    int(Level.WARN),
    int(Level.INFO),
    int(Level.DEBUG),
    int(Level.TRACE),
    int(Level.FATAL),
    int(Level.UNKNOWN),
)


@pytest.mark.parametrize(
    ("message", "level"),
    [
        # JSON: top-level keys level / severity / lvl / loglevel, names or pino numbers.
        ('{"level":"error","msg":"boom"}', ERROR),
        ('{"msg":"boom","level":"WARNING"}', WARN),
        ('{"severity":"INFO","message":"x"}', INFO),
        ('{"lvl":"dbug"}', DEBUG),
        ('{"loglevel":"trace"}', TRACE),
        ('{"Level":"Fatal"}', FATAL),
        ('{"level":"dpanic"}', FATAL),
        ('{"level":"critical"}', FATAL),
        ('{"severity":"EMERGENCY"}', FATAL),
        ('{"severity":"NOTICE"}', INFO),
        ('{"level":"information"}', INFO),
        ('{"level": 30, "msg": "x"}', INFO),
        ('{"level":50}', ERROR),
        ('{"level":60}', FATAL),
        ('{"level":10}', TRACE),
        ('{"level":"40"}', WARN),
        ('{"level":35}', NONE),
        ('{"level":true}', NONE),
        ('{"level":null, "severity":"error"}', ERROR),
        ('{"level":"chatty", "severity":"error"}', ERROR),
        ('{"name":"api","hostname":"h","pid":1,"level":40,"msg":"slow"}', WARN),
        ('{"msg":"x","req":{"level":"error"},"level":"info"}', INFO),
        ('{"msg":"x","req":{"level":"error"}}', NONE),
        ('{"msg":"x","tags":["a"],"level":"warn"}', WARN),
        ('{"msg":"\\"level\\":\\"error\\""}', NONE),
        ('{"msg":"no level here"}', NONE),
        ('{"level":"error","msg":"cut by the size cap', ERROR),
        ('{"msg":"ERROR: in the text"}', ERROR),
        ("{not json} ERROR x", ERROR),
        ("[]", NONE),
        # klog / glog headers.
        ("E1124 10:00:00.123456       1 file.go:12] failed", ERROR),
        ("W1124 10:00:00.123456       1 file.go:12] careful", WARN),
        ("I1124 10:00:00.123456       1 file.go:12] fine", INFO),
        ("F1124 10:00:00.123456       1 file.go:12] dead", FATAL),
        ("E11 not klog", NONE),
        # logfmt.
        ('time="2026-11-24T10:00:00Z" level=error msg="x"', ERROR),
        ("ts=1 lvl=warn msg=x", WARN),
        ('level="info" msg=x', INFO),
        ("level=DEBUG", DEBUG),
        ("a=1,severity=critical", FATAL),
        ("loglevel=error x", ERROR),
        ("msg=x level=30", INFO),
        ("x_level=error msg=y", NONE),
        ("sublevel=error msg=y", NONE),
        ("level=errors", NONE),
        ("level=", NONE),
        ("msg=hi", NONE),
        # Opening word, any case, after a timestamp-ish prefix or punctuation.
        ("ERROR something broke", ERROR),
        ("error: something broke", ERROR),
        ("Error connecting to db", ERROR),
        ("[ERROR] x", ERROR),
        ("[warn] x", WARN),
        ("WARNING:root:deprecated", WARN),
        ("INFO x", INFO),
        ("<debug> x", DEBUG),
        ("TRACE x", TRACE),
        ("FATAL x", FATAL),
        ("CRITICAL x", FATAL),
        ("panic: runtime error: index out of range", FATAL),
        ("fail: Microsoft.AspNetCore[1] boom", ERROR),
        ("crit: x", FATAL),
        ("2026-11-24 10:00:00,123 ERROR [main] x", ERROR),
        ("2026-11-24T10:00:00.123Z WARN x", WARN),
        ("2026-11-24T10:00:00.123Z  INFO 1 --- [main] o.s.b.App : Started", INFO),
        ("2026/11/24 10:00:00 [error] 29#29: *1 connect() failed", ERROR),
        ("10:00:00.123 [debug] x", DEBUG),
        # Upper-case or bracketed level words further in.
        ("2026-11-24 10:00:00,123 [main] ERROR com.x.Y - boom", ERROR),
        ("2026-11-24 10:00:00,123 - myapp - WARNING - careful", WARN),
        ("10:00:00 myapp | INF | started", INFO),
        ("10:00:00 ERR failed", ERROR),
        ("pid=3 something [error] x", ERROR),
        ("[Mon Nov 24 10:00:00 2026] [Warning] x", WARN),
        # Not levels: lower-case words in running text, other words, too far in.
        ("information about errors", NONE),
        ("connection reset by peer", NONE),
        ("failed with error while reading", NONE),
        ("no errors found", NONE),
        ("errors: 0", NONE),
        ("Informational message", NONE),
        ("Alert rules loaded", NONE),
        ("Notice: x", NONE),
        ("GET /api/v1/items 200", NONE),
        ("MYERROR x", NONE),
        ("ERROR_CODE=5", NONE),
        ("x" * 70 + " ERROR", NONE),
        ("", NONE),
        (" ", NONE),
        ("\x00\xff", NONE),
        ("\ud800 ERROR", ERROR),
        ("🙂 ERROR", ERROR),
    ],
)
def test_detect_level(message: str, level: int) -> None:
    assert detect_level(message) == level


def test_decoder_sets_the_level() -> None:
    dec = LineDecoder()
    out = feed_all(dec, [cri(b'{"level":"warn"}'), cri(b"ERROR x", tag="P"), cri(b" y")])
    assert [p.level for p in out] == [WARN, ERROR]


def test_detect_level_never_raises_on_strange_input() -> None:
    deep = '{"a":' + "[" * 100_000 + "]" * 100_000 + ', "level": "error"}'
    assert detect_level(deep) == ERROR  # too deep for json: the level field still counts
    assert detect_level('{"level":"' + "9" * 5000 + '"}') == NONE
    assert detect_level("level=" + "9" * 5000) == NONE
    assert detect_level(None) == NONE  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=120))
def test_detect_level_on_any_text(message: str) -> None:
    assert 0 <= detect_level(message) <= 6


def test_a_read_of_many_lines_decodes_as_those_lines_one_by_one() -> None:
    lines = [
        b"not a log line",  # before the format is known: malformed, kept
        cri(b"first"),
        cri(b"half ", tag="P"),
        cri(b"err\r", "stderr"),
        cri(b"and the rest"),
        b"2026-11-24T10:00:00.5Z stdin F no such stream",
        cri(b"late", ts="2026-11-24T10:00:01+01:00"),
        cri(b"\xffbad utf-8 ERROR"),
        cri(b"dangling ", "stderr", tag="P"),
    ]
    # Positions count each line and its newline: `skip` drops stored lines by them.
    for skip, kept in (
        ([0, 0, 0], ["not a log line", "first", "err", "half and the rest"]),
        ([0, 100, 120], ["not a log line", "and the rest"]),  # "half " and "err" stored
        ([0, 200, 0], ["not a log line", "err", "2026-11-24T10:00:00.5Z stdin F no such stream"]),
    ):
        one_by_one = LineDecoder()
        one_by_one.skip = list(skip)
        expected: list[Parsed] = []
        pos = 0
        for raw in lines:
            expected += one_by_one.feed(raw, T0, pos)
            pos += len(raw) + 1
        expected += one_by_one.flush(T0)
        at_once = LineDecoder()
        at_once.skip = list(skip)
        got = at_once.feed_lines(lines, T0, 0) + at_once.flush(T0)
        assert got == expected
        assert [p.message for p in got][: len(kept)] == kept
        assert at_once.malformed == one_by_one.malformed == 2
