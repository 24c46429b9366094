"""How the log pane's window of lines becomes rows on the screen.

A window line (an event) is one row, or several when wrapped: wrapping also shows
every line of a multi-line event. This base of LogView keeps the row
where each window line starts (wrapping a whole window takes long, so rows of lines
far from the screen are guessed from their length and made exact as they come near
it, keeping the screen still), renders rows through the Line API (`render_line`) with
an LRU cache of strips keyed by everything that changes rendering, and scrolls by rows.
The lines and the cursor are the window model's (klogtui.ui.log_window).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from itertools import accumulate

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from klogtui.model import LogLine
from klogtui.ui.field_text import column_width
from klogtui.ui.line_text import format_parts, source_tag
from klogtui.ui.log_window import LogWindow, max_window

__all__ = ["LogRows"]

_MAX_SOURCE_WIDTH = 28
_MIN_WRAP_MESSAGE = 24  # below this many cells for the message, wrap whole lines
_NS_PER_DAY = 86_400 * 10**9


class LogRows(ScrollView):
    """The rows of a window of log lines, with time/source columns and wrapping.

    Args:
        now_ns: fixed "now" (UTC ns) for the time column's date; None: the clock.
    """

    wrap: reactive[bool] = reactive(False)
    show_time: reactive[bool] = reactive(True)
    show_source: reactive[bool] = reactive(True)
    show_level: reactive[bool] = reactive(True)
    raw: reactive[bool] = reactive(False)  # structured events as written
    plain: reactive[bool] = reactive(False)  # without the log's own SGR colours
    local_time: reactive[bool] = reactive(False)  # times in the local zone, not UTC
    columns: reactive[tuple[str, ...]] = reactive(())  # field columns, by name

    def __init__(
        self,
        *,
        now_ns: int | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Textual's name)
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._model = LogWindow()
        self._now_ns = now_ns
        self._offsets: list[int] = [0]  # row where each window line starts, then the total
        # Wrapped: rows of each window line, and whether that is still a guess (see
        # _make_exact). Empty when not wrapped (one row a line).
        self._heights: list[int] = []
        self._guessed: list[bool] = []
        self._settling = False
        self._max_width = 0
        self._source_width = 0
        self._column_widths: tuple[tuple[str, int], ...] = ()
        # One entry a window line: strips of lines the window no longer holds are only
        # used again if they come back. Following thousands of lines a second, a cap of
        # 4,096 filled in seconds with lines that had scrolled away: ~7 KB an entry at
        # 200 columns (Textual's strips keep their crops), 18 MB more than this cap.
        # _rebuild sizes it to the window the screen allows.
        self._cache: LRUCache[tuple[object, ...], list[Strip]] = LRUCache(max_window(0))
        self._adjusting = False
        self._wrap_width = 0  # the width the window was wrapped to
        self._rewrap = False

    def rendered_rows(self) -> list[str]:
        """The text of the rows on screen, top to bottom (what the user sees)."""
        return [self.render_line(y).text for y in range(self.scrollable_content_region.height)]

    def _settings_changed(self) -> None:
        """Wrap, a column or the width changed: lay the rows out again (LogView)."""
        raise NotImplementedError

    # -- rows and rendering ------------------------------------------------------------------

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
            self._model.highlight,
            now // _NS_PER_DAY,
            self.show_level,
            self.raw,
            self.plain,
            self.local_time,
            self._column_widths,
        )

    def _rebuild(self) -> None:
        """Recompute row offsets and the virtual size after the window or settings changed."""
        self._wrap_width = self._content_width()
        window = max_window(self._page_rows())
        if self._cache.maxsize != window:
            # A screen over ~190 rows tall holds a bigger window (LRUCache does not grow
            # once it has been full).
            self._cache = LRUCache(window)
        if self.show_source and self._model.lines:
            widest = max(
                len(source_tag(self._model.sources.get(sid), sid))
                for sid in {ln.source_id for ln in self._model.lines}
            )
            # At most a quarter of a narrow pane: the message matters most.
            # (Of the whole width: the scrollbars come and go.)
            cap = min(_MAX_SOURCE_WIDTH, max(10, self.size.width // 4))
            self._source_width = max(self._source_width, min(widest, cap))
        self._column_widths = tuple(
            (name, column_width(name, self._model.lines)) for name in self.columns
        )
        key = self._render_key()
        if self.wrap:
            # Wrapping a whole window takes long (a 20 KB line alone is hundreds of
            # rows): lines not wrapped yet get a guess from their length, made exact
            # as they come near the screen (_settle), so this costs a few screens.
            width = self._content_width()
            indent = self._indent_guess()
            heights: list[int] = []
            guessed: list[bool] = []
            for line in self._model.lines:
                strips = self._cache.get((line.id, *key))
                guessed.append(strips is None)
                if strips is None:
                    heights.append(_guess_rows(line.message, indent, width))
                else:
                    heights.append(len(strips))
            self._heights, self._guessed = heights, guessed
            self._offsets = list(accumulate(heights, initial=0))
        else:
            self._heights, self._guessed = [], []
            self._offsets = list(range(len(self._model.lines) + 1))
            width = self._max_width
            for i in range(len(self._model.lines)):
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
        if not self._model.lines:
            return 0
        prefix, _ = self._format(self._model.lines[-1], highlight=())
        return prefix.cell_len

    def _format(self, line: LogLine, highlight: tuple[str, ...]) -> tuple[Text, Text]:
        """The line's prefix and message as the pane's columns settings show them."""
        return format_parts(
            line,
            self._model.sources.get(line.source_id),
            show_time=self.show_time,
            show_source=self.show_source,
            highlight=highlight,
            now_ns=self._now_ns,
            source_width=self._source_width,
            show_level=self.show_level,
            local_time=self.local_time,
            raw=self.raw,
            colours=not self.plain,
            expand=self.wrap,
            columns=self._column_widths,
        )

    def _make_exact(self, lo: int, hi: int) -> None:
        """Wrap the window lines lo..hi-1 whose rows are guessed; the screen stays still.

        A line above the screen that turns out taller or shorter moves the rows under
        it: the scroll position moves with them, so the same line stays at the top.
        """
        if not self.wrap or len(self._guessed) != len(self._model.lines):
            return
        lo, hi = max(lo, 0), min(hi, len(self._model.lines))
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
        if self._settling or not self.wrap or not self._model.lines:
            return
        self._settling = True
        try:
            top = self._line_at_row(round(self.scroll_y))
            rows = self._page_rows()
            self._make_exact(top - rows, top + 2 * rows)
        finally:
            self._settling = False

    def _strips(self, index: int, key: tuple[object, ...]) -> list[Strip]:
        line = self._model.lines[index]
        cache_key = (line.id, *key)
        strips = self._cache.get(cache_key)
        if strips is None:
            strips = self._render_strips(line, key)
            self._cache[cache_key] = strips
        return strips

    def _render_strips(self, line: LogLine, key: tuple[object, ...]) -> list[Strip]:
        wrap_width = int(key[0])  # type: ignore[call-overload]
        prefix, message = self._format(line, self._model.highlight)
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
        if not self._model.lines:
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
        if index == self._model.cursor:
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
        if self._model.loading or not self._model.loaded_once:
            text = "Loading…"
        elif not self._model.query.is_empty:
            text = "No lines match this query."
        else:
            text = "No lines stored yet: waiting for the collector."
        style = base + self.get_component_rich_style("log-view--empty")
        return Strip([Segment(text.center(width)[:width], style)], width)

    # -- scrolling ---------------------------------------------------------------------------

    def _scroll_rows(self, y: int) -> None:
        self._adjusting = True
        try:
            self.scroll_to(y=max(0, min(y, self.max_scroll_y)), animate=False, force=True)
        finally:
            self._adjusting = False
        self._settle()
        self.refresh()

    def _line_at_row(self, row: int) -> int:
        return max(0, min(bisect_right(self._offsets, row) - 1, len(self._model.lines) - 1))

    def _keep_cursor_in_view(self) -> None:
        """After a mouse scroll, bring the cursor onto the screen (to the nearest edge)."""
        if self._model.cursor < 0 or not self._model.lines:
            return
        top = round(self.scroll_y)
        bottom = top + self._page_rows()
        start, end = self._offsets[self._model.cursor], self._offsets[self._model.cursor + 1]
        # (A line taller than the screen keeps the cursor while it fills the screen.)
        if start < top and end < bottom:
            self._model.cursor = min(
                bisect_right(self._offsets, top - 1), len(self._model.lines) - 1
            )
            self.refresh()
        elif start >= bottom:
            self._model.cursor = max(0, bisect_right(self._offsets, bottom - 1) - 1)
            if (
                self._offsets[self._model.cursor + 1] > bottom
                and self._model.cursor > 0
                and self._offsets[self._model.cursor] > top
            ):
                self._model.cursor -= 1
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()


def _guess_rows(message: str, indent: int, width: int) -> int:
    """Rows a message wraps to, about (see LogRows._render_strips): each of its lines."""
    if "\n" not in message:
        return _guess_line_rows(len(message), indent, width)
    return sum(_guess_line_rows(len(part), indent, width) for part in message.split("\n"))


def _guess_line_rows(length: int, indent: int, width: int) -> int:
    if width - indent < _MIN_WRAP_MESSAGE:
        return max(1, -(-(indent + length) // width))
    return max(1, -(-length // (width - indent)))
