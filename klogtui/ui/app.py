"""The klogtui application: sources tree, query bar, merged log pane, histogram, status.

The store is the single source of truth. The app never reads it on its event loop:
each kind of work has its own Reader used from thread workers (the log pane; the
tree and status; the histogram; facet counts; context), so a slow count never holds
up scrolling. The collector runs in the same process and tells the app about
commits with a small message that collapses in the queue; a one-second tick also
watches the store's data version, so a store written by another process is live too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import ClassVar, Literal, Protocol, TypeVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen, ScreenResultCallbackType
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerState

from klogtui.collect.base import CollectorStats
from klogtui.errors import QueryError
from klogtui.export import SAVE_LIMIT, OutputFormat, export_lines
from klogtui.privacy import open_private
from klogtui.query.parsed import EMPTY, ParsedQuery
from klogtui.store import CommitInfo, Store
from klogtui.store.owner import pid_alive
from klogtui.store.reads import LogReader, ReaderSource
from klogtui.store.schema import default_db_path
from klogtui.ui import alert_keys, line_screens
from klogtui.ui.held_keys import HeldKeys
from klogtui.ui.screens.error_log import ErrorLogScreen
from klogtui.ui.screens.facets import FacetScreen
from klogtui.ui.screens.help import HELP_KEYS, HelpScreen
from klogtui.ui.screens.save import SaveScreen
from klogtui.ui.screens.time_jump import TimeJumpScreen, past_the_ends
from klogtui.ui.store_watch import StoreWatch
from klogtui.ui.widgets.histogram import Histogram
from klogtui.ui.widgets.log_view import LogView
from klogtui.ui.widgets.query_bar import (
    HINT_KEY,
    FieldSuggester,
    QueryBar,
    QueryHistory,
    event_fields,
)
from klogtui.ui.widgets.query_histogram import QueryHistogram
from klogtui.ui.widgets.sources_tree import Selection, SourcesTree
from klogtui.ui.widgets.status_bar import StatusBar

__all__ = ["Collection", "KlogApp"]

_TICK_S = 1.0

# The kinds of work that each have their own read connection (see the module docstring).
ReaderRole = Literal[
    "log", "aux", "histogram", "facets", "facet-labels", "context", "jump", "completion"
]

_ResultT = TypeVar("_ResultT")  # what a dialog returns

_MAIN_ONLY = frozenset(
    {"focus_query", "facets", "time_jump", "save", "errors", "help", "toggle_tree", "focus_log"}
    | {"alerts", "new_alert", "apply_hint"}
)


class Collection(Protocol):
    """What the app needs of a running collector (klogtui.collect.runner's Running)."""

    @property
    def stats(self) -> CollectorStats: ...

    def caught_up(self) -> bool: ...

    def history_loading(self) -> float | None: ...

    def stop(self) -> bool: ...


def _nodes_of(source: ReaderSource) -> int | None:
    """How many nodes a cluster's collectors are, for the status line (None: not one)."""
    if isinstance(source, Store):
        return None
    # Imported here: it brings the kubernetes client (~0.6 s), which a local store's
    # explorer, racing its collector to the first screen, does without.
    from klogtui.remote.reader import RemoteSource

    return source.nodes if isinstance(source, RemoteSource) else None


class KlogApp(App[int]):
    """The explorer over one store.

    Args:
        store: the store to show.
        collection: the collector writing into it (None: just view the store).
        now_ns: a fixed "now" (UTC ns) for tests and snapshots; None: the clock.
        query: the query to start with.
        history_path: query history file (default: `query_history` in the data dir;
            None keeps it in memory).
        save_dir: where `s` proposes to save (default: the working directory).
    """

    CSS_PATH = "app.tcss"
    TITLE = "klogtui"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority: handled as the key arrives, before the keys typed after it are
        # handed to the focused widget (see action_focus_query and _open_dialog).
        # In a text field they are text (check_action).
        Binding("slash", "focus_query", "Query", priority=True),
        Binding("f", "facets", "Facets", priority=True),
        Binding("t", "time_jump", "Time", priority=True),
        Binding("s", "save", "Save", priority=True),
        Binding("e", "errors", "Errors", show=False, priority=True),
        Binding("a", "alerts", "Alerts", show=False, priority=True),
        Binding("A", "new_alert", "Alert rule", show=False, priority=True),
        Binding("b", "toggle_tree", "Sources", show=False, priority=True),
        Binding(HINT_KEY, "apply_hint", "Apply hint", show=False, priority=True),
        Binding("question_mark", "help", "Help", priority=True),
        Binding("q", "quit", "Quit"),
        Binding("escape", "focus_log", "Log", show=False),
    ]

    @dataclass
    class Committed(Message):
        """The collector committed lines (sent from the writer thread; collapses)."""

        info: CommitInfo

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, KlogApp.Committed)

    def __init__(
        self,
        store: ReaderSource,
        *,
        collection: Collection | None = None,
        now_ns: int | None = None,
        query: str = "",
        history_path: Path | None | Literal["default"] = "default",
        save_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.collection = collection
        # The pid of another process collecting into the store (0: unknown), if one is.
        self.collected_by: int | None = None
        self.notices: list[str] = []  # said once the app is up (why it does not collect)
        self._now_ns = now_ns
        self._initial_query = query
        if history_path == "default":
            history_path = default_db_path("local").parent / "query_history"
        self._history = QueryHistory(Path(history_path) if history_path else None)
        self._save_dir = save_dir or Path.cwd()
        # Looked up on a thread, with a reader of its own.
        self._suggester = FieldSuggester(lambda f: event_fields(self._reader("completion"), f))
        self._readers: dict[ReaderRole, LogReader] = {}
        self._errors_told: set[str] = set()  # worker errors already shown (their text)
        self._held_keys = HeldKeys(self)  # see on_event
        self._missing: list[str] = []  # parts of the results the readers could not read

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one would search a dialog when one is open.
        self.query_bar = QueryBar(self._history, self._suggester, id="query-bar")
        self.sources_tree = SourcesTree(now_ns=self._now_ns, id="sources")
        self.log_view = LogView(self._reader("log"), now_ns=self._now_ns, id="log")
        self.histogram = QueryHistogram(
            self._reader("histogram"), lambda: self.query_bar.applied, self.log_view, id="histogram"
        )
        self._store_watch = StoreWatch(self, self._reader("aux"))
        self.status_bar = StatusBar(
            collecting=self.collection is not None, nodes=_nodes_of(self.store), id="status"
        )
        yield self.query_bar
        with Horizontal(id="body"):
            yield self.sources_tree
            yield self.log_view
        yield self.histogram
        yield self.status_bar
        yield Footer()

    def now_ns(self) -> int:
        """The app's "now" (fixed in tests)."""
        return time.time_ns() if self._now_ns is None else self._now_ns

    def _reader(self, role: ReaderRole) -> LogReader:
        """The reader for one kind of work (log, aux, histogram, facets, context)."""
        reader = self._readers.get(role)
        if reader is None:
            reader = self._readers[role] = self.store.reader()
        return reader

    def on_mount(self) -> None:
        if self._history.load_error:
            self.notify(self._history.load_error, severity="warning")
        for notice in self.notices:
            self.notify(notice, severity="warning", timeout=15)
        try:
            self._apply_query(ParsedQuery.of(self._initial_query))
            self.log_view.focus()
        except QueryError as e:
            # Everything is listed, the text kept in the bar with its error to fix.
            self._apply_query(EMPTY)
            self.query_bar.reject(self._initial_query, e)
            self.query_bar.focus_input()
        self._tick()
        self.set_interval(_TICK_S, self._tick)

    def on_resize(self, event: events.Resize) -> None:
        # This handler runs before App's own, which is what updates self.size.
        self.set_class(event.size.width < 110, "-narrow")
        self.call_after_refresh(self.histogram.recount)

    def on_unmount(self) -> None:
        for reader in self._readers.values():
            reader.interrupt()

    # -- the query ------------------------------------------------------------------------

    def _apply_query(self, query: ParsedQuery) -> None:
        """Make `query` the one the whole app shows (bar, log pane, tree, histogram).

        Only queries that parse get here: the bar keeps one that does not, with its
        error, and everything else goes on showing the query applied before it.
        """
        query = query.in_zone(self.log_view.zone)  # since:10:30 in the times shown
        self.query_bar.set_applied(query)
        self.log_view.set_query(query)
        self.sources_tree.set_query(query)
        self.histogram.recount()

    async def on_query_bar_applied(self, event: QueryBar.Applied) -> None:
        # Applied before the keys typed behind the Enter act: `/error⏎g` goes to the
        # oldest line of the new query.
        self._apply_query(event.query)
        self.screen.set_focus(self.log_view)  # at once, not after a refresh
        await self._held_keys.release()

    async def on_query_bar_cancelled(self, event: QueryBar.Cancelled) -> None:
        self.screen.set_focus(self.log_view)
        await self._held_keys.release()

    async def on_query_bar_rejected(self, event: QueryBar.Rejected) -> None:
        await self._held_keys.release()  # back to the field, which shows the error

    def on_log_view_zone_changed(self, event: LogView.ZoneChanged) -> None:
        if self.query_bar.applied.has_time_bound:  # since:10:30 follows the times shown
            self._apply_query(self.query_bar.applied)

    def on_log_view_query_failed(self, event: LogView.QueryFailed) -> None:
        self.query_bar.show_error(event.error)
        self.query_bar.focus_input()

    def on_sources_tree_selected(self, event: SourcesTree.Selected) -> None:
        self._set_selection(event.selection)

    def _set_selection(self, selection: Selection) -> None:
        try:
            query = selection.apply(self.query_bar.applied)
        except QueryError as e:
            self.notify(f"cannot change the query: {e.message}", severity="error")
            return
        self._apply_query(query)

    # -- keys across a change of focus (klogtui.ui.held_keys) ---------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            await self._held_keys.on_key(event, super().on_event)
        else:
            await super().on_event(event)

    def open_dialog(
        self, screen: Screen[_ResultT], callback: ScreenResultCallbackType[_ResultT] | None = None
    ) -> None:
        """Open a dialog from outside the app's own keys (see _open_dialog)."""
        self._open_dialog(screen, callback)

    def show_query_at(self, query: str, ts_ns: int) -> None:
        """Apply `query` and show its lines around `ts_ns` (the cursor there)."""
        try:
            parsed = ParsedQuery.of(query)
        except QueryError as e:  # the config file changed since the rule was loaded
            self.notify(f"cannot show this alert's lines: {e}", severity="error")
            return
        self._apply_query(parsed)
        self.log_view.jump_to_time(ts_ns)
        self.log_view.focus()

    def _open_dialog(
        self, screen: Screen[_ResultT], callback: ScreenResultCallbackType[_ResultT] | None = None
    ) -> None:
        """Push a dialog; the keys typed behind the one that opened it go to it."""
        self._held_keys.open_dialog(screen, callback)

    # -- store and collector -----------------------------------------------------------------

    def committed(self, info: CommitInfo) -> None:
        """Tell the app the collector committed (safe from any thread)."""
        if self.is_running:
            self.post_message(self.Committed(info))

    def on_klog_app_committed(self, event: Committed) -> None:
        self.log_view.data_changed()
        self.histogram.recount(throttled=True)

    def _tick(self) -> None:
        if self.collection is not None:
            loading = self.collection.history_loading()
            self.status_bar.update_collector(
                self.collection.stats.snapshot(), self.collection.caught_up(), loading
            )
            self.histogram.set_loading(loading)
        elif self.collected_by is not None:
            pid = self.collected_by
            self.status_bar.update_elsewhere(pid, running=not pid or pid_alive(pid))
        self._store_watch.look()
        if isinstance(self.store, Store):  # alert state lives in a store file
            alert_keys.count_firing(self)

    # -- alerts (klogtui/ui/alert_keys.py) ---------------------------------------------------

    def action_alerts(self) -> None:
        if not isinstance(self.store, Store):
            self.notify("Alerts are kept in a local store: not over collectors")
            return
        alert_keys.show_alerts(self)

    def action_new_alert(self) -> None:
        alert_keys.new_rule(self, self.query_bar.applied.typed)

    def on_store_watch_looked(self, event: StoreWatch.Looked) -> None:
        self.status_bar.update_store(event.stats)
        if event.missing != self._missing:
            for part in sorted(set(event.missing) - set(self._missing)):
                self.notify(f"Not read, its lines are missing: {part}", severity="warning")
            self._missing = event.missing
            self.status_bar.update_missing(event.missing)
        if event.sources is not None:
            self.sources_tree.update_sources(event.sources, event.gaps)
            self.query_bar.set_sources(event.sources)  # completion and hints
        if self._store_watch.seen(event):
            # Another process (or our collector) wrote: cheap to ask, throttled inside.
            self.log_view.data_changed()
            self.histogram.recount(throttled=True)

    def on_log_view_state_changed(self, event: LogView.StateChanged) -> None:
        self.status_bar.update_view(event.follow, event.new_lines, event.loading)
        if event.first_ts:
            self.histogram.set_visible(event.first_ts, event.last_ts)
        if not event.loading:
            self.histogram.log_loaded()

    # -- histogram (klogtui.ui.widgets.query_histogram) ----------------------------------------

    def on_histogram_jump(self, event: Histogram.Jump) -> None:
        self.log_view.jump_to_time(event.ts_ns)

    # -- lines: detail, context (klogtui/ui/line_screens.py) ----------------------------------

    def on_log_view_line_chosen(self, event: LogView.LineChosen) -> None:
        reader, now_ns = self._reader("context"), self._now_ns
        line_screens.show(
            self, event.line, event.source, context=event.context, reader=reader, now_ns=now_ns
        )

    # -- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Keys of the main screen do nothing while a dialog is open.
        if action in _MAIN_ONLY and len(self.screen_stack) > 1:
            return False
        if action in _MAIN_ONLY and isinstance(self.focused, Input):
            return False  # typing in a field: `/`, `t`, ... are text
        return True

    def action_focus_query(self) -> None:
        self.query_bar.focus_input()

    def action_focus_log(self) -> None:
        self.log_view.focus()

    def action_apply_hint(self) -> None:
        if (query := self.query_bar.hinted_query()) is not None:
            self._apply_query(query)

    def action_toggle_tree(self) -> None:
        tree = self.sources_tree
        tree.display = not tree.display

    def action_help(self) -> None:
        self._open_dialog(HelpScreen(HELP_KEYS))

    def action_errors(self) -> None:
        errors = self.collection.stats.snapshot().errors if self.collection else ()
        self._open_dialog(ErrorLogScreen(errors))

    def action_time_jump(self) -> None:
        def done(ts_ns: int | None) -> None:
            if ts_ns is not None:
                self.log_view.jump_to_time(ts_ns)
                self.log_view.focus()
                self._tell_if_past_the_ends(ts_ns)

        zone = None if self.log_view.local_time else UTC  # None: the local zone
        self._open_dialog(TimeJumpScreen(self.now_ns(), zone=zone), done)

    def _tell_if_past_the_ends(self, ts_ns: int) -> None:
        """Say so when a jump lands on the oldest or newest line because none is that far."""
        query, reader = self.query_bar.applied, self._reader("jump")

        def work() -> None:
            note = past_the_ends(reader, query, ts_ns)
            if note is not None:
                self.call_from_thread(self.notify, note)

        self.run_worker(
            work, name="time jump", group="jump", exclusive=True, thread=True, exit_on_error=False
        )

    def action_facets(self) -> None:
        query = self.query_bar.applied
        values, labels = self._reader("facets"), self._reader("facet-labels")

        def fetch(field: str) -> tuple[list[tuple[str, int]], bool]:
            if field == "labels":
                return labels.facets(query, field)
            if field == "fields":
                return labels.field_names(query), True
            # The screen asks for one field's values at a time: a newer field makes
            # the count still running for the previous one moot.
            values.interrupt()
            return values.facets(query, field)

        def done(new_query: ParsedQuery | None) -> None:
            if new_query is not None:
                self._apply_query(new_query)
            self.log_view.focus()

        self._open_dialog(FacetScreen(query, fetch), done)

    def action_save(self) -> None:
        query = self.query_bar.applied

        def done(target: tuple[Path, OutputFormat] | None) -> None:
            if target is not None:
                self._save(query, *target)

        self._open_dialog(SaveScreen(self._save_dir, now_ns=self._now_ns), done)

    def _save(self, query: ParsedQuery, path: Path, fmt: OutputFormat) -> None:
        store = self.store

        def work() -> None:
            reader = store.reader()
            try:
                with open_private(path) as out:  # logs carry secrets: 0600
                    n = export_lines(reader, query, out, fmt, SAVE_LIMIT)
            finally:
                reader.close()
            capped = f" (the newest {SAVE_LIMIT:,})" if n >= SAVE_LIMIT else ""
            self.call_from_thread(
                self.notify, f"Saved {n:,} lines{capped} to {path}", title="Saved"
            )

        self.run_worker(
            work, name=f"save to {path}", group="save", thread=True, exit_on_error=False
        )

    # -- errors -------------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Every background read reports its failure here: shown, never a crash.
        if event.state == WorkerState.ERROR:
            error = str(event.worker.error)
            # A broken store fails every read the same way (the log load, the histogram,
            # each status tick, in whatever order they run): say each thing once, named
            # after the read that met it first.
            if error not in self._errors_told:
                self._errors_told.add(error)
                message = f"{event.worker.name}: {error}"
                self.notify(message, title="Error", severity="error", timeout=10)
