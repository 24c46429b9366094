"""The log pane's chosen line opened: its detail (Enter) or the lines around it from the
same container (`c`, also from the detail). Context reads run in a thread worker on the
app's context reader; both screens show times as the log pane does (UTC or local)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from klogtui.model import LogLine, Source
from klogtui.store.reads import LogReader
from klogtui.ui.screens.context import ContextScreen
from klogtui.ui.screens.detail import DetailResult, DetailScreen

if TYPE_CHECKING:
    from klogtui.ui.app import KlogApp

__all__ = ["CONTEXT_LINES", "show"]

CONTEXT_LINES = 100  # lines before and after a line on the context screen


def show(
    app: KlogApp,
    line: LogLine,
    source: Source | None,
    *,
    context: bool,
    reader: LogReader,
    now_ns: int | None,
) -> None:
    """Open the detail of `line`, or its context (`context`), read with `reader`."""
    if context:
        _open_context(app, line, reader, now_ns)
        return

    def done(result: DetailResult) -> None:
        if result == "context":
            _open_context(app, line, reader, now_ns)

    app.push_screen(DetailScreen(line, source, now_ns=now_ns), done)


def _open_context(app: KlogApp, line: LogLine, reader: LogReader, now_ns: int | None) -> None:
    local_time = app.log_view.local_time

    def work() -> None:
        lines = reader.context(line.id, CONTEXT_LINES, CONTEXT_LINES)
        sources = {
            sid: s
            for sid in {ln.source_id for ln in lines}
            if (s := reader.source(sid)) is not None
        }

        def show_context() -> None:
            screen = ContextScreen(lines, sources, line.id, now_ns=now_ns, local_time=local_time)
            app.push_screen(screen)

        app.call_from_thread(show_context)

    app.run_worker(
        work, name="context", group="context", exclusive=True, thread=True, exit_on_error=False
    )
