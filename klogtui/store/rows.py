"""Batches turned into line rows inside the writer's transaction.

Sources are resolved to ids (inserted when new, their details updated), each line gets
its id (rowid = time, see ids.py) with per-minute counts and each source's time range
aggregated, and the rows are inserted with id collisions moved to the next free ids,
then indexed. The caller owns the transaction; nothing here commits.

A transaction's rows are first put into an in-memory staging table, and the lines table
and the text index are then filled from it by one `INSERT ... SELECT` each. Binding the
rows (Python, holding the GIL) is then the cheap part; the B-tree and FTS5 work runs in
two long SQLite calls that release the GIL, so the file reader parses the next batches on
the other core meanwhile. With `executemany` on the tables themselves, the GIL was
dropped and taken back for every row and the two threads took turns on one core.
Binding is still a good part of the writer's Python, so a staged row holds only values
sqlite3 binds without looking for an adapter (ints, str, bytearray): a compressed value
is a bytearray (text_codec.py) and no fields is 0, where bytes or None would cost ~0.3-0.6
us each for the adapter lookup.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, islice

from klogtui.formats.ansi import strip_ansi
from klogtui.model import Batch, SourceInfo, SourceKey
from klogtui.store import text_keys
from klogtui.store.ids import BUCKET_NS, MAX_BUCKET, SLOT_BITS, bucket_of, remainder_sql
from klogtui.store.text_codec import TextEncoder
from klogtui.store.text_keys import TextKeys

__all__ = ["BatchRows"]

_NS_PER_MINUTE = 60_000_000_000
_STRIP_FUNCTION = "klogtui_strip_ansi"
# A lines row: id, ts, source_id, stream, level, flags, message, fields.
Row = tuple[int, int, int, int, int, int, str, str | None]
# A row as staged and inserted: id, ts, source_id, stream, level, flags, the plain
# message (for the text index), then the message and the fields as stored
# (text_codec.py), no fields as _NO_FIELDS.
StagedRow = tuple[int, int, int, int, int, int, str, str | bytearray, str | bytearray | int]
_NO_FIELDS = 0
# Numbered parameters: the plain message (?7) rides along unused, for the text index.
# {ts} is the stored timestamp's column and value.
_INSERT = (
    "INTO lines(id, {ts}, source_id, stream, level, flags, fields, message) "
    f"VALUES (?1, {{ts_value}}, ?3, ?4, ?5, ?6, nullif(?9, {_NO_FIELDS}), ?8)"
)
# A StagedRow's columns in its order.
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage(id INTEGER, ts INTEGER, "
    "source_id INTEGER, stream INTEGER, level INTEGER, flags INTEGER, text TEXT, "
    "message ANY, fields ANY) STRICT"
)
_STAGE_WIDTH = 9
_STAGE_ROW = "(" + ", ".join(["?"] * _STAGE_WIDTH) + ")"
# Rows staged per statement: each step of a statement gives up the GIL and takes it
# back, and with the file reader's thread running, taking it back waits. 256 rows of 9
# values each stay far below SQLite's limit of 32,766 parameters.
_STAGE_CHUNK = 256
_STAGE_MANY = "INSERT INTO temp.stage VALUES " + ", ".join([_STAGE_ROW] * _STAGE_CHUNK)
_STAGE_ONE = "INSERT INTO temp.stage VALUES " + _STAGE_ROW
_FROM_STAGE = (
    "INTO lines(id, {ts}, source_id, stream, level, flags, fields, message) "
    "SELECT id, {ts_value}, source_id, stream, level, flags, "
    f"nullif(fields, {_NO_FIELDS}), message FROM temp.stage "
    "ORDER BY rowid"
)
# Indexed without terminal escapes (retention deletes the same text): the few lines
# holding an ESC or a C1 CSI go through strip_ansi, the rest are handed over as they are.
_INDEXED_TEXT = (
    f"CASE WHEN instr(text, char(27)) OR instr(text, char(155)) THEN {_STRIP_FUNCTION}(text) "
    "ELSE text END"
)


def _index_from_stage(keys: TextKeys) -> str:
    """The staged rows' text into the index, in key order (FTS5 starts a new segment
    whenever a rowid is not above the previous one). Keyed by bucket, a bucket's lines
    go in as one row (text_keys.py): repeating a rowid within a transaction makes FTS5
    several times slower."""
    if not keys.shared:
        return (
            f"INSERT INTO lines_fts(rowid, message) SELECT id, {_INDEXED_TEXT} "
            "FROM temp.stage ORDER BY rowid"
        )
    return (
        f"INSERT INTO lines_fts(rowid, message) SELECT {keys.key_of('id')}, "
        f"group_concat({_INDEXED_TEXT}, char(10)) FROM temp.stage GROUP BY 1 ORDER BY 1"
    )


# Slots within a 10 µs bucket: the low 5 bits of the source id keep different sources
# apart, a per-source counter keeps one source's same-timestamp lines in arrival order.
_COUNTER_BITS = SLOT_BITS - 5
# ... and the counter of each source starts at its own one of 32 places in its range
# (by the next 5 bits of its id): sources 1, 33, 65, … share the low bits, and with the
# counters all starting at 0 two of them writing within the same 10 µs collided (200
# remote streams at 1,000 lines/s each: 5% of the lines, every transaction).
_START_STEP_BITS = _COUNTER_BITS - 5


@dataclass(frozen=True, slots=True)
class _LineInserts:
    """The two inserts of `lines` rows, for the store's layout: since schema 8 a row
    stores its timestamp as the remainder past its id's bucket start (ids.py), before
    as itself. Rows are staged and handed over with the timestamp either way."""

    one: str  # a StagedRow's values
    from_stage: str  # the staged rows

    @staticmethod
    def of(conn: sqlite3.Connection) -> _LineInserts:
        columns = {r[1] for r in conn.execute("PRAGMA table_xinfo(lines)")}
        if "ts_rem" in columns:
            return _LineInserts(
                _INSERT.format(ts="ts_rem", ts_value=remainder_sql("?1", "?2")),
                _FROM_STAGE.format(ts="ts_rem", ts_value=remainder_sql("id", "ts")),
            )
        return _LineInserts(
            _INSERT.format(ts="ts", ts_value="?2"), _FROM_STAGE.format(ts="ts", ts_value="ts")
        )


def _slot_base(sid: int) -> int:
    """Where a source's slots start in every bucket (see above)."""
    return ((sid & 31) << _COUNTER_BITS) + (((sid >> 5) & 31) << _START_STEP_BITS)


