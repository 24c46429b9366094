"""Which of the lines a commit stored match a rule: SQL over just those ids.

A rule's query is compiled once (again when sources come or labels change) and run
restricted to the id ranges the commit log names: an FTS5 MATCH seeks straight to
that rowid range, a query without text reads only those rows. History is never
scanned; at start-up only the rule's own window is counted again (`count_window`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from klogtui.alerts.language import CompiledQuery, compile_rule_query
from klogtui.model import Source, SourceKey

__all__ = ["Match", "RuleMatcher", "load_sources", "sources_signature"]


class Match(NamedTuple):
    """A matching line: its id, timestamp (UTC ns) and source."""

    id: int
    ts: int
    source_id: int


def load_sources(conn: sqlite3.Connection) -> list[Source]:
    """Every stored source, for compiling source conditions (ns=, pod=, labels)."""
    rows = conn.execute(
        "SELECT id, namespace, pod, container, restart, pod_uid, container_id, node, "
        "labels, state, reason, first_ts, last_ts, lines FROM sources ORDER BY id"
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
        )
        for r in rows
    ]


def sources_signature(conn: sqlite3.Connection) -> tuple[int, int]:
    """Changes when a source is added (labels are re-read on a timer instead)."""
    row = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM sources").fetchone()
    return int(row[0]), int(row[1])


class RuleMatcher:
    """One rule's query, compiled for the store, run over id ranges."""

    def __init__(self, query: str) -> None:
        self.query = query
        self._cq: CompiledQuery | None = None
        self._sql = ""

    def compile(self, sources: Sequence[Source], now_ns: int) -> None:
        """(Re)compile against the store's sources.

        Raises:
            QueryError: the query's regexes ran past their budget.
        """
        cq = compile_rule_query(self.query, sources, now_ns)
        self._cq = cq
        if cq.fts is not None:
            # FTS outer: its doclist is in rowid order and the range is a seek.
            head = (
                "SELECT l.id, l.ts, l.source_id FROM lines_fts f CROSS JOIN lines l "
                "ON l.id = f.rowid WHERE lines_fts MATCH ? AND f.rowid >= ? AND f.rowid <= ?"
            )
        else:
            head = "SELECT l.id, l.ts, l.source_id FROM lines l WHERE l.id >= ? AND l.id <= ?"
        sources_in = ""
        if cq.source_ids is not None:
            sources_in = f" AND l.source_id IN ({','.join(map(str, sorted(cq.source_ids)))})"
        self._sql = f"{head} AND ({cq.where}){sources_in}"

    def _run(self, conn: sqlite3.Connection, lo: int, hi: int) -> list[tuple[int, int, int]]:
        cq = self._cq
        if cq is None or cq.source_ids == frozenset():
            return []
        head: tuple[object, ...] = (cq.fts, lo, hi) if cq.fts is not None else (lo, hi)
        return conn.execute(self._sql, (*head, *cq.params)).fetchall()

    def among(
        self, conn: sqlite3.Connection, runs: Sequence[tuple[int, int]], ids: set[int]
    ) -> list[Match]:
        """The lines with these ids that match, given the ids as inclusive runs."""
        out: list[Match] = []
        for lo, hi in runs:
            # A run can span lines of earlier commits (clocks differ): keep only ours.
            out.extend(Match(*r) for r in self._run(conn, lo, hi) if r[0] in ids)
        return out

    def since(self, conn: sqlite3.Connection, lo: int) -> list[Match]:
        """Every matching line with id >= lo (a rule's window, at start-up)."""
        return [Match(*r) for r in self._run(conn, lo, (1 << 63) - 1)]
