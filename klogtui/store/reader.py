"""Read side of the store: windows, newest-N, facets, histogram, stats.

Every window is a keyset page over line ids (which are time-ordered), never OFFSET,
so paging costs the same at the top of ten million lines as at the bottom. A Reader
serialises its own calls; threads that want to read in parallel open one each.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

from klogtui.errors import StoreError
from klogtui.model import Level, LogLine, Source, SourceKey, Stream
from klogtui.store import commit_log
from klogtui.store.ids import BUCKET_NS, SLOT_BITS, id_before_ts, id_for_ts, ts_of_id
from klogtui.query.parser import CompiledQuery, compile_query, parse
from klogtui.store.schema import broken_store, connect

__all__ = ["FACET_FIELDS", "Bucket", "Committed", "Reader", "StoreStats"]

P = ParamSpec("P")
R = TypeVar("R")

_COLS = "l.id, l.ts, l.source_id, l.stream, l.level, l.flags, l.message"
_NS_PER_MINUTE = 60_000_000_000
_MAX_ID = (1 << 63) - 1
# Above this many selected sources a single scan beats one index walk per source.
_PER_SOURCE_MAX = 64
# Text facets and histograms count at most this many newest matches (then say so).
_SCAN_CAP = 200_000
_AMONG_PAGE = 5_000
FACET_FIELDS = ("namespace", "pod", "container", "stream", "level", "node")


class StoreStats(NamedTuple):
    lines: int
    sources: int
    db_bytes: int
    first_ts: int
    last_ts: int


class Committed(NamedTuple):
    """What commits after a seq stored that matches a query (see Reader.committed_after)."""

    lines: list[LogLine]  # in commit order, id order within a commit
    seq: int  # the last commit read: pass it to the next call
    missed: int  # commits after the seq given that were trimmed from the log unread


class Bucket(NamedTuple):
    """One histogram bucket: [start_ns, end_ns) with total and warn/error counts."""

    start_ns: int
    end_ns: int
    total: int
    warn: int
    error: int


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Report a damaged store as BrokenStoreError (with advice), not a raw sqlite3 error."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as e:
            reader = args[0]
            assert isinstance(reader, Reader)
            if "disk I/O error" in str(e):
                raise StoreError(
                    f"{reader.path}: cannot read the store ({e}); if its -wal file was "
                    "deleted, the collector writing it starts a new one: try again"
                ) from e
            if "Could not decode" in str(e):  # a flipped byte in stored text
                raise broken_store(reader.path, "is damaged (a line's text is not UTF-8)") from e
            raise  # interrupted, locked: not damage
        except sqlite3.DatabaseError as e:
            reader = args[0]
            assert isinstance(reader, Reader)
            raise broken_store(reader.path, f"is damaged ({e})") from e

    return wrapper


class Reader:
    """A read connection with the query language on top.

    Args:
        path: the store file (must exist).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, create=False, readonly=True)
        self._lock = threading.RLock()
        self._sources: list[Source] = []
        self._by_id: dict[int, Source] = {}
        self._sources_version = -1
        self._compiled: dict[str, CompiledQuery] = {}

    def close(self) -> None:
        self._conn.close()

    def interrupt(self) -> None:
        """Abort the query running on this reader (from any thread); no-op once closed."""
        try:
            self._conn.interrupt()
        except sqlite3.ProgrammingError:
            pass  # closed: nothing is running

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read on this reader inside the block sees the store as at its first."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                # The read failed (a damaged page, an interrupt): end the transaction
                # without letting a second error hide the first.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- sources and compilation ------------------------------------------------------

    @_guarded
    def data_version(self) -> int:
        """Changes whenever another connection (the writer) commits."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @_guarded
    def sources(self, refresh: bool = True) -> list[Source]:
        """All sources ever seen, deleted pods included (their history remains)."""
        with self._lock:
            if refresh:
                version = self.data_version()
                if version != self._sources_version:
                    self._load_sources()
                    self._sources_version = version
            return self._sources

    def source(self, source_id: int) -> Source | None:
        with self._lock:
            if source_id not in self._by_id:
                self.sources()
            return self._by_id.get(source_id)

    def _load_sources(self) -> None:
        rows = self._conn.execute(
            "SELECT id, namespace, pod, container, restart, pod_uid, container_id, node, "
            "labels, state, reason, first_ts, last_ts, lines FROM sources ORDER BY id"
        ).fetchall()
        self._sources = [
            Source(
                id=r[0],
                key=SourceKey(r[1], r[2], r[3], r[4], r[5]),
                container_id=r[6],
                node=r[7],
                labels=json.loads(r[8] or "{}"),
                state=r[9],
                reason=r[10],
                first_ts=r[11],
                last_ts=r[12],
                lines=r[13],
            )
            for r in rows
        ]
        self._by_id = {s.id: s for s in self._sources}
        self._compiled.clear()

    @_guarded
    def compile(self, query: str | CompiledQuery) -> CompiledQuery:
        """Compile query text against the current sources (cached until they change).

        Raises:
            QueryError: the text does not parse.
        """
        if isinstance(query, CompiledQuery):
            return query
        with self._lock:
            self.sources()
            cq = self._compiled.get(query)
            if cq is None:
                cq = compile_query(parse(query), self._sources, time.time_ns(), query)
                # `since:15m` means fifteen minutes before *now*: never reuse it.
                if "since:" not in query and "until:" not in query:
                    if len(self._compiled) > 64:
                        self._compiled.clear()
                    self._compiled[query] = cq
            return cq

    # -- windows ------------------------------------------------------------------------

    def newest(self, query: str | CompiledQuery, limit: int) -> list[LogLine]:
        """The newest `limit` matching lines, oldest first."""
        return self.window_before(query, None, limit)

    def oldest(self, query: str | CompiledQuery, limit: int) -> list[LogLine]:
        """The oldest `limit` matching lines, oldest first."""
        return self.window_after(query, None, limit)

    @_guarded
    def window_after(
        self, query: str | CompiledQuery, cursor: int | None, limit: int
    ) -> list[LogLine]:
        """Up to `limit` matching lines with id > cursor (from the oldest if None)."""
        cq = self.compile(query)
        lo = -1 if cursor is None else cursor
        return self._select(cq, lo, _MAX_ID, False, limit)

    @_guarded
    def window_before(
        self, query: str | CompiledQuery, cursor: int | None, limit: int
    ) -> list[LogLine]:
        """Up to `limit` matching lines with id < cursor (the newest if None), oldest first."""
        cq = self.compile(query)
        hi = _MAX_ID if cursor is None else cursor
        rows = self._select(cq, -1, hi, True, limit)
        rows.reverse()
        return rows

    def window_at(
        self, query: str | CompiledQuery, ts_ns: int, before: int, after: int
    ) -> list[LogLine]:
        """Lines around a point in time: `before` lines before it and `after` from it."""
        cq = self.compile(query)
        pivot = id_for_ts(ts_ns)
        return self.window_before(cq, pivot, before) + self.window_after(cq, pivot - 1, after)

    @_guarded
    def count_after(self, query: str | CompiledQuery, cursor: int, cap: int = 10_000) -> int:
        """How many matching lines are newer than cursor (at most cap)."""
        return len(self._select(self.compile(query), cursor, _MAX_ID, False, cap, ids_only=True))

    @_guarded
    def last_commit(self) -> int:
        """The seq of the newest commit (0 before the first): where following starts."""
        with self._lock:
            return commit_log.last_seq(self._conn)

    @_guarded
    def committed_after(self, query: str | CompiledQuery, seq: int, commits: int = 64) -> Committed:
        """Matching lines stored by up to `commits` commits after `seq`, whatever their
        timestamps (a line stamped years ahead or in the past is still new)."""
        cq = self.compile(query)
        out: list[LogLine] = []
        with self._lock:
            logged = commit_log.read_after(self._conn, seq, commits)
            newest = logged[-1][0] if logged else commit_log.last_seq(self._conn)
            first = logged[0][0] if logged else newest + 1
            for _, ids in logged:
                out.extend(self._among(cq, ids))
        return Committed(out, max(seq, newest), max(0, first - seq - 1))

    def _among(self, cq: CompiledQuery, ids: Sequence[int]) -> list[LogLine]:
        """The lines with these ids (ascending) that match cq, in id order."""
        wanted = set(ids)
        out: list[LogLine] = []
        for lo, hi in commit_log.runs(ids):
            cursor = lo - 1
            while True:
                page = self._select(cq, cursor, hi + 1, False, _AMONG_PAGE)
                out.extend(ln for ln in page if ln.id in wanted)
                if len(page) < _AMONG_PAGE:
                    break
                cursor = page[-1].id
        return out

    @_guarded
    def line(self, line_id: int) -> LogLine | None:
        with self._lock:
            r = self._conn.execute(
                f"SELECT {_COLS} FROM lines l WHERE l.id = ?", (line_id,)
            ).fetchone()
        return LogLine(*r) if r else None

    @_guarded
    def context(self, line_id: int, before: int, after: int) -> list[LogLine]:
        """Lines around line_id from the same container instance, the line included."""
        target = self.line(line_id)
        if target is None:
            return []
        sql = (
            f"SELECT {_COLS} FROM lines l WHERE l.source_id = ? AND l.id {{op}} ? "
            "ORDER BY l.id {dir} LIMIT ?"
        )
        with self._lock:
            older = self._conn.execute(
                sql.format(op="<", dir="DESC"), (target.source_id, line_id, before)
            ).fetchall()
            newer = self._conn.execute(
                sql.format(op=">", dir="ASC"), (target.source_id, line_id, after)
            ).fetchall()
        return (
            [LogLine._make(r) for r in reversed(older)]
            + [target]
            + [LogLine._make(r) for r in newer]
        )

    def _select(
        self, cq: CompiledQuery, lo: int, hi: int, desc: bool, limit: int, ids_only: bool = False
    ) -> list[LogLine]:
        """Matching lines with lo < id < hi, newest first if desc, at most limit."""
        lo, hi = self._bounds(cq, lo, hi)
        if limit <= 0 or lo >= hi - 1 or cq.source_ids == frozenset():
            return []
        cols = "l.id" if ids_only else _COLS
        rows: list[Any]
        with self._lock:
            if (
                cq.fts is None
                and cq.source_ids is not None
                and self._per_source_wins(cq.source_ids)
            ):
                rows = self._merge_per_source(cq, cols, lo, hi, desc, limit)
            else:
                rows = self._conn.execute(
                    self._select_sql(cq, cols, desc), self._select_params(cq, lo, hi, limit)
                ).fetchall()
        if ids_only:
            return rows
        return [LogLine._make(r) for r in rows]

    @staticmethod
    def _bounds(cq: CompiledQuery, lo: int, hi: int) -> tuple[int, int]:
        """lo < id < hi narrowed by the query's own since/until."""
        if cq.min_id is not None:
            lo = max(lo, cq.min_id - 1)
        if cq.max_id is not None:
            hi = min(hi, cq.max_id)
        return lo, hi

    def _select_sql(self, cq: CompiledQuery, cols: str, desc: bool) -> str:
        """One statement for matches with lo < id < hi (see _select_params), in order."""
        order = "DESC" if desc else "ASC"
        if cq.fts is not None:
            # FTS outer (CROSS JOIN keeps that order): its doclist is in id order,
            # so the first `limit` hits that pass the filters end the scan.
            return (
                f"SELECT {cols} FROM lines_fts f CROSS JOIN lines l ON l.id = f.rowid "
                f"WHERE lines_fts MATCH ? AND f.rowid > ? AND f.rowid < ? "
                f"AND ({cq.where}){self._source_filter(cq)} "
                f"ORDER BY f.rowid {order} LIMIT ?"
            )
        return (
            f"SELECT {cols} FROM lines l NOT INDEXED WHERE l.id > ? AND l.id < ? "
            f"AND ({cq.where}){self._source_filter(cq)} ORDER BY l.id {order} LIMIT ?"
        )

    @staticmethod
    def _select_params(cq: CompiledQuery, lo: int, hi: int, limit: int) -> tuple[object, ...]:
        head: tuple[object, ...] = (cq.fts, lo, hi) if cq.fts is not None else (lo, hi)
        return (*head, *cq.params, limit)

    @staticmethod
    def _source_filter(cq: CompiledQuery) -> str:
        if cq.source_ids is None:
            return ""
        return f" AND l.source_id IN ({','.join(map(str, sorted(cq.source_ids)))})"

    def _per_source_wins(self, ids: frozenset[int]) -> bool:
        """One index walk per source pays off when the sources hold a small share."""
        if len(ids) > _PER_SOURCE_MAX:
            return False
        by_id = self._by_id
        selected = sum(by_id[i].lines for i in ids if i in by_id)
        total = sum(s.lines for s in self._sources) or 1
        return selected * 4 < total

    def _merge_per_source(
        self, cq: CompiledQuery, cols: str, lo: int, hi: int, desc: bool, limit: int
    ) -> list[Any]:
        order = "DESC" if desc else "ASC"
        sql = (
            f"SELECT {cols} FROM lines l INDEXED BY lines_source WHERE l.source_id = ? "
            f"AND l.id > ? AND l.id < ? AND ({cq.where}) ORDER BY l.id {order} LIMIT ?"
        )
        runs: list[list[Any]] = [
            self._conn.execute(sql, (sid, lo, hi, *cq.params, limit)).fetchall()
            for sid in sorted(cq.source_ids or ())
        ]
        merged: Iterable[Any] = heapq.merge(*runs, key=itemgetter(0), reverse=desc)
        out: list[Any] = []
        for r in merged:
            out.append(r)
            if len(out) >= limit:
                break
        return out

    # -- aggregates ---------------------------------------------------------------------

    def _counts_where(self, cq: CompiledQuery) -> str | None:
        """The query as a filter over the per-minute counts table, when it can be one.

        The counts table has source_id, level and stream columns named like the lines
        table's, so a query that only looks at those runs over it unchanged.
        """
        if cq.fts is not None or any(c in cq.where for c in ("l.id", "l.ts", "l.message")):
            return None
        return f"({cq.where}){self._source_filter(cq)}"

    @_guarded
    def facets(
        self, query: str | CompiledQuery, field: str, limit: int = 200
    ) -> tuple[list[tuple[str, int]], bool]:
        """Counts of each value of `field` among lines matching the query.

        field is one of FACET_FIELDS or "label:<key>". Returns (values by count
        descending, exact); exact is False when a text query was counted over its
        newest matches only.
        """
        cq = self.compile(query)
        per_source: dict[tuple[int, int, int], int] = {}
        exact = True
        with self._lock:
            where = self._counts_where(cq)
            if where is not None:
                rows = self._exact_groups(cq, where)
            else:
                rows = self._capped_groups(cq)
                exact = len(rows) < _SCAN_CAP
                rows = self._group_rows(rows)
        for sid, level, stream, n in rows:
            per_source[(sid, level, stream)] = per_source.get((sid, level, stream), 0) + n
        totals: dict[str, int] = {}
        for (sid, level, stream), n in per_source.items():
            for value in self._facet_values(field, sid, level, stream):
                totals[value] = totals.get(value, 0) + n
        ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        return ordered[:limit], exact

    def _capped_groups(self, cq: CompiledQuery) -> list[tuple[int, int, int, int]]:
        rows = self._select(cq, -1, _MAX_ID, True, _SCAN_CAP)
        return [(r.source_id, r.level, r.stream, r.id) for r in rows]

    @staticmethod
    def _group_rows(rows: Sequence[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        groups: dict[tuple[int, int, int], int] = {}
        for sid, level, stream, _ in rows:
            groups[(sid, level, stream)] = groups.get((sid, level, stream), 0) + 1
        return [(*k, n) for k, n in groups.items()]

    def _facet_values(self, field: str, sid: int, level: int, stream: int) -> list[str]:
        if field == "level":
            return [Level(level).label or "none"]
        if field == "stream":
            return [Stream(stream).label]
        src = self._by_id.get(sid)
        if src is None:
            return []
        if field == "namespace":
            return [src.namespace]
        if field == "pod":
            return [src.pod]
        if field == "container":
            return [src.container]
        if field == "node":
            return [src.node] if src.node else []
        if field.startswith("label:"):
            value = src.labels.get(field[6:])
            return [] if value is None else [value]
        if field == "labels":
            return [f"{k}={v}" for k, v in src.labels.items()]
        raise ValueError(f"unknown facet field {field!r}")

    def _exact_groups(self, cq: CompiledQuery, where: str) -> list[tuple[int, int, int, int]]:
        """(source_id, level, stream, lines) among lines matching a query that the
        counts table can filter (`where`, from _counts_where), within its since/until.

        Whole minutes come from the counts table, the partial minutes at either end
        from the lines themselves, so a time-bounded count is exact and costs two
        minutes of lines at most, however long the range.
        """
        first_min, end_min, edges = _split_minutes(cq.min_id, cq.max_id)
        minutes = ""
        if first_min is not None:
            minutes += f" AND l.minute >= {int(first_min)}"
        if end_min is not None:
            minutes += f" AND l.minute < {int(end_min)}"
        rows: list[tuple[int, int, int, int]] = self._conn.execute(
            f"SELECT l.source_id, l.level, l.stream, sum(l.n) FROM counts l "
            f"WHERE {where}{minutes} GROUP BY 1, 2, 3",
            cq.params,
        ).fetchall()
        for lo, hi in edges:
            rows += self._conn.execute(
                f"SELECT l.source_id, l.level, l.stream, count(*) FROM lines l "
                f"WHERE l.id >= ? AND l.id < ? AND {where} GROUP BY 1, 2, 3",
                (lo, hi, *cq.params),
            ).fetchall()
        return rows

    @_guarded
    def count(self, query: str | CompiledQuery) -> tuple[int, bool]:
        """How many lines match: (count, exact). Text queries stop counting at a cap."""
        cq = self.compile(query)
        with self._lock:
            where = self._counts_where(cq)
            if where is not None:
                return sum(n for *_, n in self._exact_groups(cq, where)), True
            n = len(self._select(cq, -1, _MAX_ID, True, _SCAN_CAP, ids_only=True))
            return n, n < _SCAN_CAP

    @_guarded
    def histogram(
        self, query: str | CompiledQuery, start_ns: int, end_ns: int, buckets: int
    ) -> tuple[list[Bucket], bool]:
        """Volume over [start_ns, end_ns) in `buckets` equal buckets, warn/error apart.

        Uses the per-minute counts when the query allows it and buckets are at least a
        minute wide; otherwise counts the matching lines themselves, the newest first
        and, for a text query, up to a cap. Returns (buckets, exact); exact is False
        when the cap cut the count short: the buckets before the oldest line counted
        are not counted.
        """
        cq = self.compile(query)
        buckets = max(1, buckets)
        width = max(1, -(-(end_ns - start_ns) // buckets))
        total = [0] * buckets
        warn = [0] * buckets
        error = [0] * buckets

        def add(ts: int, level: int, n: int) -> None:
            i = (ts - start_ns) // width
            if 0 <= i < buckets:
                total[i] += n
                if level == Level.WARN:
                    warn[i] += n
                elif level >= Level.ERROR:
                    error[i] += n

        lo = max(id_for_ts(start_ns), 0 if cq.min_id is None else cq.min_id)
        hi = min(id_before_ts(end_ns), _MAX_ID if cq.max_id is None else cq.max_id)

        def count_lines(lo: int, hi: int, cap: int) -> int:
            """Add the matching lines with lo <= id < hi, the newest `cap` (-1: all)."""
            # Grouped in SQL: ids carry the time, so only (bucket, level, count)
            # rows come back to Python, not every matching line.
            inner = self._select_sql(cq, "l.id, l.level", desc=True)
            counted = 0
            for bucket_ts, level, n in self._conn.execute(
                f"SELECT ((id >> {SLOT_BITS}) * {BUCKET_NS} - ?) / ? * ? + ?, level, "
                f"count(*) FROM ({inner}) GROUP BY 1, 2",
                (start_ns, width, width, start_ns, *self._select_params(cq, lo - 1, hi, cap)),
            ):
                add(bucket_ts, level, n)
                counted += n
            return counted

        where = self._counts_where(cq)
        exact = True
        with self._lock:
            if where is not None and width >= _NS_PER_MINUTE:
                first_min, end_min, edges = _split_minutes(lo, hi)
                for minute, level, n in self._conn.execute(
                    f"SELECT l.minute, l.level, sum(l.n) FROM counts l WHERE l.minute >= ? "
                    f"AND l.minute < ? AND {where} GROUP BY 1, 2",
                    (first_min, end_min, *cq.params),
                ):
                    add(minute * _NS_PER_MINUTE, level, n)
                for edge_lo, edge_hi in edges:
                    count_lines(edge_lo, edge_hi, -1)
            else:
                # Only text queries are capped: any other one counts every line in
                # range (LIMIT -1: no limit), about 0.2 s per 500,000 lines.
                cap = _SCAN_CAP if cq.is_text else -1
                counted = count_lines(lo, hi, cap)
                exact = cap < 0 or counted < cap
        return [
            Bucket(start_ns + i * width, start_ns + (i + 1) * width, total[i], warn[i], error[i])
            for i in range(buckets)
        ], exact

    @_guarded
    def stats(self) -> StoreStats:
        with self._lock:
            lines, n_sources, first, last = self._conn.execute(
                "SELECT coalesce(sum(lines), 0), count(*), coalesce(min(nullif(first_ts, 0)), 0), "
                "coalesce(max(last_ts), 0) FROM sources"
            ).fetchone()
        size = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                size += os.path.getsize(str(self.path) + suffix)
            except OSError:
                pass
        return StoreStats(int(lines), int(n_sources), size, int(first), int(last))

    @_guarded
    def time_range(self) -> tuple[int, int]:
        """(oldest, newest) stored timestamps, (0, 0) for an empty store."""
        with self._lock:
            lo = self._conn.execute("SELECT ts FROM lines ORDER BY id ASC LIMIT 1").fetchone()
            hi = self._conn.execute("SELECT ts FROM lines ORDER BY id DESC LIMIT 1").fetchone()
        return (lo[0] if lo else 0, hi[0] if hi else 0)


def _split_minutes(
    lo: int | None, hi: int | None
) -> tuple[int | None, int | None, list[tuple[int, int]]]:
    """Split the ids lo <= id < hi (None: unbounded) into whole minutes, as
    (first minute or None, end minute (exclusive) or None), and the id ranges [a, b)
    of the partial minutes at either end. Minutes start on a 10 µs bucket, so the
    split is exact."""
    first_min = end_min = None
    edges: list[tuple[int, int]] = []
    if lo is not None:
        first_min = -(-ts_of_id(lo) // _NS_PER_MINUTE)
        edges.append((lo, id_for_ts(first_min * _NS_PER_MINUTE)))
    if hi is not None:
        end_min = ts_of_id(hi) // _NS_PER_MINUTE
        edges.append((id_for_ts(end_min * _NS_PER_MINUTE), hi))
    if first_min is not None and end_min is not None and first_min >= end_min:
        # No whole minute: the range lies within one or two partial minutes.
        return (
            first_min,
            first_min,
            [(lo, hi)] if lo is not None and hi is not None and lo < hi else [],
        )
    return first_min, end_min, [(a, b) for a, b in edges if a < b]
