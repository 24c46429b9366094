"""Retention: drop the oldest lines by age or by store size, a short step at a time.

The FTS5 index has external content, so each deleted line is removed from the index
with its exact old text first (anything else corrupts the index); keyed by bucket, whole
buckets go, each with all its lines' text (text_keys.py). Counts and source
totals are decremented in the same transaction, so facets stay exact.

Such a removal does not shrink the index: it adds a delete marker that only goes away
when the segments merge. So the size a store has after deleting says nothing about
what deleting freed, and a size limit enforced by "delete while too big" deletes
everything. A `Pruner` works in cycles instead: compact the index, measure, drop the
oldest lines up to a cutoff computed from that measurement (never newer ones),
compact again and hand the freed pages back to the file system (incremental vacuum).
Each step is its own short transaction, run between the writer's, so ingest goes on.
"""

from __future__ import annotations

import enum
import logging
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from klogtui.formats.ansi import strip_ansi
from klogtui.store import text_keys
from klogtui.store.text_codec import message_sql

__all__ = [
    "MIN_MAX_BYTES",
    "Pruner",
    "Retention",
    "bound_wal",
    "give_back",
    "merge_step",
    "parse_size",
    "truncate_wal",
]

log = logging.getLogger(__name__)

# An empty store takes ~100 KB; a limit near that would drop every line it gets.
MIN_MAX_BYTES = 1_000_000
# A size cycle starts at 95% of the limit and brings the store down to 90%: each cycle
# rewrites the whole FTS index, so it must not run for every few lines over the limit.
# Starting early lets a cycle finish between live commits before the limit is reached;
# past the limit itself (a fast backfill) retention goes first until back under it.
_START = 0.95
_LOW_WATER = 0.9
_PRIORITY_S = 60.0  # the most a cycle past the limit holds ingest back
_MERGE_PAGES = 500  # FTS pages merged per step (~50 ms)
_CHECK_EVERY_S = 5.0
_RETRY_S = 1.0
# Every page a step writes goes to the WAL first, and a reader (the app, `klogtui query`)
# keeps the WAL from being reset, so during a cycle it grows by what the cycle rewrites:
# on a small disk the store plus that WAL no longer fit. Past this size a step waits for
# the readers to move on and truncates it, so the space a cycle needs stays near the
# store's own.
_WAL_BOUND_BYTES = 4 << 20
_REPORT_EVERY_S = 10.0  # cycles during a backfill are told together
# FTS5 keeps the index's structure (its segments) in this row; merging changes it.
_FTS_STRUCTURE_ROWID = 10

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

    def __post_init__(self) -> None:
        if self.max_bytes is not None and self.max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"at least {_size_text(MIN_MAX_BYTES)}")

    def due(self, conn: sqlite3.Connection) -> bool:
        """Whether a limit is passed now (cheap: run it after every commit)."""
        if self.max_bytes is not None and used_bytes(conn) > self.max_bytes * _START:
            return True
        if self.max_age_ns is not None:
            oldest = conn.execute("SELECT ts FROM lines ORDER BY id LIMIT 1").fetchone()
            return oldest is not None and oldest[0] < time.time_ns() - self.max_age_ns
        return False

    def cutoff(self, conn: sqlite3.Connection) -> Cutoff | None:
        """Which lines must go now: those with an id below the cutoff. The size part
        assumes the FTS index holds no delete markers (compact it first)."""
        below = 0
        why: list[str] = []
        if self.max_age_ns is not None:
            row = conn.execute(
                "SELECT id FROM lines WHERE ts >= ? ORDER BY id LIMIT 1",
                (time.time_ns() - self.max_age_ns,),
            ).fetchone()
            age_below = row[0] if row else _NO_ID
            if conn.execute("SELECT 1 FROM lines WHERE id < ? LIMIT 1", (age_below,)).fetchone():
                below = age_below
                why.append(f"older than {_age_text(self.max_age_ns)}")
        used = used_bytes(conn)
        if self.max_bytes is not None and used > self.max_bytes * _START:
            count = conn.execute("SELECT coalesce(sum(lines), 0) FROM sources").fetchone()[0]
            # Lines cost about the same each: keep the newest share that fits.
            keep = int(count * self.max_bytes * _LOW_WATER / used)
            row = conn.execute(
                "SELECT id FROM lines ORDER BY id LIMIT 1 OFFSET ?", (max(0, count - keep),)
            ).fetchone()
            size_below = row[0] if row else _NO_ID
            if size_below > below:
                below = size_below
                why.append(f"to keep the store under {_size_text(self.max_bytes)}")
        if not why:
            return None
        oldest = conn.execute("SELECT ts FROM lines ORDER BY id LIMIT 1").fetchone()
        return Cutoff(below, " and ".join(why), oldest[0] if oldest else 0, used)

    def delete_batch(self, conn: sqlite3.Connection, below_id: int) -> tuple[int, int]:
        """Delete up to `batch` oldest lines with id < below_id; call inside a transaction.
        Returns (lines deleted, timestamp of the newest one)."""
        select = f"SELECT id, ts, source_id, stream, level, {message_sql('message')} FROM lines"
        rows = conn.execute(
            f"{select} WHERE id < ? ORDER BY id LIMIT ?", (below_id, self.batch)
        ).fetchall()
        if not rows:
            return 0, 0
        keys = text_keys.of(conn)
        if keys.shared:
            # Whole keys only: the rest of the last line's bucket goes too (lines within
            # 10 µs of the cutoff), so every key is deleted with all its lines' text.
            last = rows[-1][0]
            rows += conn.execute(
                f"{select} WHERE id > ? AND id <= ? ORDER BY id",
                (last, last | ((1 << keys.shift) - 1)),
            ).fetchall()
        conn.executemany(
            "INSERT INTO lines_fts(lines_fts, rowid, message) VALUES ('delete', ?, ?)",
            _indexed(rows, keys.shift),
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
        return len(rows), max(r[1] for r in rows)


_NO_ID = (1 << 63) - 1  # above every id: all lines go


def _indexed(rows: list[tuple[int, int, int, int, int, str]], shift: int) -> list[tuple[int, str]]:
    """(key, text) as the writer indexed the lines (rows in id order, whole keys):
    without terminal escapes, a key's lines joined by newlines (FTS5 then deletes the
    union of their tokens, all the rows the key was indexed as; text_keys.py)."""
    texts: dict[int, list[str]] = {}
    for row in rows:
        texts.setdefault(row[0] >> shift, []).append(strip_ansi(row[5]))
    return [(key, "\n".join(parts)) for key, parts in texts.items()]


@dataclass(frozen=True, slots=True)
class Cutoff:
    """Lines with id < below must go; why, and what the store held when measured."""

    below: int
    why: str
    oldest_ts: int
    used_bytes: int


class Phase(enum.Enum):
    IDLE = "idle"
    MEASURE = "measure"  # compacting the FTS index so its size can be measured
    DROP = "drop"  # deleting the oldest lines, a batch at a time, up to the cutoff
    RECLAIM = "reclaim"  # compacting again, then giving freed pages back


class Pruner:
    """Enforces a Retention in short steps on the writer's connection (its thread only).

    Args:
        retention: the limits.
        on_notice: told, in a sentence, what a cycle dropped or why it could not.
    """

    def __init__(self, retention: Retention, on_notice: Callable[[str], None]) -> None:
        self.retention = retention
        self._on_notice = on_notice
        self.phase = Phase.IDLE
        self.dropped_total = 0  # lines dropped since start
        self._clean = False  # no delete markers in the FTS index since it was compacted
        self._cutoff: Cutoff | None = None
        self._dropped = 0  # lines dropped and not yet told
        self._oldest_dropped = 0
        self._newest_dropped = 0
        self._why = ""
        self._next_report = 0.0
        self._next_check = 0.0
        self._resume_at = 0.0  # after a failed step
        self._failure = ""  # what the last step that failed could not do

    @property
    def busy(self) -> bool:
        """A cycle is under way: call work() again soon."""
        return self.phase is not Phase.IDLE

    @property
    def next_check(self) -> float:
        """When (time.monotonic) work() has something to do: the next step of a cycle,
        or, if idle, the next look at the limits."""
        if self.busy:
            return self._resume_at
        return max(self._next_check, self._resume_at)

    def work(self, conn: sqlite3.Connection, budget_s: float, check: bool) -> None:
        """Run steps for about budget_s, or, while the store is past its size limit,
        until the cycle ends. check: look at the limits now (after a commit) instead of
        waiting for the periodic check. Errors are told and retried later."""
        if self._dropped and time.monotonic() >= self._next_report and not self.busy:
            self._report(conn)
        if time.monotonic() < self._resume_at:
            return
        slice_end = time.monotonic() + budget_s
        try:
            while self._step(conn, check):
                check = False
                now = time.monotonic()
                if now >= slice_end + _PRIORITY_S or (
                    now >= slice_end and not self._past_limit(conn)
                ):
                    break
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._resume_at = time.monotonic() + _RETRY_S
            self._failure = f"could not {self.phase.value}: {e}"
            self._on_notice(f"{self._failure}; retrying")
            if e.sqlite_errorcode == sqlite3.SQLITE_FULL:
                truncate_wal(conn)  # the space the retry needs
        else:
            self._failure = ""

    def finish(self, conn: sqlite3.Connection, timeout_s: float) -> None:
        """Run cycles until the store is within its limits (before the writer closes,
        or when the disk is full), for up to timeout_s: a failed step is retried, and a
        cycle that ends still past the limit is followed by another. What could not be
        done in time is told."""
        deadline = time.monotonic() + timeout_s
        self._resume_at = 0.0
        while (now := time.monotonic()) < deadline:
            if self._resume_at > now:
                time.sleep(min(self._resume_at, deadline) - now)
                continue
            new_cycle = not self.busy
            before = self.dropped_total
            self.work(conn, deadline - time.monotonic(), check=True)
            if new_cycle and not self.busy and self.dropped_total == before:
                break  # within the limits (a cycle that drops nothing ends at once)
        if self._dropped and not self.busy:
            self._report(conn)
        if self.busy or self._failure:
            limit = self.retention.max_bytes
            used = used_bytes(conn)
            over = ""
            if limit is not None and used > limit:
                over = f"; the store is {_size_text(used)}, past its {_size_text(limit)} limit"
            why = self._failure or "a cycle was still under way"
            self._on_notice(f"gave up after {timeout_s:.0f}s ({why}){over}")

    def _past_limit(self, conn: sqlite3.Connection) -> bool:
        limit = self.retention.max_bytes
        return limit is not None and used_bytes(conn) > limit

    def _step(self, conn: sqlite3.Connection, check: bool) -> bool:
        """One short step; True if more are due right away."""
        if self.phase is Phase.IDLE:
            now = time.monotonic()
            if not check and now < self._next_check:
                return False
            self._next_check = now + _CHECK_EVERY_S
            if not self.retention.due(conn):
                return False
            size_over = self.retention.max_bytes is not None and (
                used_bytes(conn) > self.retention.max_bytes * _START
            )
            self.phase = Phase.MEASURE if size_over and not self._clean else Phase.DROP
            self._cutoff = None
            return True
        bound_wal(conn)
        if self.phase is Phase.MEASURE:
            if not merge_step(conn):
                self._clean = True
                self.phase = Phase.DROP
            return True
        if self.phase is Phase.DROP:
            if self._cutoff is None:
                self._cutoff = self.retention.cutoff(conn)
                if self._cutoff is None:  # within the limits once measured
                    self.phase = Phase.RECLAIM
                    return True
            conn.execute("BEGIN IMMEDIATE")
            n, newest = self.retention.delete_batch(conn, self._cutoff.below)
            conn.execute("COMMIT")
            if n:
                self._clean = False
                if not self._dropped:
                    self._oldest_dropped = self._cutoff.oldest_ts
                self._dropped += n
                self.dropped_total += n
                self._newest_dropped = max(self._newest_dropped, newest)
                self._why = self._cutoff.why
            else:
                self.phase = Phase.RECLAIM
            return True
        # RECLAIM
        if not self._clean:
            if merge_step(conn):
                return True
            self._clean = True
        give_back(conn)
        self._cutoff = None
        self.phase = Phase.IDLE
        if self._dropped and time.monotonic() >= self._next_report:
            self._report(conn)
        return False

    def _report(self, conn: sqlite3.Connection) -> None:
        text = (
            f"dropped the {self._dropped:,} oldest lines ({_ts_text(self._oldest_dropped)} "
            f"to {_ts_text(self._newest_dropped)}) {self._why}"
        )
        if self.retention.max_bytes is not None:
            text += f"; the store is now {_size_text(used_bytes(conn))}"
        self._dropped = self._oldest_dropped = self._newest_dropped = 0
        self._next_report = time.monotonic() + _REPORT_EVERY_S
        self._on_notice(text)


def merge_step(conn: sqlite3.Connection) -> bool:
    """Merge a few hundred pages of the FTS index's segments towards one, which drops
    the delete markers; False once there was nothing left to merge."""
    structure = "SELECT block FROM lines_fts_data WHERE id = ?"
    conn.execute("BEGIN IMMEDIATE")
    before = conn.execute(structure, (_FTS_STRUCTURE_ROWID,)).fetchone()
    # A negative page count merges every segment, whatever its level.
    conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES ('merge', ?)", (-_MERGE_PAGES,))
    after = conn.execute(structure, (_FTS_STRUCTURE_ROWID,)).fetchone()
    conn.execute("COMMIT")
    return bool(before != after)


def bound_wal(conn: sqlite3.Connection) -> None:
    """Truncate the WAL once it passed _WAL_BOUND_BYTES (see there)."""
    frames = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    if frames * conn.execute("PRAGMA page_size").fetchone()[0] > _WAL_BOUND_BYTES:
        truncate_wal(conn)


def truncate_wal(conn: sqlite3.Connection) -> None:
    """Copy the WAL into the store and empty it, waiting (busy timeout) for readers
    that still use it; best effort: a reader that stays keeps it as it is."""
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.Error as e:
        log.debug("could not truncate the WAL: %s", e)


_VACUUM_CHUNK_PAGES = 512  # 2 MiB of WAL per step with 4 KiB pages


def give_back(conn: sqlite3.Connection) -> None:
    """Return free pages to the file system and shrink the WAL, so the size a user
    sees on disk follows the limit."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if free and conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0:
        _enable_incremental_vacuum(conn)
    # In chunks, each its own transaction with the WAL kept bounded between them: all
    # at once, the WAL took a copy of every moved page and filled a small disk.
    while free and conn.execute("PRAGMA auto_vacuum").fetchone()[0]:
        # execute() steps a row-less PRAGMA once (one page); a script runs it to the end.
        conn.executescript(f"PRAGMA incremental_vacuum({_VACUUM_CHUNK_PAGES});")
        bound_wal(conn)
        left = conn.execute("PRAGMA freelist_count").fetchone()[0]
        if left >= free:
            break  # nothing more to give back
        free = left
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _enable_incremental_vacuum(conn: sqlite3.Connection) -> None:
    """Stores made before klogtui set auto_vacuum never give pages back. Switching
    needs one VACUUM, which writes a copy of the store: do it only when the disk has
    room for that; freed pages are reused by new lines either way."""
    path = conn.execute("PRAGMA database_list").fetchone()[2]
    need = used_bytes(conn) * 2
    if not path or shutil.disk_usage(Path(path).parent).free < need:
        log.info("store predates incremental vacuum and the disk is too full to convert it")
        return
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("VACUUM")


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes in use (free pages are reused by new rows, so this is what grows)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


def _size_text(n: int) -> str:
    return f"{n / 10**9:.1f} GB" if n >= 10**9 else f"{n / 10**6:.1f} MB"


def _age_text(ns: int) -> str:
    seconds = ns // 1_000_000_000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _ts_text(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
