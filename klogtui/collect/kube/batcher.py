"""Merges what many stream threads read into few, time-bounded batches for the sink.

Every stream hands over its lines together with its new checkpoint; the batcher keeps
only the newest checkpoint per key, so one transaction carries thousands of lines and
one checkpoint per container instance instead of one per network chunk. Lines reach
the sink within `max_delay_s`.

Memory stays bounded: `add` blocks while `max_buffered` lines wait, so when the sink is
slow the streams stop reading and TCP flow control keeps the rest on the server. A
batch is never split (its checkpoints must commit with all of their lines), so a batch
holds at most `max_buffered` lines plus one chunk's worth; keep it small, since the
sink may queue several.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from klogtui.collect.base import CollectorStats
from klogtui.collect.batching import BatchBuilder
from klogtui.model import Batch, Record, Sink, SourceInfo, SourceKey

__all__ = ["Batcher"]


class Batcher:
    """Collects records, checkpoints and source updates; submits them on its own thread.

    Args:
        sink: where batches go (the store's writer).
        stats: counts the lines handed over, per source.
        max_delay_s: the longest a line waits before it is submitted.
        max_buffered: lines that may wait; `add` blocks beyond (back-pressure), and a
            batch is submitted as soon as this many are buffered.
    """

    def __init__(
        self,
        sink: Sink,
        stats: CollectorStats,
        *,
        max_delay_s: float = 0.2,
        max_buffered: int = 2000,
    ) -> None:
        self._sink = sink
        self._stats = stats
        self._max_delay = max_delay_s
        self._max_buffered = max_buffered
        lock = threading.Lock()
        # Separate conditions: hundreds of blocked producers must not be woken each
        # time the batcher thread is, and the other way round.
        self._due = threading.Condition(lock)  # the batcher thread waits here
        self._room = threading.Condition(lock)  # producers wait here for space
        self._done = threading.Condition(lock)  # flush() waits here for submission
        self._batch = BatchBuilder(max_buffered, max_delay_s)
        self._added = 0  # sequence of the newest add()
        self._submitted = 0  # sequence of the newest add() handed to the sink
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="klogtui-kube-batcher", daemon=True)
        self._thread.start()

    def _empty(self) -> bool:
        return self._batch.empty

    def add(
        self,
        records: list[Record],
        checkpoint: tuple[str, str] | None = None,
        sources: Iterable[SourceInfo] = (),
        deleted: Iterable[str] = (),
    ) -> int:
        """Buffer items to be stored in one transaction; returns their sequence number.

        Blocks while the buffer is full, unless the batcher is closing.
        """
        with self._due:
            batch = self._batch
            while len(batch.records) >= self._max_buffered and not self._closing:
                self._room.wait()
            if batch.empty:
                self._due.notify()  # the first item starts the delay clock of an idle batcher
            batch.add_records(records)
            for info in sources:
                batch.add_source(info)
            if checkpoint is not None:
                batch.put_checkpoint(*checkpoint)
            for key in deleted:
                batch.delete_checkpoint(key)
            self._added += 1
            if len(batch.records) >= self._max_buffered:
                self._due.notify()
            return self._added

    @property
    def buffered(self) -> int:
        """Lines waiting to be submitted."""
        with self._due:
            return len(self._batch.records)

    def mark(self) -> int:
        """The sequence number of the newest add() so far."""
        with self._due:
            return self._added

    def submitted(self, seq: int) -> bool:
        """True once everything added up to sequence `seq` was handed to the sink."""
        with self._due:
            return self._submitted >= seq

    def flush(self, timeout: float | None = None) -> bool:
        """Submit what is buffered now and wait for it; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._due:
            target = self._added
            self._batch.hurry()  # due at once
            self._due.notify()
            while self._submitted < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left)
            return True

    def close(self, timeout: float | None = 30.0) -> None:
        """Submit everything still buffered, then end the thread."""
        with self._due:
            self._closing = True
            self._due.notify()
            self._room.notify_all()
        self._thread.join(timeout)

    def _take(self) -> tuple[Batch, int] | None:
        """Wait until a batch is due; None once closing with nothing left."""
        with self._due:
            while True:
                if not self._empty():
                    if self._closing or self._batch.due():
                        break
                    self._due.wait(self._batch.since + self._max_delay - time.monotonic())
                    continue
                # Nothing buffered: everything added so far has been submitted.
                self._submitted = self._added
                self._done.notify_all()
                if self._closing:
                    return None
                self._due.wait()
            batch = self._batch.take()
            assert batch is not None
            seq = self._added
            self._room.notify_all()
            return batch, seq

    def _run(self) -> None:
        while True:
            item = self._take()
            if item is None:
                return
            batch, seq = item
            try:
                self._sink.submit(batch)
            except Exception as e:  # noqa: BLE001 - the sink's failure must not end collection
                self._stats.error("store", f"could not hand lines to the store: {e}")
            else:
                self._count(batch.records)
            with self._due:
                self._submitted = max(self._submitted, seq)
                self._done.notify_all()

    def _count(self, records: Sequence[Record]) -> None:
        per: dict[SourceKey, list[int]] = {}
        last_key: SourceKey | None = None
        acc: list[int] = [0, 0, 0]
        # Records come in runs of one instance each; compare identities, hash rarely.
        for r in records:
            k = r.source
            if k is not last_key:
                acc = per.setdefault(k, [0, 0, 0])
                last_key = k
            acc[0] += 1
            acc[2] += len(r.message)
            if r.ts > acc[1]:
                acc[1] = r.ts
        for k, (n, newest, nbytes) in per.items():
            self._stats.add_lines(f"{k.namespace}/{k.pod}/{k.container}", n, newest, nbytes)
