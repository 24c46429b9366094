"""Ask where to save the current result, and as JSON lines or text."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RadioButton, RadioSet, Static

from klogtui.export import OutputFormat
from klogtui.text import inert

__all__ = ["FORMATS", "SaveScreen"]

FORMATS: dict[OutputFormat, str] = {"jsonl": ".jsonl", "text": ".log"}
"""Each save format and the file extension that goes with it."""


def _check_target(path: Path) -> str | None:
    """Why path cannot be written, or None if it can."""
    if path.is_dir():
        return f"{path} is a directory"
    parent = path.parent
    if not parent.exists():
        return f"directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    if path.exists():
        if not os.access(path, os.W_OK):
            return f"cannot write to {path}"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write to directory {parent}"
    return None


class SaveScreen(ModalScreen[tuple[Path, OutputFormat] | None]):
    """A file path and a format; Enter dismisses with (absolute path, format).

    The format is a key of FORMATS; switching it changes the path's extension when
    that extension is one of ours. A directory that is missing or not writable is
    reported under the input; an existing file needs a second Enter to overwrite.
    Esc dismisses with None.

    Args:
        default_dir: where the suggested file goes.
        now_ns: the time in the suggested name (default: the clock; fixed in tests).
    """

    DEFAULT_CSS = """
    SaveScreen {
        align: center middle;
    }
    SaveScreen > #save-box {
        width: 90%;
        max-width: 100;
        height: auto;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    SaveScreen RadioSet {
        layout: horizontal;
        width: auto;
        height: auto;
    }
    SaveScreen #save-error {
        height: auto;
        color: $error;
    }
    SaveScreen .hint {
        height: 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Cancel")]

    def __init__(self, default_dir: Path, *, now_ns: int | None = None) -> None:
        super().__init__()
        stamp = datetime.fromtimestamp((time.time_ns() if now_ns is None else now_ns) // 10**9, UTC)
        self.default_path = Path(default_dir) / f"klogtui-{stamp:%Y%m%dT%H%M%SZ}.jsonl"
        self.fmt: OutputFormat = "jsonl"
        self._confirmed: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="save-box") as box:
            box.border_title = "Save the result"
            yield Input(str(self.default_path), id="save-path")
            with RadioSet(id="save-format"):
                yield RadioButton("JSON lines", value=True, id="fmt-jsonl")
                yield RadioButton("text", id="fmt-text")
            yield Static(id="save-error")
            yield Static("Enter save   Tab format   Esc cancel", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        fmt: OutputFormat = "text" if event.pressed.id == "fmt-text" else "jsonl"
        self.fmt = fmt
        field = self.query_one("#save-path", Input)
        path = Path(field.value)
        if field.value and path.suffix in FORMATS.values():
            field.value = str(path.with_suffix(FORMATS[fmt]))

    def _error(self, message: str | None) -> None:
        self.query_one("#save-error", Static).update(Text(inert(message or "")))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._confirmed = None
        self._error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._error("type a file path")
            return
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        problem = _check_target(path)
        if problem is not None:
            self._error(problem)
            return
        if path.exists() and self._confirmed != path:
            self._confirmed = path
            self._error(f"{path} exists: press Enter again to overwrite it")
            return
        self.dismiss((path, self.fmt))

    def action_close(self) -> None:
        self.dismiss(None)
