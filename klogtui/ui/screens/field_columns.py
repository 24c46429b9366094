"""Picking field columns: the fields of the structured events on screen, ticked on or off.

As in hl and lnav, a chosen field becomes a column of the log pane showing that
field's value per event (blank when an event has none). The list holds the field
names found in the events the log pane holds, most common first, with the number
of events that have each; fields chosen before stay listed even when none of these
events has them, so they can be taken off.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from klogtui.text import inert

__all__ = ["FieldColumnsScreen"]


class FieldColumnsScreen(ModalScreen[tuple[str, ...]]):
    """Tick the fields to show as columns; closing (Esc, q) applies the choice.

    Args:
        names: (field name, events with it) of the events on screen, most common first.
        chosen: the columns shown now, in order.
    """

    DEFAULT_CSS = """
    FieldColumnsScreen {
        align: center middle;
    }
    FieldColumnsScreen > #columns-box {
        width: 60;
        max-width: 90%;
        height: auto;
        max-height: 80%;
        border: round $primary;
        background: $surface;
    }
    FieldColumnsScreen SelectionList {
        height: auto;
        max-height: 30;
    }
    FieldColumnsScreen .hint {
        color: $text-muted;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Done"),
        Binding("c", "clear", "No columns"),
    ]

    def __init__(self, names: list[tuple[str, int]], chosen: tuple[str, ...]) -> None:
        super().__init__()
        listed = dict(names)
        for name in chosen:
            listed.setdefault(name, 0)
        self._names = list(listed.items())
        self._chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-box") as box:
            box.border_title = Text("field columns")
            if not self._names:
                yield Static(
                    "No structured (JSON or logfmt) events on screen: no fields to show.",
                    classes="hint",
                    id="no-fields",
                )
            else:
                yield SelectionList[str](
                    *(
                        Selection(Text(f"{inert(name)}  ({count:,})"), name, name in self._chosen)
                        for name, count in self._names
                    ),
                    id="field-list",
                )
            yield Static("space/Enter tick   c none   Esc or q done", classes="hint")

    def on_mount(self) -> None:
        if self._names:
            self.query_one(SelectionList).focus()

    def action_clear(self) -> None:
        if self._names:
            self.query_one(SelectionList).deselect_all()

    def action_close(self) -> None:
        if not self._names:
            self.dismiss(self._chosen)
            return
        ticked = set(self.query_one(SelectionList).selected)
        # Columns kept in the order they were shown, new ones after them.
        kept = [name for name in self._chosen if name in ticked]
        added = [name for name, _ in self._names if name in ticked and name not in kept]
        self.dismiss((*kept, *added))
