"""Which of the lines a commit stored match a rule: SQL over just those ids.

A rule's query is compiled once (again when sources come or labels change) and run
restricted to the id ranges the commit log names: an FTS5 MATCH seeks straight to
that rowid range, a query without text reads only those rows, and SQLite counts per
second (`count`). When several rules only add source, level or stream conditions to
the same text (or to none), the commit's lines are grouped once (`group_lines`) and
each such rule counts over the groups. A range that also holds lines of earlier
commits (a source whose clock or reading lags) is read row by row and filtered to
the commit's ids (`count_among`). History is never scanned; at start-up only the
rule's own window is counted again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from klogtui.alerts.language import CompiledQuery, compile_rule_query
from klogtui.model import Source, SourceKey
from klogtui.store.ids import BUCKET_NS, SLOT_BITS
from klogtui.store.text_keys import BY_ID, TextKeys

_NS = 1_000_000_000

__all__ = [
    "ALL_LINES",
    "Counted",
    "RuleMatcher",
    "group_lines",
    "load_sources",
    "sources_signature",
]


class Counted(NamedTuple):
    """Matching lines stamped in one second: how many, and the newest of them."""

    second: int  # UTC seconds
    n: int
    newest_id: int


_GROUPS = "alert_groups"
ALL_LINES = ""  # the groups' `fts` for every line of the range (rules without text)


def group_lines(
    conn: sqlite3.Connection, ranges: Sequence[tuple[int, int]], texts: set[str]
) -> None:
    """Group the lines of these id ranges by source, level, stream and second: all of
    them (text ALL_LINES) and those matching each FTS expression in `texts`. Grouped
    rules count over these few rows instead of reading the lines again each. A
    temporary table of this connection: no lock on the store. (Only rules on a store
    keyed by line id group by text: keyed by bucket, a rule's lines are checked.)"""
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_GROUPS}(fts TEXT, source_id INTEGER, "
        "level INTEGER, stream INTEGER, second INTEGER, n INTEGER, newest INTEGER)"
    )
    conn.execute(f"DELETE FROM temp.{_GROUPS}")
    columns = f"l.source_id, l.level, l.stream, l.ts / {_NS}, count(*), max(l.id)"
    for lo, hi in ranges:
        for text in texts:
            if text == ALL_LINES:
                conn.execute(
                    f"INSERT INTO temp.{_GROUPS} SELECT '', {columns} FROM lines l "
                    "WHERE l.id >= ? AND l.id <= ? GROUP BY 2, 3, 4, 5",
                    (lo, hi),
                )
            else:
                conn.execute(
                    f"INSERT INTO temp.{_GROUPS} SELECT ?, {columns} FROM lines_fts f "
                    "CROSS JOIN lines l ON l.id = f.rowid WHERE lines_fts MATCH ? "
                    "AND f.rowid >= ? AND f.rowid <= ? GROUP BY 2, 3, 4, 5",
                    (text, text, lo, hi),
                )


def load_sources(conn: sqlite3.Connection) -> list[Source]:
    """Every stored source, for compiling source conditions (ns=, pod=, labels)."""
    rows = conn.execute(
        "SELECT id, namespace, pod, container, restart, pod_uid, container_id, node, "
        "labels, state, reason, first_ts, last_ts, lines, workload_kind, workload "
        "FROM sources ORDER BY id"
    ).fetchall()
    return [
        Source(
            r[0],
            SourceKey(r[1], r[2], r[3], r[4], r[5]),
            r[6],
            r[7],
            json.loads(r[8] or "{}"),
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            r[14],
            r[15],
        )
        for r in rows
    ]


def sources_signature(conn: sqlite3.Connection) -> tuple[int, int]:
    """Changes when a source is added (labels are re-read on a timer instead)."""
    row = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM sources").fetchone()
    return int(row[0]), int(row[1])


