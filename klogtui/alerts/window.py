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

    def add(self, second: int, n: int, newest_id: int, now_ns: int) -> None:
        """Count n matches stamped in `second` (UTC seconds), the newest with this id."""
        if second < (now_ns - self.window_ns) // _NS:
            return  # wholly before the window (see count)
        second = min(second, now_ns // _NS)
        self._buckets[second] = self._buckets.get(second, 0) + n
        if newest_id > self.newest_id:
            self.newest_id = newest_id

    def count(self, now_ns: int) -> int:
        """Matches stamped within the window before now_ns (older seconds are dropped).

        A second counts while any part of it is in the window: a match is kept up to a
        second longer, never dropped early (an `absent` alert fires late, not early).
        """
        first = (now_ns - self.window_ns) // _NS
        for second in [s for s in self._buckets if s < first]:
            del self._buckets[second]
        return sum(self._buckets.values())
