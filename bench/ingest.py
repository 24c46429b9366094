"""Ingest: `klogtui collect --once` over a generated tree vs a naive SQLite loader.

The naive baseline is what a first attempt would look like: read each file, split
each CRI line with str.split, parse its timestamp with datetime.fromisoformat, insert
the rows with one executemany per 10,000 rows (one transaction each) into a plain
table, and build an external-content FTS5 index over the messages at the end
('rebuild'). Same journal settings as klogtui (WAL, synchronous=NORMAL), so the two
give the same durability. It ignores partial (P) lines and levels: it does less.

klogtui is timed as a user runs it: a `klogtui collect --once` process, wall time
from start to exit, and the store it leaves must hold every line.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from gen import Dataset

__all__ = [
    "KLOGTUI",
    "klogtui_ingest",
    "naive_ingest",
    "remove_db",
    "store_bytes",
    "stored_lines",
]

KLOGTUI = str(Path(sys.executable).with_name("klogtui"))
_BATCH = 10_000


def remove_db(db: Path) -> None:
    """Delete a store and its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def store_bytes(db: Path) -> int:
    """What a closed store takes on disk: the file and any WAL left beside it."""
    return sum(
        Path(str(db) + suffix).stat().st_size
        for suffix in ("", "-wal")
        if Path(str(db) + suffix).exists()
    )


def _ts_ns(text: str) -> int:
    # fromisoformat keeps microseconds; a naive loader would accept that.
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000) * 1000


def naive_ingest(ds: Dataset, db: Path) -> float:
    """Load the tree the naive way into db; returns the wall time in seconds."""
    remove_db(db)
    started = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE logs(ts INTEGER, ns TEXT, pod TEXT, container TEXT, "
        "stream TEXT, message TEXT)"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE logs_fts USING fts5(message, content='logs', content_rowid='rowid')"
    )
    rows: list[tuple[int, str, str, str, str, str]] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO logs VALUES (?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        rows.clear()

    for f in ds.files:
        with open(f.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                ts, stream, _tag, message = line.rstrip("\n").split(" ", 3)
                rows.append((_ts_ns(ts), f.namespace, f.pod, f.container, stream, message))
                if len(rows) >= _BATCH:
                    flush()
    if rows:
        flush()
    conn.execute("INSERT INTO logs_fts(logs_fts) VALUES ('rebuild')")
    conn.close()
    return time.perf_counter() - started


def stored_lines(db: Path) -> int:
    """Lines in a klogtui store."""
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM lines").fetchone()[0])
    finally:
        conn.close()


def klogtui_ingest(ds: Dataset, db: Path, code: Path | None = None) -> float:
    """Run `klogtui collect --once` over the tree into a new db; returns wall seconds.

    Args:
        code: a directory holding another revision's `klogtui` package (run with it on
            PYTHONPATH) instead of the installed one.

    Raises:
        RuntimeError: the collector failed or did not store every line.
    """
    remove_db(db)
    started = time.perf_counter()
    command = [KLOGTUI] if code is None else [sys.executable, "-m", "klogtui"]
    env = None if code is None else {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.run(
        [*command, "collect", "--once", "--log-dir", str(ds.root), "--db", str(db)],
        env=env,
        cwd=code,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"klogtui collect --once failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
        )
    n = stored_lines(db)
    if n != ds.lines:
        raise RuntimeError(
            f"klogtui collect --once exited 0 but stored {n:,} of {ds.lines:,} "
            f"lines; its stderr: {proc.stderr.strip()[-500:]!r}"
        )
    return elapsed
