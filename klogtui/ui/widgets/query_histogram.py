"""The histogram of the applied query, counted on its own thread worker, throttled.

The counts wait for the log pane's load (what the user waits for) and, while lines
stream in, are redone at most every few seconds; a text query's counts (its matches
one by one) less often still. A newer count interrupts the running one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from klogtui.errors import QueryError
from klogtui.query.parsed import ParsedQuery
from klogtui.store import Bucket
from klogtui.store.reads import LogReader
from klogtui.ui.throttle import Throttle
from klogtui.ui.widgets.histogram import Histogram
from klogtui.ui.widgets.log_view import LogView

__all__ = ["QueryHistogram"]

_HISTOGRAM_INTERVAL_S = 2.0
# A text query's histogram counts its matches one by one (up to the reader's cap):
# while lines stream in, redo it less often so it does not compete with scrolling.
_TEXT_HISTOGRAM_INTERVAL_S = 15.0


class QueryHistogram(Histogram):
    """A Histogram that counts the applied query itself.

    Args:
        reader: its own read connection.
        query: the applied query, asked at each count.
        log_view: the log pane: a count waits for its load; a query it highlights
            text for is a text query.
    """

    @dataclass
    class _Buckets(Message, bubble=False):
        """The histogram worker's counts, for the query and width of `generation`."""

        generation: int
        buckets: list[Bucket]
        exact: bool

    def __init__(
        self,
        reader: LogReader,
        query: Callable[[], ParsedQuery],
        log_view: LogView,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name for it
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._reader = reader
        self._query = query
        self._log_view = log_view
        self._generation = 0
        self._throttle = Throttle(_HISTOGRAM_INTERVAL_S, self.set_timer)
        self._after_load = False

    def recount(self, throttled: bool = False) -> None:
        """Count the applied query again (throttled: lines came in, at most every few s)."""
        if self._log_view.is_loading:
            # The log pane's window first: it is what the user waits for.
            self._after_load = True
            return
        if throttled:
            interval = (
                _TEXT_HISTOGRAM_INTERVAL_S if self._log_view.highlight else _HISTOGRAM_INTERVAL_S
            )
            self._throttle(self.recount, interval)
            return
        self._throttle.ran()
        width = self.size.width
        if width <= 0:
            return
        self._generation += 1
        generation, query, reader = self._generation, self._query(), self._reader
        reader.interrupt()  # a newer query or width makes the running count moot

        def work() -> None:
            try:
                buckets, exact = reader.histogram_of_all(query, width)
            except QueryError:
                buckets, exact = [], True
            except Exception as e:
                if "interrupt" in str(e) and generation != self._generation:
                    return  # superseded
                raise
            self.post_message(self._Buckets(generation, buckets, exact))

        # On the app, like every background read: its failure is reported there.
        self.app.run_worker(
            work,
            name="histogram",
            group="histogram",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def log_loaded(self) -> None:
        """The log pane finished loading: the count that waited for it runs now."""
        if self._after_load:
            self._after_load = False
            self.recount()

    def on_query_histogram__buckets(self, event: _Buckets) -> None:
        if event.generation == self._generation:
            self.set_buckets(event.buckets, event.exact)
