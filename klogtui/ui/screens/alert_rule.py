"""A new alert rule on the current query: a small form that writes it to the config
file."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from klogtui.alerts.rules import Rule, append_rule, parse_rules
from klogtui.errors import KlogError
from klogtui.text import inert

__all__ = ["AlertRuleScreen"]

# (field id, label, default)
_FIELDS = (
    ("name", "name", ""),
    ("query", "query", ""),
    ("window", "window", "5m"),
    ("condition", "condition", "above 0"),
    ("for", "for", "0s"),
    ("severity", "severity", "warning"),
)


def _table(values: dict[str, str]) -> dict[str, object]:
    """The form as an [[alert]] table; `condition` is `above N` or `absent`."""
    table: dict[str, object] = {
        k: v for k, v in values.items() if k not in ("condition",) and v != ""
    }
    words = values["condition"].split()
    if words == ["absent"]:
        table["absent"] = True
    elif len(words) == 2 and words[0] == "above" and words[1].isdigit():
        table["above"] = int(words[1])
    else:
        table["above"] = values["condition"]  # reported: "above must be a whole number"
    return table


class AlertRuleScreen(ModalScreen[Rule | None]):
    """Name, query, window, condition (`above N` or `absent`), for and severity; Enter
    checks the rule as the config file would and appends it there, then dismisses with
    it. What is wrong is shown under the form. Esc dismisses with None.

    Args:
        query: the query the rule starts from (the one applied).
        config: the config file to append to.
    """

    DEFAULT_CSS = """
    AlertRuleScreen {
        align: center middle;
    }
    AlertRuleScreen > #rule-box {
        width: 90%;
        max-width: 100;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    AlertRuleScreen Horizontal {
        height: auto;
    }
    AlertRuleScreen Label {
        width: 11;
    }
    AlertRuleScreen Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    AlertRuleScreen Input:focus {
        border: none;
        background: $primary 30%;
    }
    AlertRuleScreen #rule-error {
        height: auto;
        color: $error;
    }
    AlertRuleScreen .hint {
        height: 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Cancel")]

    def __init__(self, query: str, config: Path) -> None:
        super().__init__()
        self.query_text = query
        self.config = config

    def compose(self) -> ComposeResult:
        with Vertical(id="rule-box") as box:
            box.border_title = "New alert rule"
            for field, label, default in _FIELDS:
                with Horizontal():
                    yield Label(label)
                    value = self.query_text if field == "query" else default
                    yield Input(value, id=f"rule-{field}")
            yield Static(id="rule-error")
            yield Static(
                f"condition: above N or absent   Tab next field   Enter: write to {self.config}"
                "   Esc cancel",
                classes="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#rule-name", Input).focus()

    def values(self) -> dict[str, str]:
        return {f: self.query_one(f"#rule-{f}", Input).value.strip() for f, _, _ in _FIELDS}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        ruleset = parse_rules({"alert": [_table(self.values())]})
        if ruleset.problems:
            self._error(str(ruleset.problems[0]).removeprefix("alert #1").lstrip(": "))
            return
        (rule,) = ruleset.rules
        try:
            append_rule(self.config, rule)
        except KlogError as e:
            self._error(str(e))
            return
        self.dismiss(rule)

    def _error(self, message: str) -> None:
        self.query_one("#rule-error", Static).update(Text(inert(message)))

    def action_close(self) -> None:
        self.dismiss(None)
