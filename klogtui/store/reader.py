"""Read side of the store: windows of matching lines, newest-N, and what commits added.

A Reader is one read connection (klogtui.store.read_conn) with the windows here and
the counts of klogtui.store.aggregates on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from klogtui.model import LogLine
from klogtui.store import commit_log
from klogtui.store.aggregates import Aggregates
from klogtui.store.compile import CompiledQuery
from klogtui.store.ids import id_for_ts
from klogtui.store.read_conn import COLS, MAX_ID, QueryLike, guarded

__all__ = ["Committed", "Reader"]

_AMONG_PAGE = 5_000


class Committed(NamedTuple):
    """What commits after a seq stored that matches a query (see Reader.committed_after)."""

    lines: list[LogLine]  # in commit order, id order within a commit
    seq: int  # the last commit read: pass it to the next call
    missed: int  # commits after the seq given that were trimmed from the log unread


class Reader(Aggregates):
    """A read connection with the query language on top: windows, follow, counts.

    Args:
        path: the store file (must exist).
    """

    @staticmethod
    def id_for_ts(ts_ns: int) -> int:
        """The smallest id a line at ts_ns can have: where a time jump pivots."""
        return id_for_ts(ts_ns)

    def missing_parts(self) -> list[str]:
        """What this reader could not read: nothing, for a store file."""
        return []

    def newest(self, query: QueryLike, limit: int) -> list[LogLine]:
        """The newest `limit` matching lines, oldest first."""
        return self.window_before(query, None, limit)

    def oldest(self, query: QueryLike, limit: int) -> list[LogLine]:
        """The oldest `limit` matching lines, oldest first."""
        return self.window_after(query, None, limit)

    @guarded
    def window_after(self, query: QueryLike, cursor: int | None, limit: int) -> list[LogLine]:
        """Up to `limit` matching lines with id > cursor (from the oldest if None)."""
        cq = self.compile(query)
        lo = -1 if cursor is None else cursor
        return self._select(cq, lo, MAX_ID, False, limit)

    @guarded
    def window_before(self, query: QueryLike, cursor: int | None, limit: int) -> list[LogLine]:
        """Up to `limit` matching lines with id < cursor (the newest if None), oldest first."""
        cq = self.compile(query)
        hi = MAX_ID if cursor is None else cursor
        rows = self._select(cq, -1, hi, True, limit)
        rows.reverse()
        return rows

    def window_at(self, query: QueryLike, ts_ns: int, before: int, after: int) -> list[LogLine]:
        """Lines around a point in time: `before` lines before it and `after` from it."""
        cq = self.compile(query)
        pivot = id_for_ts(ts_ns)
        return self.window_before(cq, pivot, before) + self.window_after(cq, pivot - 1, after)

    @guarded
    def count_after(self, query: QueryLike, cursor: int, cap: int = 10_000) -> int:
        """How many matching lines are newer than cursor (at most cap)."""
        return len(self._select(self.compile(query), cursor, MAX_ID, False, cap, ids_only=True))

    @guarded
    def last_commit(self) -> int:
        """The seq of the newest commit (0 before the first): where following starts."""
        with self._lock:
            return commit_log.last_seq(self._conn)

    @guarded
    def committed_after(self, query: QueryLike, seq: int, commits: int = 64) -> Committed:
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

    @guarded
    def line(self, line_id: int) -> LogLine | None:
        with self._lock:
            r = self._conn.execute(
                f"SELECT {COLS} FROM lines l WHERE l.id = ?", (line_id,)
            ).fetchone()
        return LogLine(*r) if r else None

    @guarded
    def context(self, line_id: int, before: int, after: int) -> list[LogLine]:
        """Lines around line_id from the same container instance, the line included."""
        target = self.line(line_id)
        if target is None:
            return []
        sql = (
            f"SELECT {COLS} FROM lines l WHERE l.source_id = ? AND l.id {{op}} ? "
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
