"""One read connection to the store: its sources, the query compiled against them,
and the keyset select every read is built on.

Every select is a keyset page over line ids (which are time-ordered), never OFFSET,
so paging costs the same at the top of ten million lines as at the bottom. A
connection serialises its own calls; threads that want to read in parallel open one
each.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any, ParamSpec, TypeAlias, TypeVar

from klogtui.errors import QueryError, StoreError
from klogtui.model import LogLine, Source, SourceKey
from klogtui.query.parsed import ParsedQuery
from klogtui.store import text_codec, text_keys, text_terms
from klogtui.store.compile import CompiledQuery, compile_query
from klogtui.store.field_sql import REGEX_VALUE_S, RegexTooSlow
from klogtui.store.schema import broken_store, connect
from klogtui.store.text_codec import FIELDS, MESSAGE

__all__ = ["COLS", "MAX_ID", "QueryLike", "ReadConnection", "guarded"]

P = ParamSpec("P")
R = TypeVar("R")

# A query as readers take it: text (parsed here), the app's one parse, or compiled.
QueryLike: TypeAlias = str | ParsedQuery | CompiledQuery

COLS = f"l.id, l.ts, l.source_id, l.stream, l.level, l.flags, {MESSAGE}, {FIELDS}"
# The same with the message and fields as stored: a walk per source reads `limit` rows
# of each source and keeps `limit` in all, so only those are decompressed.
_STORED_COLS = "l.id, l.ts, l.source_id, l.stream, l.level, l.flags, l.message, l.fields"
MAX_ID = (1 << 63) - 1
# Above this many selected sources a single scan beats one index walk per source.
_PER_SOURCE_MAX = 64


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Report a damaged store as BrokenStoreError (with advice), not a raw sqlite3 error."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.OperationalError as e:
            reader = args[0]
            assert isinstance(reader, ReadConnection)
            if RegexTooSlow.raised_in(e):
                raise _regex_too_slow(args[1] if len(args) > 1 else "") from e
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
            assert isinstance(reader, ReadConnection)
            raise broken_store(reader.path, f"is damaged ({e})") from e

    return wrapper


def _regex_too_slow(query: object) -> QueryError:
    """The error for a read a field regex stopped, pointing at the first field regex."""
    text = query.typed if isinstance(query, ParsedQuery) else query
    text = text if isinstance(text, str) else ""
    found = re.search(r"\.[^\s=!~<>]+[=!]~", text)
    return QueryError(
        f"a .field regex took longer than {REGEX_VALUE_S:g} s on one value: the pattern "
        "backtracks (nested repeats such as (a|a)+); simplify it",
        found.start() if found else 0,
        text,
    )


class ReadConnection:
    """A read connection with the query language on top.

    Args:
        path: the store file (must exist).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, create=False, readonly=True)
        self._decode = text_codec.decoder(self._conn)
        self._positions = text_terms.keeps_positions(self._conn)
        self._keys = text_keys.of(self._conn)
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

    @guarded
    def data_version(self) -> int:
        """Changes whenever another connection (the writer) commits."""
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @guarded
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
            "labels, state, reason, first_ts, last_ts, lines, workload_kind, workload "
            "FROM sources ORDER BY id"
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
                workload_kind=r[14],
                workload=r[15],
            )
            for r in rows
        ]
        self._by_id = {s.id: s for s in self._sources}
        self._compiled.clear()

    @guarded
    def compile(self, query: QueryLike) -> CompiledQuery:
        """Compile a query against the current sources (cached by its canonical text
        until they change).

        Raises:
            QueryError: query text that does not parse, or a regex that ran too long.
        """
        if isinstance(query, CompiledQuery):
            return query
        if isinstance(query, str):
            query = ParsedQuery.of(query)
        with self._lock:
            self.sources()
            cq = self._compiled.get(query.canonical)
            if cq is None:
                cq = compile_query(
                    query.ast,
                    self._sources,
                    time.time_ns(),
                    query.typed,
                    query.zone,
                    positions=self._positions,
                    keys=self._keys,
                )
                # `since:15m` means fifteen minutes before *now*: never reuse it.
                if not query.has_time_bound:
                    if len(self._compiled) > 64:
                        self._compiled.clear()
                    self._compiled[query.canonical] = cq
            return cq

    # -- the select ---------------------------------------------------------------------

    def _select(
        self, cq: CompiledQuery, lo: int, hi: int, desc: bool, limit: int, ids_only: bool = False
    ) -> list[LogLine]:
        """Matching lines with lo < id < hi, newest first if desc, at most limit."""
        lo, hi = self._bounds(cq, lo, hi)
        if limit <= 0 or lo >= hi - 1 or cq.source_ids == frozenset():
            return []
        cols = "l.id" if ids_only else COLS
        rows: list[Any]
        with self._lock:
            if (
                cq.fts is None
                and cq.source_ids is not None
                and self._per_source_wins(cq.source_ids)
            ):
                cols = "l.id" if ids_only else _STORED_COLS
                rows = self._merge_per_source(cq, cols, lo, hi, desc, limit)
                if not ids_only:
                    decode = self._decode
                    rows = [(*r[:6], decode(r[6]), decode(r[7])) for r in rows]
            else:
                rows = self._conn.execute(
                    self._select_sql(cq, cols, desc), self._select_params(cq, lo, hi, limit)
                ).fetchall()
                if desc and cq.fts is not None and self._keys.shared:
                    rows = self._newest_first_in_keys(cq, cols, rows, lo, hi, limit)
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
        """One statement for matches with lo < id < hi (see _select_params), in order
        (keyed by bucket and newest first: a key's lines oldest first, see
        _newest_first_in_keys)."""
        order = "DESC" if desc else "ASC"
        if cq.fts is not None:
            # FTS outer (CROSS JOIN keeps that order): its doclist is in key order,
            # so the first `limit` hits that pass the filters end the scan. Keyed by
            # bucket, the key bounds are wider than the ids': the ids are bounded too.
            keys = self._keys
            ids = " AND l.id > ? AND l.id < ?" if keys.shared else ""
            return (
                f"SELECT {cols} FROM lines_fts f CROSS JOIN lines l "
                f"ON {keys.lines_of_key('f.rowid')} "
                f"WHERE lines_fts MATCH ? AND f.rowid > ? AND f.rowid < ?{ids} "
                f"AND ({cq.where}){self._source_filter(cq)} "
                f"ORDER BY f.rowid {order} LIMIT ?"
            )
        return (
            f"SELECT {cols} FROM lines l NOT INDEXED WHERE l.id > ? AND l.id < ? "
            f"AND ({cq.where}){self._source_filter(cq)} ORDER BY l.id {order} LIMIT ?"
        )

    def _select_params(self, cq: CompiledQuery, lo: int, hi: int, limit: int) -> tuple[object, ...]:
        head: tuple[object, ...] = (lo, hi)
        if cq.fts is not None:
            keys = self._keys
            head = (cq.fts, keys.key_above(lo), keys.key_below(hi))
            if keys.shared:
                head = (*head, lo, hi)
        return (*head, *cq.params, limit)

    def _newest_first_in_keys(
        self, cq: CompiledQuery, cols: str, rows: list[Any], lo: int, hi: int, limit: int
    ) -> list[Any]:
        """Rows of a newest-first select keyed by bucket, newest first within keys too.

        FTS5 hands the keys newest first, but SQLite reads each key's lines upward (it
        will not order them downward without sorting every hit). When LIMIT cut the
        last key short, it kept that key's oldest lines: read the key whole instead
        (only if it holds a line above the last one read: a probe, then rarely that).
        """
        shift = self._keys.shift
        last = rows[-1][0] >> shift if rows else 0
        if (
            len(rows) == limit
            and self._conn.execute(
                "SELECT 1 FROM lines WHERE id > ? AND id < ? LIMIT 1",
                (rows[-1][0], min(hi, (last + 1) << shift)),
            ).fetchone()
        ):
            rows = [r for r in rows if r[0] >> shift != last]
            rows += self._conn.execute(
                self._select_sql(cq, cols, desc=True),
                self._select_params(
                    cq, max(lo, (last << shift) - 1), min(hi, (last + 1) << shift), -1
                ),
            ).fetchall()
        rows.sort(key=itemgetter(0), reverse=True)
        return rows[:limit]

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
        """The first `limit` matches in order, by one index walk per source.

        One statement: the walks take ids only (the index holds them), their merge keeps
        `limit`, and only those rows are read from the table (a walk that read whole rows
        read `limit` of each source: 4.2 -> 1.5 ms for the bench's 4 sources).
        """
        order = "DESC" if desc else "ASC"
        walk = (
            "SELECT id FROM (SELECT l.id AS id FROM lines l INDEXED BY lines_source "
            f"WHERE l.source_id = ? AND l.id > ? AND l.id < ? AND ({cq.where}) "
            f"ORDER BY l.id {order} LIMIT ?)"
        )
        sources = sorted(cq.source_ids or ())
        walks = " UNION ALL ".join([walk] * len(sources))
        sql = (
            f"SELECT {cols} FROM lines l WHERE l.id IN (SELECT id FROM ({walks}) "
            f"ORDER BY id {order} LIMIT ?) ORDER BY l.id {order}"
        )
        params = [p for sid in sources for p in (sid, lo, hi, *cq.params, limit)]
        return self._conn.execute(sql, (*params, limit)).fetchall()
