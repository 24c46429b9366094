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

from klogtui.formats import Parsed
from klogtui.formats.fields import STRUCTURED_FIRST, stored_fields
from klogtui.formats.multiline import Event, Grouper
from klogtui.model import Record, SourceKey

__all__ = ["StreamEvents"]


class StreamEvents:
    """The events being gathered for one content stream.

    Args:
        source: the container instance its records belong to.
    """

    __slots__ = ("_outbox", "_ordered", "_source", "groupers")

    def __init__(self, source: SourceKey) -> None:
        self._source = source
        self.groupers = (Grouper(), Grouper(), Grouper())  # by stream; [0] unused
        # (start position, record) of finished events not handed over yet.
        self._outbox: list[tuple[int, Record]] = []
        self._ordered = True  # the outbox is in position order (the usual case: no sort)

    @property
    def holding(self) -> bool:
        """Events open or waiting: lines read but not handed over."""
        g = self.groupers
        return bool(self._outbox) or g[1].open_start is not None or g[2].open_start is not None

    @property
    def deadline(self) -> float | None:
        """The soonest hold time of an open event; None when none is open."""
        times = [d for g in self.groupers if (d := g.deadline) is not None]
        return min(times) if times else None

    def first_unsent(self, stream: int) -> int | None:
        """Where the stream's first line not handed over starts; None if all were."""
        open_start = self.groupers[stream].open_start if stream else None
        waiting = [start for start, r in self._outbox if r.stream == stream]
        candidates = [s for s in (open_start, *waiting) if s is not None and s >= 0]
        return min(candidates) if candidates else None

    def add(self, p: Parsed, now: float) -> None:
        """Take one decoded message (read at monotonic time `now`)."""
        stream = p.stream
        if not stream:
            level, fields = stored_fields(p.message, p.level)
            self._put(p.start, Record(p.ts, self._source, 0, p.message, level, p.flags, fields))
            return
        g = self.groupers[stream]
        done = g.feed(p.start, p.ts, p.level, p.flags, p.message, now)
        if done:
            self._queue(stream, done)
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
        box = self._outbox
        if not box:
            return []
        if not self._ordered:
            box.sort(key=_start)  # stable: equal positions keep their order
            self._ordered = True
        opens = [s for g in self.groupers if (s := g.open_start) is not None]
        if opens:
            cut = bisect_left(box, min(opens), key=_start)
            out, self._outbox = box[:cut], box[cut:]
        else:
            out, self._outbox = box, []
        return [r for _, r in out]

    def _queue(self, stream: int, events: list[Event]) -> None:
        if events:
            source = self._source
            box = self._outbox
            for e in events:
                message = e.message
                first = message[:1]
                # Else no fields, so spare the call: most free text opens with a digit or
                # "[", or has no "=" (which logfmt needs); JSON opens with "{" (or ESC).
                if first in STRUCTURED_FIRST and (first in "{\x1b" or "=" in message):
                    level, fields = stored_fields(message, e.level)
                else:
                    level, fields = e.level, None
                if box and e.start < box[-1][0]:
                    self._ordered = False
                box.append((e.start, Record(e.ts, source, stream, message, level, e.flags, fields)))

    def _put(self, start: int, record: Record) -> None:
        box = self._outbox
        if box and start < box[-1][0]:
            self._ordered = False
        box.append((start, record))


def _start(item: tuple[int, Record]) -> int:
    return item[0]
