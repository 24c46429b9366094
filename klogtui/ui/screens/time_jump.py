"""Ask for a time to jump the log to: `-15m`, `10:30`, `2026-11-24T10:30:00Z`, ..."""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from klogtui.query.parsed import ParsedQuery
from klogtui.store.reads import LogReader
from klogtui.text import format_ts, inert
from klogtui.ui.time_text import local_text, parse_jump, short_time, zone_name

__all__ = ["TimeJumpScreen", "past_the_ends"]


class TimeJumpScreen(ModalScreen[int | None]):
    """An input for a time; Enter dismisses with it in UTC ns, Esc with None.

    Text that is not a time shows an error under the input and keeps the screen
    open. While typing, the time the text stands for is shown in UTC and local time.

    Args:
        now_ns: "now" in UTC ns; durations count back from it, clock times are today.
        zone: the zone of times typed without one (None: the local zone).
    """

    DEFAULT_CSS = """
    TimeJumpScreen {
        align: center middle;
    }
    TimeJumpScreen > #jump-box {
        width: 72;
        max-width: 95%;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    TimeJumpScreen #jump-preview {
        height: auto;
        color: $text-muted;
    }
    TimeJumpScreen #jump-preview.-error {
        color: $error;
    }
    TimeJumpScreen .hint {
        height: auto;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Cancel")]

    def __init__(self, now_ns: int, *, zone: tzinfo | None = None) -> None:
        super().__init__()
        self.now_ns = now_ns
        self.zone = zone

    def compose(self) -> ComposeResult:
        where = f"local time, {zone_name(self.now_ns)}" if self.zone is None else str(self.zone)
        with Vertical(id="jump-box") as box:
            box.border_title = "Jump to time"
            yield Input(placeholder="-15m, 1h30m ago, 10:30, 2026-11-24T10:30:00Z", id="jump-input")
            yield Static(id="jump-preview")
            yield Static(
                Text(f"Times without Z or an offset are {where}.\nEnter jump   Esc cancel"),
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _preview(self, text: Text | None, *, error: bool = False) -> None:
        preview = self.query_one("#jump-preview", Static)
        preview.update(text or "")
        preview.set_class(error, "-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        try:
            ts = parse_jump(event.value, self.now_ns, self.zone)
        except ValueError:
            self._preview(None)  # still typing: complain only on Enter
            return
        self._preview(Text(f"→ {format_ts(ts)}  ({local_text(ts)})"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            ts = parse_jump(event.value, self.now_ns, self.zone)
        except ValueError as e:
            self._preview(Text(inert(str(e))), error=True)
            return
        self.dismiss(ts)

    def action_close(self) -> None:
        self.dismiss(None)


def past_the_ends(reader: LogReader, query: ParsedQuery, ts_ns: int) -> str | None:
    """What to tell when a jump to `ts_ns` lands on the oldest or newest matching line
    because none is that far (None: a line is there, or nothing matches at all)."""
    cq = reader.compile(query)
    oldest, newest = reader.oldest(cq, 1), reader.newest(cq, 1)
    if not oldest or not newest:
        return None  # nothing matches: the log pane says so
    if ts_ns < oldest[0].ts:
        end, side, which = oldest[0].ts, "before", "oldest"
    elif ts_ns > newest[0].ts:
        end, side, which = newest[0].ts, "after", "newest"
    else:
        return None
    span = abs(end - ts_ns)
    return (
        f"no lines {side} {short_time(ts_ns, span)}; showing the {which} at {short_time(end, span)}"
    )
