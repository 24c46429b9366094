"""One event in full: every bit of metadata, and the message (JSON pretty-printed).

An event of several lines (a stack trace) shows them all, with real line breaks, in
the colours the log wrote them in; a structured event lists its fields.
"""

from __future__ import annotations

import json
import time
from typing import ClassVar, Literal

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from klogtui.model import Flag, Level, LogLine, Source, Stream
from klogtui.text import format_ts, inert
from klogtui.ui.field_text import structured, value_text
from klogtui.ui.line_text import format_parts
from klogtui.ui.time_text import age_text, local_text

__all__ = ["DetailResult", "DetailScreen", "message_renderable"]

# What the detail screen is dismissed with: "context" to open the line's context.
DetailResult = Literal["context"] | None

# Highlighting a huge JSON document costs seconds; past this size show it plainly.
_MAX_HIGHLIGHT_CHARS = 200_000

_FLAG_TEXT = {
    Flag.MALFORMED: "malformed: not a valid CRI/Docker line; stored raw, stamped with "
    "the time it was read",
    Flag.TRUNCATED: "truncated: the line was longer than the size cap; the rest was cut",
    Flag.GAP: "gap: not a log line; klogtui could not read this source's lines in "
    "the time range it names (its log file rotated before they were read)",
    Flag.UNTERMINATED: "unterminated: a partial line that never got its end; flushed "
    "after a grace period",
    Flag.CUT: "cut: an event (such as a stack trace) that reached the cap of 1000 lines "
    "or 1 MiB; it goes on in the next line of its source",
    Flag.CONTINUED: "continued: the rest of an event whose first lines are stored before it",
}


def _pretty_json(message: str) -> str | None:
    """The message re-indented if it is a JSON object or array, else None."""
    body = message.strip()
    if body[:1] not in ("{", "["):
        return None
    try:
        # strict=False: a raw control character inside a string is still this JSON.
        value = json.loads(body, strict=False)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, (dict, list)):
        return None
    # json.dumps escapes C0 controls inside strings, so every newline left is layout;
    # inert() takes care of DEL and C1 controls, which it leaves alone.
    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    return "\n".join(inert(part) for part in pretty.split("\n"))


def message_renderable(message: str) -> tuple[str, RenderableType]:
    """(heading, renderable) for a message: JSON pretty and coloured, else its lines
    with real line breaks, SGR colours shown and other control characters inert."""
    pretty = _pretty_json(message)
    if pretty is None:
        lines = message.count("\n") + 1
        heading = "message" if lines == 1 else f"message ({lines:,} lines)"
        text = Text(overflow="fold", end="")
        text.append_text(_message_only(message))
        return heading, text
    if len(pretty) > _MAX_HIGHLIGHT_CHARS:
        return "message (JSON, pretty-printed)", Text(pretty, overflow="fold", end="")
    syntax = Syntax(pretty, "json", theme="ansi_dark", word_wrap=True, background_color="default")
    return "message (JSON, pretty-printed)", syntax


def _message_only(message: str) -> Text:
    """All the lines of a message as the log pane shows them expanded and raw."""
    event = LogLine(0, 0, 0, 0, 0, 0, message)
    _, text = format_parts(event, None, show_time=False, show_source=False, raw=True, expand=True)
    return text


def _fields_table(line: LogLine) -> Table | None:
    """A structured event's message field and other fields, one a row; None: none."""
    shown = structured(line.message, line.fields)
    if shown is None:
        return None
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    if shown.message is not None:
        table.add_row(Text("message field", end=""), Text(inert(shown.message), end=""))
    for key, value in shown.fields.items():
        table.add_row(Text(inert(key), end=""), Text(inert(value_text(value, 10_000)), end=""))
    return table


def _flags_text(flags: int) -> list[str]:
    if not flags:
        return ["none"]
    known = [text for flag, text in _FLAG_TEXT.items() if flags & flag]
    unknown = flags & ~sum(_FLAG_TEXT)
    if unknown:
        known.append(f"unknown bits {unknown:#x}")
    return known


