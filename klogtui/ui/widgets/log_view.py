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

The pane in parts: the window model (klogtui.ui.log_window: cursor, window, paging,
follow, queued keys, find; no Textual), the reads (klogtui.ui.log_reads: the one place
the query meets the Reader), the workers that run them with this pane's own Reader and
post each result as its own message (log_workers), the rows and their rendering
(log_rows), the cursor and scrolling (log_cursor), and this widget, which holds them
together: its public API, and each result fed into the model. A newer load interrupts
a slower one (Reader.interrupt) and results of superseded requests are dropped by
generation number.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message

from klogtui.errors import QueryError
from klogtui.model import LogLine, Source
from klogtui.query.parsed import ParsedQuery
from klogtui.query.times import Zone
from klogtui.store.reads import LogReader
from klogtui.ui.field_text import field_names
from klogtui.ui.log_window import (
    FIND_SCAN,
    FindMatch,
    LoadMode,
    LoadPage,
    LoadWindow,
    max_window,
)
from klogtui.ui.screens.field_columns import FieldColumnsScreen
from klogtui.ui.throttle import Throttle
from klogtui.ui.widgets.log_cursor import LogCursor
from klogtui.ui.widgets.log_workers import LogWorkers

__all__ = ["LogView"]

_FOLLOW_INTERVAL_S = 0.15
_COUNT_INTERVAL_S = 1.0


class LogView(LogCursor, can_focus=True):
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
        Binding("r", "toggle_raw", "Raw"),
        Binding("p", "toggle_plain", "Plain", show=False),
        Binding("z", "toggle_zone", "UTC/local"),
        Binding("F", "pick_columns", "Field columns", show=False),
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

    class ZoneChanged(Message):
        """Times are now shown in the local zone (`local`) or in UTC."""

        def __init__(self, local: bool) -> None:
            super().__init__()
            self.local = local

    class QueryFailed(Message):
        """The query could not run (it does not parse, or the store refused it)."""

        def __init__(self, error: QueryError) -> None:
            super().__init__()
            self.error = error

    def __init__(
        self,
        reader: LogReader,
        *,
        now_ns: int | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Textual's name)
        classes: str | None = None,
    ) -> None:
        super().__init__(now_ns=now_ns, name=name, id=id, classes=classes)
        self._reader = reader  # the workers read with it; here only for id_for_ts
        self._workers = LogWorkers(self, reader, self._model.current)
        self._follow_throttle = Throttle(_FOLLOW_INTERVAL_S, self.set_timer)
        self._count_throttle = Throttle(_COUNT_INTERVAL_S, self.set_timer)

    # -- public API -----------------------------------------------------------------------

    @property
    def query_text(self) -> str:
        """The query the pane shows."""
        return self._model.query.typed

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

    @property
    def zone(self) -> Zone:
        """Where the times shown are: UTC, or the local time zone."""
        return "local" if self.local_time else "utc"

    def source_of(self, line: LogLine) -> Source | None:
        """The source of a line in the window."""
        return self._model.sources.get(line.source_id)

    def max_window(self) -> int:
        """Lines held at most (see log_window.max_window)."""
        return max_window(self._page_rows())

    def set_query(self, query: ParsedQuery) -> None:
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
        self._load("at", ts_ns=ts_ns, anchor_id=self._reader.id_for_ts(ts_ns))

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
        self._post_state()
        self._workers.window(req)

    def _start_page(self, req: LoadPage | None) -> None:
        if req is not None:
            self._workers.page(req)

    def _start_follow(self) -> None:
        req = self._model.follow_read(self._page_rows())
        if req is not None:
            self._workers.follow(req)

    def _start_find(self, req: FindMatch) -> None:
        self._workers.find(req)

    def _start_count(self) -> None:
        req = self._model.count_read()
        if req is not None:
            self._workers.count(req)

    # -- applying results (LogWorkers' messages) --------------------------------------------

    def on_log_workers_window_loaded(self, message: LogWorkers.WindowLoaded) -> None:
        if self._model.current(message.generation):
            placement = self._model.apply_window(message.window)
            self._rebuild()
            self._place(placement)
            self._after_result()

    def on_log_workers_follow_loaded(self, message: LogWorkers.FollowLoaded) -> None:
        if self._model.current(message.generation):
            if self._model.apply_follow(message.window):
                self._rebuild()
                self._stick_to_bottom()
            self._after_result()

    def on_log_workers_older_loaded(self, message: LogWorkers.OlderLoaded) -> None:
        if self._model.current(message.generation):
            y = self.scroll_y
            added = self._model.apply_older(message.page, self.max_window())
            if added:
                self._rebuild()
                self._scroll_rows(round(y) + self._offsets[added])
            self._run_queued()
            self._after_result()

    def on_log_workers_newer_loaded(self, message: LogWorkers.NewerLoaded) -> None:
        if self._model.current(message.generation):
            y, old_offsets = self.scroll_y, self._offsets
            dropped = self._model.apply_newer(message.page, self.max_window())
            if dropped is not None:
                dropped_rows = old_offsets[dropped] if dropped < len(old_offsets) else 0
                self._rebuild()
                self._scroll_rows(round(y) - dropped_rows)
            self._run_queued()
            self._after_result()

    def on_log_workers_read_failed(self, message: LogWorkers.ReadFailed) -> None:
        if self._model.current(message.generation):
            self._model.apply_failed()
            self._rebuild()
            self._post_state()

    def on_log_workers_follow_done(self, message: LogWorkers.FollowDone) -> None:
        if self._model.follow_done():
            self._follow_throttle(self._start_follow)

    def on_log_workers_match_missing(self, message: LogWorkers.MatchMissing) -> None:
        if self._model.current(message.generation):
            self.notify(f"No match in the next {FIND_SCAN:,} lines.", timeout=3)

    def on_log_workers_find_done(self, message: LogWorkers.FindDone) -> None:
        self._model.find_done()

    def on_log_workers_counted(self, message: LogWorkers.Counted) -> None:
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

    # -- keys that load, click, detail, state ---------------------------------------------------

    def action_top(self) -> None:
        self.jump_top()

    def action_bottom(self) -> None:
        self.jump_bottom()

    def action_toggle_follow(self) -> None:
        if self._model.follow:
            self.pause()
        else:
            self.jump_bottom()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._model.lines:
            return
        row = round(self.scroll_y) + offset.y
        if row < self._offsets[-1]:
            self._move_cursor(self._line_at_row(row))
            if event.chain == 2:
                self.action_detail()

    def action_detail(self) -> None:
        line = self.cursor_line
        if line is not None:
            self.post_message(self.LineChosen(line, self.source_of(line), context=False))

    def action_context(self) -> None:
        line = self.cursor_line
        if line is not None:
            self.post_message(self.LineChosen(line, self.source_of(line), context=True))

    def action_toggle_zone(self) -> None:
        self.local_time = not self.local_time
        self.post_message(self.ZoneChanged(self.local_time))

    def action_pick_columns(self) -> None:
        def chosen(columns: tuple[str, ...] | None) -> None:
            if columns is not None:
                self.columns = columns

        names = field_names(self._model.lines)
        self.app.push_screen(FieldColumnsScreen(names, self.columns), chosen)

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
