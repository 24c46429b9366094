"""What SQLite alone can take on this machine: the store's own lines written without
any of klogtui's Python, so the ingest figure can be read against a ceiling.

The lines (ids, timestamps, sources, messages and fields as the store holds them,
compressed, and their plain text for the index) come from a store that `klogtui
collect --once` built, in id order. Each variant writes them into a fresh file with
the store's settings (WAL, synchronous=NORMAL, 8 MiB cache), 50,000 rows a transaction
as the writer does, one `executemany` per statement, and reports rows/s, the CPU it
took per row (the process's CPU time: it does nothing else) and the file's size.
Variants alternate run by run; medians.

- `lines table`: the lines table and its source index, no text index;
- `text index alone`: the contentless `detail=none` FTS5 index new stores have, over
  the line ids (schema 7), over their 10 us buckets, one row per bucket and
  transaction (schema 8), and over consecutive rowids (the least FTS5 can do);
- `lines + text index`: both, as one transaction: what the writer's SQL costs,
  without its Python (reading, parsing, ids, rows, counts, checkpoints).

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
from itertools import groupby
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from klogtui.formats.ansi import strip_ansi  # noqa: E402
from klogtui.store import text_codec  # noqa: E402
from klogtui.store.ids import SLOT_BITS  # noqa: E402

__all__ = ["VARIANTS", "measure"]

_TX_ROWS = 50_000
_LINES = """CREATE TABLE lines(
    id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, source_id INTEGER NOT NULL,
    stream INTEGER NOT NULL, level INTEGER NOT NULL, flags INTEGER NOT NULL,
    message TEXT NOT NULL, fields TEXT);
CREATE INDEX lines_source ON lines(source_id)"""
_FTS = "CREATE VIRTUAL TABLE lines_fts USING fts5(message, content='', columnsize=0, detail=none)"

# id, ts, source_id, stream, level, flags, message and fields as stored, plain text.
Row = tuple[int, int, int, int, int, int, str | bytes, str | bytes | None, str]
Keys = Callable[[list[Row], int], list[tuple[int, str]]]


def _by_id(chunk: list[Row], start: int) -> list[tuple[int, str]]:
    return [(r[0], r[8]) for r in chunk]


def _by_bucket(chunk: list[Row], start: int) -> list[tuple[int, str]]:
    return [
        (key, "\n".join(r[8] for r in rows))
        for key, rows in groupby(chunk, key=lambda r: r[0] >> SLOT_BITS)
    ]


def _consecutive(chunk: list[Row], start: int) -> list[tuple[int, str]]:
    return [(start + i + 1, r[8]) for i, r in enumerate(chunk)]


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-8192")
    return conn


def _write(path: Path, rows: list[Row], lines: bool, keys: Keys | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to write the rows."""
    conn = _open(path)
    for stmt in _LINES.split(";"):
        conn.execute(stmt)
    if keys is not None:
        conn.execute(_FTS)
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES('automerge', 16)")
        conn.execute("INSERT INTO lines_fts(lines_fts, rank) VALUES('crisismerge', 64)")
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(rows), _TX_ROWS):
        chunk = rows[start : start + _TX_ROWS]
        conn.execute("BEGIN")
        if lines:
            conn.executemany("INSERT INTO lines VALUES (?,?,?,?,?,?,?,?)", [r[:8] for r in chunk])
        if keys is not None:
            conn.executemany(
                "INSERT INTO lines_fts(rowid, message) VALUES (?, ?)", keys(chunk, start)
            )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started, time.process_time() - cpu


VARIANTS: dict[str, Callable[[Path, list[Row]], tuple[float, float]]] = {
    "lines table (+ source index), no text index": lambda p, r: _write(p, r, True, None),
    "text index alone, line ids (schema 7)": lambda p, r: _write(p, r, False, _by_id),
    "text index alone, 10 us buckets (schema 8)": lambda p, r: _write(p, r, False, _by_bucket),
    "text index alone, consecutive rowids": lambda p, r: _write(p, r, False, _consecutive),
    "lines + text index by bucket, one transaction (the writer's SQL)": lambda p, r: _write(
        p, r, True, _by_bucket
    ),
}


def _size(path: Path) -> int:
    return sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )


def measure(store: Path, runs: int) -> list[tuple[str, float, float, float]]:
    """(variant, median rows/s, median CPU us a row, MB) for each variant."""
    src = sqlite3.connect(f"{store.absolute().as_uri()}?mode=ro", uri=True)
    text_codec.register(src)  # the lines' text, as the writer is handed it
    rows: list[Row] = [
        (*r[:8], strip_ansi(r[8]))
        for r in src.execute(
            "SELECT id, ts, source_id, stream, level, flags, message, fields, "
            f"{text_codec.message_sql('message')} FROM lines ORDER BY id"
        )
    ]
    src.close()
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ceiling-") as tmp:
        for run in range(runs):
            for name, write in VARIANTS.items():
                db = Path(tmp) / f"v{run}.db"
                seconds, cpu = write(db, rows)
                rates[name].append(len(rows) / seconds)
                cpus[name].append(cpu / len(rows) * 1e6)
                sizes[name] = _size(db)
                for s in ("", "-wal", "-shm"):
                    Path(f"{db}{s}").unlink(missing_ok=True)
                print(
                    f"  run {run + 1}: {name}: {rates[name][-1]:,.0f} rows/s, "
                    f"{cpus[name][-1]:.2f} us CPU a row",
                    file=sys.stderr,
                )
    return [
        (n, statistics.median(rates[n]), statistics.median(cpus[n]), sizes[n] / 1e6)
        for n in VARIANTS
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, required=True, help="a store built by klogtui")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    print("| variant | rows/s (median) | CPU a row (median) | file MB |\n|---|---|---|---|")
    for name, rate, cpu, mb in measure(args.store, args.runs):
        print(f"| {name} | {rate:,.0f} | {cpu:.2f} us | {mb:,.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
