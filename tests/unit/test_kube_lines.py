"""Log endpoint bytes -> lines -> records: splits, UTF-8, caps, the replayed second."""

from __future__ import annotations

import pytest

from klogtui.collect.kube.lines import (
    LineSplitter,
    ReplayFilter,
    ResumePoint,
    rfc3339_second,
    to_records,
)
from klogtui.model import Flag, Level, SourceKey, Stream

KEY = SourceKey("shop", "web-1", "app", 0, "uid-1")
T = 1_795_000_000  # 2026-11-18T11:06:40Z
NS = 1_000_000_000


def feed_all(chunks: list[bytes], cap: int = 1 << 20) -> list[tuple[bytes, int]]:
    s = LineSplitter(cap)
    out: list[tuple[bytes, int]] = []
    for c in chunks:
        out += s.feed(c)
    assert s.pending == 0
    return out


def test_lines_split_anywhere_across_chunks_come_out_whole() -> None:
    data = "2026-11-18T11:06:40.5Z héllo wörld 🚀\n2026-11-18T11:06:41Z second\n\n".encode()
    whole = feed_all([data])
    for size in (1, 2, 3, 5, 7, 64):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert feed_all(chunks) == whole
    assert [line for line, _ in whole] == [
        "2026-11-18T11:06:40.5Z héllo wörld 🚀".encode(),
        b"2026-11-18T11:06:41Z second",
        b"",
    ]


def test_overlong_line_keeps_the_cap_and_counts_the_rest() -> None:
    s = LineSplitter(10)
    assert s.feed(b"0123456") == []
    assert s.feed(b"789abcdef") == []
    assert s.pending == 10  # never more than the cap held
    assert s.feed(b"gh\nnext\n") == [(b"0123456789", 8), (b"next", 0)]


def test_take_hands_over_the_unfinished_line() -> None:
    s = LineSplitter()
    s.feed(b"whole\npart")
    assert s.take() == (b"part", 0)
    assert s.pending == 0


def test_records_parse_the_kubelet_timestamp_and_level() -> None:
    point = ResumePoint()
    lines = [
        (b"2026-11-18T11:06:40.123456789Z ERROR boom", 0),
        (b"2026-11-18T12:06:41+01:00 level=warn msg=x", 0),
        (b"2026-11-18T11:06:42Z ", 0),
        (b"2026-11-18T11:06:43Z crlf\r", 0),
        (b"2026-11-18T11:06:44Z bad \xff byte", 0),
    ]
    recs = to_records(lines, KEY, point, ReplayFilter(point), arrival_ns=0)
    assert [(r.ts, r.message, r.level, r.stream) for r in recs] == [
        (T * NS + 123456789, "ERROR boom", Level.ERROR, Stream.COMBINED),
        ((T + 1) * NS, "level=warn msg=x", Level.WARN, Stream.COMBINED),
        ((T + 2) * NS, "", Level.UNKNOWN, Stream.COMBINED),
        ((T + 3) * NS, "crlf", Level.UNKNOWN, Stream.COMBINED),
        ((T + 4) * NS, "bad \\xff byte", Level.UNKNOWN, Stream.COMBINED),
    ]
    assert all(r.source == KEY and r.flags == 0 for r in recs)
    assert (point.last_ts_second, point.count_in_that_second, point.lines) == (T + 4, 1, 5)


def test_line_without_timestamp_is_kept_raw_and_flagged() -> None:
    point = ResumePoint(last_ts_second=T, count_in_that_second=0, last_ts_ns=T * NS + 5)
    recs = to_records([(b"no timestamp here", 0)], KEY, point, ReplayFilter(point), 99)
    assert (recs[0].ts, recs[0].message, recs[0].flags) == (
        T * NS + 5,
        "no timestamp here",
        Flag.MALFORMED,
    )


def test_truncated_line_is_cut_at_a_character_boundary() -> None:
    s = LineSplitter(26)
    lines = s.feed("2026-11-18T11:06:40Z ééé tail\n".encode())
    point = ResumePoint()
    (rec,) = to_records(lines, KEY, point, ReplayFilter(point), 0)
    # 26 bytes keep the timestamp, a space and 2.5 "é": the half character goes too,
    # so 7 bytes are cut: one "é" and " tail".
    assert rec.message == "éé …[truncated 7 bytes]"
    assert rec.flags == Flag.TRUNCATED


def test_unterminated_flag_is_added() -> None:
    point = ResumePoint()
    (rec,) = to_records(
        [(b"2026-11-18T11:06:40Z half", 0)], KEY, point, ReplayFilter(point), 0, Flag.UNTERMINATED
    )
    assert rec.flags == Flag.UNTERMINATED and rec.message == "half"


