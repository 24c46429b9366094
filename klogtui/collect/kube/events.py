"""A container instance's API lines joined into events (stack traces), with a resume point
that only ever counts lines handed over.

The API interleaves stdout and stderr into one stream, so one `Grouper` per instance
joins its lines (formats/multiline.py). An event still open is not counted in the
instance's `ResumePoint`: a checkpoint written meanwhile resumes at its first line, and
a new request (a reconnect) drops it, since the kubelet sends its lines again. The
`EventTicker` thread hands over events held past their hold time, so a live tail is
never held back longer than that; but not once the stream broke or was interrupted
(`await_resend`): the next request sends the whole event again, so a trace cut by a
dropped connection is stored once and whole however long the reconnect takes (and if
the instance's log is gone for good, `flush` still stores what was read). Each
instance's lock makes "events handed over" and "checkpoint added" one step, in order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from klogtui.collect.kube.batcher import Batcher
from klogtui.collect.kube.lines import ResumePoint
from klogtui.formats.fields import stored_fields
from klogtui.formats.multiline import Event, Grouper
from klogtui.model import Flag, Record, SourceKey, Stream

__all__ = ["EventTicker", "InstanceEvents"]

TICK_S = 0.05  # how often held events are looked at (their hold time is 0.1–0.3 s)
# Per line: a plain int (an IntFlag's `&` runs in Python), and Record(...)'s generated
# __new__ spared for tuple's own.
_GAP = int(Flag.GAP)
_COMBINED = int(Stream.COMBINED)
_new_record = tuple.__new__


class InstanceEvents:
    """One container instance's open event and resume point.

    Args:
        key: the instance.
        ckpt_key: its checkpoint key.
        point: its resume point, advanced here for every line handed over.
        batcher: where events and the checkpoint go.
    """

    def __init__(self, key: SourceKey, ckpt_key: str, point: ResumePoint, batcher: Batcher) -> None:
        self.key = key
        self.ckpt_key = ckpt_key
        self.point = point
        self._batcher = batcher
        self._grouper = Grouper()
        self._lock = threading.Lock()
        # (timestamp, line identity) of each line in the open event
        self._held: deque[tuple[int, int]] = deque()
        self._resend_due = False  # the stream ended early: the open event comes again

    def add(self, lines: list[Record], identities: list[int], now: float | None = None) -> bool:
        """Join lines (one record per line, not yet counted in the point) into events,
        hand over those finished with the checkpoint. Returns whether any went.

        `identities` holds each line's `line_identity`, in order; a gap marker
        (Flag.GAP) has none: it is no line, and goes over as it is.
        """
        mono = time.monotonic() if now is None else now
        with self._lock:
            out: list[Record] = []
            identity = iter(identities)
            held = self._held.append
            push = self._grouper.push
            for r in lines:
                if r.flags & _GAP:
                    # Lines are missing from here: the event before cannot go on.
                    self._finish(self._grouper.flush(), out)
                    out.append(r)
                    continue
                held((r.ts, next(identity)))
                done = push(0, r.ts, r.level, r.flags, r.message, mono)
                if done is not None:
                    self._finish((done,), out)
            return self._hand_over(out)

    def expire(self, now: float) -> None:
        """Hand over the open event if it was held past its hold time."""
        with self._lock:
            if self._resend_due:
                return
            out: list[Record] = []
            self._finish(self._grouper.expire(now), out)
            self._hand_over(out)

    def flush(self) -> bool:
        """Hand over the open event (the log ended for good)."""
        with self._lock:
            out: list[Record] = []
            self._finish(self._grouper.flush(), out)
            return self._hand_over(out)

    def drop_open(self) -> None:
        """Forget the open event: a new request sends its lines again."""
        with self._lock:
            self._grouper = Grouper()
            self._held.clear()
            self._resend_due = False

    def await_resend(self) -> None:
        """The stream broke or was interrupted: keep the open event for the next request
        (which drops it and reads it again, whole) instead of handing it over cut."""
        with self._lock:
            self._resend_due = True

    @property
    def deadline(self) -> float | None:
        with self._lock:
            return None if self._resend_due else self._grouper.deadline

    def _finish(self, events: Iterable[Event], out: list[Record]) -> None:
        advance, taken = self.point.advance, self._held.popleft
        for e in events:
            for _ in range(e.lines):
                advance(*taken())
            level, fields = stored_fields(e.message, e.level)
            out.append(
                _new_record(Record, (e.ts, self.key, _COMBINED, e.message, level, e.flags, fields))
            )

    def _hand_over(self, out: list[Record]) -> bool:
        if out:
            self._batcher.add(out, (self.ckpt_key, self.point.to_json()))
        return bool(out)


class EventTicker:
    """A thread that hands over the events held past their hold time, for all instances."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._lock = threading.Lock()
        self._instances: set[InstanceEvents] = set()
        self._thread = threading.Thread(target=self._run, name="klogtui-kube-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def watch(self, events: InstanceEvents) -> None:
        with self._lock:
            self._instances.add(events)

    def forget(self, events: InstanceEvents) -> None:
        with self._lock:
            self._instances.discard(events)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(TICK_S):
            now = time.monotonic()
            with self._lock:
                instances = list(self._instances)
            for events in instances:
                deadline = events.deadline
                if deadline is not None and now >= deadline:
                    events.expire(now)
