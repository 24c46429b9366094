"""A strip of bars showing log volume over time, with warn/error share, to jump in time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from klogtui.store import Bucket
from klogtui.ui.time_text import short_time

__all__ = ["Histogram"]

# Lower eighth blocks: _BLOCKS[k] fills k/8 of a cell from the bottom.
_BLOCKS = " ▁▂▃▄▅▆▇█"
# Segments of a bar from the bottom up; the order is also the colour priority.
_ERROR, _WARN, _NORMAL, _EMPTY = range(4)
# Fills the time a capped count did not reach: unknown, unlike an empty bar.
_UNCOUNTED = "░"


@dataclass(frozen=True, slots=True)
class _Slot:
    """What one run of columns shows: one bucket, or several merged when narrow."""

    start_ns: int
    end_ns: int
    total: int
    warn: int
    error: int
    x0: int
    x1: int


def _layout(buckets: list[Bucket], width: int) -> list[_Slot]:
    """Map buckets onto width columns: widen them when few, merge them when many."""
    n = len(buckets)
    if n == 0 or width <= 0:
        return []
    if n <= width:
        return [
            _Slot(
                b.start_ns, b.end_ns, b.total, b.warn, b.error, i * width // n, (i + 1) * width // n
            )
            for i, b in enumerate(buckets)
        ]
    slots = []
    for c in range(width):
        group = buckets[c * n // width : (c + 1) * n // width]
        slots.append(
            _Slot(
                group[0].start_ns,
                group[-1].end_ns,
                sum(b.total for b in group),
                sum(b.warn for b in group),
                sum(b.error for b in group),
                c,
                c + 1,
            )
        )
    return slots


def _ceil_units(count: int, units: int, peak: int) -> int:
    # Round up so that any non-zero count is at least one eighth of a cell high.
    return -(-count * units // peak) if count > 0 else 0


class Histogram(Widget, can_focus=True):
    """Volume per time bucket as bars; errors red and warnings yellow at the bottom.

    Bars are scaled to the largest bucket, in eighths of a cell over every row but
    the last one when the widget is 3 or more rows high (that row is a time axis).
    The range the log pane shows is tinted (see `set_visible`). A cursor bucket is
    moved with left/right/home/end (or h/l) or a click; each move posts `Jump`.
    Buckets that are not exact (a text query counted over its newest matches only)
    show the time before the oldest counted line hatched and say so there. While the
    collector stores older history after the recent lines, the axis says how much of it
    is stored (see `set_loading`).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "histogram--bar",
        "histogram--warn",
        "histogram--error",
        "histogram--visible",
        "histogram--cursor",
        "histogram--axis",
    }

    DEFAULT_CSS = """
    Histogram {
        height: 2;
    }
    Histogram > .histogram--bar {
        color: $primary;
    }
    Histogram > .histogram--warn {
        color: $warning;
    }
    Histogram > .histogram--error {
        color: $error;
    }
    Histogram > .histogram--visible {
        background: $primary 15%;
    }
    Histogram > .histogram--cursor {
        background: $foreground 20%;
    }
    Histogram:focus > .histogram--cursor {
        background: $accent 60%;
    }
    Histogram > .histogram--axis {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1)", "Earlier", show=False),
        Binding("right,l", "move(1)", "Later", show=False),
        Binding("home", "edge(0)", "Oldest", show=False),
        Binding("end", "edge(-1)", "Newest", show=False),
    ]

    @dataclass
    class Jump(Message):
        """The user moved the cursor: show the log from ts_ns (the bucket's start)."""

        ts_ns: int

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._buckets: list[Bucket] = []
        self._exact = True
        self._visible: tuple[int, int] | None = None
        self._cursor_ns: int | None = None
        self._slots_cache: tuple[int, list[_Slot]] | None = None
        self._loading: float | None = None

    # -- public API ------------------------------------------------------------------

    def set_buckets(self, buckets: list[Bucket], exact: bool = True) -> None:
        """Show these buckets (oldest first). The cursor stays on the same time.

        Args:
            buckets: the counts, oldest first.
            exact: False when only the newest matches were counted (every one from
                the oldest counted line on), so the time before that is unknown.
        """
        self._buckets = list(buckets)
        self._exact = exact
        self._slots_cache = None
        self.refresh()

    def set_visible(self, start_ns: int, end_ns: int) -> None:
        """Mark [start_ns, end_ns] as the range the log pane currently shows."""
        self._visible = (start_ns, max(end_ns, start_ns + 1))
        self.refresh()

    def set_loading(self, share: float | None) -> None:
        """Older history is still being stored (this share of it so far), so the bars
        before the recent lines are still growing; None once it is all stored."""
        if share != self._loading:
            self._loading = share
            self.refresh()

    @property
    def cursor_ns(self) -> int | None:
        """Start of the cursor's bucket, or None before the user moved it."""
        index = self._cursor_index()
        return None if index is None else self._slots()[index].start_ns

    # -- layout ----------------------------------------------------------------------

    def _slots(self) -> list[_Slot]:
        width = self.size.width
        if self._slots_cache is None or self._slots_cache[0] != width:
            self._slots_cache = (width, _layout(self._buckets, width))
        return self._slots_cache[1]

    def _cursor_index(self) -> int | None:
        if self._cursor_ns is None:
            return None
        return self._index_at(self._cursor_ns)

    def _index_at(self, ts_ns: int) -> int | None:
        for i, slot in enumerate(self._slots()):
            if slot.start_ns <= ts_ns < slot.end_ns:
                return i
        return None

    def _first_counted(self, slots: list[_Slot]) -> int:
        """Index of the first slot whose counts are known (0 when all are)."""
        if self._exact:
            return 0
        return next((i for i, s in enumerate(slots) if s.total), 0)

    def _uncounted_note(self, width: int) -> str:
        """What the hatched (not counted) columns say, as much as fits in width."""
        counted = sum(b.total for b in self._buckets)
        for note in (
            f" older matches not counted (newest {counted:,} only) ",
            " not counted ",
        ):
            if len(note) <= width:
                return note.rjust(width, _UNCOUNTED)
        return _UNCOUNTED * width

    def _in_view(self, slot: _Slot) -> bool:
        return self._visible is not None and (
            slot.start_ns < self._visible[1] and slot.end_ns > self._visible[0]
        )

    # -- moving ----------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        slots = self._slots()
        if not slots:
            return
        index = max(0, min(index, len(slots) - 1))
        if index == self._cursor_index():
            return
        self._cursor_ns = slots[index].start_ns
        self.refresh()
        self.post_message(self.Jump(slots[index].start_ns))

    def action_move(self, step: int) -> None:
        """Move the cursor step buckets (from the shown range's end if none yet)."""
        slots = self._slots()
        if not slots:
            return
        here = self._cursor_index()
        if here is None and self._visible is not None:
            here = self._index_at(self._visible[1] - 1)
        if here is None:
            here = len(slots) if step < 0 else -1
        self._move_to(here + step)

    def action_edge(self, which: int) -> None:
        """Move the cursor to the oldest (0) or newest (-1) bucket."""
        slots = self._slots()
        if slots:
            self._move_to(0 if which == 0 else len(slots) - 1)

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for i, slot in enumerate(self._slots()):
            if slot.x0 <= offset.x < slot.x1:
                self._move_to(i)
                return

    # -- rendering -------------------------------------------------------------------

    def _colors(self) -> tuple[list[RichColor], Style, Style, Style]:
        """Bar colours by segment, the view and cursor backgrounds, the axis style."""
        _, background = self.background_colors
        seg = [
            (background + self.get_component_styles(f"histogram--{name}").color).rich_color
            for name in ("error", "warn", "bar")
        ]
        view = background + self.get_component_styles("histogram--visible").background
        cursor = background + self.get_component_styles("histogram--cursor").background
        axis = self.get_component_rich_style("histogram--axis", partial=True)
        return seg, Style(bgcolor=view.rich_color), Style(bgcolor=cursor.rich_color), axis

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        bar_rows = height - 1 if height >= 3 else height
        slots = self._slots()
        if y >= bar_rows:
            return self._axis_line(slots, width)
        if not slots:
            return Strip.blank(width, self.rich_style)
        seg, view_bg, cursor_bg, axis = self._colors()
        cursor = self._cursor_index()
        units = bar_rows * 8
        peak = max(max(s.total for s in slots), 1)
        row = bar_rows - 1 - y  # 0 is the bottom row
        lo = row * 8
        segments: list[Segment] = []
        first = self._first_counted(slots)
        hatch = ""
        if first:
            hatch_width = slots[first].x0
            hatch = self._uncounted_note(hatch_width) if row == 0 else _UNCOUNTED * hatch_width
        for i, s in enumerate(slots):
            bg = cursor_bg if i == cursor else view_bg if self._in_view(s) else Style()
            if i < first:
                segments.append(Segment(hatch[s.x0 : s.x1], bg + axis))
                continue
            err = _ceil_units(min(s.error, s.total), units, peak)
            warn = _ceil_units(min(s.error + s.warn, s.total), units, peak)
            top = _ceil_units(s.total, units, peak)
            if i == cursor and top >= units:
                # Leave the cursor's background showing above the tallest bar.
                top = units - 1
            char, style = self._cell(lo, err, warn, top, seg)
            segments.append(Segment(char * (s.x1 - s.x0), bg + style))
        return Strip(segments, width).apply_style(self.rich_style).simplify()

    @staticmethod
    def _cell(lo: int, err: int, warn: int, top: int, seg: list[RichColor]) -> tuple[str, Style]:
        """The character and colours of the cell covering units [lo, lo + 8) of a bar."""
        if top <= lo:
            return " ", Style()

        def kind(unit: int) -> int:
            return _ERROR if unit < err else _WARN if unit < warn else _NORMAL

        if top < lo + 8:
            # The bar ends inside this cell: keep its height exact and colour it by
            # the most severe segment it holds, so a small error share stays visible.
            return _BLOCKS[top - lo], Style(color=seg[kind(lo)])
        lower = kind(lo)
        k = 1
        while k < 8 and kind(lo + k) == lower:
            k += 1
        if k == 8:
            return _BLOCKS[8], Style(color=seg[lower])
        # Two segments meet in this cell: the lower one as the glyph, the upper as bg.
        return _BLOCKS[k], Style(color=seg[lower], bgcolor=seg[kind(lo + k)])

    def _axis_line(self, slots: list[_Slot], width: int) -> Strip:
        axis_style = self.rich_style + self._colors()[3]
        if not slots:
            text = "no lines in this range"
            return Strip([Segment(text[:width].center(width), axis_style)], width)
        span = slots[-1].end_ns - slots[0].start_ns
        left = short_time(slots[0].start_ns, span)
        right = short_time(slots[-1].end_ns, span)
        cells = [" "] * width
        self._put(cells, 0, left)
        self._put(cells, width - len(right), right)
        if self._loading is not None:
            note = f"◂ loading history: {self._loading:.0%}"
            if len(left) + 1 + len(note) < width - len(right):
                self._put(cells, len(left) + 1, note)
        index = self._cursor_index()
        if index is not None:
            s = slots[index]
            if index < self._first_counted(slots):
                label = f"▲ {short_time(s.start_ns, span)} not counted"
            else:
                label = f"▲ {short_time(s.start_ns, span)} {s.total:,}"
            if s.error or s.warn:
                label += f" ({s.error:,} err, {s.warn:,} warn)"
            at = max(len(left) + 1, min(s.x0, width - len(right) - 1 - len(label)))
            if at + len(label) < width - len(right):
                self._put(cells, at, label)
        return Strip([Segment("".join(cells), axis_style)], width)

    @staticmethod
    def _put(cells: list[str], at: int, text: str) -> None:
        for i, ch in enumerate(text):
            if 0 <= at + i < len(cells):
                cells[at + i] = ch
