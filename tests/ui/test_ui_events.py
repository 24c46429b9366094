"""The log pane shows events: level badges, multi-line traces, structured fields, ANSI
colours, field columns and UTC/local times, on a store written through the real Writer
with the corpus's real-world shapes (tests/corpus)."""

from __future__ import annotations

from pathlib import Path

from rich.segment import Segment
from textual.widgets import SelectionList

from klogtui.formats.fields import stored_fields
from klogtui.model import Batch, Flag, Level, Record, SourceInfo, SourceKey, Stream
from klogtui.store import Store
from klogtui.ui.app import KlogApp
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.detail import DetailScreen
from klogtui.ui.screens.field_columns import FieldColumnsScreen
from klogtui.ui.screens.time_jump import TimeJumpScreen
from tests.corpus import ANSI, LOGFMT, SPRING, ZAP_LOGRUS, Event
from tests.store_helpers import SEC, T0
from tests.ui_fixtures import FIXED_NOW, LogHost, settle, text_of, until

KEY = SourceKey("shop", "web-1", "app", 0, "uid-web-1")
JAVA = SPRING[1]  # an ERROR header, a Java exception, frames and two "Caused by:"
ZAP = ZAP_LOGRUS[1]  # {"level":"error", … "msg":"request failed","status":503, …}
VITE = ANSI[0]  # green "VITE v5.0.0", no level
OSC = "\x1b]0;pwned\x07title \x1b[2Jcleared \x1b[5Aup"
LEVELS = [
    Event("stdout", Level.TRACE, ("trace detail",)),
    Event("stdout", Level.DEBUG, ("debug detail",)),
    Event("stdout", Level.INFO, ("info detail",)),
    Event("stdout", Level.WARN, ("warn detail",)),
    Event("stdout", Level.FATAL, ("fatal detail",)),
    Event("stdout", Level.UNKNOWN, ("no level here",)),
]


def build_events_store(
    path: Path, events: list[Event], flags: dict[int, int] | None = None
) -> Store:
    """`events` one second apart from T0, stored as the collector stores them: the
    message as written, its fields and level by formats.fields.stored_fields."""
    store = Store.open(path)
    records = []
    for i, event in enumerate(events):
        level, fields = stored_fields(event.message, event.level)
        stream = Stream.STDERR if event.stream == "stderr" else Stream.STDOUT
        records.append(
            Record(T0 + i * SEC, KEY, stream, event.message, level, (flags or {}).get(i, 0), fields)
        )
    writer = store.start_writer()
    try:
        writer.submit(Batch(records=records, sources=[SourceInfo(KEY, state="running")]))
        assert writer.flush(30)
    finally:
        writer.close()
    return store


def rows(host: LogHost) -> list[str]:
    return [r.rstrip() for r in host.view.rendered_rows() if r.strip()]


def row_of(host: LogHost, text: str) -> int:
    """The screen row (y) showing `text`."""
    return next(y for y, r in enumerate(host.view.rendered_rows()) if text in r)


def segments(host: LogHost, y: int, text: str) -> list[Segment]:
    """The segments of row y that hold `text`."""
    return [seg for seg in host.view.render_line(y) if text in seg.text]


def colour_number(seg: Segment) -> int | None:
    return None if seg.style is None or seg.style.color is None else seg.style.color.number


async def test_a_java_trace_is_one_row_with_its_line_count_and_expands_in_wrap(
    tmp_path: Path,
) -> None:
    after = Event("stdout", Level.INFO, ("next event",))
    store = build_events_store(tmp_path / "s.db", [JAVA, after])
    host = LogHost(store)
    async with host.run_test(size=(160, 20)) as pilot:
        await settle(pilot)
        shown = rows(host)
        assert len(shown) == 2  # two events, two rows
        # The count of its other lines first, where a long first line cannot hide it.
        assert f"ERR +{len(JAVA.lines) - 1} 2026-11-24 10:00:01.002 ERROR" in shown[0]
        assert "\\x0a" not in shown[0]
        await pilot.press("w")
        await settle(pilot)
        shown = rows(host)
        # Every line of the event on its own row(s), under the message column.
        assert len(shown) >= len(JAVA.lines) + 1
        assert not any("\\x0a" in r for r in shown)
        indent = shown[0].index("2026-11-24")
        for line in JAVA.lines[1:]:
            assert any(r[indent:].strip() == line.strip() for r in shown), line
        assert shown[-1].endswith("next event")
        # The cursor steps over events: up from the last event lands on the trace.
        assert host.view.cursor_line is not None
        assert host.view.cursor_line.message == "next event"
        await pilot.press("up")
        assert host.view.cursor_line.message == JAVA.message
        await pilot.press("down")
        assert host.view.cursor_line.message == "next event"


