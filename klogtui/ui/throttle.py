"""Throttling: run a refresh at most once per interval; calls in between coalesce.

A refresh asked for within the interval of the last one is not dropped: one run is
scheduled for the interval's end, however many asks come before it. Scheduling goes
through a callable (Textual's `set_timer` in the app) so this stays free of Textual.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Throttle"]

Schedule = Callable[[float, Callable[[], None]], object]


@dataclass(slots=True)
class Throttle:
    """Runs a callback at most once per interval; calls in between coalesce.

    Args:
        interval: seconds between runs.
        schedule: calls a callback after a delay in seconds (e.g. `widget.set_timer`).
    """

    interval: float
    schedule: Schedule
    last: float = 0.0
    scheduled: bool = False

    def __call__(self, run: Callable[[], None], interval: float | None = None) -> None:
        """Run now if the interval since the last run passed, else once at its end.

        Args:
            run: the refresh.
            interval: this call's interval, if not the usual one.
        """
        if self.scheduled:
            # The run at the interval's end is coming (a busy event loop fires its timer
            # late): running now as well would make it a second run, right after.
            return
        now = time.monotonic()
        wait = self.last + (self.interval if interval is None else interval) - now
        if wait <= 0:
            self.last = now
            run()
        elif not self.scheduled:
            self.scheduled = True

            def later() -> None:
                self.scheduled = False
                self.last = time.monotonic()
                run()

            self.schedule(wait, later)

    def ran(self) -> None:
        """A run outside the throttle happened: the interval starts again now."""
        self.last = time.monotonic()
