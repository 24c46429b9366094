"""The merged log pane: a virtual, live window over one query's results in the store.

Scrollbar model ("anchored window"): the pane holds a window of at most a few
thousand consecutive matching lines, fetched by keyset (line ids are time-ordered)
around where the user is. The scrollbar spans that window; scrolling near either edge
fetches the next page on a worker and shifts the window, keeping what is on screen
still. A text query's total cannot be counted cheaply, so the pane never pretends to
know where it is in the whole result: the histogram under it shows that in time.
Jumps (top, bottom, a time, the next match) replace the window.

Follow mode re-reads the newest lines on every commit (collapsed, at most a few times
a second), which also picks up lines stored late with older timestamps. Pausing
freezes the window and counts the lines that arrived since.

A cursor movement that needs lines beyond the window that are still being fetched
(the cursor on the last loaded line, say, with the next page on its way) waits for
that page and then happens; later movements queue behind it, in order, so fast key
presses are neither lost nor applied twice. A jump or a new query drops the queue.

`n`/`N` move the cursor to the next/previous line containing one of the query's
text terms (the highlighted words). The query bar filters, so with a pure text
query every line is a hit and n/N step through the hits; with terms under OR or
next to field conditions (`level=error OR timeout`) they skip the lines without
them. Past the window they read on (up to FIND_SCAN lines) and jump there.

Every store read runs on a thread worker with this pane's own Reader; a newer load
interrupts a slower one (Reader.interrupt) and results of superseded requests are
dropped by generation number.
"""

from __future__ import annotations

import sqlite3
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from klogtui.errors import QueryError
from klogtui.model import LogLine, Source
from klogtui.query.parsed import EMPTY, ParsedQuery
from klogtui.store.ids import id_for_ts
from klogtui.store.reader import Reader
from klogtui.ui.line_text import format_parts, highlight_pattern, source_tag

__all__ = ["LogView"]

PAGE = 250  # lines fetched per page
MAX_WINDOW = 1500  # lines held at most; the far end is dropped beyond this
FIND_SCAN = 50_000  # lines n/N look through beyond the window before giving up
NEW_LINES_CAP = 10_000  # "N new lines" counts up to this, then says "10,000+"
_FOLLOW_INTERVAL_S = 0.15
_COUNT_INTERVAL_S = 1.0
_MAX_SOURCE_WIDTH = 28
_MIN_WRAP_MESSAGE = 24  # below this many cells for the message, wrap whole lines
_NS_PER_DAY = 86_400 * 10**9


@dataclass(frozen=True, slots=True)
class _Page:
    """A worker's answer, applied on the event loop if still current."""

    generation: int
    kind: str  # replace | older | newer | follow
    lines: list[LogLine]
    at_top: bool
    at_bottom: bool
    highlight: tuple[str, ...]
    sources: dict[int, Source]
    anchor_id: int | None = None  # replace: put the cursor on the first line >= this
    edge_id: int | None = None  # older/newer: the window edge the page continues
    follow: bool = False


@dataclass(slots=True)
class _Throttle:
    """Runs a callback at most once per interval; calls in between coalesce."""

    interval: float
    last: float = 0.0
    scheduled: bool = False
    busy: bool = False
    dirty: bool = False