class RuleMatcher:
    """One rule's query, compiled for the store, run over id ranges.

    Attributes:
        group_text: when set, the rule can be counted over group_lines' groups for this
            text (ALL_LINES: every line): its other conditions only read a line's
            source, level and stream. None: it reads the lines themselves.
    """

    def __init__(self, query: str) -> None:
        self.query = query
        self._cq: CompiledQuery | None = None
        self._count_sql = ""
        self._grouped_sql = ""
        self._rows_sql = ""
        self.group_text: str | None = None

    def compile(self, sources: Sequence[Source], now_ns: int, keys: TextKeys = BY_ID) -> None:
        """(Re)compile against the store's sources and the way its text index keys lines
        (text_keys.of).

        Raises:
            QueryError: the query's regexes ran past their budget.
        """
        cq = compile_rule_query(self.query, sources, now_ns, keys)
        self._cq = cq
        self.group_text = None
        if cq.fts is not None and cq.where == "1" and cq.source_ids is None:
            # Text alone: the FTS index answers without reading a line; a line's id
            # holds its timestamp (store/ids.py), so the id gives its second. (Keyed
            # by bucket, `where` checks the lines that share one: never here.)
            second = f"(rowid >> {SLOT_BITS}) / {_NS // BUCKET_NS}"
            fts_only = "FROM lines_fts WHERE lines_fts MATCH ? AND rowid >= ? AND rowid <= ?"
            self._count_sql = f"SELECT {second}, count(*), max(rowid) {fts_only} GROUP BY 1"
            self._rows_sql = f"SELECT rowid, {second} {fts_only}"
            return
        sources_in = ""
        if cq.source_ids is not None:
            sources_in = f" AND l.source_id IN ({','.join(map(str, sorted(cq.source_ids)))})"
        if not any(c in cq.where for c in ("l.id", "l.ts", "l.message", "l.fields")):
            self.group_text = cq.fts or ALL_LINES
            self._grouped_sql = (
                f"SELECT l.second, sum(l.n), max(l.newest) FROM temp.{_GROUPS} l "
                f"WHERE l.fts = ? AND ({cq.where}){sources_in} GROUP BY 1"
            )
        if cq.fts is not None:
            # FTS outer: its doclist is in key order and the range is a seek. Keyed by
            # bucket, the keys' range holds more ids than the range: bound those too.
            ids = " AND l.id >= ? AND l.id <= ?" if keys.shared else ""
            head = (
                f"FROM lines_fts f CROSS JOIN lines l ON {keys.lines_of_key('f.rowid')} "
                f"WHERE lines_fts MATCH ? AND f.rowid >= ? AND f.rowid <= ?{ids}"
            )
        else:
            head = "FROM lines l WHERE l.id >= ? AND l.id <= ?"
        where = f"{head} AND ({cq.where}){sources_in}"
        self._count_sql = f"SELECT l.ts / {_NS}, count(*), max(l.id) {where} GROUP BY 1"
        self._rows_sql = f"SELECT l.id, l.ts / {_NS} {where}"

    def key(self, grouped: bool) -> tuple[str, tuple[object, ...]]:
        """Rules with equal keys run the same statement (counted once per pass)."""
        return self._grouped_sql if grouped else self._count_sql, self._params(0, 0) or ()

    def _params(self, lo: int, hi: int) -> tuple[object, ...] | None:
        cq = self._cq
        if cq is None or cq.source_ids == frozenset():
            return None  # no source can match
        head: tuple[object, ...] = (lo, hi)
        if cq.fts is not None:
            shift = cq.keys.shift
            head = (cq.fts, lo >> shift, hi >> shift, *(head if shift else ()))
        return (*head, *cq.params)

    def count(self, conn: sqlite3.Connection, lo: int, hi: int) -> list[Counted]:
        """Matches with lo <= id <= hi, per second: for ranges only new lines are in."""
        params = self._params(lo, hi)
        if params is None:
            return []
        return [Counted(*r) for r in conn.execute(self._count_sql, params)]

    def count_grouped(self, conn: sqlite3.Connection) -> list[Counted]:
        """Matches among the groups group_lines made last (which included group_text)."""
        cq = self._cq
        if cq is None or cq.source_ids == frozenset():
            return []
        params = (self.group_text, *cq.params)
        return [Counted(*r) for r in conn.execute(self._grouped_sql, params)]

    def count_among(
        self, conn: sqlite3.Connection, lo: int, hi: int, ids: set[int]
    ) -> list[Counted]:
        """Like count, but only lines whose id is in `ids` (the range holds older ones)."""
        params = self._params(lo, hi)
        if params is None:
            return []
        return [
            Counted(second, 1, line_id)
            for line_id, second in conn.execute(self._rows_sql, params)
            if line_id in ids
        ]
