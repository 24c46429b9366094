"""The query bar: the query language with an inline error, hints, history and completion."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from klogtui.errors import QueryError
from klogtui.model import Source
from klogtui.query.keys import COMPLETIONS, KEY_ALIASES, OPS, SUGGESTED_VALUES
from klogtui.query.parsed import EMPTY, ParsedQuery
from klogtui.store.hints import Hint, fixed, query_hints
from klogtui.store.reads import LogReader

__all__ = ["HINT_KEY", "FieldSuggester", "QueryBar", "QueryHistory", "event_fields"]

_PROMPT = "/ "
HINT_KEY = "H"  # the app's key that applies the hints' fixes
# Event field names and values are looked up in the store again after this long.
_FIELDS_FRESH_S = 10.0
_OP_CHARS = frozenset("".join(OPS))

FieldLookup = Callable[[str], list[str]]
"""Blocking: lookup("") gives event field names (`.status`, most common first),
lookup(".status") that field's common values."""


class QueryHistory:
    """Applied queries, oldest first, kept in a small text file (one per line).

    Args:
        path: the history file (None: in memory only).
        limit: entries kept.
    """

    def __init__(self, path: Path | None, limit: int = 500) -> None:
        self.path = path
        self.limit = limit
        self.entries: list[str] = []
        self.load_error: str | None = None  # why the file could not be read, if it could not
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
            except (OSError, UnicodeDecodeError) as e:
                # History is a convenience: start without it and say so.
                self.load_error = f"cannot read the query history {path}: {e}"
                text = ""
            self.entries = [ln for ln in text.splitlines() if ln.strip()][-limit:]

    def add(self, query: str) -> None:
        """Remember a query as the newest entry (moving it if it was there) and save.

        Raises:
            OSError: the file could not be written (the entry is remembered anyway).
        """
        query = query.strip()
        if not query or "\n" in query:
            return
        if query in self.entries:
            self.entries.remove(query)
        self.entries.append(query)
        del self.entries[: -self.limit]
        if self.path is not None:
            # A few kilobytes, written whole and renamed so a crash never truncates it.
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_name(self.path.name + ".tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("\n".join(self.entries) + "\n")
            os.replace(tmp, self.path)


def event_fields(reader: LogReader, field: str) -> list[str]:
    """A FieldLookup over a store: the field names of its newest events (field ""), or
    the common values of `field` among them. Blocking."""
    if not field:
        return [name for name, _ in reader.field_names("")]
    values, _ = reader.field_values("", field, limit=50, sample=5_000)
    return [value for value, _ in values]


class FieldSuggester(Suggester):
    """Completes the last word of a query: field keys, then known values of that key;
    event fields after "." and their values after `.name=`, from `lookup` (run on a
    thread, its answers kept for a few seconds).
    """

    def __init__(self, lookup: FieldLookup | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.values: dict[str, list[str]] = {}
        self._lookup = lookup
        self._looked_up: dict[str, tuple[float, list[str]]] = {}

    def set_values(self, key: str, values: Iterable[str]) -> None:
        """The values `key=` completes to (e.g. the stored namespaces)."""
        self.values[key] = sorted(set(values))

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value[-1].isspace():
            return None
        head, _, word = value.rpartition(" ")
        lead = f"{head} " if head else ""
        neg = "-" if word.startswith("-") else ""
        word = word[len(neg) :]
        if word.startswith(".") and self._lookup is not None:
            found = await self._event_field(word)
            return None if found is None else lead + neg + found
        if "=" not in word:
            if len(word) < 1:
                return None
            for key in COMPLETIONS:
                if key.startswith(word) and key != word:
                    return lead + neg + key
            return None
        key_part, _, prefix = word.partition("=")
        base = key_part[:-1] if key_part.endswith("!") else key_part
        key = KEY_ALIASES.get(base, base)
        choices: Iterable[str] = SUGGESTED_VALUES.get(key) or self.values.get(key) or ()
        for choice in choices:
            if choice.startswith(prefix) and choice != prefix:
                return f"{lead}{neg}{key_part}={choice}"
        return None

    async def _event_field(self, word: str) -> str | None:
        """word (`.sta`, `.status>=5`) completed to a field name or one of its values."""
        op_at = next((i for i, ch in enumerate(word) if ch in _OP_CHARS), len(word))
        name, rest = word[:op_at], word[op_at:]
        op_end = next((i for i, ch in enumerate(rest) if ch not in _OP_CHARS), len(rest))
        op, prefix = rest[:op_end], rest[op_end:]
        if not op:
            choices = await self._looked("")
            return next((c for c in choices if c.startswith(name) and c != name), None)
        if op not in OPS:
            return None
        for choice in await self._looked(name):
            # Values that would need quotes are left to be typed.
            bare = not any(ch.isspace() or ch in '"()' for ch in choice)
            if bare and choice.startswith(prefix) and choice != prefix:
                return f"{name}{op}{choice}"
        return None

    async def _looked(self, field: str) -> list[str]:
        """lookup(field), from the last few seconds' answer when there is one."""
        now = time.monotonic()
        kept = self._looked_up.get(field)
        if kept is not None and now - kept[0] < _FIELDS_FRESH_S:
            return kept[1]
        assert self._lookup is not None
        try:
            found = await asyncio.to_thread(self._lookup, field)
        except Exception:  # noqa: BLE001 - a completion never takes the app down
            found = []
        self._looked_up[field] = (now, found)
        return found


class QueryInput(Input):
    """The text field: up/down walk the history, Esc gives up the edit."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Older query", show=False),
        Binding("down", "history(1)", "Newer query", show=False),
        Binding("escape", "cancel", "Back to the log", show=False),
    ]

    def __init__(self, history: QueryHistory, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history = history
        self._pos: int | None = None  # index into history while walking it
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        # Textual types printable keys here at once but runs a key's binding (ctrl+u,
        # backspace, Enter, ...) only when the key has bubbled up to the App through
        # each parent's queue; keys right behind it (a burst over a laggy link, a fast
        # typist) are typed first: `/` ctrl+u `refused` gave "used". Run it in order.
        # (_check_bindings is private; Textual is pinned exactly in pyproject.toml.)
        if not event.is_printable and await self.app._check_bindings(event.key):
            event.stop()
            event.prevent_default()  # Input._on_key and the bubbling are done with it

    def action_history(self, step: int) -> None:
        entries = self.history.entries
        if not entries:
            return
        if self._pos is None:
            if step > 0:
                return
            self._draft = self.value
            pos = len(entries) - 1
        else:
            pos = self._pos + step
        if pos >= len(entries):
            self._pos = None
            self._set(self._draft)
            return
        self._pos = max(0, pos)
        self._set(entries[self._pos])

    def _set(self, text: str) -> None:
        with self.prevent(Input.Changed):
            self.value = text
        self.cursor_position = len(text)

    def reset_walk(self) -> None:
        """Forget the position in the history (after an edit or apply)."""
        self._pos = None

    def action_cancel(self) -> None:
        self.reset_walk()
        self.post_message(QueryBar.Cancelled())


class QueryBar(Widget):
    """A prompt, the query text field and, under it, the error when it does not parse
    and the hints about the applied query (klogtui.store.hints).

    Args:
        history: where applied queries are remembered.
        suggester: completion of field keys and values.
    """

    DEFAULT_CSS = """
    QueryBar {
        height: auto;
        background: $boost;
    }
    QueryBar > Horizontal {
        height: 1;
    }
    QueryBar #query-prompt {
        width: auto;
        color: $accent;
        text-style: bold;
    }
    QueryBar QueryInput {
        border: none;
        height: 1;
        padding: 0;
        width: 1fr;
        background: $boost;
    }
    QueryBar QueryInput:focus {
        border: none;
        background: $boost;
    }
    QueryBar #query-error {
        height: auto;
        color: $error;
        display: none;
    }
    QueryBar.-error #query-error {
        display: block;
    }
    QueryBar #query-hint {
        height: auto;
        color: $warning;
        display: none;
    }
    QueryBar.-hint #query-hint {
        display: block;
    }
    """

    @dataclass
    class Applied(Message):
        """The user pressed Enter on a query that parses: the one parse of it."""

        query: ParsedQuery

    @dataclass
    class Cancelled(Message):
        """The user pressed Esc: the bar shows the applied query again."""

    @dataclass
    class Rejected(Message):
        """The user pressed Enter on a query that does not parse: the error is shown."""

    def __init__(
        self,
        history: QueryHistory,
        suggester: FieldSuggester | None = None,
        *,
        id: str | None = None,  # noqa: A002 (Textual's name)
    ) -> None:
        super().__init__(id=id)
        self._history = history
        self._suggester = suggester
        self._applied = EMPTY
        self._sources: list[Source] = []  # as the store's last look saw them
        self._hints: list[Hint] = []  # about the applied query (klogtui.store.hints)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(_PROMPT, id="query-prompt")
            yield QueryInput(
                self._history,
                placeholder='search: words, "a phrase", ns=… pod=… level=error -exclude '
                "since:15m  (Enter applies, ? help)",
                suggester=self._suggester,
                id="query-input",
                select_on_focus=False,
            )
        yield Static(id="query-error")
        yield Static(id="query-hint")

    @property
    def input(self) -> QueryInput:
        return self.query_one(QueryInput)

    @property
    def value(self) -> str:
        """The text in the field (maybe not applied yet)."""
        return self.input.value

    @property
    def applied(self) -> ParsedQuery:
        """The query the log pane shows."""
        return self._applied

    def set_applied(self, query: ParsedQuery) -> None:
        """Show `query` as the applied query (e.g. after the tree or facets changed it)."""
        self._applied = query
        self._set_text(query.typed)
        self.show_error(None)
        self._show_hints()

    def reject(self, text: str, error: QueryError) -> None:
        """Show `text` in the field with its error under it (the applied query stays)."""
        self._set_text(text)
        self.show_error(error)

    def _set_text(self, text: str) -> None:
        self.input.reset_walk()
        with self.input.prevent(Input.Changed):
            self.input.value = text
        self.input.cursor_position = len(text)

    def show_error(self, error: QueryError | None) -> None:
        """Show where the query is wrong, under the text; None clears it."""
        self.set_class(error is not None, "-error")
        if error is None:
            self.query_one("#query-error", Static).update("")
            return
        caret = Text(" " * (len(_PROMPT) + error.column) + "^ ", style="bold")
        caret.append(error.message)
        self.query_one("#query-error", Static).update(caret)

    def set_sources(self, sources: list[Source]) -> None:
        """The store's sources: what names complete to, and what hints compare with."""
        if self._suggester is not None:
            self._suggester.set_values("namespace", (s.namespace for s in sources))
            self._suggester.set_values("pod", (s.pod for s in sources))
            self._suggester.set_values("container", (s.container for s in sources))
            self._suggester.set_values("node", (s.node for s in sources if s.node))
        # Every commit brings the sources again (their counts move); hints change when
        # one appears or goes, not on every commit (a label edit waits for the next apply).
        changed = len(sources) != len(self._sources)
        self._sources = sources
        if changed:
            self._show_hints()

    def hinted_query(self) -> ParsedQuery | None:
        """The applied query with its hints' fixes in place, None when there is none."""
        return fixed(self._applied, self._hints)

    def _show_hints(self) -> None:
        """Hints about the applied query under the text, one a line, and the key that
        applies their fixes; none hides the line. From the sources in memory: cheap."""
        self._hints = query_hints(self._applied, self._sources)
        self.set_class(bool(self._hints), "-hint")
        text = Text()
        for i, hint in enumerate(self._hints):
            text.append("\n" if i else "")
            text.append("hint: ", style="bold")
            text.append(hint.message)
        if any(h.fix is not None for h in self._hints):
            text.append(f"  ({HINT_KEY} applies the fix)", style="bold")
        # Sources can arrive before the bar's lines are mounted (or after they are gone,
        # while the app exits): then there is nothing to write into yet (on_mount shows it).
        for line in self.query("#query-hint").results(Static):
            line.update(text)

    def on_mount(self) -> None:
        self._show_hints()

    def focus_input(self) -> None:
        # At once, not after a refresh as Widget.focus() does: keys that arrive right
        # behind the `/` (a fast typist, a paste, a laggy link) must land in the field.
        self.screen.set_focus(self.input)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.input.reset_walk()
        if self.has_class("-error"):
            self.show_error(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        try:
            query = ParsedQuery.of(text)
        except QueryError as e:
            self.show_error(e)
            self.post_message(self.Rejected())
            return
        try:
            self._history.add(text)
        except OSError as e:
            self.notify(f"query history not saved: {e}", severity="warning")
        self._applied = query
        self.input.reset_walk()
        self.show_error(None)
        self.post_message(self.Applied(query))

    def on_query_bar_cancelled(self, event: Cancelled) -> None:
        self.set_applied(self._applied)
