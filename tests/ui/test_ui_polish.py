"""Counts that say when they are not exact, and cursor moves that wait for their page.

Stores are real and so are the readers; a text query's counts stop at the reader's
scan cap, which these tests shrink (a module constant) so a few hundred lines cross it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import OptionList

import klogtui.store.aggregates as aggregates_module
from klogtui.model import Batch, Record, SourceInfo, SourceKey, Stream
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Reader, Store
from klogtui.ui.line_text import BADGE_WIDTH
from klogtui.ui.screens.facets import FacetScreen
from klogtui.ui.widgets.histogram import Histogram
from klogtui.ui.widgets.log_view import LogView
from tests.store_helpers import SEC, T0, write
from tests.ui_fixtures import FIXED_NOW, LogHost, build_numbered_store, settle, text_of, until

CAP = 60  # the reader's scan cap in these tests


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text queries count at most CAP newest matches."""
    monkeypatch.setattr(aggregates_module, "_SCAN_CAP", CAP)


# -- facet counts ----------------------------------------------------------------------


class ScreenHost(App[None]):
    def __init__(self, make: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self.make = make

    def on_mount(self) -> None:
        self.push_screen(self.make())


def facet_screen(reader: Reader, query: str) -> FacetScreen:
    parsed = ParsedQuery.of(query)
    return FacetScreen(parsed, lambda field: reader.facets(parsed, field))


def values_shown(app: App[Any]) -> list[str]:
    values = app.screen.query_one("#facet-values", OptionList)
    return [
        " ".join(str(values.get_option_at_index(i).prompt).split())
        for i in range(values.option_count)
    ]


async def test_facets_of_a_capped_text_query_are_shown_as_lower_bounds(
    tmp_path: Path, small_cap: None
) -> None:
    # 300 lines round-robin over pod-0..2: the newest 60 hold 20 of each pod.
    reader = build_numbered_store(tmp_path / "s.db", 300).reader()
    app = ScreenHost(lambda: facet_screen(reader, "line"))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: values_shown(app) == [f"≥{CAP} ns"])
        note = app.screen.query_one("#facet-note")
        assert note.display
        assert " ".join(text_of(note).split()) == (
            "≥ at least: only the newest matches (of a text query, or holding this event "
            "field) were counted"
        )
        await pilot.press("down")  # the pod field
        await until(pilot, lambda: values_shown(app) == ["≥20 pod-0", "≥20 pod-1", "≥20 pod-2"])
        assert note.display


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("000123 OR 000124", "2 ns"),  # a text query with fewer matches than the cap
        ("pod=pod-1", "100 ns"),  # fields only: counted from the per-minute counts
    ],
)
async def test_facets_counted_in_full_have_no_note(
    tmp_path: Path, small_cap: None, query: str, shown: str
) -> None:
    reader = build_numbered_store(tmp_path / "s.db", 300).reader()
    app = ScreenHost(lambda: facet_screen(reader, query))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: values_shown(app) == [shown])
        assert not app.screen.query_one("#facet-note").display


# -- histogram -------------------------------------------------------------------------


class HistHost(App[None]):
    def compose(self) -> ComposeResult:
        yield Histogram()

    def on_mount(self) -> None:
        self.query_one(Histogram).styles.height = 3


async def test_histogram_of_a_capped_text_query_marks_what_it_did_not_count(
    tmp_path: Path, small_cap: None
) -> None:
    reader = build_numbered_store(tmp_path / "s.db", 300).reader()
    start, end = T0, T0 + 300 * SEC
    buckets, exact = reader.histogram("line", start, end, 60)  # 5 s, 5 lines a bucket
    assert not exact and sum(b.total for b in buckets) == CAP
    app = HistHost()
    async with app.run_test(size=(60, 3)) as pilot:
        hist = app.query_one(Histogram)
        hist.set_buckets(buckets, exact)
        await pilot.pause()
        top, bottom, _axis = (hist.render_line(y).text for y in range(3))
        # The newest 60 lines are the last 12 buckets; the 48 before were not counted.
        assert top == "░" * 48 + "█" * 12
        assert bottom[:48] == "░░░░ older matches not counted (newest 60 only) "
        assert bottom[48:59] == "█" * 11  # the last bucket holds an error: split glyph
        hist.set_buckets(buckets)  # exact counts (a field query): nothing hatched
        await pilot.pause()
        assert hist.render_line(0).text == " " * 48 + "█" * 12


# -- cursor moves while a page loads ---------------------------------------------------


def cursor_text(view: LogView) -> str:
    line = view.cursor_line
    assert line is not None
    return line.message


def on_screen(view: LogView) -> list[str]:
    # After time, source and the level badge (blank when the line states none).
    return [
        row.split(" ", 2)[-1][BADGE_WIDTH + 1 :].rstrip()
        for row in view.rendered_rows()
        if row.strip()
    ]


async def test_page_down_past_the_window_waits_for_the_page(
    tmp_path: Path, small_pages: None
) -> None:
    app = LogHost(build_numbered_store(tmp_path / "s.db", 600))
    async with app.run_test(size=(100, 12)) as pilot:  # 12 rows: a page is 12 lines
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert cursor_text(app.view) == "line 000000" and len(app.view.window) == 25
        # Holding the reader's lock keeps every page fetch waiting (a slow disk).
        with app.reader._lock:
            await pilot.press(*["pagedown"] * 5)
            assert cursor_text(app.view) == "line 000024", "the last loaded line"
        await settle(pilot)
        assert cursor_text(app.view) == "line 000060"
        assert "line 000060" in on_screen(app.view)
        await pilot.press("pagedown")  # nothing left queued: one page, once
        await settle(pilot)
        assert cursor_text(app.view) == "line 000072"


