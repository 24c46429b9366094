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

The pane is three parts: the window model (klogtui.ui.log_window: cursor, window,
paging, follow, queued keys, find; no Textual), the reads (klogtui.ui.log_reads: the
one place the query meets the Reader) and this widget, which renders the rows (its
base, LogRows), runs the reads on thread workers with this pane's own Reader and feeds
each result, as its own message, into the model. A newer load interrupts a slower one
(Reader.interrupt) and results of superseded requests are dropped by generation number.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import get_current_worker

from klogtui.errors import QueryError
from klogtui.model import LogLine, Source
from klogtui.store.ids import id_for_ts
from klogtui.store.reader import Reader
from klogtui.ui.line_text import highlight_pattern
from klogtui.ui.log_reads import count_new, find_match, read_newest, read_page, read_window
from klogtui.ui.log_window import (
    FIND_SCAN,
    FindMatch,
    LoadMode,
    LoadPage,
    LoadWindow,
    Move,
    Page,
    Placement,
    Wait,
    Window,
    max_window,
)
from klogtui.ui.throttle import Throttle
from klogtui.ui.widgets.log_rows import LogRows

__all__ = ["LogView"]

_FOLLOW_INTERVAL_S = 0.15
_COUNT_INTERVAL_S = 1.0


class LogView(LogRows, can_focus=True):
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

    # One message per worker result; each is applied on the event loop if still current.

    @dataclass
    class _WindowLoaded(Message, bubble=False):
        generation: int
        window: Window

    @dataclass
    class _OlderLoaded(Message, bubble=False):
        generation: int
        page: Page

    @dataclass
    class _NewerLoaded(Message, bubble=False):
        generation: int
        page: Page

    @dataclass
    class _FollowLoaded(Message, bubble=False):
        generation: int
        window: Window

    @dataclass
    class _FollowDone(Message, bubble=False):
        """A follow refresh finished (loaded, superseded or failed)."""

    @dataclass
    class _MatchMissing(Message, bubble=False):
        generation: int

    @dataclass
    class _FindDone(Message, bubble=False):
        """A find past the window finished (found, not found or failed)."""

    @dataclass
    class _ReadFailed(Message, bubble=False):
        generation: int

    @dataclass
    class _Counted(Message, bubble=False):
        generation: int  # -1: the count failed or was interrupted
        hwm_id: int
        count: int

    def __init__(
        self,
        reader: Reader,
        *,
        now_ns: int | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Textual's name)
        classes: str | None = None,
    ) -> None:
        super().__init__(now_ns=now_ns, name=name, id=id, classes=classes)
        self._reader = reader
        self._follow_throttle = Throttle(_FOLLOW_INTERVAL_S, self.set_timer)
        self._count_throttle = Throttle(_COUNT_INTERVAL_S, self.set_timer)

    # -- public API -----------------------------------------------------------------------

    @property
    def query_text(self) -> str:
        """The query the pane shows."""
        return self._model.query

    @property
    def following(self) -> bool:
        """Whether the pane sticks to the newest line."""
        return self._model.follow

    @property
    def new_lines(self) -> int:
        """Lines stored since the pane paused (capped at NEW_LINES_CAP)."""
        return self._model.new_lines

    @property
    def is_loading(self) -> bool:
        """Whether a window load is in flight."""
        return self._model.loading

    @property
    def highlight(self) -> tuple[str, ...]:
        """The query's text terms highlighted in the lines."""
        return self._model.highlight

    @property
    def cursor_line(self) -> LogLine | None:
        """The selected line, if any."""
        return self._model.cursor_line

    @property
    def window(self) -> list[LogLine]:
        """The lines currently held (oldest first): a window, never the whole result."""
        return self._model.lines

    def source_of(self, line: LogLine) -> Source | None:
        """The source of a line in the window."""
        return self._model.sources.get(line.source_id)

    def max_window(self) -> int:
        """Lines held at most (see log_window.max_window)."""
        return max_window(self._page_rows())

    def set_query(self, query: str) -> None:
        """Show another query: newest lines when following, else around the cursor's time."""
        self._max_width = 0
        self._source_width = 0
        self._start_window(self._model.set_query(query, self._page_rows()))

    def jump_top(self) -> None:
        """Show the oldest matching lines (pauses following)."""
        self._load("oldest")

    def jump_bottom(self) -> None:
        """Show the newest matching lines and follow new ones."""
        self._load("newest", follow=True)

    def jump_to_time(self, ts_ns: int) -> None:
        """Show the lines around a time, the cursor on the first at or after it."""
        self._load("at", ts_ns=ts_ns, anchor_id=id_for_ts(ts_ns))

    def pause(self) -> None:
        """Stop following; the window stays as it is."""
        if self._model.pause():
            self._post_state()

    def data_changed(self) -> None:
        """New lines were committed: refresh when following, count them when paused."""
        what = self._model.data_changed()
        if what == "follow":
            self._follow_throttle(self._start_follow)
        elif what == "count":
            self._count_throttle(self._start_count)

    # -- reads on workers -------------------------------------------------------------------

    def _load(
        self, mode: LoadMode, *, ts_ns: int = 0, anchor_id: int | None = None, follow: bool = False
    ) -> None:
        req = self._model.load(
            mode, self._page_rows(), ts_ns=ts_ns, anchor_id=anchor_id, follow=follow
        )
        self._start_window(req)

    def _start_window(self, req: LoadWindow) -> None:
        # Whatever the reader is doing belongs to an older request now.
        self._reader.interrupt()
        reader = self._reader
        self._post_state()
        self._start_read(
            "load",
            req.generation,
            lambda: self._WindowLoaded(req.generation, read_window(reader, req)),
            exclusive=True,
        )

    def _start_page(self, req: LoadPage | None) -> None:
        if req is None:
            return
        reader = self._reader
        loaded = self._OlderLoaded if req.older else self._NewerLoaded
        self._start_read(
            "page", req.generation, lambda: loaded(req.generation, read_page(reader, req))
        )

    def _start_follow(self) -> None:
        req = self._model.follow_read(self._page_rows())
        if req is None:
            return
        reader = self._reader
        self._start_read(
            "follow",
            req.generation,
            lambda: self._FollowLoaded(req.generation, read_newest(reader, req)),
            done=self._FollowDone(),
        )

    def _start_find(self, req: FindMatch) -> None:
        reader = self._reader

        def read() -> Message:
            window = find_match(reader, req)
            if window is None:
                return self._MatchMissing(req.generation)
            return self._WindowLoaded(req.generation, window)

        self._start_read("find", req.generation, read, done=self._FindDone())

    def _start_count(self) -> None:
        req = self._model.count_read()
        if req is None:
            return
        reader = self._reader

        def work() -> None:
            counted = self._Counted(-1, 0, 0)  # what to say if this fails or is interrupted
            try:
                hwm_id, count = count_new(reader, req)
                counted = self._Counted(req.generation, hwm_id, count)
            except sqlite3.OperationalError as e:
                if "interrupt" not in str(e):
                    raise
            finally:
                self.post_message(counted)

        self.app.run_worker(
            work, name="log count", group="log-count", thread=True, exit_on_error=False
        )

    def _start_read(
        self,
        kind: str,
        generation: int,
        read: Callable[[], Message],
        *,
        done: Message | None = None,
        exclusive: bool = False,
    ) -> None:
        """Run a read on a thread worker, then post `done` (if any) however it ended."""

        def work() -> None:
            try:
                self._run_read(generation, read)
            finally:
                if done is not None:
                    self.post_message(done)

        self.app.run_worker(
            work,
            name=f"log {kind}",
            group=f"log-{kind}",
            exclusive=exclusive,
            thread=True,
            exit_on_error=False,
        )

    def _run_read(self, generation: int, read: Callable[[], Message]) -> None:
        """Run a read on this thread and post its result; drop it if superseded."""
        worker = get_current_worker()
        failed = self._ReadFailed(generation)
        for _attempt in range(2):
            try:
                result = read()
            except QueryError as e:
                if generation == self._model.generation:
                    self.post_message(self.QueryFailed(e))
                    self.post_message(failed)
                return
            except sqlite3.OperationalError as e:
                if "interrupt" in str(e):
                    if generation != self._model.generation or worker.is_cancelled:
                        return  # superseded by a newer request, which interrupted us
                    continue  # interrupted on behalf of a request that ran before us
                self.post_message(failed)
                raise  # the app shows worker errors
            except Exception:
                self.post_message(failed)
                raise
            if not worker.is_cancelled:
                self.post_message(result)
            return

    # -- applying results ---------------------------------------------------------------------

    def on_log_view__window_loaded(self, message: _WindowLoaded) -> None:
        if self._model.current(message.generation):
            placement = self._model.apply_window(message.window)
            self._rebuild()
            self._place(placement)
            self._after_result()

    def on_log_view__follow_loaded(self, message: _FollowLoaded) -> None:
        if self._model.current(message.generation):
            if self._model.apply_follow(message.window):
                self._rebuild()
                self._stick_to_bottom()
            self._after_result()

    def on_log_view__older_loaded(self, message: _OlderLoaded) -> None:
        if self._model.current(message.generation):
            y = self.scroll_y
            added = self._model.apply_older(message.page, self.max_window())
            if added:
                self._rebuild()
                self._scroll_rows(round(y) + self._offsets[added])
            self._run_queued()
            self._after_result()

    def on_log_view__newer_loaded(self, message: _NewerLoaded) -> None:
        if self._model.current(message.generation):
            y, old_offsets = self.scroll_y, self._offsets
            dropped = self._model.apply_newer(message.page, self.max_window())
            if dropped is not None:
                dropped_rows = old_offsets[dropped] if dropped < len(old_offsets) else 0
                self._rebuild()
                self._scroll_rows(round(y) - dropped_rows)
            self._run_queued()
            self._after_result()

    def on_log_view__read_failed(self, message: _ReadFailed) -> None:
        if self._model.current(message.generation):
            self._model.apply_failed()
            self._rebuild()
            self._post_state()

    def on_log_view__follow_done(self, message: _FollowDone) -> None:
        if self._model.follow_done():
            self._follow_throttle(self._start_follow)

    def on_log_view__match_missing(self, message: _MatchMissing) -> None:
        if self._model.current(message.generation):
            self.notify(f"No match in the next {FIND_SCAN:,} lines.", timeout=3)

    def on_log_view__find_done(self, message: _FindDone) -> None:
        self._model.find_done()

    def on_log_view__counted(self, message: _Counted) -> None:
        outcome = self._model.apply_count(message.generation, message.hwm_id, message.count)
        if outcome == "reload":
            self._load("oldest")
        elif outcome == "counted":
            self._post_state()
        if self._model.count_done():
            self._count_throttle(self._start_count)

    def _after_result(self) -> None:
        self._post_state()
        self.call_after_refresh(self._check_edges)

    def _place(self, placement: Placement) -> None:
        """Scroll to where a new window puts the screen."""
        if placement == "bottom":
            self._stick_to_bottom()
        elif placement == "anchor":
            cursor, rows = self._model.cursor, self._page_rows()
            self._make_exact(cursor - rows, cursor + rows)
            # The anchor a third of the way down, with history above it in view.
            self._scroll_rows(self._offsets[cursor] - rows // 3)
        else:
            self._scroll_rows(0)

    def _stick_to_bottom(self) -> None:
        """Scroll to the end now, and again once a new horizontal scrollbar took a row."""
        self._make_exact(len(self._model.lines) - self._page_rows() - 1, len(self._model.lines))
        self._scroll_rows(self._offsets[-1])

        def again() -> None:
            if self._model.follow:
                self._scroll_rows(self._offsets[-1])

        self.call_after_refresh(again)

    # -- scrolling, cursor --------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._adjusting:
            # Scrolling up pauses; a clamp to the new bottom after a resize does not.
            if (
                new_value < old_value
                and self._model.follow
                and round(new_value) < self.max_scroll_y
            ):
                self.pause()
            self._settle()
            self._keep_cursor_in_view()
            self._check_edges()
        self._post_state()

    def _check_edges(self) -> None:
        """Fetch the next page when the screen comes within a page of a window edge."""
        top, rows = round(self.scroll_y), self._page_rows()
        for req in self._model.edge_reads(top, self._offsets[-1] - (top + rows), rows):
            self._start_page(req)

    def _move_cursor(self, index: int) -> None:
        if not self._model.lines:
            return
        if self._model.set_cursor(index):
            self._post_state()
        index = self._model.cursor
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

    def _move(self, move: Move) -> None:
        """Make a cursor movement now, or after the ones queued before it."""
        self._model.press(move)
        self._run_queued()

    def _run_queued(self) -> None:
        """Make the queued movements in order, up to one that must wait for a page."""
        model = self._model
        while True:
            cursor_row = self._offsets[model.cursor] if model.cursor >= 0 else 0
            step = model.next_move(cursor_row, self._offsets[-1], self._page_rows())
            if step is None:
                return
            if isinstance(step, Wait):
                self._start_page(step.read)
                self.pause()  # a follow refresh would replace the window they wait on
                return
            if step == "line_up":
                if not self._scroll_through(-1):
                    self._move_cursor(model.cursor - 1)
            elif step == "line_down":
                if not self._scroll_through(1):
                    self._move_cursor(model.cursor + 1)
            elif step == "page_up":
                self._page(-1)
            else:
                self._page(1)

    def _scroll_through(self, rows: int) -> bool:
        """Scroll up to `rows` rows (up when negative) within the cursor line, as far as
        it goes on past the screen; False when it does not go on that way."""
        if self._model.cursor < 0 or not self._model.lines:
            return False
        self._make_exact(self._model.cursor, self._model.cursor + 1)
        start, end = self._offsets[self._model.cursor], self._offsets[self._model.cursor + 1]
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
        if self._model.cursor < 0:
            return
        if step < 0:
            self.pause()
        rows = step * self._page_rows()
        if self._scroll_through(rows):
            return
        row = self._offsets[self._model.cursor] + rows
        if step > 0:
            row = max(row, self._offsets[self._model.cursor + 1])  # past a line taller than a page
        target = self._line_at_row(row)
        self._scroll_rows(round(self.scroll_y) + rows)
        self._move_cursor(target)

    def action_top(self) -> None:
        self.jump_top()

    def action_bottom(self) -> None:
        self.jump_bottom()

    def action_toggle_follow(self) -> None:
        if self._model.follow:
            self.pause()
        else:
            self.jump_bottom()

    def action_scroll_left_cols(self) -> None:
        self.scroll_to(x=max(0, self.scroll_x - 8), animate=False)

    def action_scroll_right_cols(self) -> None:
        self.scroll_to(x=min(self.max_scroll_x, self.scroll_x + 8), animate=False)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._model.lines:
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

    def _find(self, step: Literal[1, -1]) -> None:
        highlight = self._model.highlight
        pattern = highlight_pattern(highlight) if highlight else None
        if pattern is None:
            self.notify(
                "n/N jump between the query's words: this query has none "
                "(type words in the query bar).",
                timeout=4,
            )
            return
        found = self._model.find(step, pattern, self._page_rows())
        if isinstance(found, FindMatch):
            self._start_find(found)
        elif isinstance(found, int):
            self._move_cursor(found)
        elif found == "no more":
            self.notify("No more matches " + ("below." if step > 0 else "above."), timeout=3)

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
        cursor_id = self._model.cursor_id
        self._max_width = 0
        if self.is_mounted:
            self._rebuild()
            if self._model.follow:
                self._stick_to_bottom()
            elif cursor_id is not None:
                self._move_cursor(self._model.index_of(cursor_id, 0))

    def watch_wrap(self) -> None:
        self.scroll_to(x=0, animate=False)
        self._settings_changed()

    def watch_show_time(self) -> None:
        self._settings_changed()

    def watch_show_source(self) -> None:
        self._settings_changed()

    def on_resize(self, event: events.Resize) -> None:
        self._source_width = 0
        if self._model.lines:
            self._settings_changed()

    def _post_state(self) -> None:
        first = last = 0
        if self._model.lines:
            top = round(self.scroll_y)
            first = self._model.lines[self._line_at_row(top)].ts
            last = self._model.lines[self._line_at_row(top + self._page_rows() - 1)].ts
        m = self._model
        self.post_message(
            self.StateChanged(m.follow, m.new_lines, m.loading, first, last, len(m.lines))
        )
