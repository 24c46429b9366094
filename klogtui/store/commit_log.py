"""The commit log: which line ids each of the writer's commits stored, in commit order.

Line ids are time-ordered, so following by "ids above the newest printed" skips a line
stamped in the past (a node's clock stepped back) and, after one line stamped years
ahead, everything. `klogtui query -f` follows this log instead: a commit's seq is above
every earlier commit's whatever the timestamps of its lines. The writer appends a row
per commit and drops rows older than KEEP_NS; a follower that fell further behind than
that is told how many commits it missed.

A row's ids are 8-byte little-endian integers, byte-transposed (every id's first byte,
then every id's second, ...) in one zstd frame (since schema 7; raw before, and the
migration compresses what it finds): ids stored together share their high bytes, which
then come as long runs, so a backfill's log takes ~3 bytes an id instead of 8.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from collections.abc import Sequence

import zstandard

from klogtui.store.ids import BUCKET_NS, SLOT_BITS

__all__ = [
    "KEEP_NS",
    "compress_raw_rows",
    "ids_of",
    "last_seq",
    "read_after",
    "record",
    "runs",
    "trim",
]

KEEP_NS = 60 * 1_000_000_000
# Ids closer than this (10 s of timestamps) are read with one range scan.
_RUN_GAP = ((10 * 1_000_000_000) // BUCKET_NS) << SLOT_BITS


# The 1M-line bench tree's log: 8 MB -> 2.8 MB in ~0.02 s (untransposed 3.2 MB).
_COMPRESSOR = zstandard.ZstdCompressor(level=3, write_checksum=False)
_DECOMPRESSOR = zstandard.ZstdDecompressor()


def _raw(ids: Sequence[int]) -> bytes:
    packed = array("q", ids)
    if sys.byteorder == "big":  # the file is little-endian wherever it was written
        packed.byteswap()
    return packed.tobytes()


def _pack(ids: Sequence[int]) -> bytes:
    raw = _raw(ids)
    return _COMPRESSOR.compress(b"".join(raw[k::8] for k in range(8)))


def _from_raw(raw: bytes) -> list[int]:
    ids = array("q")
    ids.frombytes(raw)
    if sys.byteorder == "big":
        ids.byteswap()
    return ids.tolist()


def ids_of(blob: bytes) -> list[int]:
    """The ids a commit_log row's `ids` holds, in the order logged."""
    planes = _DECOMPRESSOR.decompress(blob)
    n = len(planes) // 8
    raw = bytearray(len(planes))
    for k in range(8):
        raw[k::8] = planes[k * n : (k + 1) * n]
    return _from_raw(bytes(raw))


def compress_raw_rows(conn: sqlite3.Connection) -> None:
    """Schema 7's migration: rows logged before, ids raw, compressed as record() does."""
    rows = conn.execute("SELECT seq, ids FROM commit_log").fetchall()
    conn.executemany(
        "UPDATE commit_log SET ids = ? WHERE seq = ?",
        [(_pack(_from_raw(blob)), seq) for seq, blob in rows],
    )


def record(conn: sqlite3.Connection, ids: Sequence[int], now_ns: int) -> None:
    """Log the ids one commit stored (inside that commit's transaction)."""
    if ids:
        conn.execute("INSERT INTO commit_log(at, ids) VALUES (?, ?)", (now_ns, _pack(ids)))


def trim(conn: sqlite3.Connection, now_ns: int) -> None:
    """Drop commits logged more than KEEP_NS ago (a clock stepped back keeps them longer)."""
    conn.execute("DELETE FROM commit_log WHERE at < ?", (now_ns - KEEP_NS,))


def last_seq(conn: sqlite3.Connection) -> int:
    """The seq of the newest commit ever logged (0 before the first), trimmed or not."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'commit_log'").fetchone()
    return int(row[0]) if row else 0


def read_after(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, list[int]]]:
    """Up to `limit` logged commits after `seq`, oldest first: (seq, ids ascending)."""
    rows = conn.execute(
        "SELECT seq, ids FROM commit_log WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()
    return [(int(s), ids_of(blob)) for s, blob in rows]


def runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending ids as inclusive (lo, hi) ranges, split where they are far apart."""
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and i - out[-1][1] <= _RUN_GAP:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out
