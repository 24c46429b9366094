"""The collectors' error log: what went wrong, where and when, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from klogtui.collect.base import ErrorEntry
from klogtui.text import format_ts, inert

__all__ = ["ErrorLogScreen"]


def _table(errors: Sequence[ErrorEntry]) -> Table:
    table = Table(expand=True, show_edge=False, header_style="bold", pad_edge=False)
    table.add_column("time (UTC)", no_wrap=True, width=30)
    table.add_column("where", overflow="fold", ratio=1)
    table.add_column("message", overflow="fold", ratio=2)
    for e in sorted(errors, key=lambda e: e.ts, reverse=True):
        table.add_row(Text(format_ts(e.ts)), Text(inert(e.where)), Text(inert(e.message)))
    return table


class ErrorLogScreen(ModalScreen[None]):
    """Every error the collectors reported (each once per place), newest first.

    Args:
        errors: the reported errors, in any order.
    """

    DEFAULT_CSS = """
    ErrorLogScreen {
        align: center middle;
    }
    ErrorLogScreen > #errors-box {
        width: 95%;
        height: 90%;
        border: round $error;
        background: $surface;
    }
    ErrorLogScreen #errors-body {
        height: 1fr;
        padding: 0 1;
    }
    ErrorLogScreen .hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(self, errors: Sequence[ErrorEntry]) -> None:
        super().__init__()
        self.errors = tuple(errors)

    def compose(self) -> ComposeResult:
        with Vertical(id="errors-box") as box:
            box.border_title = f"Collector errors ({len(self.errors)})"
            with VerticalScroll(id="errors-body"):
                if self.errors:
                    yield Static(_table(self.errors), id="errors-table")
                else:
                    yield Static("No errors reported.", id="errors-table")
            yield Static("↑↓ PgUp PgDn scroll   Esc or q close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#errors-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
