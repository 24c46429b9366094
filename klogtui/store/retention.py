"""Retention: drop the oldest lines by age or by store size, a small batch at a time.

The FTS5 index has external content, so each deleted line is removed from the index
with its exact old text first (anything else corrupts the index). Counts and source
totals are decremented in the same transaction, so facets stay exact. Batches are
small so ingest and readers never wait long.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

__all__ = ["Retention", "parse_size"]

_NS_PER_MINUTE = 60_000_000_000
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}


def parse_size(text: str) -> int:
    """Bytes in '2GB', '500M', '1.5GiB', '1048576'. Raises ValueError."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 500MB or 2GB)")
    unit = m.group(2).lower().removesuffix("b")
    return int(float(m.group(1)) * _UNITS[unit])


@dataclass(frozen=True, slots=True)
class Retention:
    """What to keep: lines younger than max_age_ns, a store smaller than max_bytes."""

    max_age_ns: int | None = None
    max_bytes: int | None = None
    batch: int = 5_000

    def __bool__(self) -> bool:
        return self.max_age_ns is not None or self.max_bytes is not None

    def over_limit(self, conn: sqlite3.Connection) -> int | None:
        """The id below which lines must go now, or None if within limits."""
        oldest = conn.execute("SELECT id, ts FROM lines ORDER BY id LIMIT 1").fetchone()
        if oldest is None:
            return None
        if self.max_age_ns is not None and oldest[1] < time.time_ns() - self.max_age_ns:
            cutoff = conn.execute(
                "SELECT id FROM lines WHERE ts >= ? ORDER BY id LIMIT 1",
                (time.time_ns() - self.max_age_ns,),
            ).fetchone()
            return cutoff[0] if cutoff else (1 << 63) - 1
        if self.max_bytes is not None and _used_bytes(conn) > self.max_bytes:
            return (1 << 63) - 1  # delete from the oldest, one batch at a time
        return None

    def delete_batch(self, conn: sqlite3.Connection, below_id: int) -> int:
        """Delete up to `batch` oldest lines with id < below_id; call inside a transaction."""
        rows = conn.execute(
            "SELECT id, ts, source_id, stream, level, message FROM lines WHERE id < ? "
            "ORDER BY id LIMIT ?",
            (below_id, self.batch),
        ).fetchall()
        if not rows:
            return 0
        conn.executemany(
            "INSERT INTO lines_fts(lines_fts, rowid, message) VALUES ('delete', ?, ?)",
            [(r[0], r[5]) for r in rows],
        )
        conn.execute("DELETE FROM lines WHERE id <= ?", (rows[-1][0],))
        counts: dict[tuple[int, int, int, int], int] = {}
        per_source: dict[int, int] = {}
        for _, ts, sid, stream, level, _ in rows:
            key = (ts // _NS_PER_MINUTE, sid, level, stream)
            counts[key] = counts.get(key, 0) + 1
            per_source[sid] = per_source.get(sid, 0) + 1
        conn.executemany(
            "UPDATE counts SET n = n - ? WHERE minute = ? AND source_id = ? AND level = ? "
            "AND stream = ?",
            [(n, *k) for k, n in counts.items()],
        )
        conn.execute("DELETE FROM counts WHERE n <= 0")
        conn.executemany(
            "UPDATE sources SET lines = max(0, lines - ?), first_ts = coalesce("
            "(SELECT ts FROM lines INDEXED BY lines_source WHERE source_id = sources.id "
            "ORDER BY id LIMIT 1), 0) WHERE id = ?",
            [(n, sid) for sid, n in per_source.items()],
        )
        return len(rows)


def _used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in use (free pages are reused by new rows, so this is what grows)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)
