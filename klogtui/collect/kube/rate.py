"""How fast a container writes, measured from the lines it wrote recently.

The scheduler keeps slots for the chattiest containers (the faster a container
writes, the sooner its log file rotates lines away), and a stream decides from the
rate how long silence may last before it suspects a stalled follow and how often to
poll its container. Only lines stamped within the last `tau_s` count, so reading an
hour of backlog does not make a quiet container look chatty.
"""

from __future__ import annotations

import math
import time

__all__ = ["RateMeter"]


class RateMeter:
    """Exponentially decaying lines/s and bytes/s (time constant `tau_s`).

    Written by one stream thread, read by the scheduler without a lock: the values
    are floats replaced whole, a slightly old reading is fine.
    """

    __slots__ = ("_at", "_born", "_bytes", "_lines", "tau_s")

    def __init__(self, tau_s: float = 30.0) -> None:
        self.tau_s = tau_s
        self._at = time.monotonic()
        self._born = 0.0  # when the first lines were counted
        self._lines = 0.0
        self._bytes = 0.0

    def _decay(self, now: float) -> float:
        return math.exp(-(now - self._at) / self.tau_s)

    def add(self, lines: int, nbytes: int) -> None:
        """Count lines written lately (the caller filters out old ones)."""
        now = time.monotonic()
        if not self._born:
            self._born = now
        k = self._decay(now)
        self._lines = self._lines * k + lines
        self._bytes = self._bytes * k + nbytes
        self._at = now

    def _span(self, now: float) -> float:
        # Until tau has passed, divide by the time actually measured (at least 1 s):
        # a container that just started writing fast is seen as fast at once.
        return max(1.0, min(self.tau_s, now - self._born))

    def lines_per_s(self) -> float:
        now = time.monotonic()
        return self._lines * self._decay(now) / self._span(now)

    def bytes_per_s(self) -> float:
        now = time.monotonic()
        return self._bytes * self._decay(now) / self._span(now)
