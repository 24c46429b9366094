"""Every key binding and a query-language cheat sheet."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from klogtui.export import SAVE_LIMIT

__all__ = ["HELP_KEYS", "QUERY_CHEAT_SHEET", "HelpScreen"]

# Every key of the explorer (a test checks it against the app's real bindings).
HELP_KEYS: list[tuple[str, str]] = [
    ("/", "focus the query bar (Enter applies, Esc returns to the log)"),
    ("↑ ↓ (query bar)", "walk the query history (kept in the data dir)"),
    ("→ (query bar)", "accept the completion (field keys and known values)"),
    ("↑ ↓  k j", "move the cursor line (moving up pauses following)"),
    ("PgUp PgDn  ctrl+b ctrl+f", "page up / down"),
    ("g  Home", "oldest matching line (top)"),
    ("G  End", "newest line, and follow"),
    ("space", "pause / follow"),
    ("← →  h l", "scroll long lines sideways"),
    ("n  N", "next / previous line with the query's words"),
    ("Enter", "detail of the cursor line (on the tree: filter by that source)"),
    ("→ ← (tree)", "open / close a namespace or pod"),
    ("c", "context: the lines around it from the same container"),
    ("w", "wrap long lines; shows every line of a multi-line event (+N)"),
    ("T  P", "show / hide the time and pod/container columns"),
    ("r", "raw: JSON/logfmt events as written, not message then dim key=value"),
    ("p", "plain: the log's own colours (ANSI) off / on"),
    ("z", "times in UTC / local time; since:/until: clock times follow"),
    ("F", "field columns: pick fields of the JSON/logfmt events to show as columns"),
    ("f", "facets: namespace, pod, container, stream, level, node, .field, label"),
    ("t", "jump to a time (-15m, 10:30, 2026-11-24T10:30:00Z; UTC)"),
    ("s", f"save the result, newest {SAVE_LIMIT:,} lines at most (JSON lines or text)"),
    ("e", "collector errors"),
    ("a", "alerts: rules and state (Enter: its lines when it fired)"),
    ("A", "new alert rule on the current query (written to the config file)"),
    ("b", "show / hide the sources tree"),
    ("H", "apply the fix a hint under the query bar offers (pod=checkout-*)"),
    ("Tab  shift+Tab", "move between query bar, tree, log and histogram"),
    ("← → Home End (histogram)", "move through time; the log follows"),
    ("Esc", "back to the log pane"),
    ("?", "this help"),
    ("q  ctrl+q", "quit"),
]

QUERY_CHEAT_SHEET: tuple[tuple[str, str], ...] = (
    ("timeout", "lines containing the word (any case, accents ignored)"),
    ('"connection refused"', "the phrase, words in this order"),
    ("timeo*", "words starting with timeo"),
    ("payment OR invoice", "either term; adjacent terms must all match"),
    ("-healthz   NOT healthz", "lines without the term"),
    ("(a OR b) c", "group with parentheses"),
    ("ns=shop  pod=web-*", "namespace / pod; * is a glob"),
    ("c=app  container!=istio-proxy", "container, or not this container"),
    ("app=web  label.app=web", "a pod label (any key that is not built in)"),
    ("pod=~^web-[0-9]+$  pod!~canary", "regular expression match / no match"),
    ("stream=stderr  level=error", "stream (stdout, stderr, raw, combined); level (trace … fatal)"),
    ("node=worker-1", "lines from pods on a node"),
    ("restart=0  restart>=1", "container instance by restarts (earlier ones: kubectl --previous)"),
    (".status>=500  .user.id=42", "a JSON/logfmt field; numbers compare as numbers (< <= > >=)"),
    (".http.route=/x  .err  -.err", "nested or dotted name; the field exists / is missing"),
    ("since:15m  until:2h", "time bounds counting back from now"),
    ("since:2026-11-24T10:00", "absolute time (UTC unless Z/+hh:mm is given; z: local)"),
    ("since:10:30", "today at 10:30 (UTC, or local time when z shows local times)"),
)


def _two_columns(
    rows: list[tuple[str, str]] | tuple[tuple[str, str], ...], key_style: str
) -> Table:
    table = Table.grid(padding=(0, 3))
    table.add_column(style=key_style, no_wrap=True)
    table.add_column(overflow="fold")
    for left, right in rows:
        table.add_row(Text(left, end=""), Text(right, end=""))
    return table


class HelpScreen(ModalScreen[None]):
    """A table of the app's keys and what they do, and how to write queries.

    Args:
        bindings: (keys as shown, description) pairs, in the order to list them.
    """

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > #help-box {
        width: 90%;
        max-width: 110;
        height: 90%;
        border: round $primary;
        background: $surface;
    }
    HelpScreen #help-body {
        height: 1fr;
        padding: 0 1;
    }
    HelpScreen .help-heading {
        text-style: bold;
        color: $text-accent;
        margin-top: 1;
    }
    HelpScreen .hint {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box") as box:
            box.border_title = "Help"
            with VerticalScroll(id="help-body"):
                yield Static("Keys", classes="help-heading")
                yield Static(_two_columns(self.bindings, "bold"), id="help-keys")
                yield Static("Query language", classes="help-heading")
                yield Static(_two_columns(QUERY_CHEAT_SHEET, "bold"), id="help-query")
            yield Static("↑↓ PgUp PgDn scroll   Esc, q or ? close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