def _metadata(line: LogLine, source: Source | None, now_ns: int) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    def row(name: str, *lines: str) -> None:
        table.add_row(name, Text("\n".join(inert(v) for v in lines), end=""))

    row("time (UTC)", format_ts(line.ts))
    row("local time", local_text(line.ts))
    row("age", age_text(line.ts, now_ns))
    if source is None:
        row("source", f"unknown (source id {line.source_id})")
    else:
        key = source.key
        row("namespace", key.namespace)
        row("pod", key.pod)
        row("pod uid", key.pod_uid or "-")
        row("container", key.container)
        row("restart", str(key.restart))
        row("container id", source.container_id or "-")
        row("node", source.node or "-")
        if source.workload:  # known where a collector read the API
            row("workload", f"{source.workload} ({source.workload_kind})")
        state = source.state or "-"
        row("state", f"{state} ({source.reason})" if source.reason else state)
        row("labels", *([f"{k}={v}" for k, v in sorted(source.labels.items())] or ["-"]))
    stream = Stream(line.stream).label if line.stream in set(Stream) else str(line.stream)
    row("stream", stream)
    level = Level(line.level).label if line.level in set(Level) else str(line.level)
    row("level", level or "unknown")
    row("flags", *_flags_text(line.flags))
    row("lines", str(line.message.count("\n") + 1))
    row("line id", str(line.id))
    return table


class DetailScreen(ModalScreen[DetailResult]):
    """A line's metadata and message, scrollable.

    Dismisses with "context" when the user asks for the lines around it (`c`), else
    None (Esc/q). `y` copies the raw message to the clipboard (OSC 52).

    Args:
        line: the stored line.
        source: its source, or None if unknown.
        now_ns: "now" for the age (default: the clock; fixed in tests and snapshots).
    """

    DEFAULT_CSS = """
    DetailScreen {
        align: center middle;
    }
    DetailScreen > #detail-box {
        width: 90%;
        height: 90%;
        border: round $primary;
        background: $surface;
    }
    DetailScreen #detail-body {
        height: 1fr;
        padding: 0 1;
    }
    DetailScreen #message-heading {
        margin: 0;
    }
    DetailScreen .detail-heading {
        margin: 1 0 0 0;
        text-style: bold;
        color: $text-accent;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "copy", "Copy message"),
        Binding("c", "context", "Context"),
        Binding("escape,q", "close", "Close"),
    ]

    def __init__(self, line: LogLine, source: Source | None, *, now_ns: int | None = None) -> None:
        super().__init__()
        self.line = line
        self.source = source
        self._now_ns = time.time_ns() if now_ns is None else now_ns

    def compose(self) -> ComposeResult:
        heading, message = message_renderable(self.line.message)
        with Vertical(id="detail-box") as box:
            box.border_title = Text(self._title())
            # The message first: it is what the user opened the line for.
            with VerticalScroll(id="detail-body"):
                yield Static(Text(heading), classes="detail-heading", id="message-heading")
                yield Static(message, id="detail-message")
                fields = _fields_table(self.line)
                if fields is not None:
                    yield Static("fields", classes="detail-heading")
                    yield Static(fields, id="detail-fields")
                yield Static("metadata", classes="detail-heading")
                yield Static(_metadata(self.line, self.source, self._now_ns), id="detail-meta")
        yield Footer()

    def _title(self) -> str:
        if self.source is None:
            return f"line {self.line.id}"
        return inert(str(self.source.key))

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()

    def action_copy(self) -> None:
        """Copy the raw message (as the container wrote it) to the clipboard."""
        self.app.copy_to_clipboard(self.line.message)
        self.notify(f"Copied the message ({len(self.line.message):,} characters)")

    def action_context(self) -> None:
        self.dismiss("context")

    def action_close(self) -> None:
        self.dismiss(None)