def _line(second: int, text: str) -> tuple[bytes, int]:
    return (f"{rfc3339_second(second)} {text}".encode(), 0)


def test_replayed_second_is_skipped_exactly() -> None:
    """A resumed request (sinceTime = last second) replays that whole second."""
    log = [
        _line(T, "a"),
        _line(T + 1, "b1"),
        _line(T + 1, "b2"),
        _line(T + 1, "same"),
        _line(T + 1, "same"),
        _line(T + 1, "b5"),
        _line(T + 2, "c"),
    ]
    point = ResumePoint()
    got = to_records(log[:4], KEY, point, ReplayFilter(point), 0)  # the connection drops
    assert (point.last_ts_second, point.count_in_that_second) == (T + 1, 3)
    assert point.since_time() == "2026-11-18T11:06:41Z"
    replay = [ln for ln in log if int(ln[0][17:19]) >= 41]  # what the kubelet sends back
    got += to_records(replay, KEY, point, ReplayFilter(point), 0)
    assert [r.message for r in got] == ["a", "b1", "b2", "same", "same", "b5", "c"]
    assert (point.last_ts_second, point.count_in_that_second, point.lines) == (T + 2, 1, 7)


def test_skipping_stops_when_the_replay_moves_past_the_second() -> None:
    # The replay has fewer lines of the second than we counted (not from the kubelet,
    # but it must not swallow later lines).
    point = ResumePoint(last_ts_second=T, count_in_that_second=5)
    got = to_records(
        [_line(T, "x"), _line(T + 1, "y"), _line(T, "late")], KEY, point, ReplayFilter(point), 0
    )
    assert [r.message for r in got] == ["y", "late"]


def test_older_line_does_not_move_the_resume_point_back() -> None:
    point = ResumePoint()
    to_records(
        [_line(T + 5, "new"), _line(T + 3, "stderr, earlier")], KEY, point, ReplayFilter(point), 0
    )
    assert (point.last_ts_second, point.count_in_that_second) == (T + 5, 1)


def test_rotation_inside_the_resume_second_keeps_new_lines_and_marks_a_gap() -> None:
    point = ResumePoint()
    log = [_line(T, "a"), _line(T, "b"), _line(T, "rotated away"), _line(T, "new"), _line(T, "z")]
    got = to_records(log[:2], KEY, point, ReplayFilter(point), 0)
    # The file rotated after "rotated away": the resumed answer starts at "new".
    got += to_records(log[3:], KEY, point, ReplayFilter(point), 0)
    assert [r.message for r in got if not r.flags & Flag.GAP] == ["a", "b", "new", "z"]
    (gap,) = [r for r in got if r.flags & Flag.GAP]
    assert gap.message.startswith("klogtui gap: lines from ") and gap.level == Level.WARN
    assert [r.message for r in got].index(gap.message) == 2  # between "b" and "new"


def test_a_replay_that_starts_with_a_stored_line_is_no_gap() -> None:
    point = ResumePoint()
    log = [_line(T, "a"), _line(T + 1, "b"), _line(T + 1, "c"), _line(T + 2, "d")]
    to_records(log[:2], KEY, point, ReplayFilter(point), 0)
    got = to_records(log[1:], KEY, point, ReplayFilter(point), 0)
    assert [r.message for r in got] == ["c", "d"]


def test_checkpoint_without_identities_skips_by_count() -> None:
    # Written before identities were kept: three lines of T were stored.
    point = ResumePoint(last_ts_second=T, count_in_that_second=3, last_ts_ns=T * NS)
    log = [_line(T, "x"), _line(T, "y"), _line(T, "z"), _line(T, "new")]
    got = to_records(log, KEY, point, ReplayFilter(point), 0)
    assert [r.message for r in got] == ["new"]


def test_resume_point_round_trips_and_tolerates_junk() -> None:
    p = ResumePoint(T, 3, T * NS + 7, 42, True, "shop")
    assert ResumePoint.from_json(p.to_json()) == p
    p.seen = [1, 2 << 32 | 7, 3]
    assert ResumePoint.from_json(p.to_json()) == p
    for junk in ("", "nope", "[]", '{"last_ts_second": "x"}'):
        assert ResumePoint.from_json(junk) == ResumePoint()


@pytest.mark.parametrize("second,text", [(0, "1970-01-01T00:00:00Z"), (T, "2026-11-18T11:06:40Z")])
def test_rfc3339_second(second: int, text: str) -> None:
    assert rfc3339_second(second) == text
