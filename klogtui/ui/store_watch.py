"""The store watched for writes by any process: one look at a time from a thread worker.

The collector in this process tells the app of its commits itself; a store written
by another process is seen by its data version (`PRAGMA data_version`) changing
between two looks. Each look also brings the store's stats for the status bar, and
its sources when they changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import App
from textual.message import Message

from klogtui.gaps import GAP_QUERY, gap_counts
from klogtui.model import Source
from klogtui.store import StoreStats
from klogtui.store.reads import LogReader

__all__ = ["StoreWatch"]


class StoreWatch:
    """Looks at the store on a thread worker and posts what it saw to the app.

    Args:
        app: runs the worker and gets each look (`on_store_watch_looked`).
        reader: the read connection the looks use.
    """

    @dataclass
    class Looked(Message, bubble=False):
        """The aux reader's look at the store: sources only when they changed."""

        version: int
        stats: StoreStats
        sources: list[Source] | None
        gaps: dict[int, int] | None  # gap markers per source id, with the sources
        missing: list[str]  # parts the reader could not read (`name: why`)

    def __init__(self, app: App[Any], reader: LogReader) -> None:
        self._app = app
        self._reader = reader
        self._version = -1
        self._busy = False

    def look(self) -> None:
        """Look at the store, unless the previous look is still running."""
        if self._busy:
            return
        self._busy = True
        reader, known = self._reader, self._version

        def work() -> None:
            try:
                version = reader.data_version()
                stats = reader.stats()
                sources = list(reader.sources()) if version != known else None
                gaps = gap_counts(reader.newest(GAP_QUERY, 10_000)) if sources else None
                missing = reader.missing_parts()
                self._app.post_message(self.Looked(version, stats, sources, gaps, missing))
            finally:
                self._busy = False

        self._app.run_worker(
            work, name="store status", group="tick", thread=True, exit_on_error=False
        )

    def seen(self, looked: Looked) -> bool:
        """Take a look's data version in; whether the store changed since the one before."""
        changed = self._version != -1 and looked.version != self._version
        self._version = looked.version
        return changed
