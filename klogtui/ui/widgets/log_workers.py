"""The log pane's reads on thread workers, each result back as its own message.

LogWorkers runs the requests of the window model (klogtui.ui.log_window) through
klogtui.ui.log_reads on thread workers with the pane's own Reader, and posts one
message per kind of result to the pane, which feeds it into the model. A newer window
load interrupts a slower read (Reader.interrupt); a read interrupted on behalf of an
older request is retried once; results of superseded requests are dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import get_current_worker

from klogtui.errors import QueryError
from klogtui.store.reads import LogReader
from klogtui.ui.log_reads import count_new, find_match, read_newest, read_page, read_window
from klogtui.ui.log_window import (
    CountNew,
    FindMatch,
    LoadPage,
    LoadWindow,
    Page,
    ReadNewest,
    Window,
)

if TYPE_CHECKING:
    from klogtui.ui.widgets.log_view import LogView

__all__ = ["LogWorkers"]


class LogWorkers:
    """Starts the log pane's reads on thread workers and posts their results to it.

    Args:
        pane: the pane the results go to (handlers `on_log_workers_…`).
        reader: the pane's own read connection.
        current: whether a generation is still the pane's current one.
    """

    @dataclass
    class WindowLoaded(Message, bubble=False):
        """A new window (a load or a match found past the window)."""

        generation: int
        window: Window

    @dataclass
    class OlderLoaded(Message, bubble=False):
        """The page before the window's first line."""

        generation: int
        page: Page

    @dataclass
    class NewerLoaded(Message, bubble=False):
        """The page after the window's last line."""

        generation: int
        page: Page

    @dataclass
    class FollowLoaded(Message, bubble=False):
        """The newest lines, for follow mode."""

        generation: int
        window: Window

    @dataclass
    class FollowDone(Message, bubble=False):
        """A follow refresh finished (loaded, superseded or failed)."""

    @dataclass
    class MatchMissing(Message, bubble=False):
        """No match within FIND_SCAN lines past the window."""

        generation: int

    @dataclass
    class FindDone(Message, bubble=False):
        """A find past the window finished (found, not found or failed)."""

    @dataclass
    class ReadFailed(Message, bubble=False):
        """A read of this generation failed (the query, or the store)."""

        generation: int

    @dataclass
    class Counted(Message, bubble=False):
        """Paused: the newest matching id and the lines stored after the last one seen."""

        generation: int  # -1: the count failed or was interrupted
        hwm_id: int
        count: int

    def __init__(self, pane: LogView, reader: LogReader, current: Callable[[int], bool]) -> None:
        self._pane = pane
        self._reader = reader
        self._current = current

    def window(self, req: LoadWindow) -> None:
        """Load a new window (interrupting whatever the reader does: it is older)."""
        self._reader.interrupt()
        reader = self._reader
        self._start(
            "load",
            req.generation,
            lambda: self.WindowLoaded(req.generation, read_window(reader, req)),
            exclusive=True,
        )

    def page(self, req: LoadPage) -> None:
        """Load the page past a window edge."""
        reader = self._reader
        loaded = self.OlderLoaded if req.older else self.NewerLoaded
        self._start("page", req.generation, lambda: loaded(req.generation, read_page(reader, req)))

    def follow(self, req: ReadNewest) -> None:
        """Re-read the newest lines; FollowDone comes after, however it ends."""
        reader = self._reader
        self._start(
            "follow",
            req.generation,
            lambda: self.FollowLoaded(req.generation, read_newest(reader, req)),
            done=self.FollowDone(),
        )

    def find(self, req: FindMatch) -> None:
        """Look for a match past the window; FindDone comes after, however it ends."""
        reader = self._reader

        def read() -> Message:
            window = find_match(reader, req)
            if window is None:
                return self.MatchMissing(req.generation)
            return self.WindowLoaded(req.generation, window)

        self._start("find", req.generation, read, done=self.FindDone())

    def count(self, req: CountNew) -> None:
        """Count the lines stored since the last one seen; Counted comes in any case."""
        reader, pane = self._reader, self._pane

        def work() -> None:
            counted = self.Counted(-1, 0, 0)  # what to say if this fails or is interrupted
            try:
                hwm_id, count = count_new(reader, req)
                counted = self.Counted(req.generation, hwm_id, count)
            except sqlite3.OperationalError as e:
                if "interrupt" not in str(e):
                    raise
            finally:
                pane.post_message(counted)

        pane.app.run_worker(
            work, name="log count", group="log-count", thread=True, exit_on_error=False
        )

    def _start(
        self,
        kind: str,
        generation: int,
        read: Callable[[], Message],
        *,
        done: Message | None = None,
        exclusive: bool = False,
    ) -> None:
        """Run a read on a thread worker, then post `done` (if any) however it ended."""
        pane = self._pane

        def work() -> None:
            try:
                self._run(generation, read)
            finally:
                if done is not None:
                    pane.post_message(done)

        pane.app.run_worker(
            work,
            name=f"log {kind}",
            group=f"log-{kind}",
            exclusive=exclusive,
            thread=True,
            exit_on_error=False,
        )

    def _run(self, generation: int, read: Callable[[], Message]) -> None:
        """Run a read on this thread and post its result; drop it if superseded."""
        pane = self._pane
        worker = get_current_worker()
        failed = self.ReadFailed(generation)
        for _attempt in range(2):
            try:
                result = read()
            except QueryError as e:
                if self._current(generation):
                    pane.post_message(pane.QueryFailed(e))
                    pane.post_message(failed)
                return
            except sqlite3.OperationalError as e:
                if "interrupt" in str(e):
                    if not self._current(generation) or worker.is_cancelled:
                        return  # superseded by a newer request, which interrupted us
                    continue  # interrupted on behalf of a request that ran before us
                pane.post_message(failed)
                raise  # the app shows worker errors
            except Exception:
                pane.post_message(failed)
                raise
            if not worker.is_cancelled:
                pane.post_message(result)
            return
