"""The histogram strip inside a tiny host app: what it draws and where it jumps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rich.color import Color
from textual.app import App, ComposeResult
from textual.strip import Strip

from klogtui.model import Batch, Level
from klogtui.store import Bucket, Store
from klogtui.ui.app import KlogApp
from klogtui.ui.widgets.histogram import Histogram
from klogtui.ui.widgets.query_bar import QueryInput
from tests.store_helpers import SEC, rec, write
from tests.store_helpers import T0 as DEMO_T0
from tests.ui_fixtures import FIXED_NOW, build_demo_store, settle

T0 = 1_795_000_000_000_000_000 - 1_795_000_000_000_000_000 % 60_000_000_000  # a whole minute
MIN = 60_000_000_000


def buckets(*counts: int | tuple[int, int, int]) -> list[Bucket]:
    """Minute buckets from T0; an int is a total, a tuple is (total, warn, error)."""
    out = []
    for i, c in enumerate(counts):
        total, warn, error = (c, 0, 0) if isinstance(c, int) else c
        out.append(Bucket(T0 + i * MIN, T0 + (i + 1) * MIN, total, warn, error))
    return out


class HistApp(App[None]):
    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.hist_size = (width, height)
        self.jumps: list[int] = []

    def compose(self) -> ComposeResult:
        yield Histogram(id="h")

    def on_mount(self) -> None:
        h = self.query_one(Histogram)
        h.styles.width, h.styles.height = self.hist_size

    def on_histogram_jump(self, message: Histogram.Jump) -> None:
        self.jumps.append(message.ts_ns)


def rows(h: Histogram) -> list[str]:
    return [h.render_line(y).text for y in range(h.size.height)]


def cell(strip: Strip, x: int) -> tuple[str, Color | None, Color | None]:
    """(character, fg, bg) of column x of a rendered line."""
    pos = 0
    for seg in strip:
        if pos <= x < pos + len(seg.text):
            style = seg.style
            assert style is not None
            return seg.text[x - pos], style.color, style.bgcolor
        pos += len(seg.text)
    raise IndexError(x)


def reddish(c: Color | None) -> bool:
    assert c is not None
    r, g, b = c.get_truecolor()
    return r > 150 and r > g + 40 and r > b + 40


def yellowish(c: Color | None) -> bool:
    assert c is not None
    r, g, b = c.get_truecolor()
    return r > 150 and g > 120 and b < r - 60


async def test_bars_proportional_one_row() -> None:
    app = HistApp(9, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(0, 1, 2, 3, 4, 5, 6, 7, 8))
        await pilot.pause()
        assert rows(h) == [" ▁▂▃▄▅▆▇█"]
        # Scaled to the largest bucket, rounded up so a single line still shows.
        h.set_buckets(buckets(1, 500, 1000, 0))
        await pilot.pause()
        assert rows(h) == ["▁▁▄▄██   "]


async def test_bars_two_rows_and_wide_buckets() -> None:
    app = HistApp(10, 2)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(0, 4, 8, 12, 16))  # 5 buckets on 10 columns: 2 each
        await pilot.pause()
        assert rows(h) == ["      ▄▄██", "  ▄▄██████"]


async def test_many_buckets_are_merged() -> None:
    app = HistApp(4, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(1, 1, 0, 0, 4, 4, 2, 2))  # pairs: 2, 0, 8, 4
        await pilot.pause()
        assert rows(h) == ["▂ █▄"]


async def test_error_and_warn_share_coloured() -> None:
    app = HistApp(4, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        # all errors; half errors; all warnings; plain.
        h.set_buckets(buckets((8, 0, 8), (8, 0, 4), (8, 8, 0), 8))
        await pilot.pause()
        line = h.render_line(0)
        ch, fg, _ = cell(line, 0)
        assert ch == "█" and reddish(fg)
        # Half: the lower half red glyph on the normal bar colour above it.
        ch, fg, bg = cell(line, 1)
        assert ch == "▄" and reddish(fg)
        _, normal, _ = cell(line, 3)
        assert bg == normal
        ch, fg, _ = cell(line, 2)
        assert ch == "█" and yellowish(fg)
        ch, fg, _ = cell(line, 3)
        assert ch == "█" and not reddish(fg) and not yellowish(fg)


async def test_small_error_share_stays_visible() -> None:
    app = HistApp(2, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets((1000, 0, 1), (1000, 0, 0)))
        await pilot.pause()
        line = h.render_line(0)
        # A full-height cell: one eighth red glyph on the normal colour above it.
        assert line.text == "▁█"
        _, fg, bg = cell(line, 0)
        _, normal, _ = cell(line, 1)
        assert reddish(fg) and bg == normal and not reddish(normal)


async def test_keys_post_jump_with_bucket_start() -> None:
    app = HistApp(5, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(1, 2, 3, 4, 5))
        h.focus()
        await pilot.press("left")  # no cursor yet: starts from the newest end
        await pilot.press("home", "right", "l", "end", "right", "h")
        await pilot.pause()
        assert app.jumps == [T0 + 4 * MIN, T0, T0 + MIN, T0 + 2 * MIN, T0 + 4 * MIN, T0 + 3 * MIN]
        assert h.cursor_ns == T0 + 3 * MIN


async def test_first_move_starts_from_visible_range() -> None:
    app = HistApp(5, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(1, 2, 3, 4, 5))
        h.set_visible(T0 + 2 * MIN + 5, T0 + 2 * MIN + 50)
        h.focus()
        await pilot.press("left")
        await pilot.pause()
        assert app.jumps == [T0 + MIN]


async def test_click_posts_jump() -> None:
    app = HistApp(10, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(1, 2, 3, 4, 5))  # 2 columns per bucket
        await pilot.pause()
        await pilot.click(Histogram, offset=(7, 0))
        await pilot.pause()
        assert app.jumps == [T0 + 3 * MIN]
        assert h.has_focus


async def test_cursor_keeps_its_time_when_buckets_shift() -> None:
    app = HistApp(3, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(1, 2, 3))
        h.focus()
        await pilot.press("home", "right")
        h.set_buckets(buckets(1, 2, 3, 4)[1:])  # the window moved on by a minute
        await pilot.pause()
        assert h.cursor_ns == T0 + MIN
        await pilot.press("right")
        await pilot.pause()
        assert app.jumps[-1] == T0 + 2 * MIN


async def test_visible_range_and_cursor_tinted() -> None:
    app = HistApp(4, 1)
    async with app.run_test(size=(20, 4)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(0, 0, 0, 0))
        await pilot.pause()
        plain = cell(h.render_line(0), 0)[2]
        h.set_visible(T0 + MIN, T0 + 2 * MIN)
        await pilot.pause()
        line = h.render_line(0)
        assert line.text == "    "
        view = cell(line, 1)[2]
        assert view != plain and cell(line, 2)[2] == plain
        h.focus()
        await pilot.press("end")
        await pilot.pause()
        cursor = cell(h.render_line(0), 3)[2]
        assert cursor not in (plain, view)


async def test_axis_row_when_tall_enough(utc: None) -> None:
    app = HistApp(40, 3)
    async with app.run_test(size=(50, 5)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets(buckets(*range(1, 41)))
        await pilot.pause()
        axis = rows(h)[2]
        start = time.strftime("%H:%MZ", time.gmtime(T0 // 10**9))
        end = time.strftime("%H:%MZ", time.gmtime(T0 // 10**9 + 40 * 60))
        assert axis.startswith(start) and axis.rstrip().endswith(end)
        h.focus()
        await pilot.press("home", "right")
        await pilot.pause()
        label = "▲ " + time.strftime("%H:%MZ", time.gmtime(T0 // 10**9 + 60)) + " 2"
        assert label in rows(h)[2]


async def test_empty() -> None:
    app = HistApp(30, 3)
    async with app.run_test(size=(40, 5)) as pilot:
        h = app.query_one(Histogram)
        h.set_buckets([])
        h.focus()
        await pilot.press("left", "end")
        await pilot.pause()
        assert app.jumps == []
        assert "no lines in this range" in rows(h)[2]


async def test_in_the_app_only_a_text_query_is_capped_and_the_axis_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    # The demo store spans 7 minutes: at this width its buckets are seconds wide, so
    # the histogram counts lines, not per-minute counts. A cap of 50 stands in for the
    # real 200,000: the 422 lines, and the 60 that say "ok", are over it.
    monkeypatch.setattr("klogtui.store.aggregates._SCAN_CAP", 50)
    store = build_demo_store(tmp_path / "demo.db")
    app = KlogApp(store, now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        shown = rows(app.histogram)
        assert not any("not counted" in row for row in shown)
        start = time.strftime("%H:%M:%SZ", time.gmtime(DEMO_T0 // 10**9))
        assert shown[-1].startswith(start)  # the time axis, under the bars
        app.histogram.focus()
        await pilot.press("home")
        await settle(pilot)
        assert "▲ " + start in rows(app.histogram)[-1]
        await pilot.press("slash")
        app.query_one(QueryInput).value = "ok"
        await pilot.press("enter")
        await settle(pilot)
        assert "not counted" in "".join(rows(app.histogram))


async def test_in_the_app_the_newest_line_has_its_bar(tmp_path: Path, utc: None) -> None:
    # The app counts up to the newest line's timestamp + 1 ns; ids hold time to 10 µs,
    # and rounding that end down to its 10 µs bucket left the newest line out.
    store = Store.open(tmp_path / "s.db")
    write(
        store,
        Batch(
            [rec(DEMO_T0 + i * SEC, f"ok {i}") for i in range(120)]
            + [rec(DEMO_T0 + 120 * SEC + 5, "the newest, an error", level=Level.ERROR)]
        ),
    )
    app = KlogApp(store, now_ns=FIXED_NOW, save_dir=tmp_path)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        h = app.histogram
        bars = [h.render_line(y) for y in range(h.size.height - 1)]  # the axis row last
        newest = [cell(strip, h.size.width - 1) for strip in bars]
        assert newest[-1][0] != " "  # the newest line's column has a bar ...
        assert reddish(newest[-1][1])  # ... coloured as an error
