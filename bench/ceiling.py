"""What SQLite alone can take on this machine: the store's own lines written without
any of klogtui's Python, so the ingest figure can be read against a ceiling.

The lines (ids, timestamps, sources, messages, fields) come from a store that
`klogtui collect --once` built, in id order. Each variant writes them into a fresh
file with the store's settings (WAL, synchronous=NORMAL, 8 MiB cache), 50,000 rows a
transaction as the writer does, one `executemany` per statement, and reports rows/s
and the file's size. Variants alternate run by run; medians.

- `lines table`: the lines table and its source index, no text index;
- `FTS5 (store ids)`: the text index alone (external content, columnsize=0, as the
  store has it) over the store's rowids, then over consecutive rowids, then with
  detail=column and detail=none;
- `lines + FTS5`: both, as one transaction: what the writer's SQL costs, without its
  Python (ids, rows, counts, checkpoints).

    python bench/ceiling.py --store bench/data/store-1000000-s1.db [--runs 3]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from klogtui.store import text_codec  # noqa: E402

__all__ = ["VARIANTS", "measure"]

_TX_ROWS = 50_000
_LINES = """CREATE TABLE lines(
    id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, source_id INTEGER NOT NULL,
    stream INTEGER NOT NULL, level INTEGER NOT NULL, flags INTEGER NOT NULL,
    message TEXT NOT NULL, fields TEXT);
CREATE INDEX lines_source ON lines(source_id)"""
_FTS = (
    "CREATE VIRTUAL TABLE lines_fts USING fts5(message, content='lines', "
    "content_rowid='id', columnsize=0{detail})"
)

Row = tuple[int, int, int, int, int, int, str, str | None]


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-8192")
    return conn


def _write(path: Path, rows: list[Row], lines: bool, fts: str | None, dense: bool) -> float:
    conn = _open(path)
    for stmt in _LINES.split(";"):
        conn.execute(stmt)  # an FTS5 table with external content needs it declared
    if fts is not None:
        conn.execute(_FTS.format(detail=fts))
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES('automerge', 16)")
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES('crisismerge', 64)")
    started = time.perf_counter()
    for start in range(0, len(rows), _TX_ROWS):
        chunk = rows[start : start + _TX_ROWS]
        conn.execute("BEGIN")
        if lines:
            conn.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?,?)", chunk)
        if fts is not None:
            conn.executemany(
                "INSERT INTO lines_fts(rowid, message) VALUES (?, ?)",
                [(start + i + 1 if dense else r[0], r[6]) for i, r in enumerate(chunk)],
            )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


VARIANTS: dict[str, Callable[[Path, list[Row]], float]] = {
    "lines table (+ source index), no text index": lambda p, r: _write(p, r, True, None, False),
    "FTS5 alone, store ids": lambda p, r: _write(p, r, False, "", False),
    "FTS5 alone, consecutive rowids": lambda p, r: _write(p, r, False, "", True),
    "FTS5 alone, detail=column, store ids": lambda p, r: _write(
        p, r, False, ", detail=column", False
    ),
    "FTS5 alone, detail=none, store ids": lambda p, r: _write(p, r, False, ", detail=none", False),
    "lines + FTS5, one transaction (the writer's SQL)": lambda p, r: _write(p, r, True, "", False),
}


def _size(path: Path) -> int:
    return sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )


def measure(store: Path, runs: int) -> list[tuple[str, float, float]]:
    """(variant, median rows/s, MB) for each variant, over the store's lines."""
    src = sqlite3.connect(f"{store.absolute().as_uri()}?mode=ro", uri=True)
    text_codec.register(src)  # the lines' text, as the writer is handed it
    rows: list[Row] = src.execute(
        "SELECT id, ts, source_id, stream, level, flags, "
        f"{text_codec.message_sql('message')}, {text_codec.message_sql('fields')} FROM lines "
        "ORDER BY id"
    ).fetchall()
    src.close()
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        for run in range(runs):
            for name, write in VARIANTS.items():
                db = Path(tmp) / f"v{run}.db"
                seconds = write(db, rows)
                rates[name].append(len(rows) / seconds)
                sizes[name] = _size(db)
                for s in ("", "-wal", "-shm"):
                    Path(f"{db}{s}").unlink(missing_ok=True)
                print(f"  run {run + 1}: {name}: {rates[name][-1]:,.0f} rows/s", file=sys.stderr)
    return [(n, statistics.median(rates[n]), sizes[n] / 1e6) for n in VARIANTS]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True, help="a store built by klogtui")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    print("| variant | rows/s (median) | file MB |\n|---|---|---|")
    for name, rate, mb in measure(args.store, args.runs):
        print(f"| {name} | {rate:,.0f} | {mb:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
