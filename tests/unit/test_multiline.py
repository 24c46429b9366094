"""Lines joined into events (formats/multiline.py), on the corpus of real-world shapes:
how many events, which lines each holds, its level; caps, hold time, bad input."""

from __future__ import annotations

import pytest

from klogtui.formats import detect_level
from klogtui.formats.codes import CONTINUED, CUT
from klogtui.formats.multiline import Event, Grouper
from klogtui.model import Level
from tests.corpus import SHAPES
from tests.corpus import Event as Truth


def _group(lines: list[str], grouper: Grouper | None = None) -> list[Event]:
    g = grouper or Grouper()
    out: list[Event] = []
    for i, line in enumerate(lines):
        out += g.feed(i, 1000 + i, detect_level(line), 0, line)
    return out + g.flush()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_groups_into_its_events(name: str) -> None:
    truth = SHAPES[name]
    for stream in ("stdout", "stderr"):
        want: list[Truth] = [e for e in truth if e.stream == stream]
        got = _group([line for e in want for line in e.lines])
        assert [e.message for e in got] == [e.message for e in want]
        assert [Level(e.level) for e in got] == [e.level for e in want]
        assert [e.lines for e in got] == [len(e.lines) for e in want]
        assert all(e.flags == 0 for e in got)


def test_an_event_keeps_its_first_lines_time_and_position() -> None:
    got = _group(["WARN slow", "java.io.IOException: x", "\tat a.B.c(B.java:1)", "next"])
    assert [(e.start, e.ts, e.level, e.lines) for e in got] == [
        (0, 1000, Level.WARN, 3),
        (3, 1003, Level.UNKNOWN, 1),
    ]


def test_a_trace_start_after_an_info_line_is_an_event_of_its_own() -> None:
    got = _group(["INFO all good", "Traceback (most recent call last):", '  File "x"', "E: y"])
    assert [(e.level, e.lines) for e in got] == [(Level.INFO, 1), (Level.ERROR, 3)]


def test_frames_with_no_header_are_flagged_continued() -> None:
    got = _group(["\tat a.B.c(B.java:1)", "\tat a.B.d(B.java:2)", "next"])
    assert [(e.lines, e.flags) for e in got] == [(2, CONTINUED), (1, 0)]


def test_ansi_colours_do_not_hide_a_frame() -> None:
    got = _group(["\x1b[31mERROR\x1b[0m boom", "\x1b[2m    at f (/app/x.js:1:1)\x1b[0m"])
    assert [(e.level, e.lines) for e in got] == [(Level.ERROR, 2)]


def test_a_10000_line_trace_is_cut_at_the_line_cap_and_nothing_is_lost() -> None:
    lines = ["ERROR boom", "java.lang.RuntimeException: x"]
    lines += [f"\tat a.B.m{i}(B.java:{i})" for i in range(9998)]
    got = _group(lines + ["after"])
    assert [e.lines for e in got] == [1000] * 10 + [1]
    assert [e.flags for e in got] == [CUT] + [CUT | CONTINUED] * 8 + [CONTINUED, 0]
    assert "\n".join(e.message for e in got[:-1]) == "\n".join(lines)
    assert {e.level for e in got[:-1]} == {Level.ERROR}  # the pieces keep the header's


def test_the_byte_cap_cuts_before_the_line_that_would_pass_it() -> None:
    g = Grouper(max_bytes=100)
    lines = ["ERROR x", "java.lang.IllegalStateException: y"] + ["\tat " + "f" * 40] * 3
    got = _group(lines, g)
    assert [e.lines for e in got] == [3, 2]
    assert all(len(e.message) <= 100 for e in got)
    assert "\n".join(e.message for e in got) == "\n".join(lines)


def test_an_open_event_is_handed_over_after_its_hold_time() -> None:
    g = Grouper(hold_s=0.3, quiet_s=0.1)
    assert g.feed(0, 1, 0, 0, "ERROR x", now=10.0) == []
    assert g.deadline == pytest.approx(10.1)
    assert g.expire(10.05) == []
    assert g.feed(8, 2, 0, 0, "\tat a.B(B.java:1)", now=10.09) == []
    assert g.expire(10.15) == []  # got a line 0.06 s ago, open for 0.15 s
    # A never-ending group is still handed over at the hold time.
    assert g.feed(30, 3, 0, 0, "\tat a.C(C.java:2)", now=10.25) == []
    assert [e.lines for e in g.expire(10.30)] == [3]
    assert g.open_start is None and g.deadline is None
    assert [e.flags for e in g.feed(50, 4, 0, 0, "\tat a.D(D.java:3)", now=10.31)] == []
    assert [e.flags for e in g.flush()] == [CONTINUED]


def test_blank_lines_join_only_inside_a_trace() -> None:
    got = _group(["plain", "", "next"])
    assert [e.lines for e in got] == [1, 1, 1]


def test_frames_after_the_hold_time_keep_the_level_of_their_trace() -> None:
    g = Grouper(hold_s=0.3, quiet_s=0.1)
    g.feed(0, 1, Level.ERROR, 0, "ERROR x", now=0.0)
    g.feed(1, 2, 0, 0, "java.io.IOException: y", now=0.0)
    assert [e.lines for e in g.expire(1.0)] == [2]
    got = g.feed(2, 3, 0, 0, "\tat a.B.c(B.java:1)", now=1.0)
    got += g.feed(3, 4, 0, 0, "INFO next", now=1.0)
    got += g.flush()
    got += g.feed(4, 5, 0, 0, "\tat a.B.c(B.java:1)", now=1.0)  # no trace before it now
    got += g.flush()
    assert [(e.level, e.flags) for e in got] == [
        (Level.ERROR, CONTINUED),
        (Level.UNKNOWN, 0),
        (Level.UNKNOWN, CONTINUED),
    ]
