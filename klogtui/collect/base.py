"""What every log source looks like to the runner, and the statistics they keep."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "Collector",
    "CollectorStats",
    "ErrorEntry",
    "SourceTotals",
    "StatsSnapshot",
    "error_kind",
]


class Collector(Protocol):
    """A log source running on its own thread(s), sending batches to a Sink."""

    def start(self) -> None:
        """Begin collecting in the background; returns at once."""

    def stop(self) -> None:
        """Ask the collector to finish: flush what it holds, then end its threads."""

    def join(self, timeout: float | None = None) -> None:
        """Wait for the collector's threads to end."""

    def caught_up(self) -> bool:
        """True once everything present at start has been handed to the sink."""


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    """One reported problem: where (a file, a pod), what, and when (UTC ns)."""

    where: str
    message: str
    ts: int


@dataclass(frozen=True, slots=True)
class SourceTotals:
    """What one source handed over since the collector started (for /metrics)."""

    events: int
    bytes: int  # of message text, UTF-8 characters counted as one
    newest_ts: int  # the newest line's timestamp (UTC ns): how far behind the files


def error_kind(where: str) -> str:
    """A reported problem's kind for counting: its `where` when that names a part
    ("store", "retention", "alerts"), "source" when it names a file or a pod."""
    return where if where.isidentifier() else "source"


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    lines_total: int
    lines_per_s: float
    malformed: int
    errors: tuple[ErrorEntry, ...]
    per_source_rate: dict[str, float]
    lag_s: float  # newest line's age when it was handed over (collector lag)
    files_open: int = 0
    streams_open: int = 0
    notice: str = ""  # a condition the user should know of, in a few words


@dataclass
class CollectorStats:
    """Thread-safe counters the collectors update and the UI/CLI read.

    Errors are reported once per `where` (a file keeps failing the same way; we
    say so once) and kept in a bounded log.
    """

    window_s: float = 5.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _lines_total: int = 0
    _malformed: int = 0
    _events: deque[tuple[float, str, int]] = field(default_factory=deque)
    _errors: deque[ErrorEntry] = field(default_factory=lambda: deque(maxlen=500))
    _error_keys: set[tuple[str, str]] = field(default_factory=set)
    _lag_s: float = 0.0
    _totals: dict[str, list[int]] = field(default_factory=dict)  # source -> events, bytes, ts
    _error_counts: dict[str, int] = field(default_factory=dict)  # error_kind -> reports
    files_open: int = 0
    streams_open: int = 0
    notice: str = ""  # set by a collector: e.g. that containers take turns for streams

    def add_lines(
        self, source: str, n: int, newest_ts_ns: int | None = None, nbytes: int = 0
    ) -> None:
        """Count n lines (nbytes of text) handed over for `source`; newest_ts_ns gives
        the lag."""
        now = time.monotonic()
        with self._lock:
            self._lines_total += n
            self._events.append((now, source, n))
            self._trim(now)
            totals = self._totals.get(source)
            if totals is None:
                totals = self._totals[source] = [0, 0, 0]
            totals[0] += n
            totals[1] += nbytes
            if newest_ts_ns is not None:
                self._lag_s = max(0.0, time.time() - newest_ts_ns / 1e9)
                totals[2] = max(totals[2], newest_ts_ns)

    def source_totals(self) -> dict[str, SourceTotals]:
        """Each source's events, bytes and newest timestamp since the start."""
        with self._lock:
            return {k: SourceTotals(*v) for k, v in self._totals.items()}

    def error_counts(self) -> dict[str, int]:
        """Problems reported since the start (repeats included), by error_kind."""
        with self._lock:
            return dict(self._error_counts)

    def add_malformed(self, n: int = 1) -> None:
        with self._lock:
            self._malformed += n

    def error(self, where: str, message: str) -> bool:
        """Record a problem; returns False if this exact one was already reported."""
        key = (where, message)
        kind = error_kind(where)
        with self._lock:
            self._error_counts[kind] = self._error_counts.get(kind, 0) + 1
            if key in self._error_keys:
                return False
            self._error_keys.add(key)
            self._errors.append(ErrorEntry(where, message, time.time_ns()))
            return True

    def forget_errors(self, where: str) -> None:
        """Allow `where` to report again (e.g. after it recovered)."""
        with self._lock:
            self._error_keys = {k for k in self._error_keys if k[0] != where}

    def snapshot(self) -> StatsSnapshot:
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            per: dict[str, float] = {}
            total = 0
            for _, src, n in self._events:
                per[src] = per.get(src, 0.0) + n
                total += n
            span = self.window_s
            return StatsSnapshot(
                lines_total=self._lines_total,
                lines_per_s=total / span,
                malformed=self._malformed,
                errors=tuple(self._errors),
                per_source_rate={k: v / span for k, v in per.items()},
                lag_s=self._lag_s,
                files_open=self.files_open,
                streams_open=self.streams_open,
                notice=self.notice,
            )

    def _trim(self, now: float) -> None:
        horizon = now - self.window_s
        events = self._events
        while events and events[0][0] < horizon:
            events.popleft()
