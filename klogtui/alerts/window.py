"""A rule's sliding window: matching lines counted per second of their timestamps."""

from __future__ import annotations

__all__ = ["Window"]

_NS = 1_000_000_000


class Window:
    """Matches in the last `window_ns`, by the second each line was stamped.

    A line stamped ahead of now counts as now (a clock ahead would otherwise keep it
    in the window for as long); one older than the window does not count at all.
    """

    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self._buckets: dict[int, int] = {}
        self.newest_id = 0  # the newest matching line counted (0: none yet)
        self.newest_source = 0

    def add(self, ts_ns: int, line_id: int, source_id: int, now_ns: int) -> None:
        if ts_ns <= now_ns - self.window_ns:
            return
        second = min(ts_ns, now_ns) // _NS
        self._buckets[second] = self._buckets.get(second, 0) + 1
        if line_id > self.newest_id:
            self.newest_id = line_id
            self.newest_source = source_id

    def count(self, now_ns: int) -> int:
        """Matches stamped within the window before now_ns (older seconds are dropped).

        A second counts while any part of it is in the window: a match is kept up to a
        second longer, never dropped early (an `absent` alert fires late, not early).
        """
        first = (now_ns - self.window_ns) // _NS
        for second in [s for s in self._buckets if s < first]:
            del self._buckets[second]
        return sum(self._buckets.values())
