"""The log pane inside a tiny host app: paging, jumps, follow/pause, find, wrap, columns."""

from __future__ import annotations

import functools
import gc
import json
import re
import time
from pathlib import Path

import pytest
from textual.events import MouseScrollDown
from textual.pilot import Pilot
from textual.strip import Strip

from klogtui.model import Batch, Record, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Store
from klogtui.ui.line_text import BADGE_WIDTH
from klogtui.ui.widgets.log_view import LogView
from tests.store_helpers import SEC, T0, write
from tests.ui_fixtures import (
    ESCAPE_LINE,
    ESCAPE_SHOWN,
    MARKUP_LINE,
    LogHost,
    build_demo_store,
    build_numbered_store,
    settle,
    until,
)


def messages(view: LogView) -> list[str]:
    """The message column of each row on screen (blank rows dropped)."""
    # After time, source and the level badge (blank when the line states none).
    return [
        row.split(" ", 2)[-1][BADGE_WIDTH + 1 :].rstrip()
        for row in view.rendered_rows()
        if row.strip()
    ]


def numbers(view: LogView) -> list[int]:
    return [int(m.split()[-1]) for m in messages(view) if m.startswith("line ")]


def cursor_text(view: LogView) -> str:
    line = view.cursor_line
    assert line is not None
    return line.message


def append(store: Store, start: int, count: int, text: str = "new {i}") -> None:
    key = SourceKey("ns", "pod-0", "c", 0, "uid-ns-pod-0")
    records = [
        Record(T0 + (start + i) * SEC, key, Stream.STDOUT, text.format(i=start + i))
        for i in range(count)
    ]
    write(store, Batch(records=records))


async def test_opens_on_the_newest_lines_following(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 600)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        assert numbers(app.view) == list(range(588, 600))
        assert app.view.following
        assert cursor_text(app.view) == "line 000599"
        # Time column (UTC, same day as "now": no date) and a pod/container tag.
        # The level badge: build_numbered_store stores every line at level error.
        assert app.view.rendered_rows()[-1].startswith("11:16:39.000Z pod-2/c ERR line 000599")


async def test_g_and_G_jump_to_the_oldest_and_newest(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 600)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert numbers(app.view) == list(range(12))
        assert not app.view.following
        assert cursor_text(app.view) == "line 000000"
        await pilot.press("G")
        await settle(pilot)
        assert numbers(app.view)[-1] == 599
        assert app.view.following
        await pilot.press("home")
        await settle(pilot)
        assert numbers(app.view)[0] == 0
        await pilot.press("end")
        await settle(pilot)
        assert numbers(app.view)[-1] == 599


