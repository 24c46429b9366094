"""The log pane's state without a screen: a window of lines over one query and a cursor.

The window holds at most a few thousand consecutive matching lines (see LogView for
the scrollbar model). This module keeps the bookkeeping of it in plain Python, free of
Textual so it unit-tests in microseconds: the cursor, the window's lines and whether
it reaches the oldest/newest match, the pages on their way, follow/pause and the count
of lines stored since pausing, the cursor movements queued behind a page, and find.

Operations are plain methods that change the state and return what the pane must do
next: a read to start (a request dataclass, run by klogtui.ui.log_reads on a worker),
a line to put the cursor on, or how the window moved (so the screen stays still). The
pane measures rows (wrapping makes a line several rows); where a decision needs rows,
the pane passes them in.

Results of superseded requests are dropped by generation number: every load that
replaces the window starts a new generation.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal

from klogtui.model import LogLine, Source
from klogtui.query.parsed import EMPTY, ParsedQuery
from klogtui.store.ids import id_for_ts

__all__ = [
    "FIND_SCAN",
    "MAX_WINDOW",
    "NEW_LINES_CAP",
    "PAGE",
    "CountNew",
    "FindMatch",
    "InFlight",
    "LoadMode",
    "LoadPage",
    "LoadWindow",
    "LogWindow",
    "Move",
    "Page",
    "Placement",
    "ReadNewest",
    "Wait",
    "Window",
    "max_window",
]

PAGE = 250  # lines fetched per page
MAX_WINDOW = 1500  # lines held at most; the far end is dropped beyond this
FIND_SCAN = 50_000  # lines n/N look through beyond the window before giving up
NEW_LINES_CAP = 10_000  # "N new lines" counts up to this, then says "10,000+"

Move = Literal["line_up", "line_down", "page_up", "page_down"]
LoadMode = Literal["newest", "oldest", "at"]
# Where the screen goes after a new window: the top, the bottom (following), the
# anchor line a third of the way down, or nowhere (no lines).
Placement = Literal["top", "bottom", "anchor", "empty"]


def max_window(page_rows: int) -> int:
    """Lines held at most: MAX_WINDOW, more on a screen so tall that paging at one edge
    would otherwise drop lines within reach of the other."""
    return max(MAX_WINDOW, 4 * page_rows + 3 * PAGE)


# -- reads the pane starts (run by klogtui.ui.log_reads) ------------------------------------


@dataclass(frozen=True, slots=True)
class LoadWindow:
    """Replace the window: the newest or oldest page, or the lines around a line id."""

    generation: int
    query: ParsedQuery
    mode: LoadMode
    size: int  # lines of a newest/oldest page
    half: int  # lines each side of the pivot ("at")
    pivot_id: int  # "at": lines before it, then it and after
    anchor_id: int | None  # put the cursor on the first line >= this
    follow: bool


@dataclass(frozen=True, slots=True)
class LoadPage:
    """Continue the window past one edge by a page."""

    generation: int
    query: ParsedQuery
    older: bool
    edge_id: int  # the window's first (older) or last (newer) line id
    size: int


@dataclass(frozen=True, slots=True)
class ReadNewest:
    """Follow mode: re-read the newest lines."""

    generation: int
    query: ParsedQuery
    highlight: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True)
class FindMatch:
    """n/N past the window: read on from its edge for a line the pattern finds."""

    generation: int
    query: ParsedQuery
    step: Literal[1, -1]
    edge_id: int
    pattern: re.Pattern[str]
    highlight: tuple[str, ...]
    half: int  # lines each side of the match in the new window
    size: int  # lines read per step
    scan: int  # lines read at most


@dataclass(frozen=True, slots=True)
class CountNew:
    """Paused: count the lines stored after the newest one seen (or find that one)."""

    generation: int
    query: ParsedQuery
    hwm_id: int | None
    cap: int


# -- results fed back -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """Lines that replace the window (a load, a found match, a follow refresh)."""

    lines: list[LogLine]
    at_top: bool
    at_bottom: bool
    highlight: tuple[str, ...]
    sources: dict[int, Source]
    anchor_id: int | None = None
    follow: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """Lines past one window edge (oldest first)."""

    lines: list[LogLine]
    at_end: bool  # the page reaches the oldest (older) or newest (newer) match
    sources: dict[int, Source]
    edge_id: int  # the edge it continues (LoadPage.edge_id)


@dataclass(frozen=True, slots=True)
class Wait:
    """A queued movement waits for a page; `read` starts it (None: already on its way)."""

    read: LoadPage | None


@dataclass(slots=True)
class InFlight:
    """One read of a kind at a time; asks made meanwhile collapse into one more after it."""

    busy: bool = False
    dirty: bool = False

    def behind(self) -> bool:
        """Whether a read is in flight; if so, it runs again after it."""
        if self.busy:
            self.dirty = True
        return self.busy

    def start(self) -> bool:
        """Whether to start the read now (else it runs again after the one in flight)."""
        if self.behind():
            return False
        self.busy = True
        return True

    def done(self, wanted: bool) -> bool:
        """The read finished: whether to run it again (asked meanwhile and still wanted)."""
        self.busy = False
        if self.dirty and wanted:
            self.dirty = False
            return True
        return False

    def reset(self) -> None:
        """Forget the read in flight (its result will be dropped as stale)."""
        self.busy = self.dirty = False


@dataclass(slots=True)
class LogWindow:
    """The window of lines the pane holds, its cursor, follow state, paging and find."""

    query: ParsedQuery = EMPTY
    highlight: tuple[str, ...] = ()
    generation: int = 0
    lines: list[LogLine] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    sources: dict[int, Source] = field(default_factory=dict)
    at_top: bool = True
    at_bottom: bool = True
    loading: bool = False
    loaded_once: bool = False
    no_matches: bool = False  # the last load found nothing (not: it failed)
    pending_older: bool = False
    pending_newer: bool = False
    queued: list[Move] = field(default_factory=list)  # movements waiting for a page
    finding: bool = False
    follow: bool = True
    cursor: int = -1
    hwm_id: int | None = None  # newest matching id seen while at the bottom
    new_lines: int = 0
    follow_reads: InFlight = field(default_factory=InFlight)
    count_reads: InFlight = field(default_factory=InFlight)

    @property
    def cursor_line(self) -> LogLine | None:
        """The selected line, if any."""
        if 0 <= self.cursor < len(self.lines):
            return self.lines[self.cursor]
        return None

    @property
    def cursor_id(self) -> int | None:
        """The selected line's id, if any."""
        line = self.cursor_line
        return None if line is None else line.id

    def current(self, generation: int) -> bool:
        """Whether a result belongs to the window's current generation."""
        return generation == self.generation

    def index_of(self, line_id: int | None, default: int) -> int:
        """The window index of a line id (or the first line after it); default if None."""
        if line_id is None or not self.ids:
            return min(default, len(self.ids) - 1)
        return min(bisect_right(self.ids, line_id - 1), len(self.ids) - 1)

    # -- loading ----------------------------------------------------------------------------

    def set_query(self, query: ParsedQuery, page_rows: int) -> LoadWindow:
        """Show another query: newest lines when following, else around the cursor's time."""
        self.query = query
        self.hwm_id = None
        self.new_lines = 0
        line = self.cursor_line
        if self.follow or line is None:
            return self.load("newest", page_rows, follow=True)
        return self.load("at", page_rows, ts_ns=line.ts, anchor_id=line.id)

    def load(
        self,
        mode: LoadMode,
        page_rows: int,
        *,
        ts_ns: int = 0,
        anchor_id: int | None = None,
        follow: bool = False,
    ) -> LoadWindow:
        """Start replacing the window (a new generation: older results are dropped)."""
        self.generation += 1
        self.follow = follow
        self.loading = True
        self.no_matches = False
        self.pending_older = self.pending_newer = False
        self.queued.clear()  # they were meant for the window this load replaces
        self.follow_reads.reset()
        pivot = anchor_id if anchor_id is not None else id_for_ts(ts_ns)
        half = max(PAGE // 2, page_rows)
        return LoadWindow(self.generation, self.query, mode, PAGE, half, pivot, anchor_id, follow)

    def extend(self, older: bool) -> LoadPage | None:
        """Start fetching the page past an edge of the window (None: no window)."""
        if not self.lines:
            return None
        if older:
            self.pending_older = True
        else:
            self.pending_newer = True
        edge = self.ids[0] if older else self.ids[-1]
        return LoadPage(self.generation, self.query, older, edge, PAGE)

    def edge_reads(self, rows_above: int, rows_below: int, page_rows: int) -> list[LoadPage]:
        """The pages to fetch when the screen comes within a page of a window edge.

        Args:
            rows_above: window rows above the screen.
            rows_below: window rows below the screen.
            page_rows: rows on the screen.
        """
        if self.loading or not self.lines:
            return []
        reads: list[LoadPage | None] = []
        if not self.at_top and not self.pending_older and rows_above < page_rows:
            reads.append(self.extend(older=True))
        if (
            not self.at_bottom
            and not self.pending_newer
            and not self.follow
            and rows_below < page_rows
        ):
            reads.append(self.extend(older=False))
        return [r for r in reads if r is not None]

    # -- follow, pause, new lines -----------------------------------------------------------

    def pause(self) -> bool:
        """Stop following (the window stays); True when it was following."""
        if not self.follow:
            return False
        self.follow = False
        self.new_lines = 0
        return True

    def data_changed(self) -> Literal["follow", "count"] | None:
        """New lines were committed: re-read the newest (following) or count them."""
        if not self.loaded_once:
            return None
        if self.follow:
            # With a refresh in flight, the next one starts when it is done (follow_done):
            # asked for now it could not start, yet its throttle would count it as run
            # and hold the next one back for another interval.
            return None if self.follow_reads.behind() else "follow"
        self.at_bottom = False
        return "count"

    def follow_read(self, page_rows: int) -> ReadNewest | None:
        """The follow refresh to start now (None: one is in flight; it runs again after)."""
        if not self.follow_reads.start():
            return None
        size = max(PAGE, 2 * page_rows)
        return ReadNewest(self.generation, self.query, self.highlight, size)

    def follow_done(self) -> bool:
        """A follow refresh finished: whether to refresh again."""
        return self.follow_reads.done(wanted=self.follow)

    def count_read(self) -> CountNew | None:
        """The count of new lines to start now (None: one is in flight)."""
        if not self.count_reads.start():
            return None
        return CountNew(self.generation, self.query, self.hwm_id, NEW_LINES_CAP)

    def apply_count(
        self, generation: int, hwm_id: int, count: int
    ) -> Literal["counted", "reload", "stale"]:
        """A count arrived: "reload" when the empty window should show the new matches."""
        if generation != self.generation or self.follow:
            return "stale"
        if self.no_matches and (hwm_id >= 0 or count):
            # Paused keeps the screen still, but an empty one has nothing to keep:
            # show the matches that came since instead of counting them.
            return "reload"
        self.hwm_id = hwm_id
        self.new_lines = count
        return "counted"

    def count_done(self) -> bool:
        """A count finished: whether to count again."""
        return self.count_reads.done(wanted=not self.follow)

    # -- results ----------------------------------------------------------------------------

    def apply_window(self, window: Window) -> Placement:
        """A new window arrived (current generation): where the screen goes."""
        self.sources.update(window.sources)
        self.highlight = window.highlight
        self.loading = False
        self.loaded_once = True
        self.at_top, self.at_bottom = window.at_top, window.at_bottom
        self.follow = window.follow
        self.new_lines = 0
        self.no_matches = not window.lines
        self._set_lines(window.lines)
        if window.at_bottom and window.lines:
            self.hwm_id = window.lines[-1].id
        if not window.lines:
            self.cursor = -1
            return "empty"
        if window.follow:
            self.cursor = len(window.lines) - 1
            return "bottom"
        if window.anchor_id is None:
            self.cursor = 0
            return "top"
        self.cursor = self.index_of(window.anchor_id, 0)
        return "anchor"

    def apply_follow(self, window: Window) -> bool:
        """A follow refresh arrived (current generation): whether it replaced the window."""
        self.sources.update(window.sources)
        if not self.follow or self.loading:
            return False
        self.at_top, self.at_bottom = window.at_top, True
        self._set_lines(window.lines)
        if window.lines:
            self.hwm_id = window.lines[-1].id
        self.cursor = len(window.lines) - 1
        return True

    def apply_older(self, page: Page, limit: int) -> int:
        """An older page arrived (current generation): the lines added at the top (0 if
        none or the window moved on); the newest lines beyond `limit` are dropped."""
        self.sources.update(page.sources)
        self.pending_older = False
        if not self.ids or page.edge_id != self.ids[0]:
            return 0
        self.at_top = page.at_end
        if not page.lines:
            return 0
        lines = page.lines + self.lines
        dropped = max(0, len(lines) - limit)
        if dropped:
            lines = lines[: len(lines) - dropped]
            self.at_bottom = False
        cursor_id = self.cursor_id
        self._set_lines(lines)
        self.cursor = self.index_of(cursor_id, len(page.lines))
        return len(page.lines)

    def apply_newer(self, page: Page, limit: int) -> int | None:
        """A newer page arrived (current generation): the lines dropped at the top to
        stay within `limit`, or None when the window did not change."""
        self.sources.update(page.sources)
        self.pending_newer = False
        if not self.ids or page.edge_id != self.ids[-1]:
            return None
        self.at_bottom = page.at_end
        if page.at_end and page.lines:
            self.hwm_id = page.lines[-1].id
            self.new_lines = 0  # scrolled down to them: they are not waiting any more
        if not page.lines:
            return None
        cursor_id = self.cursor_id
        lines = self.lines + page.lines
        dropped = max(0, len(lines) - limit)
        if dropped:
            lines = lines[dropped:]
            self.at_top = False
        self._set_lines(lines)
        self.cursor = self.index_of(cursor_id, 0)
        return dropped

    def apply_failed(self) -> None:
        """A read failed (current generation): nothing is on its way any more."""
        self.loading = self.pending_older = self.pending_newer = False
        self.queued.clear()  # the page they wait for is not coming

    def _set_lines(self, lines: list[LogLine]) -> None:
        self.lines = lines
        self.ids = [ln.id for ln in lines]

    # -- cursor -----------------------------------------------------------------------------

    def set_cursor(self, index: int) -> bool:
        """Put the cursor on a window line (clamped); True when that stopped following."""
        index = max(0, min(index, len(self.lines) - 1))
        paused = self.follow and index < len(self.lines) - 1 and self.pause()
        self.cursor = index
        return paused

    def press(self, move: Move) -> None:
        """Queue a movement behind the ones waiting (see next_move)."""
        self.queued.append(move)

    def next_move(self, cursor_row: int, total_rows: int, page_rows: int) -> Move | Wait | None:
        """The queued movement to make now, a Wait when it needs a page that is not
        loaded yet, or None when the queue is empty.

        Args:
            cursor_row: the row where the cursor line starts in the window.
            total_rows: the window's rows.
            page_rows: rows on the screen.
        """
        if not self.queued:
            return None
        move = self.queued[0]
        wait = self._must_wait(move, cursor_row, total_rows, page_rows)
        if wait is not None:
            return wait
        del self.queued[0]
        return move

    def _must_wait(
        self, move: Move, cursor_row: int, total_rows: int, page_rows: int
    ) -> Wait | None:
        """Whether a movement needs lines past the window edge that exist but are not
        loaded yet; if so, the Wait carries the read of the page with them."""
        if self.cursor < 0 or self.loading:
            return None  # nothing to move, or a new window is coming anyway
        if move == "line_down":
            beyond = self.cursor + 1 >= len(self.lines)
        elif move == "line_up":
            beyond = self.cursor == 0
        elif move == "page_down":
            beyond = cursor_row + page_rows >= total_rows
        else:
            beyond = cursor_row < page_rows
        down = move in ("line_down", "page_down")
        if not beyond or (self.at_bottom if down else self.at_top):
            return None
        if self.pending_newer if down else self.pending_older:
            return Wait(None)
        return Wait(self.extend(older=not down))

    # -- find -------------------------------------------------------------------------------

    def find(
        self, step: Literal[1, -1], pattern: re.Pattern[str], page_rows: int
    ) -> int | FindMatch | Literal["no more"] | None:
        """n/N: the window index of the next match, a read past the window, "no more"
        (tell the user), or None (no cursor, or a search is already on its way)."""
        if self.cursor < 0:
            return None
        i = self.cursor + step
        while 0 <= i < len(self.lines):
            if pattern.search(self.lines[i].message):
                return i
            i += step
        if self.finding:
            return None
        if self.at_bottom if step > 0 else self.at_top:
            return "no more"
        self.finding = True
        edge = self.ids[-1] if step > 0 else self.ids[0]
        half = max(PAGE // 2, page_rows)
        return FindMatch(
            self.generation,
            self.query,
            step,
            edge,
            pattern,
            self.highlight,
            half,
            PAGE,
            FIND_SCAN,
        )

    def find_done(self) -> None:
        """The read past the window finished (found or not)."""
        self.finding = False
