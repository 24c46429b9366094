"""The single writer thread: batches in, one transaction per group of batches.

Lines, source updates, per-minute counts and the sources' checkpoints commit together,
so a crash rolls lines and offsets back as one and a restart re-reads exactly what
was not stored. A failed transaction (disk full, store locked) is retried with the
same batches; nothing advances until it succeeds.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from klogtui.errors import StoreError
from klogtui.model import Batch
from klogtui.store import commit_log
from klogtui.store.index_compaction import IndexCompaction
from klogtui.store.integrity import check_integrity
from klogtui.store.retention import Pruner, Retention, truncate_wal
from klogtui.store.rows import BatchRows
from klogtui.store.schema import WAL_LIMIT_BYTES, connect
from klogtui.store.store_files import StoreFiles, StoreGone

__all__ = ["CommitInfo", "Writer"]

log = logging.getLogger(__name__)

_MAX_LINES_PER_TX = 50_000
_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)
_IDLE_S = 1.0
# Retention's share of the writer while it works off a backlog: about as long as a
# full ingest transaction, so neither starves the other.
_RETENTION_SLICE_S = 0.3
_RETENTION_FINISH_S = 60.0
# The text index is merged into one segment once this many lines were committed and the
# queue is found empty (a backfill is over) or the writer closes (index_compaction.py);
# in slices this long between transactions meanwhile.
_COMPACT_AFTER_LINES = 100_000
_COMPACT_SLICE_S = 0.1
_COMPACT_FINISH_S = 120.0


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """Told to the on_commit callback after each transaction."""

    lines: int  # lines stored by this transaction
    total_lines: int  # lines stored by this writer since it started
    max_id: int  # highest line id in this transaction (0 if none)
    seconds: float  # time the transaction took


@dataclass(frozen=True, slots=True)
class WriteError:
    """Told to the on_error callback when a transaction failed and will be retried."""

    message: str
    attempt: int


class _Flush:
    """Queue marker: set once everything submitted before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Writer:
    """Owns the store's write connection on a thread of its own.

    Args:
        path: the store file.
        on_commit: called on the writer thread after each commit.
        on_error: called on the writer thread when a transaction fails (it is retried).
        on_notice: called on the writer thread with what retention dropped (a sentence).
        max_pending_lines: lines that may wait before submit() blocks (back-pressure:
            bounds memory whatever the producers' batch sizes).
        retention: limits enforced between transactions, a small batch at a time.
        check_first: run the store's integrity check on the writer thread before the
            first write (a store opened with check=False); damage stops the writer.
        compact_before_close: close() waits for the text index's compaction if it is
            due (`collect --once`); otherwise one under way is left where it is.
    """

    def __init__(
        self,
        path: Path,
        on_commit: Callable[[CommitInfo], None] | None = None,
        on_error: Callable[[WriteError], None] | None = None,
        max_pending_lines: int = 100_000,
        retention: Retention | None = None,
        on_notice: Callable[[str], None] | None = None,
        check_first: bool = False,
        compact_before_close: bool = False,
    ) -> None:
        self._path = path
        self._check_first = check_first
        self._compact_before_close = compact_before_close
        self._queue: queue.Queue[object] = queue.Queue()
        self._max_pending = max_pending_lines
        self._pending = 0  # lines submitted and not yet committed
        self._submitted = 0  # lines submitted since the start (committed: less _pending)
        self._room = threading.Condition()
        self._on_commit = on_commit
        self._on_error = on_error
        self._last_slot: dict[int, tuple[int, int]] = {}  # source id -> (bucket, counter)
        self._total = 0
        self._compaction = IndexCompaction(_COMPACT_AFTER_LINES)
        self._closed = False
        self.error: WriteError | None = None  # the latest unresolved failure, if any
        self.failure: BaseException | None = None  # what stopped the writer thread
        self._pruner = Pruner(retention, self._notice) if retention else None
        self._max_tx_lines = _MAX_LINES_PER_TX
        self._wal_limit: int | None = None
        if retention and retention.max_bytes is not None:
            # A small limit gets small transactions and a small WAL, so what the store
            # takes on disk stays near the limit between two checks (~200 bytes a line,
            # a transaction at most 5% of the limit).
            self._max_tx_lines = max(1_000, min(_MAX_LINES_PER_TX, retention.max_bytes // 4_000))
            self._wal_limit = max(1 << 20, min(WAL_LIMIT_BYTES, retention.max_bytes // 4))
        self._conn = self._connect()
        self._files = StoreFiles(path)  # which files the connection has open
        self._rows = BatchRows(self._conn)  # batches into rows, with the source-id cache
        self._on_notice = on_notice
        self._thread = threading.Thread(target=self._run, name="klogtui-writer", daemon=True)
        self._thread.start()

    # -- public API, any thread -------------------------------------------------------

    def submit(self, batch: Batch) -> None:
        """Queue a batch; blocks while too many lines wait, so producers slow down."""
        if self._closed:
            raise RuntimeError("writer is closed")
        n = len(batch.records)
        with self._room:
            # An oversized batch still goes through once the queue has drained.
            while self._pending and self._pending + n > self._max_pending and not self.failure:
                self._room.wait()
            if isinstance(self.failure, StoreError):
                raise StoreError(str(self.failure))
            if self.failure is not None:
                raise StoreError(f"the store's writer stopped: {self.failure!r}")
            self._pending += n
            self._submitted += n
        self._queue.put(batch)

    @property
    def pending_lines(self) -> int:
        """Lines submitted and not yet committed: the queue's depth."""
        return self._pending

    def handed_over(self) -> tuple[int, int]:
        """(lines submitted since the start, how many of them are committed). Lines
        commit in the order submitted: once the second figure reaches a first one seen
        earlier, every line submitted before then is committed (without waiting for
        an empty queue, which a busy writer may never have)."""
        with self._room:
            return self._submitted, self._submitted - self._pending

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is committed; False on timeout or if
        the writer stopped (then what it held was not committed)."""
        marker = _Flush()
        self._queue.put(marker)
        deadline = None if timeout is None else time.monotonic() + timeout
        while not marker.done.wait(0.1):
            if self.failure is not None:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return self.failure is None

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit what is queued, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def total_lines(self) -> int:
        return self._total

    # -- writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._check_first:
                # The store was opened without its integrity check (the explorer shows
                # it meanwhile): nothing is written before the check passes.
                check_integrity(self._conn, self._path)
            self._loop()
        except Exception as e:
            # A bug, or a store that cannot be written any more (not a condition that
            # passes, those are retried): stop visibly, and wake producers so they fail
            # instead of waiting forever for room.
            if isinstance(e, StoreError):
                if self._on_error is not None:
                    self._on_error(WriteError(str(e), 0))
            else:
                log.exception("store writer stopped")
            with self._room:
                self.failure = e
                self._room.notify_all()
            self._release_flushes()
        finally:
            self._conn.close()

    def _release_flushes(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Flush):
                item.done.set()

    def _loop(self) -> None:
        while True:
            # While retention has a backlog, only peek at the queue between its steps.
            wait = _IDLE_S
            if self._pruner is not None:
                wait = self._pruner.next_check - time.monotonic()
                wait = max(0.0, min(_IDLE_S, wait))
            if self._compaction.merging:
                wait = 0.0
            try:
                item = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
            except queue.Empty:
                self._check_files()
                self._enforce_retention(after_commit=False)
                self._compaction.quiet(self._total)
                self._compaction.work(self._conn, _COMPACT_SLICE_S)
                continue
            batches: list[Batch] = []
            markers: list[_Flush] = []
            stop = False
            size = 0
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Flush):
                    markers.append(item)
                elif isinstance(item, Batch):
                    batches.append(item)
                    size += len(item.records)
                if stop or size >= self._max_tx_lines:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batches:
                self._commit_with_retry(batches)
                with self._room:
                    self._pending -= size
                    self._room.notify_all()
            for m in markers:
                m.done.set()
            if stop:
                if self._pruner is not None:
                    # `collect --once` ends within the limits it was given.
                    self._pruner.finish(self._conn, _RETENTION_FINISH_S)
                if self._compact_before_close:
                    self._compaction.finish(self._conn, self._total, _COMPACT_FINISH_S)
                break
            self._enforce_retention(after_commit=bool(batches))
            self._compaction.work(self._conn, _COMPACT_SLICE_S)

    def _enforce_retention(self, after_commit: bool) -> None:
        """A slice of retention work: limits are checked after every commit (so a fast
        backfill cannot run far past --max-size) and every few seconds otherwise."""
        if self._pruner is not None:
            self._pruner.work(self._conn, _RETENTION_SLICE_S, check=after_commit)

    def _notice(self, message: str) -> None:
        log.info("retention: %s", message)
        if self._on_notice is not None:
            self._on_notice(message)

    def _commit_with_retry(self, batches: list[Batch]) -> None:
        attempt = 0
        while True:
            try:
                self._commit(batches)
                self.error = None
                return
            except sqlite3.Error as e:
                attempt += 1
                self.error = WriteError(f"store write failed: {e}; retrying", attempt)
                # on_error tells the user; the log only keeps the detail for debugging.
                log.debug("store write failed (attempt %d): %s", attempt, e)
                if self._on_error is not None:
                    self._on_error(self.error)
                if e.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    self._make_room()
                time.sleep(_RETRY_S[min(attempt - 1, len(_RETRY_S) - 1)])

    def _make_room(self) -> None:
        """Disk full: give the WAL's space back and, if the store is past its size
        limit, run retention now rather than after a commit that cannot happen."""
        truncate_wal(self._conn)
        if self._pruner is not None:
            self._pruner.finish(self._conn, _RETENTION_FINISH_S)

    def _commit(self, batches: list[Batch]) -> None:
        started = time.perf_counter()
        self._check_files()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            slot_state = dict(self._last_slot)
            plain, counts, touched = self._rows.prepare(batches, slot_state)
            # In id order: FTS5 flushes its pending terms to a new segment whenever a
            # rowid is not above the previous one, and batches from different files
            # (or stdout beside stderr) interleave in time. Sorted, one segment per
            # transaction; unsorted, hundreds, and ingest crawls.
            plain.sort()
            ids = self._rows.insert_lines(plain)
            now_ns = time.time_ns()
            commit_log.record(conn, ids, now_ns)
            commit_log.trim(conn, now_ns)
            conn.executemany(
                "INSERT INTO counts VALUES (?,?,?,?,?) "
                "ON CONFLICT DO UPDATE SET n = n + excluded.n",
                [(*k, n) for k, n in counts.items()],
            )
            conn.executemany(
                "UPDATE sources SET lines = lines + ?, "
                "first_ts = CASE WHEN first_ts = 0 OR first_ts > ? THEN ? ELSE first_ts END, "
                "last_ts = max(last_ts, ?) WHERE id = ?",
                [(n, lo, lo, hi, sid) for sid, (n, lo, hi) in touched.items()],
            )
            for b in batches:
                if b.checkpoints:
                    conn.executemany(
                        "INSERT OR REPLACE INTO checkpoints VALUES (?, ?)",
                        list(b.checkpoints.items()),
                    )
                if b.deleted_checkpoints:
                    conn.executemany(
                        "DELETE FROM checkpoints WHERE key = ?",
                        [(k,) for k in b.deleted_checkpoints],
                    )
            if self._files.store_gone():
                raise self._store_gone()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Ids of sources, and a dictionary, the rolled-back transaction stored are void.
            self._rows.rolled_back()
            raise
        self._last_slot = slot_state
        self._total += len(ids)
        if self._on_commit is not None:
            max_id = ids[-1] if ids else 0  # ascending
            self._on_commit(
                CommitInfo(len(ids), self._total, max_id, time.perf_counter() - started)
            )

    def _connect(self) -> sqlite3.Connection:
        conn = connect(self._path)
        if self._wal_limit is not None:
            conn.execute(f"PRAGMA journal_size_limit={self._wal_limit}")
        return conn

    def _check_files(self) -> None:
        """Stop if the store was deleted or replaced; start a new WAL if ours was deleted."""
        if self._files.store_gone():
            raise self._store_gone()
        if not self._files.wal_gone():
            return
        # Our connection still reads and writes the unlinked WAL: copy every frame into
        # the store, then reopen so the WAL at the path is used again. Until everything
        # is copied (readers hold frames), keep the connection and try again later.
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or frames != copied:
            return
        self._conn.close()
        self._conn = self._connect()
        self._rows.conn = self._conn
        self._files = StoreFiles(self._path)
        message = (
            f"{self._path}-wal was deleted while collecting; every line it held was kept "
            "in the store and a new one started"
        )
        log.info("%s", message)
        if self._on_error is not None:
            self._on_error(WriteError(message, 0))

    def _store_gone(self) -> StoreGone:
        # Frames not yet in the (moved or unlinked) store file go there through our
        # descriptor, and the WAL left at the path is removed: a new store created
        # there must not take it for its own.
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as e:
            log.warning("could not checkpoint the gone store: %s", e)
        self._files.remove_companions()
        return StoreGone(self._path)