async def test_paging_down_crosses_window_edges_without_gaps(
    tmp_path: Path, small_pages: None
) -> None:
    store = build_numbered_store(tmp_path / "s.db", 300)
    app = LogHost(store)
    async with app.run_test(size=(100, 22)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        seen: list[int] = []
        for _ in range(40):
            seen.extend(numbers(app.view))
            assert len(app.view.window) <= app.view.max_window() < 300
            await pilot.press("pagedown")
            await settle(pilot)
            if numbers(app.view)[-1] == 299:
                break
        seen.extend(numbers(app.view))
        assert sorted(set(seen)) == list(range(300)), "every line was on screen once"
        rows = numbers(app.view)
        assert rows == list(range(rows[0], rows[0] + len(rows)))
        assert rows[-1] == 299


async def test_paging_up_keeps_the_screen_in_order(tmp_path: Path, small_pages: None) -> None:
    store = build_numbered_store(tmp_path / "s.db", 300)
    app = LogHost(store)
    async with app.run_test(size=(100, 22)) as pilot:
        await settle(pilot)
        tops: list[int] = []
        for _ in range(40):
            rows = numbers(app.view)
            assert rows == list(range(rows[0], rows[0] + len(rows))), rows
            tops.append(rows[0])
            if rows[0] == 0:
                break
            await pilot.press("pageup")
            await settle(pilot)
        assert tops[-1] == 0
        assert tops == sorted(tops, reverse=True)
        assert not app.view.following


async def test_cursor_keys_move_and_up_pauses(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 100)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("up", "k")
        assert cursor_text(app.view) == "line 000097"
        assert not app.view.following
        await pilot.press("down", "j")
        assert cursor_text(app.view) == "line 000099"
        await pilot.press("space")
        await settle(pilot)
        assert app.view.following
        await pilot.press("space")
        assert not app.view.following


async def test_follow_shows_new_lines_and_pause_counts_them(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 100, sources=1)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        append(store, 100, 5)
        app.view.data_changed()
        await settle(pilot)
        assert messages(app.view)[-1] == "new 104"
        assert cursor_text(app.view) == "new 104"

        await pilot.press("k")  # pause
        before = messages(app.view)
        append(store, 105, 7)
        app.view.data_changed()
        await settle(pilot)
        assert app.view.new_lines == 7
        assert messages(app.view) == before, "a paused pane does not move"

        await pilot.press("G")
        await settle(pilot)
        assert messages(app.view)[-1] == "new 111"
        assert app.view.new_lines == 0


def shows_last(view: LogView, message: str) -> bool:
    return messages(view)[-1] == message


def strips_alive() -> int:
    gc.collect()  # Textual's strips cache themselves: freed only by the cycle collector
    return sum(1 for o in gc.get_objects() if isinstance(o, Strip))


async def test_following_holds_no_more_rendered_rows_as_more_lines_pass(tmp_path: Path) -> None:
    # Each round brings a screenful of new lines, every one of them drawn once.
    store = build_numbered_store(tmp_path / "s.db", 10, sources=1)
    app = LogHost(store)
    async with app.run_test(size=(100, 200)) as pilot:
        await settle(pilot)
        view = app.view
        shown = 10

        async def follow(rounds: int) -> None:
            nonlocal shown
            for _ in range(rounds):
                append(store, shown, view.size.height)
                shown += view.size.height
                view.data_changed()
                await until(pilot, functools.partial(shows_last, view, f"new {shown - 1}"), 60)

        window = view.max_window()
        await follow(window // view.size.height + 1)  # the window full of drawn lines
        held = strips_alive()
        await follow(2 * window // view.size.height)  # twice as many lines again
        assert strips_alive() <= held * 1.1, "memory grows with the lines followed"


async def test_horizontal_scroll_survives_new_lines(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 50, sources=1)
    append(store, 50, 3, "wide {i} " + "x" * 200)
    app = LogHost(store)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        await pilot.press("l", "l")
        assert app.view.scroll_x == 16
        append(store, 53, 4)
        app.view.data_changed()
        await settle(pilot)
        assert app.view.scroll_x == 16
        assert app.view.cursor_line is not None
        assert app.view.cursor_line.message == "new 56"
        await pilot.press("h")
        assert app.view.scroll_x == 8


async def test_time_jump_puts_the_cursor_on_that_time(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 600)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        app.view.jump_to_time(T0 + 300 * SEC + SEC // 2)
        await settle(pilot)
        assert cursor_text(app.view) == "line 000301"
        assert 301 in numbers(app.view)
        assert not app.view.following


async def test_n_and_N_move_between_lines_with_the_query_words(tmp_path: Path) -> None:
    store = build_demo_store(tmp_path / "s.db")
    app = LogHost(store, "level=error OR timeout")
    async with app.run_test(size=(120, 12)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert "timeout" not in cursor_text(app.view)
        await pilot.press("n")
        first = cursor_text(app.view)
        assert "timeout" in first
        await pilot.press("n")
        second = cursor_text(app.view)
        assert "timeout" in second and second != first
        await pilot.press("N")
        assert cursor_text(app.view) == first


async def test_n_finds_a_match_beyond_the_window(tmp_path: Path, small_pages: None) -> None:
    store = build_numbered_store(tmp_path / "s.db", 600)
    app = LogHost(store, "level=error OR 000450")
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert cursor_text(app.view) == "line 000450"
        assert "line 000450" in messages(app.view)


async def test_n_without_words_says_how_it_works(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 50)
    app = LogHost(store, "pod=pod-1")
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        assert any("query's words" in n.message for n in app._notifications)


async def test_wrap_splits_long_lines_under_the_message_column(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 10, sources=1)
    append(store, 10, 1, "long {i} " + " ".join(f"w{j:03d}" for j in range(60)))
    app = LogHost(store)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        rows = app.view.rendered_rows()
        assert rows[-1].startswith("11:06:50.000Z pod-0/c     long 10 w000")
        await pilot.press("w")
        await pilot.pause()
        rows = [r.rstrip() for r in app.view.rendered_rows()]
        start = next(i for i, r in enumerate(rows) if "long 10" in r)
        assert len(rows) - start >= 4, "the long line takes several rows"
        indent = len("11:06:50.000Z pod-0/c     ")
        for row in rows[start + 1 :]:
            assert row.startswith(" " * indent) and row[indent] == "w"
        assert " ".join(rows[start:]).split() == [
            "11:06:50.000Z",
            "pod-0/c",
            "long",
            "10",
            *[f"w{j:03d}" for j in range(60)],
        ]
        assert app.view.cursor_line is not None
        assert app.view.cursor_line.message.startswith("long 10")


async def test_columns_toggle(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 20, sources=1)
    app = LogHost(store)
    async with app.run_test(size=(80, 8)) as pilot:
        await settle(pilot)
        # (A blank level badge: the line states no level.)
        assert app.view.rendered_rows()[-1].rstrip() == "11:06:59.000Z pod-0/c     line 000019"
        await pilot.press("T")
        assert app.view.rendered_rows()[-1].rstrip() == "pod-0/c     line 000019"
        await pilot.press("P")
        assert app.view.rendered_rows()[-1].rstrip() == "    line 000019"
        await pilot.press("T", "P")
        assert app.view.rendered_rows()[-1].rstrip() == "11:06:59.000Z pod-0/c     line 000019"


async def test_markup_and_escapes_render_literally(tmp_path: Path) -> None:
    store = build_demo_store(tmp_path / "s.db")
    app = LogHost(store)
    async with app.run_test(size=(140, 8)) as pilot:
        await settle(pilot)
        rows = [r.rstrip() for r in app.view.rendered_rows()]
        assert rows[-2].endswith(MARKUP_LINE)
        assert rows[-1].endswith(ESCAPE_SHOWN)
        assert ESCAPE_LINE not in "".join(rows)
        # No control character reaches the terminal, and the markup styled nothing.
        for y in range(app.view.scrollable_content_region.height):
            for seg in app.view.render_line(y):
                assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in seg.text)
        strip = app.view.render_line(6)
        this = [seg for seg in strip if "this" in seg.text]
        assert this and not any(seg.style and seg.style.bold for seg in this)


async def test_a_newer_query_supersedes_an_older_one(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 300)
    app = LogHost(store)
    async with app.run_test(size=(100, 8)) as pilot:
        await settle(pilot)
        app.view.set_query(ParsedQuery.of("000123 OR 000124"))
        app.view.set_query(ParsedQuery.of("000007"))
        await settle(pilot)
        assert messages(app.view) == ["line 000007"]
        assert app.view.highlight == ("000007",)


async def test_empty_results_say_so(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 30)
    app = LogHost(store, "nothing-matches-this")
    async with app.run_test(size=(100, 8)) as pilot:
        await settle(pilot)
        assert [r.strip() for r in app.view.rendered_rows() if r.strip()] == [
            "No lines match this query."
        ]


async def test_click_selects_and_double_click_asks_for_detail(tmp_path: Path) -> None:
    store = build_numbered_store(tmp_path / "s.db", 30)
    chosen: list[str] = []

    class Watch(LogHost):
        def on_log_view_line_chosen(self, event: LogView.LineChosen) -> None:
            chosen.append(event.line.message)

    app = Watch(store)
    async with app.run_test(size=(100, 8)) as pilot:
        await settle(pilot)
        await pilot.click(LogView, offset=(5, 2))
        assert cursor_text(app.view) == "line 000024"
        await pilot.press("enter")
        await pilot.press("c")
        await pilot.pause()
        assert chosen == ["line 000024", "line 000024"]


# A 44 KB JSON line (hundreds of rows wrapped) between numbered lines 0-9 and 11-29.
TALL_KEYS = [f"k{i:04d}" for i in range(2200)]
TALL_LINE = json.dumps({k: f"value-{k}" for k in TALL_KEYS})


def tall_line_store(path: Path) -> Store:
    store = build_numbered_store(path, 10, sources=1)
    append(store, 10, 1, TALL_LINE.replace("{", "{{").replace("}", "}}"))
    append(store, 11, 19, "line {i:06d}")
    return store


def keys_on_screen(view: LogView) -> set[str]:
    return set(re.findall(r'"(k\d{4})"', "\n".join(view.rendered_rows())))


async def onto_the_tall_line(pilot: Pilot[None], view: LogView) -> None:
    """Wrap, go to the top, and move the cursor down onto the tall line."""
    await pilot.press("w", "g")
    await settle(pilot)
    await pilot.press(*["down"] * 10)
    await pilot.pause()
    assert cursor_text(view) == TALL_LINE


async def test_pages_scroll_through_a_wrapped_line_taller_than_the_pane(
    tmp_path: Path,
) -> None:
    assert len(TALL_LINE) > 44_000
    app = LogHost(tall_line_store(tmp_path / "s.db"))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        view = app.view
        await onto_the_tall_line(pilot, view)
        # Past the line, a page down starts at the next line; a page up from its first
        # row (under the ten one-row lines before it) reaches the top.
        for key, after in (("pagedown", "line 000011"), ("pageup", "line 000000")):
            seen = keys_on_screen(view)
            presses = 0
            while presses == 0 or cursor_text(view) == TALL_LINE:
                assert presses < 200, f"{key} does not get past the tall line"
                screen = view.rendered_rows()
                await pilot.press(key)
                await pilot.pause()
                presses += 1
                assert view.rendered_rows() != screen, f"{key} left the screen as it was"
                seen |= keys_on_screen(view)
            assert presses > 10  # it takes pages to go through the line (700+ rows)
            assert seen == set(TALL_KEYS), "every part of the line was on screen"
            assert cursor_text(view) == after
            assert any(after in row for row in view.rendered_rows())


async def test_arrows_and_wheel_scroll_through_a_wrapped_line_taller_than_the_pane(
    tmp_path: Path,
) -> None:
    app = LogHost(tall_line_store(tmp_path / "s.db"))
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        view = app.view
        await onto_the_tall_line(pilot, view)
        before = view.rendered_rows()
        await pilot.press("down")
        await pilot.pause()
        assert cursor_text(view) == TALL_LINE
        assert view.rendered_rows()[:-1] == before[1:], "down scrolls the line by a row"
        await pilot.press("up", "up")
        await pilot.pause()
        assert cursor_text(view) == "line 000009"
        await pilot.press("down")
        await pilot.pause()
        for _ in range(5):  # the wheel scrolls 3 rows a notch: the line still fills the pane
            view.post_message(MouseScrollDown(view, 10, 5, 0, 1, 0, False, False, False))
            await pilot.pause()
        assert cursor_text(view) == TALL_LINE
        assert all(row.strip() for row in view.rendered_rows())
        assert not any("line 0000" in row for row in view.rendered_rows())


@pytest.mark.parametrize("others_first", [True, False])
async def test_a_query_without_matches_while_paused_shows_the_ones_that_come(
    tmp_path: Path, others_first: bool
) -> None:
    store = build_numbered_store(tmp_path / "s.db", 100, sources=1)
    app = LogHost(store)
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("space")
        app.view.set_query(ParsedQuery.of("zebra"))
        await settle(pilot)
        assert "No lines match this query." in "".join(app.view.rendered_rows())
        if others_first:  # the pane takes note of the newest before the matches come
            append(store, 100, 3)
            app.view.data_changed()
            await settle(pilot)
        append(store, 103, 2, "zebra {i}")
        app.view.data_changed()
        deadline = time.monotonic() + 15
        while messages(app.view) != ["zebra 103", "zebra 104"]:
            assert time.monotonic() < deadline, f"not shown; {app.view.new_lines} new counted"
            await pilot.pause(0.1)
            await settle(pilot)
        assert not app.view.following  # still paused: they were shown, not followed
        assert app.view.new_lines == 0