async def test_n_lands_on_the_event_holding_a_frame(tmp_path: Path) -> None:
    events = [JAVA, *[Event("stdout", Level.INFO, (f"filler {i}",)) for i in range(5)]]
    store = build_events_store(tmp_path / "s.db", events)
    host = LogHost(store, "SocketException OR filler")
    async with host.run_test(size=(160, 20)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.press("n")  # from the first row (the trace) to the next match
        await settle(pilot)
        assert host.view.cursor_line is not None
        assert host.view.cursor_line.message == "filler 0"
        await pilot.press("N")
        await settle(pilot)
        assert host.view.cursor_line.message == JAVA.message


async def test_the_detail_of_a_trace_shows_every_line(tmp_path: Path) -> None:
    store = build_events_store(tmp_path / "s.db", [JAVA])
    host = LogHost(store)
    async with host.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        host.push_screen(DetailScreen(host.view.window[0], None, now_ns=FIXED_NOW))
        await pilot.pause()
        heading = text_of(host.screen.query_one("#message-heading"))
        assert heading.strip() == f"message ({len(JAVA.lines)} lines)"
        shown = text_of(host.screen.query_one("#detail-message")).splitlines()
        for line in JAVA.lines:
            assert line.expandtabs(8).strip() in [s.strip() for s in shown], line
        assert "\\x0a" not in "".join(shown)


async def test_a_zap_line_shows_its_message_then_dim_fields_and_r_shows_it_raw(
    tmp_path: Path,
) -> None:
    store = build_events_store(tmp_path / "s.db", [ZAP])
    host = LogHost(store)
    async with host.run_test(size=(160, 10)) as pilot:
        await settle(pilot)
        (row,) = rows(host)
        # The time field (ts) is left out: the time column says when.
        assert "ERR request failed status=503 latency=0.25" in row and "ts=" not in row
        assert 'user={"id":7,"name":"zoë"}' in row
        assert '"msg"' not in row
        y = row_of(host, "request failed")
        (status,) = segments(host, y, "503")
        assert status.style is not None and status.style.dim
        (message,) = segments(host, y, "request failed")
        assert message.style is not None and not message.style.dim
        await pilot.press("r")
        await settle(pilot)
        (row,) = rows(host)
        assert row.endswith(ZAP.message[: len(row) - row.index("{")])
        assert row.split(" ERR ", 1)[1].startswith('{"level":"error"')
        await pilot.press("r")
        await settle(pilot)
        assert "ERR request failed" in rows(host)[0]


async def test_a_logfmt_line_shows_its_message_field_first(tmp_path: Path) -> None:
    store = build_events_store(tmp_path / "s.db", [LOGFMT[1]])
    host = LogHost(store)
    async with host.run_test(size=(160, 10)) as pilot:
        await settle(pilot)
        (row,) = rows(host)
        # No msg field: the fields alone, not dim (but the time field); the err value
        # quoted (it has a blank).
        assert row.endswith('ERR caller=db.go:12 err="dial tcp: timeout" retry=true')


async def test_ansi_colours_show_as_styles_and_p_turns_them_off(tmp_path: Path) -> None:
    store = build_events_store(tmp_path / "s.db", [VITE])
    host = LogHost(store)
    async with host.run_test(size=(160, 10)) as pilot:
        await settle(pilot)
        (row,) = rows(host)
        assert row.endswith("  VITE v5.0.0  ready in 312 ms")
        assert "\\x1b" not in row
        y = row_of(host, "VITE")
        (vite,) = segments(host, y, "VITE")
        assert colour_number(vite) == 2  # green, as the log wrote it
        (bold,) = segments(host, y, "312")
        assert bold.style is not None and bold.style.bold
        await pilot.press("p")
        await settle(pilot)
        (row,) = rows(host)
        assert row.endswith("  VITE v5.0.0  ready in 312 ms")
        (vite,) = segments(host, y, "VITE")
        assert colour_number(vite) is None
        (plain,) = segments(host, y, "312")
        assert plain.style is None or not plain.style.bold


async def test_osc_and_cursor_sequences_stay_inert(tmp_path: Path) -> None:
    store = build_events_store(tmp_path / "s.db", [Event("stdout", Level.UNKNOWN, (OSC,))])
    host = LogHost(store)
    async with host.run_test(size=(160, 10)) as pilot:
        await settle(pilot)
        (row,) = rows(host)
        assert row.endswith("\\x1b]0;pwned\\x07title \\x1b[2Jcleared \\x1b[5Aup")
        for y in range(host.view.scrollable_content_region.height):
            for seg in host.view.render_line(y):
                assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in seg.text)


