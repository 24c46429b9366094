"""A content stream's messages joined into events (stack traces, panics) and handed over
in file order.

Each stream (stdout, stderr) has its own `Grouper`; unparsable lines (stream 0) are
events of their own. A finished event waits in an outbox until no event that started
before it is still open, so records leave in the order their first lines were written
(two streams' events never swap places because one was held). Every position below the
first line still open or waiting has been handed over, which is what a checkpoint needs.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from klogtui.formats import Parsed
from klogtui.formats.fields import STRUCTURED_FIRST, stored_fields
from klogtui.formats.multiline import Event, Grouper
from klogtui.model import Record, SourceKey

__all__ = ["StreamEvents"]

# Record(...) runs a generated __new__ in Python; tuple's own (in C) makes the same
# tuple in a third of the time, and one is made for every event.
_new_record = tuple.__new__


class StreamEvents:
    """The events being gathered for one content stream.

    Args:
        source: the container instance its records belong to.
    """

    __slots__ = ("_ordered", "_records", "_source", "_starts", "groupers")

    def __init__(self, source: SourceKey) -> None:
        self._source = source
        self.groupers = (Grouper(), Grouper(), Grouper())  # by stream; [0] unused
        # The outbox: finished events not handed over yet, and where each starts (two
        # lists, not a list of pairs: a pair per line costs, and release() hands over
        # a slice of the records as they are).
        self._records: list[Record] = []
        self._starts: list[int] = []
        self._ordered = True  # the outbox is in position order (the usual case: no sort)

    @property
    def holding(self) -> bool:
        """Events open or waiting: lines read but not handed over."""
        g = self.groupers
        return bool(self._records) or g[1].open_start is not None or g[2].open_start is not None

    @property
    def deadline(self) -> float | None:
        """The soonest hold time of an open event; None when none is open."""
        times = [d for g in self.groupers if (d := g.deadline) is not None]
        return min(times) if times else None

    def first_unsent(self, stream: int) -> int | None:
        """Where the stream's first line not handed over starts; None if all were."""
        open_start = self.groupers[stream].open_start if stream else None
        waiting = [
            s for s, r in zip(self._starts, self._records, strict=True) if r.stream == stream
        ]
        candidates = [s for s in (open_start, *waiting) if s is not None and s >= 0]
        return min(candidates) if candidates else None

    def add_many(self, parsed: Iterable[Parsed], now: float) -> None:
        """Take decoded messages in file order, read at monotonic time `now` (all of a
        read turn at once: one loop, no call chain per line)."""
        groupers = self.groupers
        put = self._put
        for p in parsed:
            stream = p.stream
            if not stream:  # unparsable: an event of its own
                put(0, p.start, p.ts, p.level, p.flags, p.message)
                continue
            g = groupers[stream]
            done = g.push(p.start, p.ts, p.level, p.flags, p.message, now)
            if done is not None:
                put(stream, *done[:5])
            if p.start < 0:
                # Restored fragments: no position for a checkpoint to point at.
                self._queue(stream, g.flush())

    def expire(self, now: float) -> None:
        """Finish the events held past their hold time."""
        for stream in (1, 2):
            self._queue(stream, self.groupers[stream].expire(now))

    def flush(self) -> None:
        """Finish every open event."""
        for stream in (1, 2):
            self._queue(stream, self.groupers[stream].flush())

    def release(self) -> list[Record]:
        """The finished events no open event started before, in file order."""
        records = self._records
        if not records:
            return []
        starts = self._starts
        if not self._ordered:
            # Stable: equal positions keep their order.
            order = sorted(range(len(starts)), key=starts.__getitem__)
            starts = self._starts = [starts[i] for i in order]
            records = self._records = [records[i] for i in order]
            self._ordered = True
        opens = [s for g in self.groupers if (s := g.open_start) is not None]
        if not opens:
            self._records, self._starts = [], []
            return records
        cut = bisect_left(starts, min(opens))
        self._records, self._starts = records[cut:], starts[cut:]
        return records[:cut]

    def _queue(self, stream: int, events: list[Event]) -> None:
        for e in events:
            self._put(stream, e.start, e.ts, e.level, e.flags, e.message)

    def _put(self, stream: int, start: int, ts: int, level: int, flags: int, message: str) -> None:
        """Put a finished event in the outbox, with its fields."""
        first = message[:1]
        # Else no fields, so spare the call: most free text opens with a digit or "[", or
        # has no "=" (which logfmt needs); JSON opens with "{" (or ESC).
        if first in STRUCTURED_FIRST and (first in "{\x1b" or "=" in message):
            level, fields = stored_fields(message, level)
        else:
            fields = None
        starts = self._starts
        if starts and start < starts[-1]:
            self._ordered = False
        starts.append(start)
        self._records.append(
            _new_record(Record, (ts, self._source, stream, message, level, flags, fields))
        )