async def test_moves_up_past_the_window_wait_in_order(tmp_path: Path, small_pages: None) -> None:
    app = LogHost(build_numbered_store(tmp_path / "s.db", 600))
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        assert cursor_text(app.view) == "line 000599" and len(app.view.window) == 25
        with app.reader._lock:
            await pilot.press(*["pageup"] * 4, "k", "k", "k")
            assert cursor_text(app.view) == "line 000575", "the first loaded line"
        await settle(pilot)
        assert cursor_text(app.view) == "line 000548"
        assert "line 000548" in on_screen(app.view)
        assert not app.view.following


async def test_a_move_back_queues_behind_the_waiting_one(tmp_path: Path, small_pages: None) -> None:
    app = LogHost(build_numbered_store(tmp_path / "s.db", 600))
    async with app.run_test(size=(100, 12)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        with app.reader._lock:
            await pilot.press("pagedown", "pagedown", "pagedown", "up", "up")
        await settle(pilot)
        # 0 -> 12 -> 24 -> (waits) 36 -> 35 -> 34: the ups come after the page.
        assert cursor_text(app.view) == "line 000034"


# -- wrapped lines -----------------------------------------------------------------------


def words(i: int) -> list[str]:
    """Line i's words: its number, then 0 to 39 numbered words (up to six rows at 80)."""
    return [f"L{i:04d}", *(f"w{i:04d}.{j}" for j in range(i * 7 % 40))]


def build_wrapping_store(path: Path, lines: int) -> Store:
    store = Store.open(path)
    key = SourceKey("ns", "pod-0", "c", 0, "uid-ns-pod-0")
    records = [Record(T0 + i * SEC, key, Stream.STDOUT, " ".join(words(i))) for i in range(lines)]
    write(store, Batch(records=records, sources=[SourceInfo(key, state="running")]))
    return store


def assert_in_order(view: LogView, lines: int) -> None:
    """The rows on screen are the wrapped lines in order: no gap, repeat or blank row."""
    every = [w for i in range(lines) for w in words(i)]
    rows = view.rendered_rows()
    shown = [w for row in rows for w in re.findall(r"\b[Lw]\d{4}(?:\.\d+)?\b", row)]
    assert shown, rows
    start = every.index(shown[0])
    assert shown == every[start : start + len(shown)], rows
    assert all(row.strip() for row in rows), rows
    cursor = view.cursor_line
    assert cursor is not None and cursor.message.split()[0] in shown


async def test_wrapped_window_scrolls_and_pages_in_order(tmp_path: Path) -> None:
    app = LogHost(build_wrapping_store(tmp_path / "s.db", 300))
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        assert_in_order(app.view, 300)
        assert app.view.rendered_rows()[-1].split()[-1] == words(299)[-1]
        # A scrollbar drag to the top of the window, far from what was wrapped so far.
        app.view.scroll_to(y=0, animate=False)
        await settle(pilot)
        assert_in_order(app.view, 300)
        tops: list[str] = []
        for _ in range(200):
            await pilot.press("pageup")
            await settle(pilot)
            assert_in_order(app.view, 300)
            line = app.view.cursor_line
            assert line is not None
            tops.append(line.message.split()[0])
            if tops[-1] == "L0000":
                break
        assert tops[-1] == "L0000" and tops == sorted(tops, reverse=True)
        for _ in range(3):
            await pilot.press("pagedown")
            await settle(pilot)
            assert_in_order(app.view, 300)
        app.view.scroll_to(y=app.view.max_scroll_y, animate=False)
        await settle(pilot)
        assert_in_order(app.view, 300)
        cursor = app.view.cursor_line
        await pilot.resize_terminal(60, 12)  # every line wraps anew, to a new width
        await settle(pilot)
        assert_in_order(app.view, 300)
        assert app.view.cursor_line == cursor
        await pilot.press("w")  # and back: one row a line again
        await settle(pilot)
        numbers = [int(re.findall(r"\bL(\d{4})\b", row)[0]) for row in app.view.rendered_rows()]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


async def test_wrapped_window_follows_new_lines_to_the_last_row(tmp_path: Path) -> None:
    store = build_wrapping_store(tmp_path / "s.db", 200)
    app = LogHost(store)
    async with app.run_test(size=(80, 12)) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await settle(pilot)
        key = SourceKey("ns", "pod-0", "c", 0, "uid-ns-pod-0")
        for start in (200, 205):
            records = [
                Record(T0 + i * SEC, key, Stream.STDOUT, " ".join(words(i)))
                for i in range(start, start + 5)
            ]
            write(store, Batch(records=records))
            app.view.data_changed()

            # Refreshes while following are throttled: the last row comes a little later.
            def shows_last_line(last: str = words(start + 4)[-1]) -> bool:
                return app.view.rendered_rows()[-1].split()[-1] == last

            await until(pilot, shows_last_line)
            await settle(pilot)
            assert app.view.following
            assert_in_order(app.view, start + 5)
            assert app.view.rendered_rows()[-1].split()[-1] == words(start + 4)[-1]


async def test_the_app_says_when_a_text_query_was_counted_only_in_part(
    tmp_path: Path, small_cap: None
) -> None:
    """Through the app's own readers: the histogram hatches what it did not count and
    the facet picker shows lower bounds with its note."""
    from klogtui.ui.app import KlogApp

    store = build_numbered_store(tmp_path / "s.db", 300)
    app = KlogApp(store, now_ns=FIXED_NOW, history_path=None, query="line")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        hist = app.histogram
        await until(pilot, lambda: "░" in hist.render_line(0).text)
        await pilot.press("f")
        await until(pilot, lambda: values_shown(app) == [f"≥{CAP} ns"])
        assert app.screen.query_one("#facet-note").display