# Ids this writer gave out lately, remembered so a line landing on one takes the next
# slot in `prepare`. Else, with many sources writing at once (remote mode: 200 streams
# over the same seconds), two lines on one id are the rule, not the exception, and
# nearly every transaction went down `insert_lines`' slow path (roll back, look up
# every id, insert again). That path still resolves what this misses (a restart's
# first transactions, ids moved there). About this many ids: a few transactions' worth.
_RECENT_IDS = 100_000


class BatchRows:
    """Turns batches into rows and inserts them, on the writer's connection.

    Args:
        conn: the write connection (the writer sets `conn` again when it reopens it).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._staging(conn)
        self._inserts = _LineInserts.of(conn)
        self._source_ids: dict[SourceKey, int] = {}
        self.load_sources()
        self._recent: set[int] = set()  # ids of the transactions in _recent_batches
        self._recent_batches: deque[list[int]] = deque()
        self._recent_count = 0
        self._encoder = TextEncoder(conn)
        self._index_sql = _index_from_stage(text_keys.of(conn))

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    @conn.setter
    def conn(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._staging(conn)
        self._inserts = _LineInserts.of(conn)

    @staticmethod
    def _staging(conn: sqlite3.Connection) -> None:
        """The staging table and what indexing from it calls, on this connection."""
        conn.execute("PRAGMA temp_store=MEMORY")
        # Emptied after each use, and with auto_vacuum the memory goes back at commit
        # instead of staying with the table at the size of the largest transaction.
        conn.execute("PRAGMA temp.auto_vacuum=FULL")
        conn.execute(_STAGE_DDL)
        conn.create_function(_STRIP_FUNCTION, 1, strip_ansi, deterministic=True)

    def rolled_back(self) -> None:
        """Forget what a rolled-back transaction stored: its sources' ids, a dictionary."""
        self.load_sources()
        self._encoder.reload(self.conn)

    def load_sources(self) -> None:
        """Read the source-id cache from the store (again after a rollback, which voids
        the ids of sources the rolled-back transaction inserted)."""
        self._source_ids.clear()
        for row in self.conn.execute(
            "SELECT id, namespace, pod, container, restart, pod_uid FROM sources"
        ):
            self._source_ids[SourceKey(row[1], row[2], row[3], row[4], row[5])] = row[0]

    def prepare(
        self, batches: list[Batch], slot_state: dict[int, tuple[int, int]]
    ) -> tuple[
        list[Row],
        dict[tuple[int, int, int, int], int],
        dict[int, tuple[int, int, int]],
    ]:
        """Resolve sources, assign ids and aggregate counts (no line I/O yet)."""
        source_id = self._source_id
        for b in batches:
            for info in b.sources:
                self._apply_info(info)
        rows: list[Row] = []
        append = rows.append
        counts: dict[tuple[int, int, int, int], int] = {}
        touched: dict[int, tuple[int, int, int]] = {}
        ids = self._source_ids
        recent = self._recent
        given: list[int] = []
        give = given.append
        last_key: SourceKey | None = None
        sid = 0
        sid_bits = 0
        bucket = prev_bucket = -1
        counter = 0
        # A run of one source's lines: how many, and its first and last timestamps,
        # added to `touched` when the run ends (a tuple a line costs ~0.3 us).
        run_lines = run_lo = run_hi = 0
        for b in batches:
            # Unpacked: a Record's fields by name cost a descriptor call each.
            for ts, source, stream, message, level, flags, fields in b.records:
                if source is not last_key:
                    if last_key is not None:
                        slot_state[sid] = (prev_bucket, counter)
                        _add_run(touched, sid, run_lines, run_lo, run_hi)
                    last_key = source
                    sid = ids.get(last_key) or source_id(last_key)
                    sid_bits = _slot_base(sid)
                    prev_bucket, counter = slot_state.get(sid, (-1, 0))
                    run_lines, run_lo, run_hi = 0, ts, ts
                bucket = ts // BUCKET_NS
                if not 0 <= bucket <= MAX_BUCKET:
                    # Clamped (before 1970, past 2059): compare it as stored, or every
                    # line of a source there would restart at slot 0 and collide. Always:
                    # the bucket just before 1970 is -1, prev_bucket's "none yet".
                    bucket = bucket_of(ts)
                if bucket == prev_bucket:
                    counter += 1
                else:
                    prev_bucket = bucket
                    counter = 0
                # A counter past its bits spills into the next slots and buckets: the
                # order stays right for this source and a collision is resolved below.
                line_id = (bucket << SLOT_BITS) + sid_bits + counter
                if line_id in recent:
                    # Another source's line (same low id bits, same 10 µs) has it: the
                    # source's next free slot; its later lines follow on from there.
                    while line_id in recent:
                        line_id += 1
                        counter += 1
                recent.add(line_id)
                give(line_id)
                append((line_id, ts, sid, stream, level, flags, message, fields))
                key = (ts // _NS_PER_MINUTE, sid, level, stream)
                counts[key] = counts.get(key, 0) + 1
                run_lines += 1
                if ts > run_hi:
                    run_hi = ts
                elif ts < run_lo:
                    run_lo = ts
        if last_key is not None:
            slot_state[sid] = (prev_bucket, counter)
            _add_run(touched, sid, run_lines, run_lo, run_hi)
        self._remember(given)
        return rows, counts, touched

    def _remember(self, given: list[int]) -> None:
        """Keep the ids just given out among the recent ones, forgetting the oldest
        transactions' past `_RECENT_IDS` (a rolled-back transaction's ids stay too:
        that only spaces later lines out a little)."""
        self._recent_batches.append(given)
        self._recent_count += len(given)
        while self._recent_count > _RECENT_IDS and len(self._recent_batches) > 1:
            old = self._recent_batches.popleft()
            self._recent_count -= len(old)
            self._recent.difference_update(old)

    def insert_lines(self, plain: list[Row]) -> list[int]:
        """Insert rows (in id order), their messages and fields compressed; on an id
        collision, move the loser to the next free id. Returns the ids as stored, in
        ascending order (the commit log's ids are read as ascending runs by followers
        and alerts: out of order, lines are lost)."""
        if not plain:
            return []
        conn = self.conn
        # Column by column (zip builds the tuples in C): the row's parts as stored.
        ids, tss, sids, streams, levels, flags, messages, fields = zip(*plain, strict=True)
        stored = self._encoder.encode(conn, messages)
        stored_fields = [
            _NO_FIELDS if f is None else f for f in self._encoder.encode_fields(conn, fields)
        ]
        columns = (ids, tss, sids, streams, levels, flags, messages, stored, stored_fields)
        # Staged from an iterator: zip reuses its tuple, so no row tuple is made (50,000
        # more objects a transaction for the garbage collector to walk).
        self._stage(zip(*columns, strict=True), len(ids))
        before = conn.total_changes
        conn.execute("SAVEPOINT lines")
        conn.execute(f"INSERT OR IGNORE {self._inserts.from_stage}")
        if conn.total_changes - before == len(ids):
            conn.execute("RELEASE lines")
            self._index_staged()
            return list(ids)
        rows: list[StagedRow] = list(zip(*columns, strict=True))
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
        free: list[StagedRow] = []
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
        conn.executemany(f"INSERT {self._inserts.one}", free)
        # Losers, in id order, take the free ids after the rest of their bucket. A full
        # bucket spills into the next ones: walk the taken ids there in one ordered
        # scan instead of probing id by id (which was quadratic in the overflow).
        placed: list[StagedRow] = []
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
        conn.executemany(f"INSERT {self._inserts.one}", placed)
        # Moved rows may land below later free ones (the writer used to check only the
        # last two rows, and lines were lost).
        rows = sorted(free + placed)
        self._stage(rows, len(rows))
        self._index_staged()
        return [r[0] for r in rows]

    def _stage(self, rows: Iterable[StagedRow], n: int) -> None:
        """n rows (in id order) into the staging table, in place of the last ones."""
        conn = self.conn
        conn.execute("DELETE FROM temp.stage")
        values = chain.from_iterable(rows)
        width = _STAGE_WIDTH * _STAGE_CHUNK
        conn.executemany(
            _STAGE_MANY, [list(islice(values, width)) for _ in range(n // _STAGE_CHUNK)]
        )
        conn.executemany(
            _STAGE_ONE, [list(islice(values, _STAGE_WIDTH)) for _ in range(n % _STAGE_CHUNK)]
        )

    def _index_staged(self) -> None:
        """The staged rows' text into the index (see _index_from_stage)."""
        self.conn.execute(self._index_sql)
        self.conn.execute("DELETE FROM temp.stage")

    def _source_id(self, key: SourceKey) -> int:
        cur = self.conn.execute(
            "INSERT INTO sources(namespace, pod, pod_uid, container, restart) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
            (key.namespace, key.pod, key.pod_uid, key.container, key.restart),
        )
        row = cur.fetchone()
        if row is None:
            row = self.conn.execute(
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
            ("workload_kind", info.workload_kind),
            ("workload", info.workload),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if info.labels is not None:
            sets.append("labels = ?")
            args.append(json.dumps(info.labels, sort_keys=True))
        if sets:
            self.conn.execute(f"UPDATE sources SET {', '.join(sets)} WHERE id = ?", (*args, sid))


def _add_run(touched: dict[int, tuple[int, int, int]], sid: int, n: int, lo: int, hi: int) -> None:
    """Add a run of a source's lines to its (lines, first ts, last ts)."""
    t = touched.get(sid)
    touched[sid] = (n, lo, hi) if t is None else (t[0] + n, min(t[1], lo), max(t[2], hi))


class _TakenAfter:
    """The ids already stored above a point, read in order, in pages that grow (most
    buckets with a collision have room right after their last id)."""

    def __init__(self, conn: sqlite3.Connection, after: int) -> None:
        self.conn = conn
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
            for r in self.conn.execute(
                "SELECT id FROM lines WHERE id > ? ORDER BY id LIMIT ?", (after, self._page)
            )
        ]
        self._i = 0
        self._after = self._ids[-1] if self._ids else after
        self._more = len(self._ids) == self._page
        self._page = min(self._page * 4, 8192)
        return bool(self._ids)
