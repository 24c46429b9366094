"""The klogtui application: sources tree, query bar, merged log pane, histogram, status.

The store is the single source of truth. The app never reads it on its event loop:
each kind of work has its own Reader used from thread workers (the log pane; the
tree and status; the histogram; facet counts; context), so a slow count never holds
up scrolling. The collector runs in the same process and tells the app about
commits with a small message that collapses in the queue; a one-second tick also
watches the store's data version, so a store written by another process is live too.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol, TextIO, TypeVar

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
from klogtui.model import LogLine, Source
from klogtui.privacy import open_private
from klogtui.query_cmd import Printer
from klogtui.store import Bucket, CommitInfo, Reader, Store, StoreStats
from klogtui.store.ids import ts_of_id
from klogtui.store.owner import pid_alive
from klogtui.store.query import compile_source_predicate, parse
from klogtui.store.schema import default_db_path
from klogtui.ui import alert_keys
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.detail import DetailScreen
from klogtui.ui.screens.error_log import ErrorLogScreen
from klogtui.ui.screens.facets import FacetScreen
from klogtui.ui.screens.help import HelpScreen
from klogtui.ui.screens.save import SaveScreen
from klogtui.ui.screens.time_jump import TimeJumpScreen
from klogtui.ui.time_text import short_time
from klogtui.ui.widgets.histogram import Histogram
from klogtui.ui.widgets.log_view import LogView
from klogtui.ui.widgets.query_bar import FieldSuggester, QueryBar, QueryHistory, QueryInput
from klogtui.ui.widgets.sources_tree import Selection, SourcesTree
from klogtui.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from klogtui.collect.runner import CollectOptions

__all__ = ["HELP_KEYS", "SAVE_LIMIT", "Collection", "KlogApp", "export_lines", "run_app"]

SAVE_LIMIT = 100_000  # `s` writes at most the newest this many matching lines
CONTEXT_LINES = 100  # lines before and after a line on the context screen
_TICK_S = 1.0
_HANG_UP_GRACE_S = 5.0  # after SIGHUP, for Textual to restore and exit on its own
_HISTOGRAM_INTERVAL_S = 2.0
# A text query's histogram counts its matches one by one (up to the reader's cap):
# while lines stream in, redo it less often so it does not compete with scrolling.
_TEXT_HISTOGRAM_INTERVAL_S = 15.0
_EXPORT_PAGE = 5_000
# The sources tree tests sources on the event loop: its regexes get this much in all
# (a runaway pattern then dims nothing; the log pane reports it from its worker).
_TREE_REGEX_BUDGET_S = 0.1

# Every key, for the help screen (a test checks it against the real bindings).
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
    ("w", "wrap long lines"),
    ("T  P", "show / hide the time and pod/container columns"),
    ("f", "facets: pick a namespace, pod, container, stream, level, node or label"),
    ("t", "jump to a time (-15m, 10:30, 2026-11-24T10:30:00Z; UTC)"),
    ("s", f"save the result, newest {SAVE_LIMIT:,} lines at most (JSON lines or text)"),
    ("e", "collector errors"),
    ("a", "alerts: rules and state (Enter: its lines when it fired)"),
    ("A", "new alert rule on the current query (written to the config file)"),
    ("b", "show / hide the sources tree"),
    ("Tab  shift+Tab", "move between query bar, tree, log and histogram"),
    ("← → Home End (histogram)", "move through time; the log follows"),
    ("Esc", "back to the log pane"),
    ("?", "this help"),
    ("q  ctrl+q", "quit"),
]

_ResultT = TypeVar("_ResultT")  # what a dialog returns

_MAIN_ONLY = frozenset(
    {"focus_query", "facets", "time_jump", "save", "errors", "help", "toggle_tree", "focus_log"}
    | {"alerts", "new_alert"}
)


class Collection(Protocol):
    """What the app needs of a running collector (klogtui.collect.runner's Running)."""

    @property
    def stats(self) -> CollectorStats: ...

    def caught_up(self) -> bool: ...

    def stop(self) -> bool: ...


def export_lines(reader: Reader, query: str, out: TextIO, fmt: str, limit: int) -> int:
    """Write the newest `limit` matching lines to out, oldest first, like `klogtui query`.

    Reads a page at a time (back to find where the newest `limit` start, then forward
    to write them), so the result is never held in memory whole.

    Returns:
        The number of lines written.
    """
    cq = reader.compile(query)
    cursor: int | None = None
    taken = 0
    while taken < limit:
        page = reader.window_before(cq, cursor, min(_EXPORT_PAGE, limit - taken))
        if not page:
            break
        taken += len(page)
        cursor = page[0].id
    printer = Printer(reader, out, fmt, color=False)
    after = None if cursor is None else cursor - 1
    written = 0
    while written < taken:
        page = reader.window_after(cq, after, min(_EXPORT_PAGE, taken - written))
        if not page:
            break
        printer.write(page)
        written += len(page)
        after = page[-1].id
    return written


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
        Binding("question_mark", "help", "Help", priority=True),
        Binding("q", "quit", "Quit"),
        Binding("escape", "focus_log", "Log", show=False),
    ]

    class Committed(Message):
        """The collector committed lines (sent from the writer thread; collapses)."""

        def __init__(self, info: CommitInfo) -> None:
            super().__init__()
            self.info = info

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, KlogApp.Committed)

    class _StoreTick(Message):
        def __init__(self, version: int, stats: StoreStats, sources: list[Source] | None) -> None:
            super().__init__()
            self.version = version
            self.stats = stats
            self.sources = sources

    class _Buckets(Message):
        def __init__(self, generation: int, buckets: list[Bucket], exact: bool) -> None:
            super().__init__()
            self.generation = generation
            self.buckets = buckets
            self.exact = exact

    def __init__(
        self,
        store: Store,
        *,
        collection: Collection | None = None,
        now_ns: int | None = None,
        query: str = "",
        history_path: Path | None | str = "default",
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
        self._suggester = FieldSuggester()
        self._readers: dict[str, Reader] = {}
        self._version = -1
        self._tick_busy = False
        self._hist_generation = 0
        self._hist_last = 0.0
        self._hist_scheduled = False
        self._hist_after_load = False
        self._errors_told: set[str] = set()  # worker errors already shown (their text)
        self._held_keys: list[events.Key] | None = None  # see on_event

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: App.query_one would search a dialog when one is open.
        self.query_bar = QueryBar(self._history, self._suggester, id="query-bar")
        self.sources_tree = SourcesTree(now_ns=self._now_ns, id="sources")
        self.log_view = LogView(self._reader("log"), now_ns=self._now_ns, id="log")
        self.histogram = Histogram(id="histogram")
        self.status_bar = StatusBar(collecting=self.collection is not None, id="status")
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

    def _reader(self, role: str) -> Reader:
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
        self._apply_query(self._initial_query)
        self.log_view.focus()
        self._tick()
        self.set_interval(_TICK_S, self._tick)

    def on_resize(self, event: events.Resize) -> None:
        # This handler runs before App's own, which is what updates self.size.
        self.set_class(event.size.width < 110, "-narrow")
        self.call_after_refresh(self._refresh_histogram)

    def on_unmount(self) -> None:
        for reader in self._readers.values():
            reader.interrupt()

    # -- the query ------------------------------------------------------------------------

    def _apply_query(self, query: str) -> None:
        """Make `query` the one the whole app shows (bar, log pane, tree, histogram)."""
        self.query_bar.set_applied(query)
        self.log_view.set_query(query)
        try:
            pred = compile_source_predicate(parse(query), _TREE_REGEX_BUDGET_S)
        except QueryError:
            pred = None  # the log pane reports it in the query bar
        self.sources_tree.set_predicate(pred)
        self._refresh_histogram()

    async def on_query_bar_applied(self, event: QueryBar.Applied) -> None:
        # Applied before the keys typed behind the Enter act: `/error⏎g` goes to the
        # oldest line of the new query.
        self._apply_query(event.query)
        self.screen.set_focus(self.log_view)  # at once, not after a refresh
        await self._release_keys()

    async def on_query_bar_cancelled(self, event: QueryBar.Cancelled) -> None:
        self.screen.set_focus(self.log_view)
        await self._release_keys()

    async def on_query_bar_rejected(self, event: QueryBar.Rejected) -> None:
        await self._release_keys()  # back to the field, which shows the error

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

    # -- keys across a change of focus --------------------------------------------------------

    # The App hands each key, as it arrives, to the widget focused at that moment, whose
    # own queue handles it later. When a key moves the focus from further down that path
    # (Enter/Esc in the query bar: the field handles it, the bar tells the App by a
    # message; a dialog gets its focus as it mounts), the keys right behind it (a fast
    # typist, a paste, a laggy link) would reach the old focus or none. So from such a
    # key until the new focus is in place the App keeps the keys that arrive, in order,
    # then takes them as if they had just arrived. One place keeps them all: letting
    # the old focus pass its queued keys on would race with the keys the App hands the
    # new focus directly.

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key) or event.is_forwarded:
            await super().on_event(event)
            return
        if self._held_keys is not None:
            self._held_keys.append(event)
            return
        focused = self.focused
        await super().on_event(event)
        if isinstance(focused, QueryInput) and event.key in ("enter", "escape"):
            if event.is_forwarded:  # to the field: until the bar answers (on_query_bar_*)
                self._held_keys = []

    async def _release_keys(self) -> None:
        held, self._held_keys = self._held_keys or [], None
        for key in held:
            await self.on_event(key)  # may hold the rest again (another Enter, a dialog)

    def open_dialog(
        self, screen: Screen[_ResultT], callback: ScreenResultCallbackType[_ResultT] | None = None
    ) -> None:
        """Open a dialog from outside the app's own keys (see _open_dialog)."""
        self._open_dialog(screen, callback)

    def show_query_at(self, query: str, ts_ns: int) -> None:
        """Apply `query` and show its lines around `ts_ns` (the cursor there)."""
        self._apply_query(query)
        self.log_view.jump_to_time(ts_ns)
        self.log_view.focus()

    def _open_dialog(
        self, screen: Screen[_ResultT], callback: ScreenResultCallbackType[_ResultT] | None = None
    ) -> None:
        """Push `screen`, keeping the keys typed behind the one that opened it until it
        has its focus (`t` then `q` at once: q is typed in the time field)."""
        if self._held_keys is None:
            self._held_keys = []
        self.push_screen(screen, callback)
        # The dialog composes, mounts and takes its focus before it reads its queue;
        # the release then goes to the App's queue behind any focus change it asked for.
        # After its first refresh: a field typed into before that was painted empty.
        screen.call_after_refresh(self.call_later, self._release_keys)

    # -- store and collector -----------------------------------------------------------------

    def committed(self, info: CommitInfo) -> None:
        """Tell the app the collector committed (safe from any thread)."""
        if self.is_running:
            self.post_message(self.Committed(info))

    def on_klog_app_committed(self, event: Committed) -> None:
        self.log_view.data_changed()
        self._refresh_histogram(throttled=True)

    def _tick(self) -> None:
        if self.collection is not None:
            self.status_bar.update_collector(
                self.collection.stats.snapshot(), self.collection.caught_up()
            )
        elif self.collected_by is not None:
            pid = self.collected_by
            self.status_bar.update_elsewhere(pid, running=not pid or pid_alive(pid))
        if self._tick_busy:
            return
        self._tick_busy = True
        reader, known = self._reader("aux"), self._version

        def work() -> None:
            try:
                version = reader.data_version()
                stats = reader.stats()
                sources = list(reader.sources()) if version != known else None
                self.post_message(self._StoreTick(version, stats, sources))
            finally:
                self._tick_busy = False

        self.run_worker(work, name="store status", group="tick", thread=True, exit_on_error=False)
        self._watch_alerts()

    # -- alerts (klogtui/ui/alert_keys.py) ---------------------------------------------------

    def _watch_alerts(self) -> None:
        alert_keys.count_firing(self)

    def action_alerts(self) -> None:
        alert_keys.show_alerts(self)

    def action_new_alert(self) -> None:
        alert_keys.new_rule(self, self.query_bar.applied)

    def on_klog_app__store_tick(self, event: _StoreTick) -> None:
        self.status_bar.update_store(event.stats)
        if event.sources is not None:
            self.sources_tree.update_sources(event.sources)
            self._suggester.set_values("namespace", (s.namespace for s in event.sources))
            self._suggester.set_values("pod", (s.pod for s in event.sources))
            self._suggester.set_values("container", (s.container for s in event.sources))
            self._suggester.set_values("node", (s.node for s in event.sources if s.node))
        if self._version != -1 and event.version != self._version:
            # Another process (or our collector) wrote: cheap to ask, throttled inside.
            self.log_view.data_changed()
            self._refresh_histogram(throttled=True)
        self._version = event.version

    def on_log_view_state_changed(self, event: LogView.StateChanged) -> None:
        self.status_bar.update_view(event.follow, event.new_lines, event.loading)
        if event.first_ts:
            self.histogram.set_visible(event.first_ts, event.last_ts)
        if self._hist_after_load and not event.loading:
            self._hist_after_load = False
            self._refresh_histogram()

    # -- histogram ----------------------------------------------------------------------------

    def _refresh_histogram(self, throttled: bool = False) -> None:
        if self.log_view.is_loading:
            # The log pane's window first: it is what the user waits for.
            self._hist_after_load = True
            return
        if throttled:
            interval = (
                _TEXT_HISTOGRAM_INTERVAL_S if self.log_view.highlight else _HISTOGRAM_INTERVAL_S
            )
            wait = self._hist_last + interval - time.monotonic()
            if wait > 0:
                if not self._hist_scheduled:
                    self._hist_scheduled = True
                    self.set_timer(wait, self._scheduled_histogram)
                return
        self._hist_last = time.monotonic()
        width = self.histogram.size.width
        if width <= 0:
            return
        self._hist_generation += 1
        generation, query, reader = (
            self._hist_generation,
            self.query_bar.applied,
            self._reader("histogram"),
        )
        reader.interrupt()  # a newer query or width makes the running count moot

        def work() -> None:
            try:
                cq = reader.compile(query)
                stats = reader.stats()
                lo, hi = stats.first_ts, stats.last_ts + 1
                if cq.min_id is not None:
                    lo = max(lo, ts_of_id(cq.min_id))
                if cq.max_id is not None:
                    hi = min(hi, ts_of_id(cq.max_id))
                buckets: list[Bucket] = []
                exact = True
                if stats.lines and hi > lo:
                    buckets, exact = reader.histogram(cq, lo, hi, width)
            except QueryError:
                buckets, exact = [], True
            except Exception as e:
                if "interrupt" in str(e) and generation != self._hist_generation:
                    return  # superseded
                raise
            self.post_message(self._Buckets(generation, buckets, exact))

        self.run_worker(
            work,
            name="histogram",
            group="histogram",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _scheduled_histogram(self) -> None:
        self._hist_scheduled = False
        self._refresh_histogram()

    def on_klog_app__buckets(self, event: _Buckets) -> None:
        if event.generation == self._hist_generation:
            self.histogram.set_buckets(event.buckets, event.exact)

    def on_histogram_jump(self, event: Histogram.Jump) -> None:
        self.log_view.jump_to_time(event.ts_ns)

    # -- lines: detail, context ---------------------------------------------------------------

    def on_log_view_line_chosen(self, event: LogView.LineChosen) -> None:
        if event.context:
            self._open_context(event.line)
            return
        line = event.line

        def done(result: str | None) -> None:
            if result == "context":
                self._open_context(line)

        self.push_screen(DetailScreen(line, event.source, now_ns=self._now_ns), done)

    def _open_context(self, line: LogLine) -> None:
        reader = self._reader("context")

        def work() -> None:
            lines = reader.context(line.id, CONTEXT_LINES, CONTEXT_LINES)
            sources = {
                sid: s
                for sid in {ln.source_id for ln in lines}
                if (s := reader.source(sid)) is not None
            }

            def show() -> None:
                self.push_screen(ContextScreen(lines, sources, line.id, now_ns=self._now_ns))

            self.call_from_thread(show)

        self.run_worker(
            work, name="context", group="context", exclusive=True, thread=True, exit_on_error=False
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

        self._open_dialog(TimeJumpScreen(self.now_ns(), zone=UTC), done)

    def _tell_if_past_the_ends(self, ts_ns: int) -> None:
        """Say so when a jump lands on the oldest or newest line because none is that far."""
        query, reader = self.query_bar.applied, self._reader("jump")

        def work() -> None:
            cq = reader.compile(query)
            oldest, newest = reader.oldest(cq, 1), reader.newest(cq, 1)
            if not oldest or not newest:
                return  # nothing matches: the log pane says so
            if ts_ns < oldest[0].ts:
                end, side, which = oldest[0].ts, "before", "oldest"
            elif ts_ns > newest[0].ts:
                end, side, which = newest[0].ts, "after", "newest"
            else:
                return
            span = abs(end - ts_ns)
            self.call_from_thread(
                self.notify,
                f"no lines {side} {short_time(ts_ns, span)}; "
                f"showing the {which} at {short_time(end, span)}",
            )

        self.run_worker(
            work, name="time jump", group="jump", exclusive=True, thread=True, exit_on_error=False
        )

    def action_facets(self) -> None:
        query = self.query_bar.applied
        values, labels = self._reader("facets"), self._reader("facet-labels")

        def fetch(field: str) -> tuple[list[tuple[str, int]], bool]:
            if field == "labels":
                return labels.facets(query, field)
            # The screen asks for one field's values at a time: a newer field makes
            # the count still running for the previous one moot.
            values.interrupt()
            return values.facets(query, field)

        def done(new_query: str | None) -> None:
            if new_query is not None:
                self._apply_query(new_query)
            self.log_view.focus()

        self._open_dialog(FacetScreen(query, fetch), done)

    def action_save(self) -> None:
        query = self.query_bar.applied

        def done(target: tuple[Path, str] | None) -> None:
            if target is not None:
                self._save(query, *target)

        self._open_dialog(SaveScreen(self._save_dir, now_ns=self._now_ns), done)

    def _save(self, query: str, path: Path, fmt: str) -> None:
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


def run_app(opts: CollectOptions, *, collect: bool = True) -> int:
    """Open the store of `opts`, start its collector (unless collect=False), run the UI.

    Returns:
        The exit code. The collector is stopped (and flushed) after the UI closes.
    """
    from klogtui.collect.runner import start_collection
    from klogtui.store.owner import CollectingElsewhere
    from klogtui.store.schema import ReadOnlyStoreError

    notices: list[str] = []
    try:
        store = Store.open(opts.db, readonly=not collect)
    except ReadOnlyStoreError as e:
        # Still worth showing: what it holds can be read.
        store = Store.open(opts.db, readonly=True)
        collect = False
        notices.append(f"{e}. Showing it without collecting.")
    app = KlogApp(store)
    app.notices = notices
    if collect:
        try:
            app.collection = start_collection(opts, store, on_commit=app.committed)
        except CollectingElsewhere as e:
            # A second collector would store every line twice: show the store live as
            # the other process fills it (the tick follows its commits).
            app.collected_by = e.pid

    ended = threading.Event()

    def leave_if_stuck() -> None:
        if ended.wait(_HANG_UP_GRACE_S):
            return
        # Textual's shutdown can wait for ever on its output thread once the terminal is
        # gone (seen: the app outlived its closed tmux, collecting and holding the store).
        # Nothing is left to restore on a closed terminal: flush the collector, leave.
        if app.collection is not None:
            app.collection.stop()
        os._exit(128 + signal.SIGHUP)

    def hang_up() -> None:
        app.exit()
        threading.Thread(target=leave_if_stuck, name="klogtui-hang-up", daemon=True).start()

    async def run() -> int | None:
        # `kill` (SIGTERM) or a closed terminal (SIGHUP) ends the app as `q` does, so the
        # terminal gets back its main screen, echo and no mouse reporting, and the
        # collector below still flushes.
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, app.exit)
        loop.add_signal_handler(signal.SIGHUP, hang_up)
        return await app.run_async()

    try:
        result = asyncio.run(run())
    finally:
        ended.set()
        if app.collection is not None:
            app.collection.stop()
    return 0 if result is None else result
