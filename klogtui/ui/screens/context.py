"""The lines around one line, from the same container, with that line marked."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from klogtui.model import LogLine, Source
from klogtui.text import inert
from klogtui.ui.line_text import format_line

__all__ = ["ContextScreen"]

_MARK = "▶ "
_NO_MARK = "  "


class ContextScreen(ModalScreen[None]):
    """Lines before and after a line, in time order, the line itself marked and shown.

    Args:
        lines: the context lines, oldest first (the focus line among them).
        sources: stored sources by id, to name the container.
        focus_id: the id of the line the context is about.
        now_ns: "now" for the time column's date (default: the clock; fixed in tests).
        local_time: times in the local time zone (as the log pane shows them), not UTC.
    """

    DEFAULT_CSS = """
    ContextScreen {
        align: center middle;
    }
    ContextScreen > #context-box {
        width: 95%;
        height: 90%;
        border: round $primary;
        background: $surface;
    }
    ContextScreen #context-lines {
        height: 1fr;
        border: none;
    }
    ContextScreen .hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(
        self,
        lines: list[LogLine],
        sources: dict[int, Source],
        focus_id: int,
        *,
        now_ns: int | None = None,
        local_time: bool = False,
    ) -> None:
        super().__init__()
        self.lines = list(lines)
        self.sources = sources
        self.focus_id = focus_id
        self._now_ns = now_ns
        self._local_time = local_time

    def _option(self, line: LogLine) -> Option:
        text = format_line(
            line,
            self.sources.get(line.source_id),
            show_source=False,
            now_ns=self._now_ns,
            local_time=self._local_time,
        )
        marked = Text(_MARK if line.id == self.focus_id else _NO_MARK, style="bold", end="")
        marked.append_text(text)
        if line.id == self.focus_id:
            marked.stylize("bold")
        return Option(marked, id=str(line.id))

    def compose(self) -> ComposeResult:
        focus = next((ln for ln in self.lines if ln.id == self.focus_id), None)
        source = None if focus is None else self.sources.get(focus.source_id)
        with Vertical(id="context-box") as box:
            name = "context" if source is None else f"context: {inert(str(source.key))}"
            box.border_title = Text(name)
            yield OptionList(*(self._option(ln) for ln in self.lines), id="context-lines")
            before = sum(1 for ln in self.lines if ln.id < self.focus_id)
            after = sum(1 for ln in self.lines if ln.id > self.focus_id)
            yield Static(
                f"{before} lines before, {after} after   ↑↓ PgUp PgDn move   Esc or q close",
                classes="hint",
            )

    def on_mount(self) -> None:
        lines = self.query_one("#context-lines", OptionList)
        index = next((i for i, ln in enumerate(self.lines) if ln.id == self.focus_id), None)
        if index is not None:
            lines.highlighted = index
            self.call_after_refresh(self._center)
        lines.focus()

    def _center(self) -> None:
        """Scroll so the marked line sits a third down the list, lines before it above."""
        lines = self.query_one("#context-lines", OptionList)
        lines.scroll_to_highlight(top=True)
        if lines.scroll_y < lines.max_scroll_y:  # else the end is in view: leave it
            lines.scroll_to(
                y=max(0, lines.scroll_y - lines.size.height // 3), animate=False, immediate=True
            )

    def action_close(self) -> None:
        self.dismiss(None)