class LogView(ScrollView, can_focus=True):
    """The merged, timestamp-ordered log pane over one query.

    Args:
        reader: this pane's own read connection (not shared with slower work).
        now_ns: fixed "now" (UTC ns) for the time column's date; None: the clock.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-view--cursor", "log-view--empty"}

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    LogView > .log-view--cursor {
        background: $primary 35%;
    }
    LogView:focus > .log-view--cursor {
        background: $primary 60%;
    }
    LogView > .log-view--empty {
        color: $text-muted;
        text-style: italic;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G", "bottom", "Bottom/follow", show=False),
        Binding("space", "toggle_follow", "Pause/follow"),
        Binding("left,h", "scroll_left_cols", "Scroll left", show=False),
        Binding("right,l", "scroll_right_cols", "Scroll right", show=False),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Prev match", show=False),
        Binding("enter", "detail", "Detail"),
        Binding("c", "context", "Context"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("T", "toggle_time", "Time column", show=False),
        Binding("P", "toggle_source", "Pod column", show=False),
    ]

    wrap: reactive[bool] = reactive(False)
    show_time: reactive[bool] = reactive(True)
    show_source: reactive[bool] = reactive(True)

    class StateChanged(Message):
        """Follow/pause state, new-line count or the shown time range changed."""

        def __init__(
            self,
            follow: bool,
            new_lines: int,
            loading: bool,
            first_ts: int,
            last_ts: int,
            lines: int,
        ) -> None:
            super().__init__()
            self.follow = follow
            self.new_lines = new_lines  # lines stored since pausing (capped)
            self.loading = loading
            self.first_ts = first_ts  # time range of the rows on screen (0: none)
            self.last_ts = last_ts
            self.lines = lines  # lines in the window

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LogView.StateChanged)

    class LineChosen(Message):
        """The user asked for a line's detail (Enter) or context (c)."""

        def __init__(self, line: LogLine, source: Source | None, context: bool) -> None:
            super().__init__()
            self.line = line
            self.source = source
            self.context = context

    class QueryFailed(Message):
        """The query could not run (it does not parse, or the store refused it)."""

        def __init__(self, error: QueryError) -> None:
            super().__init__()
            self.error = error

    class _Fetched(Message, bubble=False):
        def __init__(self, page: _Page) -> None:
            super().__init__()
            self.page = page

    class _Counted(Message, bubble=False):
        def __init__(self, generation: int, hwm_id: int, count: int) -> None:
            super().__init__()
            self.generation = generation
            self.hwm_id = hwm_id
            self.count = count

    def __init__(
        self,
        reader: Reader,
        *,
        now_ns: int | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Textual's name)
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._reader = reader
        self._now_ns = now_ns
        self._query = EMPTY
        self._highlight: tuple[str, ...] = ()
        self._generation = 0
        self._lines: list[LogLine] = []
        self._ids: list[int] = []
        self._offsets: list[int] = [0]  # row where each window line starts, then the total
        # Wrapped: rows of each window line, and whether that is still a guess (see
        # _make_exact). Empty when not wrapped (one row a line).
        self._heights: list[int] = []
        self._guessed: list[bool] = []
        self._settling = False
        self._sources: dict[int, Source] = {}
        self._at_top = True
        self._at_bottom = True
        self._loading = False
        self._loaded_once = False
        self._no_matches = False  # the last load found nothing (not: it failed)
        self._pending_older = False
        self._pending_newer = False
        self._queued: list[str] = []  # cursor movements waiting for a page (see _move)
        self._finding = False
        self._follow = True
        self._cursor = -1
        self._hwm_id: int | None = None  # newest matching id seen while at the bottom
        self._new_lines = 0
        self._max_width = 0
        self._source_width = 0
        self._cache: LRUCache[tuple[object, ...], list[Strip]] = LRUCache(4096)
        self._follow_throttle = _Throttle(_FOLLOW_INTERVAL_S)
        self._count_throttle = _Throttle(_COUNT_INTERVAL_S)
        self._adjusting = False
        self._wrap_width = 0  # the width the window was wrapped to
        self._rewrap = False

    # -- public API -----------------------------------------------------------------------

    @property
    def query_text(self) -> str:
        """The query the pane shows."""
        return self._query.typed

    @property
    def following(self) -> bool:
        """Whether the pane sticks to the newest line."""
        return self._follow

    @property
    def new_lines(self) -> int:
        """Lines stored since the pane paused (capped at NEW_LINES_CAP)."""
        return self._new_lines

    @property
    def is_loading(self) -> bool:
        """Whether a window load is in flight."""
        return self._loading

    @property
    def highlight(self) -> tuple[str, ...]:
        """The query's text terms highlighted in the lines."""
        return self._highlight

    @property
    def cursor_line(self) -> LogLine | None:
        """The selected line, if any."""
        if 0 <= self._cursor < len(self._lines):
            return self._lines[self._cursor]
        return None

    @property
    def window(self) -> list[LogLine]:
        """The lines currently held (oldest first): a window, never the whole result."""
        return self._lines

    def source_of(self, line: LogLine) -> Source | None:
        """The source of a line in the window."""
        return self._sources.get(line.source_id)

    def set_query(self, query: ParsedQuery) -> None:
        """Show another query: newest lines when following, else around the cursor's time."""
        self._query = query
        self._max_width = 0
        self._source_width = 0
        self._hwm_id = None
        self._new_lines = 0
        line = self.cursor_line
        if self._follow or line is None:
            self._start_load("newest", follow=True)
        else:
            self._start_load("at", ts_ns=line.ts, anchor_id=line.id)

    def jump_top(self) -> None:
        """Show the oldest matching lines (pauses following)."""
        self._start_load("oldest")

    def jump_bottom(self) -> None:
        """Show the newest matching lines and follow new ones."""
        self._start_load("newest", follow=True)

    def jump_to_time(self, ts_ns: int) -> None:
        """Show the lines around a time, the cursor on the first at or after it."""
        self._start_load("at", ts_ns=ts_ns, anchor_id=id_for_ts(ts_ns))

    def pause(self) -> None:
        """Stop following; the window stays as it is."""
        if self._follow:
            self._follow = False
            self._new_lines = 0
            self._post_state()

    def data_changed(self) -> None:
        """New lines were committed: refresh when following, count them when paused."""
        if not self._loaded_once:
            return
        if self._follow:
            self._throttled(self._follow_throttle, self._start_follow)
        else:
            self._at_bottom = False
            self._throttled(self._count_throttle, self._start_count)

    def rendered_rows(self) -> list[str]:
        """The text of the rows on screen, top to bottom (what the user sees)."""
        return [self.render_line(y).text for y in range(self.scrollable_content_region.height)]

    # -- loading ----------------------------------------------------------------------------

    def _start_load(
        self, mode: str, *, ts_ns: int = 0, anchor_id: int | None = None, follow: bool = False
    ) -> None:
        self._generation += 1
        self._follow = follow
        self._loading = True
        self._no_matches = False
        self._pending_older = self._pending_newer = False
        self._queued.clear()  # they were meant for the window this load replaces
        self._follow_throttle.busy = self._follow_throttle.dirty = False
        # Whatever the reader is doing belongs to an older request now.
        self._reader.interrupt()
        generation, query, reader = self._generation, self._query, self._reader
        half = max(PAGE // 2, self._page_rows())

        def work() -> None:
            def run() -> _Page:
                cq = reader.compile(query)
                at_top = at_bottom = False
                if mode == "newest":
                    lines = reader.newest(cq, PAGE)
                    at_top, at_bottom = len(lines) < PAGE, True
                elif mode == "oldest":
                    lines = reader.oldest(cq, PAGE)
                    at_top, at_bottom = True, len(lines) < PAGE
                else:
                    pivot = anchor_id if anchor_id is not None else id_for_ts(ts_ns)
                    before = reader.window_before(cq, pivot, half)
                    after = reader.window_after(cq, pivot - 1, half)
                    lines = before + after
                    at_top, at_bottom = len(before) < half, len(after) < half
                return _Page(
                    generation,
                    "replace",
                    lines,
                    at_top,
                    at_bottom,
                    cq.highlight,
                    _sources_of(reader, lines),
                    anchor_id=anchor_id,
                    follow=follow,
                )

            self._run_read(generation, run)

        self._post_state()
        self.app.run_worker(
            work,
            name="log load",
            group="log-load",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _run_read(self, generation: int, run: Callable[[], _Page | None]) -> None:
        """Run a read on this thread and post its page; drop it if superseded."""
        worker = get_current_worker()
        failed = _Page(generation, "failed", [], True, True, (), {})
        for _attempt in range(2):
            try:
                page = run()
            except QueryError as e:
                if generation == self._generation:
                    self.post_message(self.QueryFailed(e))
                    self.post_message(self._Fetched(failed))
                return
            except sqlite3.OperationalError as e:
                if "interrupt" in str(e):
                    if generation != self._generation or worker.is_cancelled:
                        return  # superseded by a newer request, which interrupted us
                    continue  # interrupted on behalf of a request that ran before us
                self.post_message(self._Fetched(failed))
                raise  # the app shows worker errors
            except Exception:
                self.post_message(self._Fetched(failed))
                raise
            if page is not None and not worker.is_cancelled:
                self.post_message(self._Fetched(page))
            return

    def _extend(self, older: bool) -> None:
        if not self._lines:
            return
        if older:
            self._pending_older = True
        else:
            self._pending_newer = True
        generation, query, reader = self._generation, self._query, self._reader
        highlight = self._highlight
        edge = self._ids[0] if older else self._ids[-1]

        def work() -> None:
            def run() -> _Page:
                if older:
                    lines = reader.window_before(query, edge, PAGE)
                    return _Page(
                        generation,
                        "older",
                        lines,
                        len(lines) < PAGE,
                        False,
                        highlight,
                        _sources_of(reader, lines),
                        edge_id=edge,
                    )
                lines = reader.window_after(query, edge, PAGE)
                return _Page(
                    generation,
                    "newer",
                    lines,
                    False,
                    len(lines) < PAGE,
                    highlight,
                    _sources_of(reader, lines),
                    edge_id=edge,
                )

            self._run_read(generation, run)

        self.app.run_worker(
            work, name="log page", group="log-page", thread=True, exit_on_error=False
        )

    def _start_follow(self) -> None:
        throttle = self._follow_throttle
        if throttle.busy:
            throttle.dirty = True
            return
        throttle.busy = True
        generation, query, reader = self._generation, self._query, self._reader
        highlight = self._highlight
        size = max(PAGE, 2 * self._page_rows())

        def work() -> None:
            def run() -> _Page:
                lines = reader.newest(query, size)
                return _Page(
                    generation,
                    "follow",
                    lines,
                    len(lines) < size,
                    True,
                    highlight,
                    _sources_of(reader, lines),
                    follow=True,
                )

            try:
                self._run_read(generation, run)
            finally:
                self.post_message(
                    self._Fetched(_Page(generation, "follow-done", [], False, False, (), {}))
                )

        self.app.run_worker(
            work, name="log follow", group="log-follow", thread=True, exit_on_error=False
        )

    def _start_count(self) -> None:
        throttle = self._count_throttle
        if throttle.busy:
            throttle.dirty = True
            return
        throttle.busy = True
        generation, query, reader, hwm = self._generation, self._query, self._reader, self._hwm_id

        def work() -> None:
            counted = self._Counted(-1, 0, 0)  # what to say if this fails or is interrupted
            try:
                mark = hwm
                if mark is None:
                    newest = reader.newest(query, 1)
                    mark = newest[-1].id if newest else -1
                    count = 0
                else:
                    count = reader.count_after(query, mark, NEW_LINES_CAP)
                counted = self._Counted(generation, mark, count)
            except sqlite3.OperationalError as e:
                if "interrupt" not in str(e):
                    raise
            finally:
                self.post_message(counted)

        self.app.run_worker(
            work, name="log count", group="log-count", thread=True, exit_on_error=False
        )

    def _throttled(self, throttle: _Throttle, run: Callable[[], None]) -> None:
        now = time.monotonic()
        wait = throttle.last + throttle.interval - now
        if wait <= 0:
            throttle.last = now
            run()
        elif not throttle.scheduled:
            throttle.scheduled = True

            def later() -> None:
                throttle.scheduled = False
                throttle.last = time.monotonic()
                run()

            self.set_timer(wait, later)

    # -- applying results ---------------------------------------------------------------------

    def on_log_view__fetched(self, message: _Fetched) -> None:
        page = message.page
        if page.kind == "find-done":
            self._finding = False
            return
        if page.kind == "notfound":
            if page.generation == self._generation:
                self.notify(f"No match in the next {FIND_SCAN:,} lines.", timeout=3)
            return
        if page.kind == "follow-done":
            throttle = self._follow_throttle
            throttle.busy = False
            if throttle.dirty and self._follow:
                throttle.dirty = False
                self._throttled(throttle, self._start_follow)
            return
        if page.generation != self._generation:
            return
        self._sources.update(page.sources)
        if page.kind == "replace":
            self._highlight = page.highlight
        if page.kind == "failed":
            self._loading = self._pending_older = self._pending_newer = False
            self._queued.clear()  # the page they wait for is not coming
            self._rebuild()
            self._post_state()
            return
        if page.kind == "replace":
            self._apply_replace(page)
        elif page.kind == "follow":
            if self._follow and not self._loading:
                self._apply_follow(page)
        elif page.kind == "older":
            self._pending_older = False
            if self._ids and page.edge_id == self._ids[0]:
                self._apply_older(page)
        elif page.kind == "newer":
            self._pending_newer = False
            if self._ids and page.edge_id == self._ids[-1]:
                self._apply_newer(page)
        if page.kind in ("older", "newer"):
            self._run_queued()
        self._post_state()
        self.call_after_refresh(self._check_edges)

    def on_log_view__counted(self, message: _Counted) -> None:
        throttle = self._count_throttle
        throttle.busy = False
        if message.generation == self._generation and not self._follow:
            if self._no_matches and (message.hwm_id >= 0 or message.count):
                # Paused keeps the screen still, but an empty one has nothing to
                # keep: show the matches that came since instead of counting them.
                self._start_load("oldest")
            else:
                self._hwm_id = message.hwm_id
                self._new_lines = message.count
                self._post_state()
        if throttle.dirty and not self._follow:
            throttle.dirty = False
            self._throttled(throttle, self._start_count)

    def _set_window(self, lines: list[LogLine]) -> None:
        self._lines = lines
        self._ids = [ln.id for ln in lines]
        self._rebuild()

    def _apply_replace(self, page: _Page) -> None:
        self._loading = False
        self._loaded_once = True
        self._at_top, self._at_bottom = page.at_top, page.at_bottom
        self._follow = page.follow
        self._new_lines = 0
        self._no_matches = not page.lines
        self._set_window(page.lines)
        if page.at_bottom and page.lines:
            self._hwm_id = page.lines[-1].id
        if not page.lines:
            self._cursor = -1
            self._scroll_rows(0)
        elif page.follow:
            self._cursor = len(page.lines) - 1
            self._stick_to_bottom()
        elif page.anchor_id is None:
            self._cursor = 0
            self._scroll_rows(0)
        else:
            self._cursor = min(bisect_right(self._ids, page.anchor_id - 1), len(self._ids) - 1)
            rows = self._page_rows()
            self._make_exact(self._cursor - rows, self._cursor + rows)
            # The anchor a third of the way down, with history above it in view.
            self._scroll_rows(self._offsets[self._cursor] - self._page_rows() // 3)

    def _apply_follow(self, page: _Page) -> None:
        self._at_top, self._at_bottom = page.at_top, True
        self._set_window(page.lines)
        if page.lines:
            self._hwm_id = page.lines[-1].id
        self._cursor = len(page.lines) - 1
        self._stick_to_bottom()

    def _stick_to_bottom(self) -> None:
        """Scroll to the end now, and again once a new horizontal scrollbar took a row."""
        self._make_exact(len(self._lines) - self._page_rows() - 1, len(self._lines))
        self._scroll_rows(self._offsets[-1])

        def again() -> None:
            if self._follow:
                self._scroll_rows(self._offsets[-1])

        self.call_after_refresh(again)

    def _apply_older(self, page: _Page) -> None:
        self._at_top = page.at_top
        if not page.lines:
            return
        added = len(page.lines)
        lines = page.lines + self._lines
        dropped_bottom = max(0, len(lines) - self.max_window())
        if dropped_bottom:
            lines = lines[: len(lines) - dropped_bottom]
            self._at_bottom = False
        cursor_id = self._ids[self._cursor] if self._cursor >= 0 else None
        y = self.scroll_y
        self._set_window(lines)
        added_rows = self._offsets[added]
        self._cursor = self._index_of(cursor_id, added)
        self._scroll_rows(round(y) + added_rows)

    def _apply_newer(self, page: _Page) -> None:
        self._at_bottom = page.at_bottom
        if page.at_bottom and page.lines:
            self._hwm_id = page.lines[-1].id
            self._new_lines = 0  # scrolled down to them: they are not waiting any more
        if not page.lines:
            return
        cursor_id = self._ids[self._cursor] if self._cursor >= 0 else None
        lines = self._lines + page.lines
        dropped = max(0, len(lines) - self.max_window())
        dropped_rows = self._offsets[dropped] if dropped <= len(self._lines) else 0
        if dropped:
            lines = lines[dropped:]
            self._at_top = False
        y = self.scroll_y
        self._set_window(lines)
        self._cursor = self._index_of(cursor_id, 0)
        self._scroll_rows(round(y) - dropped_rows)

    def _index_of(self, line_id: int | None, default: int) -> int:
        if line_id is None or not self._ids:
            return min(default, len(self._ids) - 1)
        i = bisect_right(self._ids, line_id - 1)
        return min(i, len(self._ids) - 1)

    # -- rows and rendering ------------------------------------------------------------------

    def max_window(self) -> int:
        """Lines held at most: MAX_WINDOW, more on a screen so tall that paging at one
        edge would otherwise drop lines within reach of the other."""
        return max(MAX_WINDOW, 4 * self._page_rows() + 3 * PAGE)

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _render_key(self) -> tuple[object, ...]:
        now = time.time_ns() if self._now_ns is None else self._now_ns
        return (
            self._wrap_width if self.wrap else 0,
            self.show_time,
            self.show_source,
            self._source_width,
            self._highlight,
            now // _NS_PER_DAY,
        )

    def _rebuild(self) -> None:
        """Recompute row offsets and the virtual size after the window or settings changed."""
        self._wrap_width = self._content_width()
        if self.show_source and self._lines:
            widest = max(
                len(source_tag(self._sources.get(sid), sid))
                for sid in {ln.source_id for ln in self._lines}
            )
            # At most a quarter of a narrow pane: the message matters most.
            # (Of the whole width: the scrollbars come and go.)
            cap = min(_MAX_SOURCE_WIDTH, max(10, self.size.width // 4))
            self._source_width = max(self._source_width, min(widest, cap))
        key = self._render_key()
        if self.wrap:
            # Wrapping a whole window takes long (a 20 KB line alone is hundreds of
            # rows): lines not wrapped yet get a guess from their length, made exact
            # as they come near the screen (_settle), so this costs a few screens.
            width = self._content_width()
            indent = self._indent_guess()
            heights: list[int] = []
            guessed: list[bool] = []
            for line in self._lines:
                strips = self._cache.get((line.id, *key))
                guessed.append(strips is None)
                if strips is None:
                    heights.append(_guess_rows(len(line.message), indent, width))
                else:
                    heights.append(len(strips))
            self._heights, self._guessed = heights, guessed
            self._offsets = list(accumulate(heights, initial=0))
        else:
            self._heights, self._guessed = [], []
            self._offsets = list(range(len(self._lines) + 1))
            width = self._max_width
            for i in range(len(self._lines)):
                width = max(width, self._strips(i, key)[0].cell_length)
            self._max_width = width
        self._adjusting = True
        try:
            self.virtual_size = Size(width, self._offsets[-1])
        finally:
            self._adjusting = False
        self.refresh()

    def _indent_guess(self) -> int:
        """The prefix (time and source columns) width of a line, to guess rows by."""
        if not self._lines:
            return 0
        prefix, _ = self._format(self._lines[-1], highlight=())
        return prefix.cell_len

    def _format(self, line: LogLine, highlight: tuple[str, ...]) -> tuple[Text, Text]:
        """The line's prefix and message as the pane's columns settings show them."""
        return format_parts(
            line,
            self._sources.get(line.source_id),
            show_time=self.show_time,
            show_source=self.show_source,
            highlight=highlight,
            now_ns=self._now_ns,
            source_width=self._source_width,
        )

    def _make_exact(self, lo: int, hi: int) -> None:
        """Wrap the window lines lo..hi-1 whose rows are guessed; the screen stays still.

        A line above the screen that turns out taller or shorter moves the rows under
        it: the scroll position moves with them, so the same line stays at the top.
        """
        if not self.wrap or len(self._guessed) != len(self._lines):
            return
        lo, hi = max(lo, 0), min(hi, len(self._lines))
        if not any(self._guessed[lo:hi]):
            return
        key = self._render_key()
        top = round(self.scroll_y)
        anchor = self._line_at_row(top)
        within = top - self._offsets[anchor]
        changed = False
        for i in range(lo, hi):
            if self._guessed[i]:
                self._guessed[i] = False
                rows = len(self._strips(i, key))
                changed = changed or rows != self._heights[i]
                self._heights[i] = rows
        if not changed:
            return
        self._offsets = list(accumulate(self._heights, initial=0))
        self._adjusting = True
        try:
            self.virtual_size = Size(self._content_width(), self._offsets[-1])
        finally:
            self._adjusting = False
        self._scroll_rows(self._offsets[anchor] + min(within, self._heights[anchor] - 1))

    def _settle(self) -> None:
        """Make the rows of the lines on screen, and a screen either side, exact."""
        if self._settling or not self.wrap or not self._lines:
            return
        self._settling = True
        try:
            top = self._line_at_row(round(self.scroll_y))
            rows = self._page_rows()
            self._make_exact(top - rows, top + 2 * rows)
        finally:
            self._settling = False

    def _strips(self, index: int, key: tuple[object, ...]) -> list[Strip]:
        line = self._lines[index]
        cache_key = (line.id, *key)
        strips = self._cache.get(cache_key)
        if strips is None:
            strips = self._render_strips(line, key)
            self._cache[cache_key] = strips
        return strips

    def _render_strips(self, line: LogLine, key: tuple[object, ...]) -> list[Strip]:
        wrap_width = int(key[0])  # type: ignore[call-overload]
        prefix, message = self._format(line, self._highlight)
        console = self.app.console
        if not wrap_width:
            prefix.append_text(message)
            return [Strip(list(prefix.render(console)), prefix.cell_len)]
        indent = prefix.cell_len
        if wrap_width - indent < _MIN_WRAP_MESSAGE:
            prefix.append_text(message)
            rows = list(prefix.wrap(console, wrap_width, overflow="fold"))
        else:
            rows = list(message.wrap(console, wrap_width - indent, overflow="fold")) or [Text()]
            pad = Text(" " * indent)
            rows = [prefix + rows[0], *(pad + r for r in rows[1:])]
        return [Strip(list(r.render(console)), r.cell_len) for r in rows]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self._content_width()
        base = self.rich_style
        row = scroll_y + y
        if not self._lines:
            return self._empty_row(y, width, base)
        if row >= self._offsets[-1]:
            return Strip.blank(width, base)
        index = bisect_right(self._offsets, row) - 1
        if self.wrap and not self._rewrap:
            if self._wrap_width != self._content_width():
                # A scrollbar came or went: wrap again to the new width after this frame.
                self._rewrap = True
                self.call_after_refresh(self._rewrap_now)
            elif index < len(self._guessed) and self._guessed[index]:
                # Shown before _settle ran (a scroll Textual made): settle after this frame.
                self._rewrap = True
                self.call_after_refresh(self._settle_now)
        strips = self._strips(index, self._render_key())
        strip = strips[min(row - self._offsets[index], len(strips) - 1)]
        if index == self._cursor:
            cursor = self.get_component_rich_style("log-view--cursor")
            strip = strip.extend_cell_length(scroll_x + width).apply_style(cursor)
        return strip.crop_extend(scroll_x, scroll_x + width, base).apply_offsets(scroll_x, row)

    def _rewrap_now(self) -> None:
        self._rewrap = False
        self._settings_changed()

    def _settle_now(self) -> None:
        self._rewrap = False
        self._settle()

    def _empty_row(self, y: int, width: int, base: Style) -> Strip:
        if y != self._page_rows() // 3:
            return Strip.blank(width, base)
        if self._loading or not self._loaded_once:
            text = "Loading…"
        elif not self._query.is_empty:
            text = "No lines match this query."
        else:
            text = "No lines stored yet: waiting for the collector."
        style = base + self.get_component_rich_style("log-view--empty")
        return Strip([Segment(text.center(width)[:width], style)], width)

    # -- scrolling, cursor --------------------------------------------------------------------

    def _scroll_rows(self, y: int) -> None:
        self._adjusting = True
        try:
            self.scroll_to(y=max(0, min(y, self.max_scroll_y)), animate=False, force=True)
        finally:
            self._adjusting = False
        self._settle()
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._adjusting:
            # Scrolling up pauses; a clamp to the new bottom after a resize does not.
            if new_value < old_value and self._follow and round(new_value) < self.max_scroll_y:
                self.pause()
            self._settle()
            self._keep_cursor_in_view()
            self._check_edges()
        self._post_state()

    def _keep_cursor_in_view(self) -> None:
        """After a mouse scroll, bring the cursor onto the screen (to the nearest edge)."""
        if self._cursor < 0 or not self._lines:
            return
        top = round(self.scroll_y)
        bottom = top + self._page_rows()
        start, end = self._offsets[self._cursor], self._offsets[self._cursor + 1]
        # (A line taller than the screen keeps the cursor while it fills the screen.)
        if start < top and end < bottom:
            self._cursor = min(bisect_right(self._offsets, top - 1), len(self._lines) - 1)
            self.refresh()
        elif start >= bottom:
            self._cursor = max(0, bisect_right(self._offsets, bottom - 1) - 1)
            if (
                self._offsets[self._cursor + 1] > bottom
                and self._cursor > 0
                and self._offsets[self._cursor] > top
            ):
                self._cursor -= 1
            self.refresh()

    def _check_edges(self) -> None:
        """Fetch the next page when the screen comes within a page of a window edge."""
        if self._loading or not self._lines:
            return
        top = round(self.scroll_y)
        rows = self._page_rows()
        if not self._at_top and not self._pending_older and top < rows:
            self._extend(older=True)
        if (
            not self._at_bottom
            and not self._pending_newer
            and not self._follow
            and self._offsets[-1] - (top + rows) < rows
        ):
            self._extend(older=False)

    def _move_cursor(self, index: int) -> None:
        if not self._lines:
            return
        index = max(0, min(index, len(self._lines) - 1))
        if self._follow and index < len(self._lines) - 1:
            self.pause()
        self._cursor = index
        rows = self._page_rows()
        self._make_exact(index - rows, index + rows + 1)
        start, end = self._offsets[index], self._offsets[index + 1]
        top = round(self.scroll_y)
        if end - start > rows:
            # Taller than the screen: fill the screen with it, its end when coming
            # from below, so that scrolling goes on through it (_scroll_through).
            if not start <= top <= end - rows:
                self._scroll_rows(max(start, min(top, end - rows)))
        elif start < top:
            self._scroll_rows(start)
        elif end > top + rows:
            self._scroll_rows(min(start, end - rows))
        self.refresh()
        self._check_edges()

    def action_cursor_up(self) -> None:
        self._move("line_up")

    def action_cursor_down(self) -> None:
        self._move("line_down")

    def action_page_up(self) -> None:
        self._move("page_up")

    def action_page_down(self) -> None:
        self._move("page_down")

    def _move(self, kind: str) -> None:
        """Make a cursor movement now, or after the ones queued before it."""
        self._queued.append(kind)
        self._run_queued()

    def _run_queued(self) -> None:
        """Make the queued movements in order, up to one that must wait for a page."""
        while self._queued:
            kind = self._queued[0]
            if self._must_wait(kind):
                self.pause()  # a follow refresh would replace the window they wait on
                return
            del self._queued[0]
            if kind == "line_up":
                if not self._scroll_through(-1):
                    self._move_cursor(self._cursor - 1)
            elif kind == "line_down":
                if not self._scroll_through(1):
                    self._move_cursor(self._cursor + 1)
            elif kind == "page_up":
                self._page(-1)
            else:
                self._page(1)

    def _must_wait(self, kind: str) -> bool:
        """Whether a movement needs lines past the window edge that exist but are not
        loaded yet; if so, the page with them is on its way once this returns."""
        if self._cursor < 0 or self._loading:
            return False  # nothing to move, or a new window is coming anyway
        if kind == "line_down":
            beyond = self._cursor + 1 >= len(self._lines)
        elif kind == "line_up":
            beyond = self._cursor == 0
        elif kind == "page_down":
            beyond = self._offsets[self._cursor] + self._page_rows() >= self._offsets[-1]
        else:
            beyond = self._offsets[self._cursor] < self._page_rows()
        down = kind in ("line_down", "page_down")
        if not beyond or (self._at_bottom if down else self._at_top):
            return False
        if not (self._pending_newer if down else self._pending_older):
            self._extend(older=not down)
        return True

    def _line_at_row(self, row: int) -> int:
        return max(0, min(bisect_right(self._offsets, row) - 1, len(self._lines) - 1))

    def _scroll_through(self, rows: int) -> bool:
        """Scroll up to `rows` rows (up when negative) within the cursor line, as far as
        it goes on past the screen; False when it does not go on that way."""
        if self._cursor < 0 or not self._lines:
            return False
        self._make_exact(self._cursor, self._cursor + 1)
        start, end = self._offsets[self._cursor], self._offsets[self._cursor + 1]
        top = round(self.scroll_y)
        if rows > 0:
            target = min(top + rows, end - self._page_rows())
        else:
            target = max(top + rows, start)
        if (target - top) * rows <= 0:
            return False
        if rows < 0:
            self.pause()
        self._scroll_rows(target)
        self._check_edges()
        return True

    def _page(self, step: int) -> None:
        """Move the cursor and the screen a page up (step -1) or down (step 1)."""
        if self._cursor < 0:
            return
        if step < 0:
            self.pause()
        rows = step * self._page_rows()
        if self._scroll_through(rows):
            return
        row = self._offsets[self._cursor] + rows
        if step > 0:
            row = max(row, self._offsets[self._cursor + 1])  # past a line taller than a page
        target = self._line_at_row(row)
        self._scroll_rows(round(self.scroll_y) + rows)
        self._move_cursor(target)

    def action_top(self) -> None:
        self.jump_top()

    def action_bottom(self) -> None:
        self.jump_bottom()

    def action_toggle_follow(self) -> None:
        if self._follow:
            self.pause()
        else:
            self.jump_bottom()

    def action_scroll_left_cols(self) -> None:
        self.scroll_to(x=max(0, self.scroll_x - 8), animate=False)

    def action_scroll_right_cols(self) -> None:
        self.scroll_to(x=min(self.max_scroll_x, self.scroll_x + 8), animate=False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._lines:
            return
        row = round(self.scroll_y) + offset.y
        if row < self._offsets[-1]:
            self._move_cursor(self._line_at_row(row))
            if event.chain == 2:
                self.action_detail()

    # -- find, detail --------------------------------------------------------------------------

    def action_next_match(self) -> None:
        self._find(1)

    def action_previous_match(self) -> None:
        self._find(-1)

    def _find(self, step: int) -> None:
        pattern = highlight_pattern(self._highlight) if self._highlight else None
        if pattern is None:
            self.notify(
                "n/N jump between the query's words: this query has none "
                "(type words in the query bar).",
                timeout=4,
            )
            return
        if self._cursor < 0:
            return
        i = self._cursor + step
        while 0 <= i < len(self._lines):
            if pattern.search(self._lines[i].message):
                self._move_cursor(i)
                return
            i += step
        at_edge = self._at_bottom if step > 0 else self._at_top
        if at_edge or self._finding:
            if not self._finding:
                self.notify("No more matches " + ("below." if step > 0 else "above."), timeout=3)
            return
        self._finding = True
        generation, query, reader = self._generation, self._query, self._reader
        highlight = self._highlight
        half = max(PAGE // 2, self._page_rows())
        edge = self._ids[-1] if step > 0 else self._ids[0]

        def work() -> None:
            def run() -> _Page | None:
                cursor, seen = edge, 0
                while seen < FIND_SCAN:
                    page = (
                        reader.window_after(query, cursor, PAGE)
                        if step > 0
                        else reader.window_before(query, cursor, PAGE)
                    )
                    if not page:
                        break
                    seen += len(page)
                    for ln in page if step > 0 else reversed(page):
                        if pattern.search(ln.message):
                            before = reader.window_before(query, ln.id, half)
                            after = reader.window_after(query, ln.id - 1, half)
                            return _Page(
                                generation,
                                "replace",
                                before + after,
                                len(before) < half,
                                len(after) < half,
                                highlight,
                                _sources_of(reader, before + after),
                                anchor_id=ln.id,
                            )
                    cursor = page[-1].id if step > 0 else page[0].id
                return _Page(generation, "notfound", [], False, False, (), {})

            try:
                self._run_read(generation, run)
            finally:
                self.post_message(
                    self._Fetched(_Page(generation, "find-done", [], False, False, (), {}))
                )

        self.app.run_worker(
            work, name="log find", group="log-find", thread=True, exit_on_error=False
        )

    def action_detail(self) -> None:
        line = self.cursor_line
        if line is not None:
            self.post_message(self.LineChosen(line, self.source_of(line), context=False))

    def action_context(self) -> None:
        line = self.cursor_line
        if line is not None:
            self.post_message(self.LineChosen(line, self.source_of(line), context=True))

    # -- settings -------------------------------------------------------------------------------

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_time(self) -> None:
        self.show_time = not self.show_time

    def action_toggle_source(self) -> None:
        self.show_source = not self.show_source

    def _settings_changed(self) -> None:
        cursor_id = self._ids[self._cursor] if self._cursor >= 0 else None
        self._max_width = 0
        if self.is_mounted:
            self._rebuild()
            if self._follow:
                self._stick_to_bottom()
            elif cursor_id is not None:
                self._move_cursor(self._index_of(cursor_id, 0))

    def watch_wrap(self) -> None:
        self.scroll_to(x=0, animate=False)
        self._settings_changed()

    def watch_show_time(self) -> None:
        self._settings_changed()

    def watch_show_source(self) -> None:
        self._settings_changed()

    def on_resize(self, event: events.Resize) -> None:
        self._source_width = 0
        if self._lines:
            self._settings_changed()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def _post_state(self) -> None:
        first = last = 0
        if self._lines:
            top = round(self.scroll_y)
            first = self._lines[self._line_at_row(top)].ts
            last = self._lines[self._line_at_row(top + self._page_rows() - 1)].ts
        self.post_message(
            self.StateChanged(
                self._follow, self._new_lines, self._loading, first, last, len(self._lines)
            )
        )


def _guess_rows(length: int, indent: int, width: int) -> int:
    """Rows a message of `length` characters wraps to, about (see LogView._render_strips)."""
    if width - indent < _MIN_WRAP_MESSAGE:
        return max(1, -(-(indent + length) // width))
    return max(1, -(-length // (width - indent)))


def _sources_of(reader: Reader, lines: list[LogLine]) -> dict[int, Source]:
    """The sources of some lines (reader-cached; refreshed when a new one shows up)."""
    out: dict[int, Source] = {}
    for sid in {ln.source_id for ln in lines}:
        src = reader.source(sid)
        if src is not None:
            out[sid] = src
    return out