async def test_level_badges(tmp_path: Path) -> None:
    store = build_events_store(tmp_path / "s.db", [*LEVELS, JAVA])
    host = LogHost(store)
    async with host.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        shown = rows(host)
        badges = {r.split(" ", 2)[2][:3]: r for r in shown}
        for badge, message in [
            ("TRC", "trace detail"),
            ("DBG", "debug detail"),
            ("INF", "info detail"),
            ("WRN", "warn detail"),
            ("FTL", "fatal detail"),
            ("   ", "no level here"),
            ("ERR", "2026-11-24"),
        ]:
            assert message in badges[badge], badge
        y = row_of(host, "2026-11-24")
        (err,) = [seg for seg in host.view.render_line(y) if seg.text == "ERR"]
        assert colour_number(err) == 1 and err.style is not None and err.style.bold
        y = row_of(host, "warn detail")
        (wrn,) = [seg for seg in host.view.render_line(y) if seg.text == "WRN"]
        assert colour_number(wrn) == 3


async def test_cut_and_continued_events_are_marked(tmp_path: Path) -> None:
    first = Event("stdout", Level.ERROR, ("Traceback (most recent call last):", '  File "a.py"'))
    rest = Event("stdout", Level.ERROR, ('  File "b.py"', "ValueError: x"))
    flags = {0: int(Flag.CUT), 1: int(Flag.CONTINUED)}
    store = build_events_store(tmp_path / "s.db", [first, rest], flags)
    host = LogHost(store)
    async with host.run_test(size=(160, 10)) as pilot:
        await settle(pilot)
        cut, cont = rows(host)
        assert cut.endswith("ERR +1 Traceback (most recent call last): …cut")
        assert cont.endswith('ERR +1 …cont.   File "b.py"')


async def test_field_columns_show_the_picked_fields_values(tmp_path: Path) -> None:
    events = [*ZAP_LOGRUS[:3], Event("stdout", Level.INFO, ("free text",))]
    store = build_events_store(tmp_path / "s.db", events)
    host = LogHost(store)
    async with host.run_test(size=(160, 12)) as pilot:
        await settle(pilot)
        await pilot.press("F")
        await pilot.pause()
        assert isinstance(host.screen, FieldColumnsScreen)
        fields = host.screen.query_one(SelectionList)
        names = [fields.get_option_at_index(i).value for i in range(fields.option_count)]
        assert {"ts", "caller", "port", "http.route", "status", "pct"} <= set(names)
        assert "msg" not in names and "level" not in names
        fields.highlighted = names.index("status")
        await pilot.press("space")
        fields.highlighted = names.index("ts")
        await pilot.press("space")
        await pilot.press("escape")
        await settle(pilot)
        assert host.view.columns == ("ts", "status")  # in the list's order
        started = next(r for r in rows(host) if "started" in r)
        assert "INF 1795514400.1 " in started  # ts column, status column blank
        failed = next(r for r in rows(host) if "request failed" in r)
        assert "ERR 1795514400.2 503 request failed latency=0.25" in failed  # not twice
        free = next(r for r in rows(host) if "free text" in r)
        assert "INF" in free and free.endswith("free text")


async def test_z_shows_local_times_and_since_follows(tmp_path: Path, kolkata: None) -> None:
    events = [Event("stdout", Level.INFO, (f"event {i}",)) for i in range(10)]
    store = build_events_store(tmp_path / "s.db", events)
    app = KlogApp(store, now_ns=FIXED_NOW, history_path=None)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        last = app.log_view.rendered_rows()
        assert any(r.startswith("11:06:49.000Z ") and "event 9" in r for r in last)
        await pilot.press("z")
        await settle(pilot)
        # 11:06:49 UTC is 16:36:49 in Kolkata, shown without the Z.
        assert any(
            r.startswith("16:36:49.000 ") and "event 9" in r for r in app.log_view.rendered_rows()
        )
        # The context screen and the time jump follow too.
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ContextScreen))
        await pilot.pause()
        assert "16:36:49.000 " in text_of(app.screen.query_one("#context-lines"))
        await pilot.press("escape")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TimeJumpScreen))
        assert "are local time" in text_of(app.screen.query_one(".hint"))
        await pilot.press("escape")
        await pilot.pause()
        # A time typed without a zone is read as shown: local.
        await pilot.press("slash")
        await pilot.press(*"since:2026-11-18T16:36:45")
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: len(events_shown(app)) == 5)
        assert events_shown(app) == [f"event {i}" for i in range(5, 10)]
        # Back to UTC: the same text now means 16:36:45 UTC, after every event.
        await pilot.press("z")
        await settle(pilot)
        await until(pilot, lambda: events_shown(app) == [])
        assert any(r.strip() == "No lines match this query." for r in app.log_view.rendered_rows())


def events_shown(app: KlogApp) -> list[str]:
    """The messages of the "event N" rows on screen."""
    return [
        "event" + r.split("event", 1)[1].rstrip()
        for r in app.log_view.rendered_rows()
        if "event " in r
    ]
