"""The log pane's cursor and scrolling: keys, mouse, paging, n/N and column settings.

The cursor moves over the window model's lines (klogtui.ui.log_window) and the screen
follows it by rows (LogRows). A movement that needs lines past the window waits in the
model's queue for the page (see LogView); scrolling near a window edge fetches the
next page. The loading itself is LogView's: this class asks for it through the hooks
below.
"""

from __future__ import annotations

from typing import Literal

from textual import events

from klogtui.ui.line_text import highlight_pattern
from klogtui.ui.log_window import FindMatch, LoadPage, Move, Placement, Wait
from klogtui.ui.widgets.log_rows import LogRows

__all__ = ["LogCursor"]


class LogCursor(LogRows):
    """The cursor over a window of log lines, the keys that move it, and scrolling."""

    # -- hooks (LogView) ----------------------------------------------------------------------

    def pause(self) -> None:
        """Stop following; the window stays as it is."""
        raise NotImplementedError

    def _start_page(self, req: LoadPage | None) -> None:
        """Fetch the page past a window edge on a worker."""
        raise NotImplementedError

    def _start_find(self, req: FindMatch) -> None:
        """Look for the next match past the window on a worker."""
        raise NotImplementedError

    def _post_state(self) -> None:
        """Tell the app the follow state and the shown time range."""
        raise NotImplementedError

    # -- placing the screen ---------------------------------------------------------------------

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

    def action_scroll_left_cols(self) -> None:
        self.scroll_to(x=max(0, self.scroll_x - 8), animate=False)

    def action_scroll_right_cols(self) -> None:
        self.scroll_to(x=min(self.max_scroll_x, self.scroll_x + 8), animate=False)

    # -- find (n/N) ---------------------------------------------------------------------------

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

    # -- settings -------------------------------------------------------------------------------

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_time(self) -> None:
        self.show_time = not self.show_time

    def action_toggle_source(self) -> None:
        self.show_source = not self.show_source

    def action_toggle_raw(self) -> None:
        self.raw = not self.raw
        self.notify("Structured events as written." if self.raw else "Message fields first.")

    def action_toggle_plain(self) -> None:
        self.plain = not self.plain
        self.notify("Log colours off." if self.plain else "Log colours on.")

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

    def watch_raw(self) -> None:
        self._settings_changed()

    def watch_plain(self) -> None:
        self._settings_changed()

    def watch_local_time(self) -> None:
        self._settings_changed()

    def watch_columns(self) -> None:
        self._settings_changed()

    def on_resize(self, event: events.Resize) -> None:
        self._source_width = 0
        if self._model.lines:
            self._settings_changed()
