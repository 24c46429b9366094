"""The alerts: each rule with its state, firing first; Enter shows the lines of one
at the time it fired."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from klogtui.alerts.overview import AlertRow
from klogtui.text import inert

__all__ = ["AlertsScreen"]

_STYLE = {"firing": "bold red", "pending": "yellow", "inactive": "dim"}


def _when(ns: int, now_ns: int) -> str:
    if not ns:
        return ""
    seconds = max(0, (now_ns - ns) // 1_000_000_000)
    ago = f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"
    if seconds >= 7200:
        ago = f"{seconds // 3600}h"
    return time.strftime("%H:%M:%S", time.gmtime(ns / 1e9)) + f" UTC ({ago} ago)"


class AlertsScreen(ModalScreen[AlertRow | None]):
    """The rules of the config file with their state; Enter dismisses with the chosen
    row (the app runs its query at the time it fired), Esc with None.

    Args:
        rows: the rules and their state, in the order to show.
        problems: rules of the config file that could not be used, one line each.
        now_ns: the time the "ago" column counts from.
    """

    DEFAULT_CSS = """
    AlertsScreen {
        align: center middle;
    }
    AlertsScreen > #alerts-box {
        width: 95%;
        height: 80%;
        border: round $primary;
        background: $surface;
    }
    AlertsScreen DataTable {
        height: 1fr;
    }
    AlertsScreen #alerts-problems {
        height: auto;
        color: $error;
        padding: 0 1;
    }
    AlertsScreen .hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "Close")]

    def __init__(self, rows: Sequence[AlertRow], problems: Sequence[str], now_ns: int) -> None:
        super().__init__()
        self.rows = tuple(rows)
        self.problems = tuple(problems)
        self._now_ns = now_ns

    def compose(self) -> ComposeResult:
        firing = sum(r.phase == "firing" for r in self.rows)
        with Vertical(id="alerts-box") as box:
            box.border_title = f"Alerts ({firing} firing, {len(self.rows)} rules)"
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
            yield table
            if self.problems:
                yield Static(Text(inert("\n".join(self.problems))), id="alerts-problems")
            if not self.rows:
                yield Static(
                    "No alert rules. Press A on a query to make one, or add [[alert]] "
                    "tables to the config file.",
                    classes="hint",
                )
            yield Static(
                "Enter: its lines at the time it fired   Esc close",
                classes="hint",
            )

    def on_mount(self) -> None:
        table: DataTable[Text] = self.query_one(DataTable)
        table.add_columns("rule", "state", "since", "condition", "query")
        for row in self.rows:
            table.add_row(
                Text(inert(row.name)),
                Text(row.phase, _STYLE[row.phase]),
                Text(_when(row.since_ns, self._now_ns)),
                Text(row.condition),
                Text(inert(row.query)),
            )
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(self.rows[event.cursor_row])

    def action_close(self) -> None:
        self.dismiss(None)
