"""What keeps the API from hurting the collector: a bound on requests at work at once,
a time limit on each one's reads, and a cap on how many lines one request returns.

A request that finds no free slot is answered 503 at once (never queued: a queue of
waiting threads is what a flood would build); a read past its time limit is interrupted
by SQLite, so a pathological query costs its limit and no more.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from klogtui.store.reader import Reader

__all__ = ["Busy", "Limits", "ReaderPool", "TimedOut", "time_limited"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The API's bounds (defaults sized for a node's collector on a shared core).

    Attributes:
        queries: requests reading the store at once (each with its own connection).
        tails: /tail streams open at once.
        connections: open connections; beyond it a new one is answered 503 and closed.
        request_s: time limit on one request's reads.
        socket_s: how long a write to (or read from) a client may block: a client that
            stops reading loses its connection after this, and its thread ends.
        max_limit: the most lines /lines returns in one answer.
    """

    queries: int = 2
    tails: int = 16
    connections: int = 64
    request_s: float = 10.0
    socket_s: float = 10.0
    max_limit: int = 5_000


class Busy(Exception):
    """No free slot for the request: answered 503 with Retry-After."""


class TimedOut(Exception):
    """A request's reads ran past its time limit and were interrupted."""


class ReaderPool:
    """`size` read connections to the store, one per request at work; taking one when
    none is free raises Busy rather than waiting."""

    def __init__(self, path: Path, size: int) -> None:
        self._path = path
        self._free: queue.LifoQueue[Reader] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Reader] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def reader(self) -> Iterator[Reader]:
        if not self._slots.acquire(blocking=False):
            raise Busy
        try:
            try:
                r = self._free.get_nowait()
            except queue.Empty:
                r = Reader(self._path)  # opened on first need, kept for the next request
                with self._lock:
                    self._all.append(r)
            try:
                yield r
            finally:
                self._free.put(r)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            for r in self._all:
                r.interrupt()
                r.close()
            self._all.clear()


@contextlib.contextmanager
def time_limited(reader: Reader, seconds: float) -> Iterator[None]:
    """Interrupt the reader's SQL if the block runs past `seconds`.

    Raises:
        TimedOut: the block's reads were interrupted.
    """
    fired = threading.Event()

    def interrupt() -> None:
        fired.set()
        reader.interrupt()

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as e:
        if fired.is_set():
            raise TimedOut from e
        raise
    finally:
        timer.cancel()
