"""SGR sequences read as styles (klogtui.ui.sgr), field values as `key=value` text
(klogtui.ui.field_text), and since:/until: times read in the zone shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from klogtui.query.parsed import ParsedQuery
from klogtui.query.times import parse_time, time_ns
from klogtui.ui.field_text import structured, value_text
from klogtui.ui.sgr import SgrState, has_sgr, spans


def test_sgr_sequences_become_styles_and_leave_the_text() -> None:
    runs, end = spans("a\x1b[1;31mb\x1b[22mc\x1b[0md")
    assert runs == [("a", ""), ("b", "bold color(1)"), ("c", "color(1)"), ("d", "")]
    assert end == SgrState()


def test_extended_bright_and_background_colours() -> None:
    runs, _ = spans("\x1b[38;5;208mo\x1b[38;2;1;2;3;48;5;4mt\x1b[39;49;92mg\x1b[104mb")
    assert runs == [
        ("o", "color(208)"),
        ("t", "#010203 on color(4)"),
        ("g", "color(10)"),
        ("b", "color(10) on color(12)"),
    ]
    assert spans("\x1b[38:5:9mx")[0] == [("x", "color(9)")]  # the ITU colon form


def test_other_sequences_are_left_in_the_text() -> None:
    text = "\x1b]0;title\x07x \x1b[2J\x1b[5A\x1b[?25l y \x1b"
    assert spans(text)[0] == [(text, "")]
    assert not has_sgr(text)
    assert has_sgr("\x9b31mred")  # the 8-bit CSI
    assert spans("\x9b31mred")[0] == [("red", "color(1)")]


def test_a_state_carries_over_to_the_next_line() -> None:
    _, state = spans("\x1b[33mstart")
    assert spans("goes on", state)[0] == [("goes on", "color(3)")]


def test_nonsense_parameters_do_not_raise() -> None:
    runs, _ = spans("\x1b[38;5mx\x1b[38;2;999;0;0my\x1b[;;1mz\x1b[99999999999999999mw")
    assert [r for r, _ in runs] == ["x", "y", "z", "w"]


def test_values_quote_when_needed_and_are_cut() -> None:
    assert value_text("plain") == "plain"
    assert value_text("two words") == '"two words"'
    assert value_text("") == '""'
    assert value_text('say "hi"') == '"say \\"hi\\""'
    assert value_text(503) == "503"
    assert value_text(True) == "true"
    assert value_text(None) == "null"
    assert value_text({"id": 7, "name": "zoë"}) == '{"id":7,"name":"zoë"}'
    assert value_text("x" * 100, 10) == "x" * 9 + "…"


def test_structured_reads_the_first_line_only() -> None:
    shown = structured('{"msg":"boom","k":1}\n\tat x', "")
    assert shown is not None and shown.message == "boom" and shown.fields == {"k": 1}
    assert structured("free text", None) is None
    assert structured('{"msg": "broken', "") is None


NOW = int(datetime(2026, 12, 1, 20, 0, tzinfo=UTC).timestamp()) * 10**9


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


def test_a_clock_time_is_today_in_the_zone_shown(kolkata: None) -> None:
    assert time_ns("10:30", NOW) == at("2026-12-01T10:30:00+00:00")
    # 20:00 UTC is already Dec 2 in Kolkata: today there is the 2nd.
    assert time_ns("10:30", NOW, "local") == at("2026-12-02T10:30:00+05:30")
    assert time_ns("2026-11-24T10:00", NOW, "local") == at("2026-11-24T10:00:00+05:30")
    # A zone written in the time wins over the zone shown.
    assert time_ns("2026-11-24T10:00Z", NOW, "local") == at("2026-11-24T10:00:00+00:00")
    assert time_ns("2026-11-24T10:00+01:00", NOW, "local") == at("2026-11-24T10:00:00+01:00")
    assert time_ns("15m", NOW, "local") == NOW - 15 * 60 * 10**9
    with pytest.raises(ValueError, match="bad time"):
        parse_time("25:00")


def test_a_query_keeps_its_zone() -> None:
    query = ParsedQuery.of("since:10:30 error")
    assert query.zone == "utc" and query.has_time_bound
    local = query.in_zone("local")
    assert local.zone == "local" and local.canonical == query.canonical
    assert local != query and local.in_zone("local") is local
