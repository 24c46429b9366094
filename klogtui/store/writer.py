"""The single writer thread: batches in, one transaction per group of batches.

Lines, source updates, per-minute counts and the sources' checkpoints commit together,
so a crash rolls lines and offsets back as one and a restart re-reads exactly what
was not stored. A failed transaction (disk full, store locked) is retried with the
same batches; nothing advances until it succeeds.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from klogtui.errors import StoreError
from klogtui.model import Batch, SourceInfo, SourceKey
from klogtui.store import commit_log
from klogtui.store.ids import BUCKET_NS, SLOT_BITS, bucket_of
from klogtui.store.retention import Pruner, Retention, truncate_wal
from klogtui.store.schema import WAL_LIMIT_BYTES, connect
from klogtui.store.store_files import StoreFiles, StoreGone

__all__ = ["CommitInfo", "Writer"]

log = logging.getLogger(__name__)

_NS_PER_MINUTE = 60_000_000_000
# Slots within a 10 µs bucket: the low 5 bits of the source id keep different sources
# apart, a per-source counter keeps one source's same-timestamp lines in arrival order.
_COUNTER_BITS = SLOT_BITS - 5
_MAX_LINES_PER_TX = 50_000
_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)
_IDLE_S = 1.0
# Retention's share of the writer while it works off a backlog: about as long as a
# full ingest transaction, so neither starves the other.
_RETENTION_SLICE_S = 0.3
_RETENTION_FINISH_S = 60.0


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
    """

    def __init__(
        self,
        path: Path,
        on_commit: Callable[[CommitInfo], None] | None = None,
        on_error: Callable[[WriteError], None] | None = None,
        max_pending_lines: int = 100_000,
        retention: Retention | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self._path = path
        self._queue: queue.Queue[object] = queue.Queue()
        self._max_pending = max_pending_lines
        self._pending = 0  # lines submitted and not yet committed
        self._room = threading.Condition()
        self._on_commit = on_commit
        self._on_error = on_error
        self._source_ids: dict[SourceKey, int] = {}
        self._last_slot: dict[int, tuple[int, int]] = {}  # source id -> (bucket, counter)
        self._total = 0
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
        self._on_notice = on_notice
        self._load_sources()
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
        self._queue.put(batch)

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

    def _load_sources(self) -> None:
        for row in self._conn.execute(
            "SELECT id, namespace, pod, container, restart, pod_uid FROM sources"
        ):
            self._source_ids[SourceKey(row[1], row[2], row[3], row[4], row[5])] = row[0]

    def _run(self) -> None:
        try:
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
            try:
                item = self._queue.get(timeout=wait) if wait else self._queue.get_nowait()
            except queue.Empty:
                self._check_files()
                self._enforce_retention(after_commit=False)
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
                break
            self._enforce_retention(after_commit=bool(batches))

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
            rows, counts, touched = self._prepare(batches, slot_state)
            # In id order: FTS5 flushes its pending terms to a new segment whenever a
            # rowid is not above the previous one, and batches from different files
            # (or stdout beside stderr) interleave in time. Sorted, one segment per
            # transaction; unsorted, hundreds, and ingest crawls.
            rows.sort()
            rows = self._insert_lines(rows)
            if len(rows) > 1 and rows[-1][0] < rows[-2][0]:
                rows.sort()  # colliding rows were moved and appended at the end
            conn.executemany(
                "INSERT INTO lines_fts(rowid, message) VALUES (?, ?)", [(r[0], r[6]) for r in rows]
            )
            now_ns = time.time_ns()
            commit_log.record(conn, [r[0] for r in rows], now_ns)
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
            # Ids cached for sources inserted by the rolled-back transaction are void.
            self._source_ids.clear()
            self._load_sources()
            raise
        self._last_slot = slot_state
        self._total += len(rows)
        if self._on_commit is not None:
            max_id = max((r[0] for r in rows), default=0)
            self._on_commit(
                CommitInfo(len(rows), self._total, max_id, time.perf_counter() - started)
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

    def _prepare(
        self, batches: list[Batch], slot_state: dict[int, tuple[int, int]]
    ) -> tuple[
        list[tuple[int, int, int, int, int, int, str]],
        dict[tuple[int, int, int, int], int],
        dict[int, tuple[int, int, int]],
    ]:
        """Resolve sources, assign ids and aggregate counts (no line I/O yet)."""
        source_id = self._source_id
        for b in batches:
            for info in b.sources:
                self._apply_info(info)
        rows: list[tuple[int, int, int, int, int, int, str]] = []
        append = rows.append
        counts: dict[tuple[int, int, int, int], int] = {}
        touched: dict[int, tuple[int, int, int]] = {}
        ids = self._source_ids
        last_key: SourceKey | None = None
        sid = 0
        sid_bits = 0
        bucket = prev_bucket = -1
        counter = 0
        for b in batches:
            for r in b.records:
                if r.source is not last_key:
                    if last_key is not None:
                        slot_state[sid] = (prev_bucket, counter)
                    last_key = r.source
                    sid = ids.get(last_key) or source_id(last_key)
                    sid_bits = (sid & 31) << _COUNTER_BITS
                    prev_bucket, counter = slot_state.get(sid, (-1, 0))
                ts = r.ts
                bucket = ts // BUCKET_NS
                if bucket != prev_bucket:
                    # Clamped (past 2059): compare it as stored, or every line of a
                    # source there would restart at slot 0 and collide.
                    bucket = bucket_of(ts)
                if bucket == prev_bucket:
                    counter += 1
                else:
                    prev_bucket = bucket
                    counter = 0
                # A counter past its bits spills into the next slots and buckets: the
                # order stays right for this source and a collision is resolved below.
                append(
                    (
                        (bucket << SLOT_BITS) + sid_bits + counter,
                        ts,
                        sid,
                        r.stream,
                        r.level,
                        r.flags,
                        r.message,
                    )
                )
                key = (ts // _NS_PER_MINUTE, sid, r.level, r.stream)
                counts[key] = counts.get(key, 0) + 1
                t = touched.get(sid)
                if t is None:
                    touched[sid] = (1, ts, ts)
                else:
                    touched[sid] = (t[0] + 1, ts if ts < t[1] else t[1], ts if ts > t[2] else t[2])
        if last_key is not None:
            slot_state[sid] = (prev_bucket, counter)
        return rows, counts, touched

    def _insert_lines(
        self, rows: list[tuple[int, int, int, int, int, int, str]]
    ) -> list[tuple[int, int, int, int, int, int, str]]:
        """Insert rows; on an id collision, move the loser to the next free id."""
        conn = self._conn
        before = conn.total_changes
        conn.execute("SAVEPOINT lines")
        conn.executemany("INSERT OR IGNORE INTO lines VALUES (?,?,?,?,?,?,?)", rows)
        if conn.total_changes - before == len(rows):
            conn.execute("RELEASE lines")
            return rows
        # Rare: two lines landed on one id (same 10 µs bucket and the same low source
        # bits, a burst past a source's slots, a restart re-reading into a used bucket).
        # Redo the batch: rows whose id is free go in bulk, only the losers are moved.
        conn.execute("ROLLBACK TO lines")
        conn.execute("RELEASE lines")
        taken = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM lines WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps([r[0] for r in rows]),),
            )
        }
        # A collision moves its row, and every later row of the same source in the
        # same bucket, to the end of that bucket: the source's lines keep their order.
        free: list[tuple[int, int, int, int, int, int, str]] = []
        losers = []
        moved: set[tuple[int, int]] = set()  # (source id, bucket)
        for row in rows:
            group = (row[2], row[0] >> SLOT_BITS)
            if row[0] in taken or group in moved:
                moved.add(group)
                losers.append(row)
            else:
                taken.add(row[0])
                free.append(row)
        conn.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?)", free)
        # Losers, in id order, take the free ids after the rest of their bucket. A full
        # bucket spills into the next ones: walk the taken ids there in one ordered
        # scan instead of probing id by id (which was quadratic in the overflow).
        placed: list[tuple[int, int, int, int, int, int, str]] = []
        cursor = -1  # the last id given to a loser
        bucket = -1
        taken_after = _TakenAfter(conn, cursor)
        for row in losers:
            if row[0] >> SLOT_BITS != bucket:
                bucket = row[0] >> SLOT_BITS
                start = bucket << SLOT_BITS
                top = conn.execute(
                    "SELECT max(id) FROM lines WHERE id >= ? AND id < ?",
                    (start, start + (1 << SLOT_BITS)),
                ).fetchone()[0]
                cursor = max(cursor, start - 1 if top is None else top)
                taken_after = _TakenAfter(conn, cursor)
            cursor = taken_after.next_free(cursor + 1)
            placed.append((cursor, *row[1:]))
        conn.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?)", placed)
        return free + placed

    def _source_id(self, key: SourceKey) -> int:
        cur = self._conn.execute(
            "INSERT INTO sources(namespace, pod, pod_uid, container, restart) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
            (key.namespace, key.pod, key.pod_uid, key.container, key.restart),
        )
        row = cur.fetchone()
        if row is None:
            row = self._conn.execute(
                "SELECT id FROM sources WHERE namespace=? AND pod=? AND pod_uid=? "
                "AND container=? AND restart=?",
                (key.namespace, key.pod, key.pod_uid, key.container, key.restart),
            ).fetchone()
        self._source_ids[key] = row[0]
        return int(row[0])

    def _apply_info(self, info: SourceInfo) -> None:
        sid = self._source_ids.get(info.key) or self._source_id(info.key)
        sets: list[str] = []
        args: list[object] = []
        for column, value in (
            ("container_id", info.container_id),
            ("node", info.node),
            ("state", info.state),
            ("reason", info.reason),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if info.labels is not None:
            sets.append("labels = ?")
            args.append(json.dumps(info.labels, sort_keys=True))
        if sets:
            self._conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*args, sid))


class _TakenAfter:
    """The ids already stored above a point, read in order, in pages that grow (most
    buckets with a collision have room right after their last id)."""

    def __init__(self, conn: sqlite3.Connection, after: int) -> None:
        self._conn = conn
        self._ids: list[int] = []
        self._i = 0
        self._after = after  # every stored id <= this has been read
        self._page = 8
        self._more = True

    def next_free(self, line_id: int) -> int:
        """The smallest id >= line_id that is not stored (ids asked for only grow)."""
        while True:
            while self._i < len(self._ids) and self._ids[self._i] < line_id:
                self._i += 1
            if self._i == len(self._ids):
                if not self._more or not self._read(max(line_id - 1, self._after)):
                    return line_id
                continue
            if self._ids[self._i] != line_id:
                return line_id
            line_id += 1

    def _read(self, after: int) -> bool:
        self._ids = [
            r[0]
            for r in self._conn.execute(
                "SELECT id FROM lines WHERE id > ? ORDER BY id LIMIT ?", (after, self._page)
            )
        ]
        self._i = 0
        self._after = self._ids[-1] if self._ids else after
        self._more = len(self._ids) == self._page
        self._page = min(self._page * 4, 8192)
        return bool(self._ids)
